/**
 * The process-level safety net (issue 16 item 8), through the real entry point as a child process with the
 * fake Slack Web API, the fake Socket Mode server and a Convai sandbox on 127.0.0.1: malformed Socket Mode
 * frames are harmless, a stray rejection is logged and the bot keeps serving, an uncaught exception drains
 * what is in flight and exits 1.
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../../src/convai/sandbox/index.js";
import { CALLBACK } from "../../../src/slack/ids.js";
import { type BotProcess, ROOT, runBot, waitForPort } from "../../helpers/bot-process.js";
import { type FakeSlack, startFakeSlack } from "../../helpers/fake-slack.js";
import { type FakeSocketMode, startFakeSocketMode } from "../../helpers/fake-socket-mode.js";
import { commandPayload, input, stateValues, viewSubmission } from "../../helpers/slack-requests.js";

const FAULTS = join(ROOT, "test/helpers/process-faults.ts");
const MANAGER = "U0PROCMGR";
const MODEL_KEY = "sk-proc-MODEL-SECRET-4321";

interface Running {
  bot: BotProcess;
  fake: FakeSlack;
  sm: FakeSocketMode;
  sandbox: Sandbox;
  port: number;
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

/** The bot in Socket Mode against the fakes, with the real Convai client pointed at a sandbox here. */
async function startBot(preloads: string[] = []): Promise<Running> {
  const fake = await startFakeSlack();
  cleanup.push(() => fake.close());
  const sm = await startFakeSocketMode();
  cleanup.push(() => sm.close());
  fake.socketUrl = sm.url;
  const sandbox = createSandbox({ apiKey: "convai-proc-key", record: true });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");
  cleanup.push(() => sandbox.close());
  const bot = runBot(
    {
      SLACK_BOT_TOKEN: "xoxb-process-test-token",
      SLACK_APP_TOKEN: "xapp-1-A0PROC-1-PROCESSSECRET",
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      CONVAI_API_KEY: "convai-proc-key",
      CONVAI_API_URL: convaiUrl,
      CONVAI_MANAGERS: MANAGER,
      // A child process takes no injected DNS: this keeps the new base URL unresolved (no network in tests).
      CONVAI_ALLOW_PRIVATE_URLS: "true",
      CONVAI_SANDBOX_FILE: join(tmpdir(), `sock-proc-${process.pid}-${Date.now()}.json`),
    },
    preloads,
  );
  cleanup.push(() => bot.kill());
  const port = await waitForPort(bot);
  await sm.waitForConnection(1, 5_000);
  return { bot, fake, sm, sandbox, port };
}

async function healthOf(r: Running): Promise<number> {
  const res = await request(`http://127.0.0.1:${r.port}/healthz`);
  await res.body.dump();
  return res.statusCode;
}

