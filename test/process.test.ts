/**
 * The real entry point (src/app.ts) as a child process: configuration errors, start-up against the fake
 * Slack, sandbox mode, /healthz, and SIGTERM with a submission in flight.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSandbox, type Sandbox } from "../src/convai/sandbox/index.js";
import { type FakeSlack, startFakeSlack } from "./helpers/fake-slack.js";
import { startFakeSocketMode } from "./helpers/fake-socket-mode.js";
import {
  input,
  SIGNING_SECRET,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "./helpers/slack-requests.js";
import { waitForPort as portOf, ROOT, type Running, start } from "./production/processes.js";

// An absolute loader URL, so the bot can run from any working folder (where its .env is).
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const BOT_TOKEN = "xoxb-process-test-token";

/** How node starts the bot: from source through tsx by default, or a built file. */
const FROM_SOURCE = ["--import", TSX, join(ROOT, "src/app.ts")];

/** Only what the test gives (plus PATH and HOME): nothing from the developer's own environment leaks in. */
function run(env: Record<string, string>, args: string[] = [], cwd = ROOT, entry = FROM_SOURCE): Running {
  return start(process.execPath, [...entry, ...args], cwd, env);
}

const waitForPort = (r: Running, timeoutMs = 15_000) => portOf(r, timeoutMs);

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

function track(r: Running) {
  cleanup.push(() => r.kill());
}

async function fakeSlack(): Promise<FakeSlack> {
  const fake = await startFakeSlack();
  cleanup.push(() => fake.close());
  return fake;
}

