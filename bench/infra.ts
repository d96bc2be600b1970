/**
 * What each app under test talks to: one fake Slack (Web API + response_url) and one Convai sandbox per
 * app, all on 127.0.0.1, and the bookkeeping that matches each command to its reply.
 */
import { randomBytes } from "node:crypto";
import { createSandbox, type Sandbox } from "../src/convai/sandbox/index.js";
import { type FakeSlack, startFakeSlack } from "../test/helpers/fake-slack.js";

export type AppKind = "bot" | "baseline";
export const KINDS: readonly AppKind[] = ["bot", "baseline"];

export const COMMAND = "/convai-llm";
/** In CONVAI_MANAGERS, so `update` opens the modal; list commands come from DEFAULTS.userId. */
export const MANAGER = "U0BENCHMGR";
export const SEED_GROUP = "bench-model-1";
const REPLY_TIMEOUT_MS = 10_000;

export interface Infra {
  kind: AppKind;
  fake: FakeSlack;
  sandbox: Sandbox;
  convaiUrl: string;
  convaiKey: string;
  /** auth.test calls over the whole run (the fake's own record is cleared between rounds). */
  authTests: number;
  /** response_url ids awaited: resolved true when a reply that lists the seeded models arrives. */
  pending: Map<string, (ok: boolean) => void>;
  /** Commands sent to this app (all kinds, warm-up included). */
  commands: number;
  /** Settings of this app's own beyond the common ones (the bot's CONVAI_MAX_CONNECTIONS). */
  extraEnv: Record<string, string>;
}

/** Convai list calls the sandbox answered since the last takeConvaiCalls or clearRecords. */
export interface ConvaiCalls {
  models: number;
  characters: number;
}

/** Counts the list calls the sandbox received since the last take, and forgets them. */
export function takeConvaiCalls(infra: Infra): ConvaiCalls {
  // The sandbox's record is its live array: emptying it keeps the driver's memory flat over the run.
  const seen = infra.sandbox.requests.splice(0);
  const count = (suffix: string) => seen.filter((r) => r.path.endsWith(suffix)).length;
  return { models: count("/llm-models/list"), characters: count("/character/list") };
}

export async function startInfra(
  kind: AppKind,
  models: number,
  extraEnv: Record<string, string> = {},
): Promise<Infra> {
  const fake = await startFakeSlack();
  const convaiKey = `bench-${randomBytes(12).toString("hex")}`;
  // Memory only. Requests are recorded so the list calls can be counted at Convai's side; every round
  // empties the record (takeConvaiCalls), and the bound is a backstop.
  const sandbox = createSandbox({ apiKey: convaiKey, record: true, maxRecordedRequests: 50_000 });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");
  await sandbox.seed(
    Array.from({ length: models }, (_, i) => ({
      model_group_name: `bench-model-${i + 1}`,
      model_name: `gpt-4o-mini-${i + 1}`,
      display_name: `Bench model ${i + 1}`,
      base_url: "https://api.openai.com/v1",
      api_key: `sk-bench-${i + 1}`,
    })),
  );
  const infra: Infra = {
    kind,
    fake,
    sandbox,
    convaiUrl,
    convaiKey,
    authTests: 0,
    pending: new Map(),
    commands: 0,
    extraEnv,
  };
  arm(infra);
  return infra;
}

/** (Re)installs the fake's handlers; FakeSlack.reset() clears them. */
function arm(infra: Infra): void {
  infra.fake.on("auth.test", () => {
    infra.authTests += 1;
    return undefined;
  });
  infra.fake.onResponse((post) => {
    const done = infra.pending.get(post.id);
    if (done) {
      infra.pending.delete(post.id);
      const text = post.body.text;
      done(typeof text === "string" && text.includes(SEED_GROUP));
    }
    return undefined;
  });
}

/** Drops the fake's records (they grow with every call) but keeps its counters. */
export function clearRecords(infra: Infra): void {
  infra.fake.reset();
  infra.sandbox.requests.splice(0);
  arm(infra);
}

export function expectReply(infra: Infra, id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      infra.pending.delete(id);
      resolve(false);
    }, REPLY_TIMEOUT_MS);
    infra.pending.set(id, (ok) => {
      clearTimeout(timer);
      resolve(ok);
    });
  });
}

export function cancelReply(infra: Infra, id: string): void {
  infra.pending.get(id)?.(false);
  infra.pending.delete(id);
}
