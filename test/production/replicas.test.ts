/**
 * Scale-out (SPEC §11): three replicas of the real entry point (the production bundle) in HTTP mode behind
 * HAProxy, which health-checks /healthz, with one fake Slack and one Convai sandbox on 127.0.0.1.
 * - A modal opened through one replica is submitted through another; a Home published by one replica has
 *   its button pressed on a second and the modal it opens submitted on a third.
 * - A rolling restart (SIGTERM each replica in turn, then start it again) while 20 commands a second flow
 *   through HAProxy loses nothing: every command gets a 200 ack and its reply, and Convai sees each change
 *   exactly once. The run's figures are printed.
 * Needs the `haproxy` program (Debian package haproxy; .ci/run installs it).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSandbox, type Sandbox } from "../../src/convai/sandbox/index.js";
import { type FakeSlack, type SlackCall, startFakeSlack } from "../helpers/fake-slack.js";
import {
  appHomeOpened,
  blockAction,
  input,
  SIGNING_SECRET,
  sendCommand,
  sendEvent,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";
import { ackSchema, viewSchema } from "../helpers/views.js";
import { freePort, healthStatus, ROOT, type Running, start } from "./processes.js";

const HAPROXY = spawnSync("haproxy", ["-v"]).status === 0;
const MANAGER = "U0USER";
const CONVAI_KEY = "convai-replicas-key";
/** HAProxy's health check interval; a replica is taken out after one failed check. */
const CHECK_MS = 200;
const RATE_PER_S = 20;

interface Replica {
  name: string;
  port: number;
  url: string;
  running?: Running;
}

let dir = "";
let bundle = "";
let fake: FakeSlack;
let sandbox: Sandbox;
let convaiUrl = "";
let haproxy: Running | undefined;
let frontUrl = "";
let statsUrl = "";
const replicas: Replica[] = [];

function startReplica(r: Replica): Running {
  const running = start(process.execPath, [bundle], dir, {
    SLACK_BOT_TOKEN: "xoxb-replicas",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: String(r.port),
    CONVAI_API_KEY: CONVAI_KEY,
    CONVAI_API_URL: convaiUrl,
    CONVAI_MANAGERS: MANAGER,
    CONVAI_ALLOW_PRIVATE_URLS: "true",
  });
  r.running = running;
  return running;
}

async function waitHealthy(r: Replica): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await healthStatus(r.port)) !== 200) {
    if (r.running?.child.exitCode !== null) throw new Error(`${r.name} exited:\n${r.running?.output()}`);
    if (Date.now() > deadline) throw new Error(`${r.name} not healthy:\n${r.running?.output()}`);
    await sleep(50);
  }
}

/** Each server's state as HAProxy sees it (UP, DOWN, …), from its CSV statistics page. */
async function haproxyStates(): Promise<Record<string, string>> {
  // Empty while HAProxy is still starting.
  const text = await request(`${statsUrl};csv`).then(
    (res) => res.body.text(),
    () => "",
  );
  const [header, ...lines] = text.replace(/^# /, "").trim().split("\n");
  const columns = (header ?? "").split(",");
  const [name, status] = [columns.indexOf("svname"), columns.indexOf("status")];
  const states: Record<string, string> = {};
  for (const line of lines) {
    const cells = line.split(",");
    if (cells[0] === "bots") states[cells[name] ?? ""] = cells[status] ?? "";
  }
  return states;
}

async function waitState(name: string, state: "UP" | "DOWN", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await haproxyStates();
    if (states[name]?.startsWith(state)) return;
    if (Date.now() > deadline)
      throw new Error(`HAProxy never saw ${name} ${state}: ${JSON.stringify(states)}`);
    await sleep(50);
  }
}