describe("the entry point", () => {
  it("exits 1 with one line per bad variable and never prints a secret", async () => {
    const r = run({
      SLACK_BOT_TOKEN: "not-a-bot-token-SECRETVALUE",
      PORT: "99999",
      CONVAI_API_PREFIX: "/nope",
    });
    track(r);
    expect(await r.exited).toBe(1);
    const out = r.output();
    expect(out).toContain("SLACK_BOT_TOKEN must be a bot token starting with xoxb-");
    expect(out).toContain("PORT must be between 0 and 65535");
    expect(out).toContain("CONVAI_API_PREFIX must be one of /llm-models, /custom-llm");
    expect(out).not.toContain("SECRETVALUE");
  });

  it("exits 1 with a clear message when Slack refuses the bot token", async () => {
    const fake = await fakeSlack();
    fake.on("auth.test", () => ({ body: { ok: false, error: "invalid_auth" } }));
    const r = run({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
    });
    track(r);
    expect(await r.exited).toBe(1);
    expect(r.output()).toContain("Slack refused SLACK_BOT_TOKEN");
    expect(r.output()).not.toContain(BOT_TOKEN);
  });

  it("serves the sandbox with only Slack settings, keeps state across a restart, and calls auth.test once", async () => {
    const fake = await fakeSlack();
    const dir = await mkdtemp(join(tmpdir(), "convai-proc-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // Configuration from .env in the working folder, as a user would set it up.
    await writeFile(
      join(dir, ".env"),
      [
        `SLACK_BOT_TOKEN=${BOT_TOKEN}`,
        `SLACK_SIGNING_SECRET=${SIGNING_SECRET}`,
        `SLACK_API_URL=${fake.apiUrl}`,
        "PORT=0",
        "CONVAI_MANAGERS=U0USER",
        "CONVAI_ALLOW_PRIVATE_URLS=true",
      ].join("\n"),
    );
    const first = run({}, [], dir);
    track(first);
    const port = await waitForPort(first);
    expect(first.output()).toContain("SANDBOX MODE");
    const health = await request(`http://127.0.0.1:${port}/healthz`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toEqual({ ok: true });

    const url = `http://127.0.0.1:${port}/slack/events`;
    const submitted = await sendInteraction(
      url,
      viewSubmission({
        callbackId: "convai_llm_register",
        privateMetadata: JSON.stringify({ v: 1 }),
        values: stateValues({
          model_group_name: input.text("proc-model"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("Proc"),
          api_key: input.text("sk-proc-KEY-4242"),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    expect(submitted.status).toBe(200);
    expect(submitted.text).toContain("is registered");
    expect(submitted.text).toContain("Sandbox mode");

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const second = run({}, [], dir);
    track(second);
    const port2 = await waitForPort(second);
    await sendCommand(`http://127.0.0.1:${port2}/slack/events`, {
      text: "list",
      responseUrl: fake.responseUrl("list"),
    });
    const listed = await fake.waitForResponse((r) => r.id === "list", 5000);
    expect(JSON.stringify(listed.body)).toContain("proc-model");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    // Two processes, one auth.test each: none per request.
    expect(fake.callsTo("auth.test")).toHaveLength(2);
    expect(first.output() + second.output()).not.toContain("sk-proc-KEY-4242");
  });

  it("finishes a submission in flight on SIGTERM, then exits 0", async () => {
    const fake = await fakeSlack();
    const sandbox: Sandbox = createSandbox({ apiKey: "convai-proc-key", record: true });
    const convaiUrl = await sandbox.listen(0, "127.0.0.1");
    cleanup.push(() => sandbox.close());
    const r = run({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      CONVAI_API_KEY: "convai-proc-key",
      CONVAI_API_URL: convaiUrl,
      CONVAI_MANAGERS: "U0USER",
      // A child process takes no injected DNS: this keeps the new base URL unresolved (no network in tests).
      CONVAI_ALLOW_PRIVATE_URLS: "true",
    });
    track(r);
    const port = await waitForPort(r);
    sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 3500 } });
    const pending = sendInteraction(
      `http://127.0.0.1:${port}/slack/events`,
      viewSubmission({
        callbackId: "convai_llm_register",
        privateMetadata: JSON.stringify({ v: 1 }),
        values: stateValues({
          model_group_name: input.text("inflight"),
          model_name: input.text("m"),
          display_name: input.text(null),
          api_key: input.text("sk-inflight-KEY"),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    // Wait until the register reached Convai, then ask the process to stop.
    const deadline = Date.now() + 5000;
    while (!sandbox.requests.some((q) => q.path.endsWith("/register")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    r.child.kill("SIGTERM");
    const ack = await pending;
    expect(ack.text).toContain("Working");
    expect(await r.exited).toBe(0);
    const updated = fake.callsTo("views.update").map((c) => JSON.stringify(c.args.view));
    expect(updated.some((v) => v.includes("is registered"))).toBe(true);
    expect(sandbox.models().map((m) => m.model_group_name)).toEqual(["inflight"]);
  });

  it("the production bundle (npm run build's esbuild step) starts and serves", async () => {
    // The esbuild step exactly as package.json has it, written inside node_modules so the external
    // packages resolve as they do from dist/.
    const pkg = z
      .object({ scripts: z.object({ build: z.string() }) })
      .parse(JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")));
    const step = pkg.scripts.build
      .split("&&")
      .map((part) => part.trim())
      .find((part) => part.startsWith("esbuild "));
    expect(step).toBeDefined();
    const outfile = join(ROOT, "node_modules", ".cache", "convai-test", `app-${process.pid}.mjs`);
    cleanup.push(() => rm(outfile, { force: true }));
    const args = (step ?? "")
      .split(/\s+/)
      .slice(1)
      .map((a) => (a.startsWith("--outfile=") ? `--outfile=${outfile}` : a));
    expect(args).toContain(`--outfile=${outfile}`);
    execFileSync(join(ROOT, "node_modules", ".bin", "esbuild"), args, { cwd: ROOT, stdio: "pipe" });

    const fake = await fakeSlack();
    const dir = await mkdtemp(join(tmpdir(), "convai-bundle-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const r = run(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: fake.apiUrl,
        PORT: "0",
        CONVAI_SANDBOX_FILE: join(dir, "state.json"),
        CONVAI_SANDBOX_DEMO: "false",
      },
      [],
      dir,
      [outfile],
    );
    track(r);
    const port = await waitForPort(r);
    expect(r.output()).toContain("SANDBOX MODE");
    await sendCommand(`http://127.0.0.1:${port}/slack/events`, {
      text: "list",
      responseUrl: fake.responseUrl("b"),
    });
    const listed = await fake.waitForResponse((res) => res.id === "b", 5000);
    expect(JSON.stringify(listed.body)).toContain("No custom LLMs are registered yet");
    r.child.kill("SIGTERM");
    expect(await r.exited).toBe(0);
  });

  it("Socket Mode: connects, /healthz 200, SIGTERM closes the socket and exits 0; a refused app token exits 1", async () => {
    const fake = await fakeSlack();
    const sm = await startFakeSocketMode();
    cleanup.push(() => sm.close());
    fake.socketUrl = sm.url;
    const env = {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_APP_TOKEN: "xapp-1-A0PROC-1-PROCESSSECRET",
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      CONVAI_SANDBOX_FILE: join(tmpdir(), `sock-${process.pid}-${Date.now()}.json`),
    };
    const r = run(env);
    track(r);
    const port = await waitForPort(r);
    expect(r.output()).toContain("Connected to Slack with Socket Mode");
    const health = await request(`http://127.0.0.1:${port}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    expect(sm.openSockets).toBe(1);
    r.child.kill("SIGTERM");
    expect(await r.exited).toBe(0);
    await sm.waitForNoSockets();

    fake.socketUrl = undefined;
    fake.on("apps.connections.open", () => ({ body: { ok: false, error: "invalid_auth" } }));
    const refused = run(env);
    track(refused);
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toContain("SLACK_APP_TOKEN");
    expect(refused.output()).not.toContain("PROCESSSECRET");
  });

  it("npm run sandbox's entry serves the API alone and prints the key", async () => {
    const r = run(
      {
        SANDBOX_PORT: "0",
        CONVAI_SANDBOX_DEMO: "false",
        CONVAI_SANDBOX_FILE: join(tmpdir(), `sbx-${process.pid}-${Date.now()}.json`),
      },
      ["sandbox"],
    );
    track(r);
    const deadline = Date.now() + 15_000;
    while (!/http:\/\/127\.0\.0\.1:\d+/.test(r.output()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(r.output())?.[0];
    const key = /sandbox-[0-9a-f]+/.exec(r.output())?.[0];
    expect(url).toBeDefined();
    expect(key).toBeDefined();
    const res = await request(`${url}/llm-models/list`, {
      method: "POST",
      headers: { "CONVAI-API-KEY": key ?? "", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ status: "success", models: [] });
    r.child.kill("SIGTERM");
    expect(await r.exited).toBe(0);
  });
});
