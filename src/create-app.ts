import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type AnyMiddlewareArgs, App, HTTPReceiver, LogLevel, type SocketModeReceiver } from "@slack/bolt";
import type { Logger as SlackLogger } from "@slack/logger";
import type { WebClientOptions } from "@slack/web-api";
import { z } from "zod";
import { createAuthorizer } from "./authz.js";
import { registerCommands } from "./commands/handlers.js";
import { plainMessage } from "./commands/messages.js";
import type { Config } from "./config.js";
import type { ConvaiClient } from "./convai/types.js";
import type { Deps } from "./deps.js";
import { registerHome } from "./home/home.js";
import type { Logger } from "./logger.js";
import { registerModalHandlers } from "./modals/handlers.js";
import { failureBlocks } from "./modals/outcome.js";
import { messageModal } from "./modals/views.js";
import { createNotifier } from "./notify.js";
import { probeEndpoint } from "./probe/probe.js";
import { type Actor, createLlmService, type ProbeFn } from "./service/llm-service.js";
import { registerActions } from "./slack/actions.js";
import { CALLBACK } from "./slack/ids.js";
import { createSocketConnection, type SocketConnection } from "./slack/socket-mode/supervisor.js";

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
  /** Overrides for the Web API client (tests turn retries off). */
  clientOptions?: Pick<WebClientOptions, "retryConfig" | "timeout">;
  submitBudgetMs?: number;
  command?: string;
  /** How long stop() waits for in-flight requests. */
  drainMs?: number;
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
  const clientOptions: WebClientOptions = {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    // Bounded, so nobody waits more than about 10 s on a failing Slack: 3 tries x 3 s + 1.5 s of backoff.
    retryConfig: options.clientOptions?.retryConfig ?? {
      retries: 2,
      factor: 2,
      minTimeout: 500,
      maxTimeout: 1000,
    },
    timeout: options.clientOptions?.timeout ?? 3000,
    // Otherwise a Slack 429 pauses every Slack call for Retry-After seconds, once per retry.
    rejectRateLimitedCalls: true,
  };
  const boltLogger = toSlackLogger(logger.child({ component: "bolt" }));

  let socket: SocketConnection | undefined;
  let receiver: HTTPReceiver | SocketModeReceiver;
  if (config.mode === "socket" && config.slack.appToken) {
    socket = createSocketConnection({
      appToken: config.slack.appToken,
      clientOptions,
      logger: boltLogger,
      ...options.socket,
    });
    receiver = socket.receiver;
  } else {
    if (!config.slack.signingSecret)
      throw new Error("HTTP mode needs SLACK_SIGNING_SECRET; loadConfig checks this.");
    receiver = new HTTPReceiver({
      signingSecret: config.slack.signingSecret,
      endpoints: "/slack/events",
      logger: boltLogger,
      processBeforeResponse: false,
    });
  }

  const app = new App({
    token: config.slack.botToken,
    botId: options.identity.botId,
    botUserId: options.identity.botUserId,
    receiver,
    convoStore: false,
    logger: boltLogger,
    clientOptions,
  });

  const authz = createAuthorizer({ config, client: app.client, logger });
  const notify = createNotifier({
    client: app.client,
    channel: config.notifyChannel,
    sandbox: options.sandbox,
    logger,
  });
  const service = createLlmService({
    convai,
    probe: options.probe ?? probeEndpoint,
    notify,
    allowPrivateUrls: config.allowPrivateUrls,
    logger,
  });
  const changeListeners: Array<(actor: Actor) => Promise<void>> = [];
  const deps: Deps = {
    config,
    logger,
    service,
    authz,
    view: { prefix: convai.prefix, sandbox: options.sandbox },
    validation: { prefix: convai.prefix, allowPrivateUrls: config.allowPrivateUrls, secrets: config.secrets },
    command: options.command ?? COMMAND,
    submitBudgetMs: options.submitBudgetMs ?? 2200,
    onChange: async (actor) => {
      await Promise.all(changeListeners.map((listener) => listener(actor)));
    },
  };

  let inFlight = 0;
  let stopping = false;
  const drained: Array<() => void> = [];

  app.use(async ({ next }) => {
    inFlight += 1;
    try {
      await next();
    } finally {
      inFlight -= 1;
      if (inFlight === 0) for (const resolve of drained.splice(0)) resolve();
    }
  });
  app.use(async (args) => {
    // No allow-list (the default): nothing to check, so no zod parse of the body before ack().
    if (config.allowedTeams.length === 0 || authz.teamAllowed(teamIdsOf(args.body, args.context)))
      return args.next();
    log.warn(
      { teamId: args.context.teamId, enterpriseId: args.context.enterpriseId },
      "Refused a request from a workspace outside CONVAI_ALLOWED_TEAMS.",
    );
    await refuse(args, deps);
  });

  registerCommands(app, deps);
  registerModalHandlers(app, deps);
  registerActions(app, deps);
  const home = registerHome(app, deps);
  changeListeners.push(home.republish);

  // Forged or stale payloads for ids the bot never issued are answered at once (not left to Bolt's 3 s
  // timeout and 404) and logged.
  const ours = Object.values(CALLBACK).join("|");
  app.view(
    { callback_id: new RegExp(`^(?!(?:${ours})$)`), type: "view_submission" },
    async ({ ack, view }) => {
      log.warn(
        { callbackId: view.callback_id.slice(0, 100) },
        "Ignored a view submission with an unknown callback_id.",
      );
      await ack();
    },
  );
  app.action({ action_id: /^(?!convai_)/ }, async ({ ack, action }) => {
    const id = "action_id" in action ? action.action_id : "unknown";
    log.warn({ actionId: id.slice(0, 100) }, "Ignored a button action with an unknown action_id.");
    await ack();
  });

  // Anything that reaches here unhandled is a bug or a forged payload; it must not take the process down.
  app.error(async (error) => {
    log.error(
      { code: "code" in error ? error.code : undefined, err: { message: error.message, stack: error.stack } },
      "A listener failed unexpectedly; this is a bug, please report it with this log line.",
    );
  });

  let httpServer: Server | undefined;
  const sockets = new Set<Socket>();
  // Serving means: not stopping, and in Socket Mode, connected to Slack.
  const isHealthy = () => !stopping && (config.mode === "http" || (socket?.connected ?? false));

  function health(_req: IncomingMessage, res: ServerResponse) {
    const ok = isHealthy();
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(
      JSON.stringify(
        ok ? { ok: true } : { ok: false, reason: stopping ? "stopping" : "socket disconnected" },
      ),
    );
  }

  function listen(server: Server, port: number): Promise<number> {
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : port);
      });
    });
  }

  return {
    app,
    deps,
    get healthy() {
      return isHealthy();
    },
    get inFlight() {
      return inFlight;
    },
    async start() {
      if (receiver instanceof HTTPReceiver) {
        const listener = receiver.requestListener;
        httpServer = createServer((req, res) => {
          if (req.method === "GET" && req.url?.split("?")[0] === "/healthz") return health(req, res);
          if (stopping) {
            res.writeHead(503, { connection: "close" }).end();
            return;
          }
          listener(req, res);
        });
        const port = await listen(httpServer, config.port);
        log.info({ port, mode: "http" }, "Serving Slack requests on /slack/events.");
        return { port };
      }
      httpServer = createServer((req, res) => {
        if (req.method === "GET" && req.url?.split("?")[0] === "/healthz") return health(req, res);
        res.writeHead(404).end();
      });
      const port = await listen(httpServer, config.port);
      // Rejects with a SocketModeStartError naming the fix (token refused, WebSocket refused, timeout).
      await socket?.start();
      log.info({ port, mode: "socket" }, "Connected to Slack with Socket Mode.");
      return { port };
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      // Socket Mode: envelopes arriving from now on are not taken; the socket closes once all are acked.
      socket?.pause();
      log.info({ inFlight }, "Stopping: no new requests are taken; finishing those in flight.");
      const closed = httpServer
        ? new Promise<void>((resolve) => {
            httpServer?.close(() => resolve());
            httpServer?.closeIdleConnections();
          })
        : Promise.resolve();
      if (inFlight > 0) {
        const drainMs = options.drainMs ?? 10_000;
        await Promise.race([
          new Promise<void>((resolve) => drained.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
        ]);
        if (inFlight > 0)
          log.warn({ inFlight }, "Stopped with requests still in flight after the drain deadline.");
      }
      if (socket) await socket.close();
      for (const socket of sockets) socket.destroy();
      await closed;
      await convai.close();
    },
  };
}