function haproxyConfig(front: number, stats: number): string {
  return [
    "global",
    "  maxconn 2000",
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    "  timeout client 30s",
    "  timeout server 30s",
    // A loaded CI machine can make one check of a healthy replica slow: one miss must not take it out.
    "  timeout check 2s",
    // No retries: a lost request must not be hidden by the load balancer trying it again elsewhere. With
    // SHUTDOWN_GRACE_MS=0 this loses about 1 command in 100 during the restart (connection refused, or the
    // stopping replica's 503 on a reused connection); with the default grace, none.
    "  retries 0",
    "frontend slack",
    `  bind 127.0.0.1:${front}`,
    "  default_backend bots",
    "frontend stats",
    `  bind 127.0.0.1:${stats}`,
    "  stats enable",
    "  stats uri /stats",
    "backend bots",
    "  balance roundrobin",
    "  option httpchk GET /healthz",
    "  http-check expect status 200",
    `  default-server inter ${CHECK_MS}ms fastinter ${CHECK_MS}ms downinter ${CHECK_MS}ms fall 2 rise 2`,
    ...replicas.map((r) => `  server ${r.name} 127.0.0.1:${r.port} check`),
    "",
  ].join("\n");
}

beforeAll(async () => {
  if (!HAPROXY) return;
  dir = await mkdtemp(join(tmpdir(), "convai-replicas-"));
  // The production bundle, built as `npm run build` builds it, into a folder where its packages resolve.
  bundle = join(ROOT, "node_modules", ".cache", "convai-replicas", `app-${process.pid}.mjs`);
  execFileSync(
    join(ROOT, "node_modules", ".bin", "esbuild"),
    [
      "src/app.ts",
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--target=node20",
      `--outfile=${bundle}`,
      "--external:@slack/*",
      "--external:undici",
      "--external:pino",
      "--external:pino-pretty",
      "--log-level=warning",
    ],
    { cwd: ROOT, stdio: "pipe" },
  );
  fake = await startFakeSlack();
  sandbox = createSandbox({ apiKey: CONVAI_KEY, record: true, maxRecordedRequests: 10_000 });
  convaiUrl = await sandbox.listen(0, "127.0.0.1");
  for (const name of ["r1", "r2", "r3"]) {
    const port = await freePort();
    replicas.push({ name, port, url: `http://127.0.0.1:${port}/slack/events` });
  }
  for (const r of replicas) startReplica(r);
  for (const r of replicas) await waitHealthy(r);
  const [front, stats] = [await freePort(), await freePort()];
  frontUrl = `http://127.0.0.1:${front}/slack/events`;
  statsUrl = `http://127.0.0.1:${stats}/stats`;
  const config = join(dir, "haproxy.cfg");
  await writeFile(config, haproxyConfig(front, stats));
  haproxy = start("haproxy", ["-db", "-f", config], dir, {});
  for (const r of replicas) await waitState(r.name, "UP");
}, 60_000);

afterAll(async () => {
  await haproxy?.kill();
  for (const r of replicas) await r.running?.kill();
  await sandbox?.close();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (bundle) await rm(bundle, { force: true });
});

const register = (group: string) =>
  stateValues({
    model_group_name: input.text(group),
    model_name: input.text("gpt-4o-mini"),
    display_name: input.text(`Model ${group}`),
    api_key: input.text(`sk-${group}-KEY`),
    base_url: input.url("http://127.0.0.1:9/v1"),
    is_uncensored: input.checkbox([]),
    verify: input.checkbox([]),
  });

const registersOf = (group: string) =>
  sandbox.requests.filter(
    (q) => q.path.endsWith("/register") && JSON.stringify(q.body).includes(`"${group}"`),
  );

/** The modal a views.open call opened (or, for a loading view, the form views.update filled in). */
async function formOpenedBy(call: SlackCall) {
  const opened = viewSchema.parse(call.args.view);
  if (opened.submit !== undefined) return opened;
  const viewId = z.object({ id: z.string() }).safeParse(call.args.view).data?.id;
  const update = await fake.waitFor("views.update", (c) => viewId === undefined || c.args.view_id === viewId);
  return viewSchema.parse(update.args.view);
}

