/**
 * Bench child: the real bot, wired as src/app.ts wires it (loadConfig on a plain env object, pino at the
 * configured level on stdout, one auth.test at start-up, the keep-alive Convai client, createApp in HTTP
 * mode), plus the IPC stats channel. Started by bench/bench.ts; not for use on its own.
 */
import { WebClient } from "@slack/web-api";
import { loadConfig } from "../src/config.js";
import { createConvaiClient } from "../src/convai/client.js";
import { createApp } from "../src/create-app.js";
import { createLogger } from "../src/logger.js";
import { readBenchEnv, serveStats } from "./child-ipc.js";

async function main(): Promise<void> {
  const loaded = loadConfig(readBenchEnv());
  if (!loaded.ok) throw new Error(`bench bot config invalid: ${loaded.errors.join("; ")}`);
  const { config } = loaded;
  const { apiKey } = config.convai;
  if (!apiKey) throw new Error("bench bot needs CONVAI_API_KEY (the sandbox's key)");
  const logger = createLogger({ level: config.logLevel, pretty: false });
  const convai = createConvaiClient({
    baseUrl: config.convai.apiUrl,
    prefix: config.convai.prefix,
    apiKey,
    timeoutMs: config.convai.timeoutMs,
    connections: config.convai.maxConnections,
    logger,
  });
  // As src/app.ts does: learn the bot's ids once, so Bolt never calls auth.test per request.
  const identityClient = new WebClient(config.slack.botToken, {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
    timeout: 5000,
  });
  const auth = await identityClient.auth.test();
  if (!auth.bot_id || !auth.user_id) throw new Error("auth.test did not return the bot's ids");
  logger.info({ botUserId: auth.user_id, teamId: auth.team_id }, "Authenticated with Slack.");

  const bot = createApp({
    config,
    logger,
    convai,
    sandbox: false,
    identity: { botId: auth.bot_id, botUserId: auth.user_id },
  });
  serveStats(() => bot.stop());
  await bot.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench bot failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
