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
import { SocketModeStartError } from "./socket-mode.js";

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

  const { convai, sandbox } = await convaiFor(config, logger);
  const identity = await learnIdentity(config, logger);
  const bot = createApp({ config, logger, convai, sandbox, identity });
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
      logger,
    });
    return { convai, sandbox: false };
  }
  const { convai } = await startEmbeddedSandbox({
    prefix: config.convai.prefix,
    timeoutMs: config.convai.timeoutMs,
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
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
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
