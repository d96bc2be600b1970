/**
 * The entry point: the only file that reads process.env, starts servers and handles signals.
 * `node dist/app.mjs` runs the bot (built by `npm run build`); `node dist/app.mjs sandbox` serves the Convai
 * sandbox alone.
 */
import { existsSync } from "node:fs";
import { WebClient } from "@slack/web-api";
import { type Config, loadConfig } from "./config.js";
import { createConvaiClient } from "./convai/client.js";
import { startEmbeddedSandbox } from "./convai/sandbox/embedded.js";
import { runSandboxServer } from "./convai/sandbox/main.js";
import type { ConvaiClient } from "./convai/types.js";
import { type BotIdentity, createApp } from "./create-app.js";
import { createLogger, type Logger } from "./logger.js";
import { slackErrorCode } from "./slack/authz.js";
import { SocketModeStartError } from "./slack/socket-mode/errors.js";

async function main(): Promise<void> {
  if (existsSync(".env")) {
    // process.loadEnvFile arrived in Node 20.12; on an older 20.x say so rather than crash.
    if (typeof process.loadEnvFile === "function") process.loadEnvFile(".env");
    else
      process.stderr.write(
        "Ignoring .env: reading it needs Node.js 20.12 or later; set the variables in the environment.\n",
      );
  }

  if (process.argv[2] === "sandbox") {
    const { sandbox } = await runSandboxServer(process.env, (line) => process.stdout.write(`${line}\n`));
    onSignals(async () => sandbox.close());
    return;
  }

  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    for (const line of loaded.errors) process.stderr.write(`Configuration error: ${line}\n`);
    process.exit(1);
  }
  const { config } = loaded;
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  guardProcess(logger);

  const { convai, sandbox } = await convaiFor(config, logger);
  const identity = await learnIdentity(config, logger);
  const bot = createApp({ config, logger, convai, sandbox, identity, stopGraceMs: config.shutdownGraceMs });
  try {
    await bot.start();
  } catch (error) {
    const code = slackErrorCode(error);
    // A SocketModeStartError already names the setting to fix (token refused, WebSocket refused, timeout).
    const message =
      error instanceof SocketModeStartError
        ? error.message
        : code === "EADDRINUSE" || code === "EACCES"
          ? `Could not listen on port ${config.port} (${code}); set PORT to a free port.`
          : config.mode === "socket"
            ? "Could not connect to Slack with Socket Mode; check SLACK_APP_TOKEN (xapp-…, connections:write) and the network."
            : `Could not listen on port ${config.port}; set PORT to a free port.`;
    logger.fatal({ error: code }, message);
    process.stderr.write(`The bot could not start: ${message}\n`);
    process.exit(1);
  }
  onSignals(async () => {
    await bot.stop();
  });
}

/** How the process stops once it serves (set by onSignals); before that, a fatal error exits at once. */
let stopServing: (() => Promise<void>) | undefined;
/** The one stop in progress: a signal and a fatal error share it. */
let stopping: Promise<void> | undefined;

function stopOnce(): Promise<void> {
  stopping ??= (stopServing ?? (async () => undefined))();
  return stopping;
}

/** Set by a fatal error: whatever stops the process then exits 1. */
let fatal = false;
/** Bound on the drain after an uncaught exception: the drain (10 s) plus the socket close (5 s), and margin. */
const FATAL_DRAIN_MS = 20_000;

/**
 * The last line of defence, for errors no handler caught (each one a bug). A promise rejected with nobody
 * listening leaves no half-done synchronous work behind: log it and keep serving. An uncaught exception
 * may have left state half-updated (Node's advice is not to resume): stop taking requests, finish those
 * in flight (bounded), exit 1, so the orchestrator restarts a clean process.
 */
function guardProcess(logger: Logger): void {
  process.on("unhandledRejection", (reason) => {
    logger.error(
      { err: errorFields(reason) },
      "A failure escaped every handler (unhandled promise rejection); the bot keeps serving. This is a bug: please report it with this line.",
    );
  });
  process.on("uncaughtException", (error, origin) => {
    logger.fatal(
      { err: errorFields(error), origin },
      `An unexpected error escaped every handler; the bot stops taking requests, finishes those in flight (at most ${FATAL_DRAIN_MS / 1000} s) and exits with code 1. This is a bug: please report it with this line.`,
    );
    if (fatal) return;
    fatal = true;
    setTimeout(() => process.exit(1), FATAL_DRAIN_MS);
    const exit = () => process.exit(1);
    stopOnce().then(exit, exit);
  });
}

function errorFields(reason: unknown): { message: string; stack?: string | undefined } {
  return reason instanceof Error
    ? { message: reason.message, stack: reason.stack }
    : { message: `Non-error value: ${String(reason).slice(0, 200)}` };
}

/** The real Convai when CONVAI_API_KEY is set, else the embedded sandbox on a loopback port. */
async function convaiFor(
  config: Config,
  logger: Logger,
): Promise<{ convai: ConvaiClient; sandbox: boolean }> {
  if (config.convai.apiKey) {
    const convai = createConvaiClient({
      baseUrl: config.convai.apiUrl,
      prefix: config.convai.prefix,
      apiKey: config.convai.apiKey,
      timeoutMs: config.convai.timeoutMs,
      connections: config.convai.maxConnections,
      logger,
    });
    return { convai, sandbox: false };
  }
  const { convai } = await startEmbeddedSandbox({
    prefix: config.convai.prefix,
    timeoutMs: config.convai.timeoutMs,
    connections: config.convai.maxConnections,
    file: config.convai.sandboxFile,
    demo: config.convai.sandboxDemo,
    logger,
  });
  logger.warn(
    { sandboxFile: config.convai.sandboxFile },
    "SANDBOX MODE: CONVAI_API_KEY is unset, so changes go to the embedded Convai emulator, not to Convai.",
  );
  return { convai, sandbox: true };
}

/** One auth.test at start-up, so Bolt never calls it per request. */
async function learnIdentity(config: Config, logger: Logger): Promise<BotIdentity> {
  const client = new WebClient(config.slack.botToken, {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
    timeout: 5000,
  });
  try {
    const res = await client.auth.test();
    if (!res.bot_id || !res.user_id) throw new Error("not_a_bot_token");
    logger.info({ botUserId: res.user_id, teamId: res.team_id }, "Authenticated with Slack.");
    return { botId: res.bot_id, botUserId: res.user_id };
  } catch (error) {
    const code = slackErrorCode(error);
    logger.fatal(
      { error: code },
      code === "invalid_auth" || code === "not_authed" || code === "not_a_bot_token"
        ? "Slack refused SLACK_BOT_TOKEN; copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page."
        : "Could not reach Slack's auth.test; check the network and SLACK_API_URL.",
    );
    process.exit(1);
  }
}

function onSignals(stop: () => Promise<void>): void {
  stopServing = stop;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopOnce().then(
      () => process.exit(fatal ? 1 : 0),
      (error: unknown) => {
        process.stderr.write(
          `Shutdown after ${signal} failed: ${error instanceof Error ? error.message : "unknown"}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `The bot could not start: ${error instanceof Error ? error.message : "unknown error"}\n`,
  );
  process.exit(1);
});
