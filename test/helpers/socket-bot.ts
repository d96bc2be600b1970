/**
 * Starts the real bot in Socket Mode (createApp with SLACK_APP_TOKEN) against the fake Slack Web API, the fake
 * Socket Mode server (a real WebSocket) and the Convai sandbox, all on 127.0.0.1, with every log line captured.
 * /healthz listens on an ephemeral port (PORT=0).
 */
import { request } from "undici";
import type { Sandbox } from "../../src/convai/sandbox/index.js";
import type { BotApp, CreateAppOptions } from "../../src/create-app.js";
import { buildBot } from "./bot.js";
import { type FakeSlack, startFakeSlack } from "./fake-slack.js";
import { type FakeSocketMode, startFakeSocketMode } from "./fake-socket-mode.js";

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
  const fixture = await buildBot({
    fake,
    timeoutMs: 5000,
    env: { SLACK_APP_TOKEN: APP_TOKEN, ...options.env },
    app: {
      socket: { clientPingTimeoutMs: 1_000 },
      ...(options.submitBudgetMs !== undefined ? { submitBudgetMs: options.submitBudgetMs } : {}),
      ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
      ...(options.probe ? { probe: options.probe } : {}),
    },
  });
  const { bot, sandbox, logs } = fixture;

  let base = "";
  const cleanup = async () => {
    await fixture.cleanup();
    await sm.close();
    await fake.close();
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
