/**
 * Starts the real bot (createApp on its HTTP receiver, port 0) against the fake Slack Web API and the
 * Convai sandbox, both real HTTP servers on 127.0.0.1, with every log line captured for assertions.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { expect } from "vitest";
import { z } from "zod";
import { loadConfig } from "../../src/config.js";
import { createConvaiClient } from "../../src/convai/client.js";
import { createSandbox, type Sandbox } from "../../src/convai/sandbox/index.js";
import type { ApiPrefix } from "../../src/convai/types.js";
import { type BotApp, type CreateAppOptions, createApp } from "../../src/create-app.js";
import { createLogger } from "../../src/logger.js";
import { type FakeSlack, startFakeSlack } from "./fake-slack.js";
import { DEFAULTS, SIGNING_SECRET, sendCommand } from "./slack-requests.js";

const logLineSchema = z.record(z.string(), z.unknown());

export const CONVAI_KEY = "convai-key-TESTSECRET-0000";
export const MANAGER = "U0MANAGER";
export const MEMBER = "U0MEMBER";

export interface TestBot {
  bot: BotApp;
  /** Full URL of POST /slack/events. */
  url: string;
  base: string;
  fake: FakeSlack;
  sandbox: Sandbox;
  logs: string[];
  /** Parsed log lines. */
  logLines(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  env?: Record<string, string>;
  prefix?: ApiPrefix;
  sandboxFile?: string;
  submitBudgetMs?: number;
  timeoutMs?: number;
  /** Reuse a running fake Slack (for restarts). */
  fake?: FakeSlack;
  /** Mark the bot as running in sandbox mode (context lines). */
  sandboxMode?: boolean;
  probe?: CreateAppOptions["probe"];
  lookup?: CreateAppOptions["lookup"];
  drainMs?: number;
  /** Web API call timeout (default 3000 ms, as in production), for tests where Slack answers slower. */
  slackTimeoutMs?: number;
}

/** A bot built against the fakes but not started: the part HTTP and Socket Mode tests share. */
export interface BotFixture {
  bot: BotApp;
  fake: FakeSlack;
  sandbox: Sandbox;
  logs: string[];
  /** Stops the bot, the sandbox, the fake Slack (unless it was passed in) and removes temp files. */
  cleanup(): Promise<void>;
}

export interface BuildBotOptions {
  env?: Record<string, string>;
  prefix?: ApiPrefix;
  timeoutMs?: number;
  sandboxFile?: string;
  sandboxMode?: boolean;
  fake?: FakeSlack;
  slackTimeoutMs?: number;
  /** Extra createApp options (budgets, probe, Socket Mode timings). */
  app?: Partial<Pick<CreateAppOptions, "submitBudgetMs" | "probe" | "lookup" | "drainMs" | "socket">>;
}

export async function buildBot(options: BuildBotOptions = {}): Promise<BotFixture> {
  const fake = options.fake ?? (await startFakeSlack());
  fake.users.set(MANAGER, { is_admin: false, name: "manager" });
  fake.users.set(MEMBER, { is_admin: false, name: "member" });
  fake.users.set(DEFAULTS.userId, { is_admin: true, name: "admin" });
  const dir = options.sandboxFile ? undefined : await mkdtemp(join(tmpdir(), "convai-bot-"));
  const sandbox = createSandbox({
    apiKey: CONVAI_KEY,
    record: true,
    file: options.sandboxFile ?? join(dir ?? "", "state.json"),
  });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");

  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: "xoxb-test-bot-token",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    CONVAI_API_KEY: CONVAI_KEY,
    CONVAI_API_URL: convaiUrl,
    CONVAI_API_PREFIX: options.prefix ?? "/llm-models",
    CONVAI_TIMEOUT_MS: String(options.timeoutMs ?? 2000),
    CONVAI_MANAGERS: MANAGER,
    CONVAI_ALLOW_PRIVATE_URLS: "true",
    LOG_LEVEL: "debug",
    ...options.env,
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`test config invalid: ${loaded.errors.join("; ")}`);
  const { config } = loaded;

  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const convai = createConvaiClient({
    baseUrl: config.convai.apiUrl,
    prefix: config.convai.prefix,
    apiKey: CONVAI_KEY,
    timeoutMs: config.convai.timeoutMs,
    logger,
    backoffMs: 20,
  });
  const bot = createApp({
    config,
    logger,
    convai,
    sandbox: options.sandboxMode ?? false,
    identity: { botId: DEFAULTS.botId, botUserId: DEFAULTS.botUserId },
    clientOptions: {
      retryConfig: { retries: 0 },
      ...(options.slackTimeoutMs !== undefined ? { timeout: options.slackTimeoutMs } : {}),
    },
    // No test leaves 127.0.0.1: a name is "not found" unless the test injects its own answers.
    lookup: async (hostname) => {
      throw Object.assign(new Error(`no DNS in tests (${hostname})`), { code: "ENOTFOUND" });
    },
    ...options.app,
  });
  return {
    bot,
    fake,
    sandbox,
    logs,
    async cleanup() {
      await bot.stop();
      await sandbox.close();
      if (!options.fake) await fake.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startTestBot(options: TestBotOptions = {}): Promise<TestBot> {
  const fixture = await buildBot({
    ...options,
    app: {
      ...(options.submitBudgetMs !== undefined ? { submitBudgetMs: options.submitBudgetMs } : {}),
      ...(options.probe ? { probe: options.probe } : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
    },
  });
  const { bot, fake, sandbox, logs } = fixture;
  const { port } = await bot.start();
  const base = `http://127.0.0.1:${port}`;
  return {
    bot,
    url: `${base}/slack/events`,
    base,
    fake,
    sandbox,
    logs,
    logLines: () =>
      logs.flatMap((l) => {
        try {
          const parsed = logLineSchema.safeParse(JSON.parse(l));
          return parsed.success ? [parsed.data] : [];
        } catch {
          return [];
        }
      }),
    stop: () => fixture.cleanup(),
  };
}

/** Every byte that left the bot: Slack calls, response_url posts and log lines. */
export function everythingSent(t: TestBot): string {
  return [...t.fake.rawLog, ...t.fake.responses.map((r) => r.raw), ...t.logs].join("\n");
}

let commandSeq = 0;

/**
 * Sends `/convai-llm <text>` as `userId`, signed, with a response_url of its own; `reply()` waits for the
 * first post to it. `repliesAtAck` counts the posts already there when the ack arrived.
 */
export async function runCommand(b: TestBot, text: string, userId: string = MANAGER) {
  commandSeq += 1;
  const id = `cmd${commandSeq}`;
  const res = await sendCommand(b.url, { text, userId, responseUrl: b.fake.responseUrl(id) });
  expect(res.status).toBe(200);
  return {
    res,
    repliesAtAck: b.fake.responses.filter((r) => r.id === id).length,
    reply: () => b.fake.waitForResponse((r) => r.id === id),
  };
}