const teamSchema = z
  .object({
    team_id: z.string().optional(),
    enterprise_id: z.string().optional(),
    user_team_id: z.string().optional(),
    team: z.object({ id: z.string().optional(), enterprise_id: z.string().optional() }).nullish(),
    enterprise: z.object({ id: z.string().optional() }).nullish(),
    user: z.object({ team_id: z.string().optional() }).nullish(),
  })
  .passthrough();

/** Every team and enterprise id a request carries (Enterprise Grid bodies carry several). */
export function teamIdsOf(body: unknown, context: { teamId?: string; enterpriseId?: string }): string[] {
  const ids = [context.teamId, context.enterpriseId];
  const parsed = teamSchema.safeParse(body);
  if (parsed.success) {
    const b = parsed.data;
    ids.push(
      b.team_id,
      b.enterprise_id,
      b.user_team_id,
      b.team?.id,
      b.team?.enterprise_id,
      b.enterprise?.id,
      b.user?.team_id,
    );
  }
  return ids.filter((id): id is string => typeof id === "string" && id.length > 0);
}

const REFUSAL =
  "This Slack workspace is not allowed to use the Convai LLM bot. Ask the bot's admin to add it to CONVAI_ALLOWED_TEAMS.";

/** Answers a refused request in the way its kind allows: ephemeral text, a modal, or nothing. */
async function refuse(args: AnyMiddlewareArgs, deps: Deps): Promise<void> {
  if ("command" in args) return args.ack({ response_type: "ephemeral", ...plainMessage(deps.view, REFUSAL) });
  if ("view" in args && args.body.type === "view_submission") {
    const callbackId =
      Object.values(CALLBACK).find((id) => id === args.view.callback_id) ?? CALLBACK.register;
    return args.ack({
      response_action: "update",
      view: messageModal(deps.view, callbackId, "Not allowed", failureBlocks(REFUSAL)),
    });
  }
  if ("ack" in args && typeof args.ack === "function") await args.ack();
  if ("respond" in args && "action" in args) {
    await args
      .respond({ response_type: "ephemeral", ...plainMessage(deps.view, REFUSAL), replace_original: false })
      .catch(() => undefined);
  }
}

/** Bolt logs through pino, so its lines get the same redaction and format. */
function toSlackLogger(pinoLogger: Logger): SlackLogger {
  let level: LogLevel = LogLevel.INFO;
  const join = (msg: unknown[]) => msg.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
  return {
    debug: (...msg: unknown[]) => pinoLogger.debug(join(msg)),
    info: (...msg: unknown[]) => pinoLogger.info(join(msg)),
    warn: (...msg: unknown[]) => pinoLogger.warn(join(msg)),
    error: (...msg: unknown[]) => pinoLogger.error(join(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