/** `list` through the socket: acknowledged, and the answer reaches the response URL. */
async function listAnswered(r: Running, id: string): Promise<void> {
  const ack = await r.sm.sendCommand({ text: "list", userId: MANAGER, responseUrl: r.fake.responseUrl(id) });
  expect(ack.payload).toEqual({});
  const reply = await r.fake.waitForResponse((p) => p.id === id, 5_000);
  expect(reply.body.response_type).toBe("ephemeral");
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the process keeps serving through malformed Socket Mode frames and stray rejections", () => {
  it("a malformed events_api frame (payload {}) and other bad frames: acked, logged, process up, `list` answered", async () => {
    const r = await startBot();
    const frames: Array<{ text: string; id?: string }> = [
      { text: JSON.stringify({ envelope_id: "bad-1", type: "events_api", payload: {} }), id: "bad-1" },
      { text: JSON.stringify({ envelope_id: "bad-2", type: "events_api" }), id: "bad-2" },
      {
        text: JSON.stringify({ envelope_id: "bad-3", type: "events_api", payload: { event: null } }),
        id: "bad-3",
      },
      { text: JSON.stringify({ envelope_id: "bad-4", type: "slash_commands" }), id: "bad-4" },
      { text: JSON.stringify({ envelope_id: "bad-5", type: "interactive", payload: "text" }), id: "bad-5" },
      { text: "null" },
      { text: "[1,2]" },
      { text: "not json at all" },
    ];
    for (const frame of frames) r.sm.sendRaw(frame.text);

    // Each frame with an envelope id is acknowledged once, so Slack does not resend it.
    const ids = frames.flatMap((f) => (f.id ? [f.id] : []));
    await until(
      () => ids.every((id) => r.sm.acks.some((a) => a.envelope_id === id)),
      "the malformed frames' acks",
    );
    for (const id of ids) expect(r.sm.acks.filter((a) => a.envelope_id === id)).toHaveLength(1);

    await listAnswered(r, "after-bad");
    expect(r.bot.child.exitCode).toBeNull();
    expect(await healthOf(r)).toBe(200);
    const out = r.bot.output();
    expect(out).toContain("Ignored a malformed Socket Mode events_api message from Slack");
    expect(out).toContain("Ignored a malformed Socket Mode slash_commands envelope from Slack");
    expect(out).not.toContain("unhandled promise rejection");
    expect(out).not.toContain("PROCESSSECRET");
    expect(r.sm.connections).toBe(1);
  });

  it("a rejection nobody handles: one log line, /healthz 200, the next `list` answered", async () => {
    const r = await startBot([FAULTS]);
    r.bot.child.kill("SIGUSR2");
    await until(() => r.bot.output().includes("unhandled promise rejection"), "the rejection's log line");
    await listAnswered(r, "after-rejection");
    expect(await healthOf(r)).toBe(200);
    expect(r.bot.child.exitCode).toBeNull();
    const lines = r.bot
      .output()
      .split("\n")
      .filter((l) => l.includes("unhandled promise rejection"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("injected rejection nobody handles");
    expect(lines[0]).toContain("the bot keeps serving");
  });

  it("an uncaught exception: takes nothing new, finishes the submission in flight, then exits 1", async () => {
    const r = await startBot([FAULTS]);
    r.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_500 } });
    const submitted = r.sm.sendInteractive(
      viewSubmission({
        callbackId: CALLBACK.register,
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, origin: "command" }),
        values: stateValues({
          model_group_name: input.text("fatal-drain"),
          model_name: input.text("m"),
          display_name: input.text(null),
          api_key: input.text(MODEL_KEY),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    await until(() => r.sandbox.requests.some((q) => q.path.endsWith("/register")), "the register call");
    const thrownAt = Date.now();
    r.bot.child.kill("SIGWINCH");
    await until(() => r.bot.output().includes("escaped every handler"), "the fatal log line");
    // Nothing new is taken (not acknowledged, so Slack tells the user, or redelivers elsewhere).
    const late = r.sm.send(
      "slash_commands",
      commandPayload({ text: "list", responseUrl: r.fake.responseUrl("late") }),
      600,
    );
    await expect(late).rejects.toThrow(/no ack|no open socket/);

    // The submission in flight is finished and answered before the process goes.
    const ack = await submitted;
    expect(JSON.stringify(ack.payload)).toContain("fatal-drain");
    expect(await r.bot.exited).toBe(1);
    const tookMs = Date.now() - thrownAt;
    expect(r.sandbox.models().map((m) => m.model_group_name)).toEqual(["fatal-drain"]);
    const lines = r.bot
      .output()
      .split("\n")
      .filter((l) => l.includes("escaped every handler"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("injected exception from a timer");
    expect(lines[0]).toContain("exits with code 1");
    expect(r.bot.output()).not.toContain(MODEL_KEY);
    expect(r.fake.responses.filter((p) => p.id === "late")).toHaveLength(0);
    console.info(`[process] uncaught exception → drained and exited 1 after ${tookMs} ms`);
  });
});
