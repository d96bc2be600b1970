/**
 * deploy/kubernetes/ (SPEC §11): every document validated against the Kubernetes API schemas
 * (kubernetes-models, generated from Kubernetes' OpenAPI definitions), and what the bot relies on checked
 * across documents: /healthz probes, the grace period above the drain bound, the non-root user the image
 * runs as, selectors that match, and the Secret's names.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Secret, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./processes.js";

const DIR = join(ROOT, "deploy", "kubernetes");
/** createApp's drain bound (drainMs default), seconds. */
const DRAIN_S = 10;
/** SHUTDOWN_GRACE_MS's default, seconds: served after /healthz turns 503, before the drain. */
const GRACE_S = 2;

function documents(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS();
  });
}

const files = [
  ...readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(DIR, f)),
  join(DIR, "secret-template", "secret.yaml"),
];
const all = files.flatMap((file) => documents(file).map((doc) => ({ file, doc })));

function kindOf(doc: unknown): string {
  return typeof doc === "object" && doc !== null && "kind" in doc && typeof doc.kind === "string"
    ? doc.kind
    : "(no kind)";
}

/** The one document of a kind, through the model's own apiVersion/kind guard. */
function one<T>(guard: (value: unknown) => value is T, kind: string): T {
  const found = all.map(({ doc }) => doc).filter(guard);
  expect(found, kind).toHaveLength(1);
  const doc = found[0];
  if (doc === undefined) throw new Error(`no ${kind} in deploy/kubernetes`);
  return doc;
}

const deployment = new Deployment(one(Deployment.is, "Deployment"));
const service = new Service(one(Service.is, "Service"));
const pdb = new PodDisruptionBudget(one(PodDisruptionBudget.is, "PodDisruptionBudget"));
const secret = new Secret(one(Secret.is, "Secret"));

describe("deploy/kubernetes", () => {
  it("every document is valid against the Kubernetes schemas, and there are no others", () => {
    expect(all.map(({ doc }) => kindOf(doc)).sort()).toEqual([
      "Deployment",
      "PodDisruptionBudget",
      "Secret",
      "Service",
    ]);
    for (const model of [deployment, service, pdb, secret]) expect(() => model.validate()).not.toThrow();
    // The validator is real: a wrong type is refused.
    const wrong = parseAllDocuments(
      "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: two\n",
    )[0]?.toJS();
    expect(Deployment.is(wrong)).toBe(true);
    if (Deployment.is(wrong)) expect(() => new Deployment(wrong).validate()).toThrow(/replicas/);
  });

  it("two replicas probed on /healthz, drained within the grace period, non-root with a read-only root", () => {
    const spec = deployment.spec;
    expect(spec?.replicas).toBe(2);
    const pod = spec?.template.spec;
    const container = pod?.containers[0];
    expect(container?.readinessProbe?.httpGet?.path).toBe("/healthz");
    expect(container?.livenessProbe?.httpGet?.path).toBe("/healthz");
    expect(container?.ports?.map((p) => p.name)).toContain(container?.readinessProbe?.httpGet?.port);
    const pause = Number(container?.lifecycle?.preStop?.exec?.command?.at(-1));
    expect(pause).toBeGreaterThan(0);
    expect(pod?.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(pause + GRACE_S + DRAIN_S);
    // Liveness must not kill a pod that answers 503 while it drains.
    const live = container?.livenessProbe;
    expect((live?.periodSeconds ?? 10) * (live?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(
      GRACE_S + DRAIN_S,
    );
    // The image's `node` user.
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod?.securityContext?.runAsUser).toBe(1000);
    expect(container?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container?.resources?.limits?.memory).toBeDefined();
    expect(container?.resources?.requests?.memory).toBeDefined();
    // The sandbox file's folder (the Dockerfile's CONVAI_SANDBOX_FILE) is writable.
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toContain("CONVAI_SANDBOX_FILE=/data/");
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(container?.volumeMounts?.map((m) => m.mountPath)).toContain("/data");
  });

  it("the Service and the PodDisruptionBudget select the Deployment's pods; the Secret has the names it reads", () => {
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    for (const selector of [service.spec?.selector ?? {}, pdb.spec?.selector?.matchLabels ?? {}]) {
      expect(Object.keys(selector).length).toBeGreaterThan(0);
      for (const [key, value] of Object.entries(selector)) expect(labels[key]).toBe(value);
    }
    const container = deployment.spec?.template.spec?.containers[0];
    expect(container?.envFrom?.map((e) => e.secretRef?.name)).toContain(secret.metadata?.name);
    expect(Object.keys(secret.stringData ?? {}).sort()).toEqual([
      "CONVAI_API_KEY",
      "SLACK_BOT_TOKEN",
      "SLACK_SIGNING_SECRET",
    ]);
    expect(pdb.spec?.minAvailable).toBe(1);
  });
});