describe.skipIf(!HAPROXY)("three replicas behind HAProxy", () => {
  it("a modal opened through one replica is submitted through another", async () => {
    const [a, b] = [replicas[0], replicas[1]];
    if (!a || !b) throw new Error("replicas missing");
    const trigger = `trig.${Date.now()}.modal`;
    const ack = await sendCommand(a.url, {
      text: "register",
      userId: MANAGER,
      triggerId: trigger,
      responseUrl: fake.responseUrl("modal-cmd"),
    });
    expect(ack.status).toBe(200);
    const form = await formOpenedBy(
      await fake.waitFor("views.open", (c) => c.args.trigger_id === trigger, 5000),
    );
    const submitted = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: form.callback_id,
        privateMetadata: form.private_metadata ?? "",
        userId: MANAGER,
        values: register("cross-modal"),
      }),
    );
    expect(submitted.status).toBe(200);
    expect(JSON.stringify(ackSchema.parse(submitted.json))).toContain("is registered");
    expect(registersOf("cross-modal")).toHaveLength(1);
    expect(sandbox.models().map((m) => m.model_group_name)).toContain("cross-modal");
  });

  it("a Home published by one replica: its button pressed on a second, the modal submitted on a third", async () => {
    const [a, b, c] = replicas;
    if (!a || !b || !c) throw new Error("replicas missing");
    const before = fake.callsTo("views.publish").length;
    expect((await sendEvent(a.url, appHomeOpened({ userId: MANAGER }))).status).toBe(200);
    const home = await fake.waitFor(
      "views.publish",
      (call) =>
        fake.callsTo("views.publish").indexOf(call) >= before &&
        JSON.stringify(call.args.view).includes("convai_open_register"),
      5000,
    );
    const blocks = z
      .object({
        blocks: z.array(
          z.looseObject({ block_id: z.string().optional(), elements: z.array(z.unknown()).optional() }),
        ),
      })
      .parse(home.args.view).blocks;
    const button = blocks
      .flatMap((block) => (block.elements ?? []).map((e) => ({ block: block.block_id, e })))
      .map(({ block, e }) => ({
        block,
        e: z.looseObject({ action_id: z.string(), value: z.string().optional() }).safeParse(e).data,
      }))
      .find(({ e }) => e?.action_id === "convai_open_register");
    expect(button?.e).toBeDefined();
    const trigger = `trig.${Date.now()}.home`;
    const pressed = await sendInteraction(
      b.url,
      blockAction({
        actionId: "convai_open_register",
        ...(button?.block ? { blockId: button.block } : {}),
        ...(button?.e?.value ? { value: button.e.value } : {}),
        userId: MANAGER,
        viewId: "VHOME",
        viewType: "home",
        triggerId: trigger,
      }),
    );
    expect(pressed.status).toBe(200);
    const form = await formOpenedBy(
      await fake.waitFor("views.open", (call) => call.args.trigger_id === trigger, 5000),
    );
    const submitted = await sendInteraction(
      c.url,
      viewSubmission({
        callbackId: form.callback_id,
        privateMetadata: form.private_metadata ?? "",
        userId: MANAGER,
        values: register("cross-home"),
      }),
    );
    expect(submitted.status).toBe(200);
    expect(JSON.stringify(submitted.json)).toContain("is registered");
    expect(registersOf("cross-home")).toHaveLength(1);
    // The change republishes the user's Home (from the third replica), now listing the model.
    await fake.waitFor(
      "views.publish",
      (call) => JSON.stringify(call.args.view).includes("cross-home"),
      5000,
    );
  });

  it("a rolling restart under 20 commands a second loses nothing", async () => {
    interface Sent {
      id: string;
      kind: "list" | "register";
      status?: number;
      answered: boolean;
    }
    const sent: Sent[] = [];
    let sending = true;
    let seq = 0;
    const flights: Array<Promise<void>> = [];
    const one = async (s: Sent) => {
      if (s.kind === "list") {
        const replied = fake
          .waitForResponse((r) => r.id === s.id, 15_000)
          .then(
            () => true,
            () => false,
          );
        const res = await sendCommand(frontUrl, { text: "list", responseUrl: fake.responseUrl(s.id) }).catch(
          () => undefined,
        );
        s.status = res?.status ?? 0;
        s.answered = await replied;
        return;
      }
      // A change: a register submission whose outcome arrives in the ack or, after a slow Convai, by views.update.
      const viewId = `V${s.id.replace(/\W/g, "")}`;
      const res = await sendInteraction(
        frontUrl,
        viewSubmission({
          callbackId: "convai_llm_register",
          privateMetadata: JSON.stringify({ v: 1 }),
          userId: MANAGER,
          viewId,
          values: register(s.id),
        }),
      ).catch(() => undefined);
      s.status = res?.status ?? 0;
      if (JSON.stringify(res?.json ?? "").includes("is registered")) {
        s.answered = true;
        return;
      }
      s.answered = await fake
        .waitFor(
          "views.update",
          (c) => c.args.view_id === viewId && JSON.stringify(c.args.view).includes("is registered"),
          15_000,
        )
        .then(
          () => true,
          () => false,
        );
    };
    // Convai a little away, so each replica has work in flight when it gets SIGTERM.
    sandbox.inject({ endpoint: "list", times: Number.POSITIVE_INFINITY, fault: { kind: "delay", ms: 150 } });
    sandbox.inject({
      endpoint: "register",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "delay", ms: 400 },
    });
    const load = (async () => {
      const started = Date.now();
      while (sending) {
        seq += 1;
        // Every fifth request is a change, the rest are `list` commands.
        const s: Sent = { id: `roll-${seq}`, kind: seq % 5 === 0 ? "register" : "list", answered: false };
        sent.push(s);
        flights.push(one(s));
        const next = started + (seq * 1000) / RATE_PER_S;
        await sleep(Math.max(0, next - Date.now()));
      }
    })();

    const restarts: Array<{
      replica: string;
      exitCode: number | null;
      healthz503AfterMs: number;
      downAfterMs: number;
    }> = [];
    await sleep(1000);
    for (const r of replicas) {
      const running = r.running;
      if (!running) throw new Error(`${r.name} is not running`);
      const signalled = Date.now();
      running.child.kill("SIGTERM");
      while ((await healthStatus(r.port)) !== 503) {
        if (Date.now() - signalled > 2000) throw new Error(`${r.name}: /healthz not 503 after SIGTERM`);
      }
      const healthz503AfterMs = Date.now() - signalled;
      await waitState(r.name, "DOWN");
      const downAfterMs = Date.now() - signalled;
      const exitCode = await running.exited;
      restarts.push({ replica: r.name, exitCode, healthz503AfterMs, downAfterMs });
      startReplica(r);
      await waitHealthy(r);
      await waitState(r.name, "UP");
      await sleep(500);
    }
    await sleep(1000);
    sending = false;
    await load;
    await Promise.all(flights);
    sandbox.clearFaults();

    const acked = sent.filter((s) => s.status === 200).length;
    const answered = sent.filter((s) => s.answered).length;
    const changes = sent.filter((s) => s.kind === "register");
    const onceAtConvai = changes.filter((s) => registersOf(s.id).length === 1).length;
    const summary = {
      sent: sent.length,
      acked,
      answered,
      lost: sent.length - answered,
      changes: changes.length,
      changesSeenOnceByConvai: onceAtConvai,
      restarts,
    };
    process.stdout.write(`rolling restart: ${JSON.stringify(summary)}\n`);
    await writeFile(
      join(ROOT, "node_modules", ".cache", "convai-rolling-restart.json"),
      JSON.stringify(summary),
    ).catch(() => undefined);
    expect(restarts.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    expect(sent.length).toBeGreaterThan(60);
    expect(sent.filter((s) => s.status !== 200).map((s) => `${s.id}: ${s.status}`)).toEqual([]);
    expect(sent.filter((s) => !s.answered).map((s) => s.id)).toEqual([]);
    expect(onceAtConvai).toBe(changes.length);
    const stored = new Set(sandbox.models().map((m) => m.model_group_name));
    expect(changes.filter((s) => !stored.has(s.id)).map((s) => s.id)).toEqual([]);
  }, 120_000);
});
