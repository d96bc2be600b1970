import { HTTPReceiver, type SocketModeReceiver } from "@slack/bolt";
import type { Logger as SlackLogger } from "@slack/logger";
import type { WebClientOptions } from "@slack/web-api";
import type { Config } from "../config.js";
import { createSocketConnection, type SocketConnection } from "./socket-mode/supervisor.js";

export type Receivers =
  | { kind: "http"; receiver: HTTPReceiver; socket?: undefined }
  | { kind: "socket"; receiver: SocketModeReceiver; socket: SocketConnection };

/** Socket Mode when an app token is set (SPEC §4), else Bolt's HTTP receiver on /slack/events. */
export function createReceiver(options: {
  config: Config;
  clientOptions: WebClientOptions;
  logger: SlackLogger;
  socket?: { clientPingTimeoutMs?: number; serverPingTimeoutMs?: number } | undefined;
}): Receivers {
  const { config, logger } = options;
  if (config.mode === "socket" && config.slack.appToken) {
    const socket = createSocketConnection({
      appToken: config.slack.appToken,
      clientOptions: options.clientOptions,
      logger,
      ...options.socket,
    });
    return { kind: "socket", receiver: socket.receiver, socket };
  }
  if (!config.slack.signingSecret)
    throw new Error("HTTP mode needs SLACK_SIGNING_SECRET; loadConfig checks this.");
  const receiver = new HTTPReceiver({
    signingSecret: config.slack.signingSecret,
    endpoints: "/slack/events",
    logger,
    processBeforeResponse: false,
  });
  return { kind: "http", receiver };
}

/** Bounded, so nobody waits more than about 10 s on a failing Slack: 3 tries x 3 s + 1.5 s of backoff. */
export function slackClientOptions(
  config: Config,
  overrides?: Pick<WebClientOptions, "retryConfig" | "timeout">,
): WebClientOptions {
  return {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    retryConfig: overrides?.retryConfig ?? { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 1000 },
    timeout: overrides?.timeout ?? 3000,
    // Otherwise a Slack 429 pauses every Slack call for Retry-After seconds, once per retry.
    rejectRateLimitedCalls: true,
  };
}
