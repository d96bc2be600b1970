/**
 * Bolt's SocketModeReceiver and the SDK clients beside it, built so that apps.connections.open honours
 * SLACK_API_URL and no envelope payload reaches a log line.
 */
import { type Logger as SlackLogger, SocketModeReceiver } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
import type { WebClientOptions } from "@slack/web-api";

export interface ReceiverOptions {
  appToken: string;
  clientOptions: WebClientOptions;
  logger: SlackLogger;
  clientPingTimeoutMs?: number | undefined;
  serverPingTimeoutMs?: number | undefined;
}

/** The receiver, with the SDK's own reconnects off: the supervisor does them (see supervisor.ts). */
export function createReceiver(options: ReceiverOptions): SocketModeReceiver {
  return new SocketModeReceiver({
    appToken: options.appToken,
    logger: withoutPayloads(options.logger),
    autoReconnectEnabled: false,
    ...(options.clientPingTimeoutMs !== undefined ? { clientPingTimeout: options.clientPingTimeoutMs } : {}),
    ...(options.serverPingTimeoutMs !== undefined ? { serverPingTimeout: options.serverPingTimeoutMs } : {}),
    // Without this, apps.connections.open ignores SLACK_API_URL.
    installerOptions: { clientOptions: clientOptionsFor(options) },
  });
}

/** One more client like the receiver's, for a connection opened beside it (see supervisor.ts). */
export function createClient(options: ReceiverOptions): SocketModeClient {
  return new SocketModeClient({
    appToken: options.appToken,
    logger: withoutPayloads(options.logger),
    autoReconnectEnabled: false,
    ...(options.clientPingTimeoutMs !== undefined ? { clientPingTimeout: options.clientPingTimeoutMs } : {}),
    ...(options.serverPingTimeoutMs !== undefined ? { serverPingTimeout: options.serverPingTimeoutMs } : {}),
    clientOptions: clientOptionsFor(options),
  });
}

/** A copy, because SocketModeClient writes into it; retryConfig always set, or it sets 100 retries. */
function clientOptionsFor(options: ReceiverOptions): WebClientOptions {
  return {
    ...options.clientOptions,
    retryConfig: options.clientOptions.retryConfig ?? { retries: 2, factor: 2, minTimeout: 500 },
  };
}

/** Debug lines of @slack/socket-mode that print whole envelopes (an api_key typed into a form among them). */
const PAYLOAD_LINES =
  /^(Received a message on the WebSocket|Sending a WebSocket message|Calling ack\(\)|ack\(\) call begins|ack\(\) response sent|Unable to parse an incoming WebSocket message)/;

/**
 * The Slack SDK logger, minus what must not be logged: envelope payloads are cut (SPEC §5), and the
 * one-time `ticket` of a Socket Mode URL is masked.
 */
export function withoutPayloads(logger: SlackLogger): SlackLogger {
  const clean = (msg: unknown[]): unknown[] => {
    const [first] = msg;
    if (typeof first === "string") {
      const match = PAYLOAD_LINES.exec(first);
      if (match) return [`${match[0]} (payload not logged)`];
    }
    return msg.map((m) => (typeof m === "string" ? m.replace(/ticket=[^&"\s]+/g, "ticket=[redacted]") : m));
  };
  return {
    debug: (...msg: unknown[]) => logger.debug(...clean(msg)),
    info: (...msg: unknown[]) => logger.info(...clean(msg)),
    warn: (...msg: unknown[]) => logger.warn(...clean(msg)),
    error: (...msg: unknown[]) => logger.error(...clean(msg)),
    setLevel: (level) => logger.setLevel(level),
    getLevel: () => logger.getLevel(),
    setName: (name) => logger.setName(name),
  };
}
