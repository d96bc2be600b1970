/**
 * Starts the real bot in Socket Mode (createApp with SLACK_APP_TOKEN) against the fake Slack Web API, the fake
 * Socket Mode server (a real WebSocket) and the Convai sandbox, all on 127.0.0.1, with every log line captured.
 * /healthz listens on an ephemeral port (PORT=0).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { request } from "undici";
import { loadConfig } from "../../src/config.js";
import { createConvaiClient } from "../../src/convai/client.js";
import { createSandbox, type Sandbox } from "../../src/convai/sandbox.js";
import { type BotApp, type CreateAppOptions, createApp } from "../../src/create-app.js";
import { createLogger } from "../../src/logger.js";
import { CONVAI_KEY, MANAGER, MEMBER } from "./bot.js";
import { type FakeSlack, startFakeSlack } from "./fake-slack.js";
import { type FakeSocketMode, startFakeSocketMode } from "./fake-socket-mode.js";
import { DEFAULTS } from "./slack-requests.js";

export const APP_TOKEN = "xapp-1-A0TEST-1234-SOCKETSECRET";

export interface SocketBot {
  bot: BotApp;
  /** http://127.0.0.1:PORT — where /healthz is served. */
  base: string;
  fake: FakeSlack;
  sm: FakeSocketMode;
  sandbox: Sandbox;
  logs: string[];
  /** GET /healthz: status code and body. */
  health(): Promise<{ status: number; body: string }>;
  /** Polls /healthz every 10 ms until `predicate(status)`; resolves with the time it took. */
  waitForHealth(predicate: (status: number) => boolean, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export interface SocketBotOptions {
  env?: Record<string, string>;
  submitBudgetMs?: number;
  drainMs?: number;
  probe?: CreateAppOptions["probe"];
  /** Leave apps.connections.open unanswered by a socket URL (so it says invalid_auth), or point it elsewhere. */
  socketUrl?: string | null;
  /** Start the bot (default true). With false, call `bot.start()` yourself. */
  start?: boolean;
}

export async function startSocketBot(options: SocketBotOptions = {}): Promise<SocketBot> {
  const fake = await startFakeSlack();
  const sm = await startFakeSocketMode();
  if (options.socketUrl === undefined) fake.socketUrl = sm.url;
  else if (options.socketUrl !== null) fake.socketUrl = options.socketUrl;
  fake.users.set(MANAGER, { is_admin: false, name: "manager" });
  fake.users.set(MEMBER, { is_admin: false, name: "member" });
  fake.users.set(DEFAULTS.userId, { is_admin: true, name: "admin" });

  const dir = await mkdtemp(join(tmpdir(), "convai-socket-bot-"));
  const sandbox = createSandbox({ apiKey: CONVAI_KEY, file: join(dir, "state.json") });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");

  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: "xoxb-test-bot-token",
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    CONVAI_API_KEY: CONVAI_KEY,
    CONVAI_API_URL: convaiUrl,
    CONVAI_TIMEOUT_MS: "5000",
    CONVAI_MANAGERS: MANAGER,
    CONVAI_ALLOW_PRIVATE_URLS: "true",
    LOG_LEVEL: "debug",
    ...options.env,
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`test config invalid: ${loaded.errors.join("; ")}`);
  const { config } = loaded;
  if (config.mode !== "socket") throw new Error("socket-bot: expected Socket Mode");

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
    sandbox: false,
    identity: { botId: DEFAULTS.botId, botUserId: DEFAULTS.botUserId },
    clientOptions: { retryConfig: { retries: 0 } },
    socket: { clientPingTimeoutMs: 1_000 },
    ...(options.submitBudgetMs !== undefined ? { submitBudgetMs: options.submitBudgetMs } : {}),
    ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
    ...(options.probe ? { probe: options.probe } : {}),
  });

  let base = "";
  const cleanup = async () => {
    await bot.stop();
    await sm.close();
    await sandbox.close();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  };
  if (options.start !== false) {
    try {
      const { port } = await bot.start();
      base = `http://127.0.0.1:${port}`;
    } catch (error) {
      await cleanup();
      throw error;
    }
  }

  const health = async () => {
    if (base === "") throw new Error("socket-bot: not started");
    const res = await request(`${base}/healthz`, { method: "GET" });
    return { status: res.statusCode, body: await res.body.text() };
  };

  return {
    bot,
    get base() {
      return base;
    },
    fake,
    sm,
    sandbox,
    logs,
    health,
    async waitForHealth(predicate, timeoutMs = 5_000) {
      const started = Date.now();
      let last = 0;
      while (Date.now() - started < timeoutMs) {
        last = (await health()).status;
        if (predicate(last)) return Date.now() - started;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`socket-bot: /healthz still ${last} after ${timeoutMs} ms`);
    },
    stop: cleanup,
  };
}
