import { App } from "@slack/bolt";
import type { WebClientOptions } from "@slack/web-api";
import { registerActions } from "./actions/listeners.js";
import { registerApprovalActions } from "./approvals/listeners.js";
import { registerCommands } from "./commands/listeners.js";
import type { Config } from "./config.js";
import type { ConvaiClient } from "./convai/types.js";
import { createDeps, type Deps } from "./deps.js";
import type { ProbeFn } from "./domain/outcome.js";
import { registerFallbacks, teamGuard } from "./guards.js";
import { type HomeController, registerHome } from "./home/listeners.js";
import type { Logger } from "./logger.js";
import { registerModalHandlers } from "./modals/listeners.js";
import type { LookupFn } from "./probe/guard.js";
import { createLifecycle } from "./server.js";
import { toSlackLogger } from "./slack/bolt-logger.js";
import { createReceiver, slackClientOptions } from "./slack/receiver.js";

export const COMMAND = "/convai-llm";

export interface BotIdentity {
  botId: string;
  botUserId: string;
}

export interface CreateAppOptions {
  config: Config;
  logger: Logger;
  convai: ConvaiClient;
  /** True when `convai` is the embedded sandbox: every message and view says so. */
  sandbox: boolean;
  /** Learned once at start-up, so Bolt never calls auth.test per request. */
  identity: BotIdentity;
  probe?: ProbeFn;
  /** DNS for the SSRF guard (tests inject one so nothing leaves 127.0.0.1); default the system resolver. */
  lookup?: LookupFn;
  /** Overrides for the Web API client (tests turn retries off). */
  clientOptions?: Pick<WebClientOptions, "retryConfig" | "timeout">;
  submitBudgetMs?: number;
  command?: string;
  /** How long stop() waits for in-flight requests. */
  drainMs?: number;
  /** HTTP mode: how long stop() keeps serving after /healthz turns 503 (SHUTDOWN_GRACE_MS); default 0. */
  stopGraceMs?: number;
  /** Socket Mode heartbeat deadlines (tests shorten them). */
  socket?: { clientPingTimeoutMs?: number; serverPingTimeoutMs?: number };
}

export interface BotApp {
  app: App;
  deps: Deps;
  /** HTTP mode: listens on config.port. Socket Mode: connects, and serves /healthz on config.port. */
  start(): Promise<{ port: number }>;
  /** Stops taking requests, waits for those in flight (bounded), closes everything. */
  stop(): Promise<void>;
  readonly healthy: boolean;
  readonly inFlight: number;
}

/** Builds and wires the bot. Nothing listens until start(); nothing here reads process.env. */
export function createApp(options: CreateAppOptions): BotApp {
  const { config, logger, convai } = options;
  const log = logger.child({ component: "app" });
  const clientOptions = slackClientOptions(config, options.clientOptions);
  const boltLogger = toSlackLogger(logger.child({ component: "bolt" }));

  const { receiver, socket } = createReceiver({
    config,
    clientOptions,
    logger: boltLogger,
    socket: options.socket,
  });
  const app = new App({
    token: config.slack.botToken,
    botId: options.identity.botId,
    botUserId: options.identity.botUserId,
    receiver,
    convoStore: false,
    logger: boltLogger,
    clientOptions,
  });

  let home: HomeController | undefined;
  const deps = createDeps({
    ...options,
    client: app.client,
    command: options.command ?? COMMAND,
    onChange: async (actor) => home?.republish(actor),
  });
  const lifecycle = createLifecycle({
    logger: log,
    connected: () => config.mode === "http" || (socket?.connected ?? false),
    disconnectedReason: "socket disconnected",
    drainMs: options.drainMs ?? 10_000,
    graceMs: socket ? 0 : (options.stopGraceMs ?? 0),
  });
  app.use(lifecycle.track);
  app.use(teamGuard(deps));
  registerCommands(app, deps);
  registerModalHandlers(app, deps);
  registerActions(app, deps);
  registerApprovalActions(app, deps);
  home = registerHome(app, deps);
  registerFallbacks(app, deps);

  return {
    app,
    deps,
    get healthy() {
      return lifecycle.healthy;
    },
    get inFlight() {
      return lifecycle.inFlight;
    },
    async start() {
      if (!socket) {
        const port = await lifecycle.listen(config.port, receiver.requestListener);
        log.info({ port, mode: "http" }, "Serving Slack requests on /slack/events.");
        return { port };
      }
      const port = await lifecycle.listen(config.port);
      // Rejects with a SocketModeStartError naming the fix (token refused, WebSocket refused, timeout).
      await socket?.start();
      log.info({ port, mode: "socket" }, "Connected to Slack with Socket Mode.");
      return { port };
    },
    async stop() {
      if (lifecycle.stopping) return;
      // Socket Mode: envelopes arriving from now on are not taken; the socket closes once all are acked.
      socket?.pause();
      await lifecycle.drain();
      if (socket) await socket.close();
      await lifecycle.close();
      await convai.close();
    },
  };
}
