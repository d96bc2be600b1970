/**
 * Bolt's SocketModeReceiver, built so that apps.connections.open honours SLACK_API_URL and no envelope
 * payload reaches a log line, plus the gate that knows which envelopes still wait for their ack.
 */
import { type Logger as SlackLogger, SocketModeReceiver } from "@slack/bolt";
import type { SocketModeClient } from "@slack/socket-mode";
import type { WebClientOptions } from "@slack/web-api";
import { isRecord } from "./errors.js";

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
    // Without this, apps.connections.open ignores SLACK_API_URL. A copy, because SocketModeClient writes
    // into it; retryConfig always set, because without one SocketModeClient sets 100 retries.
    installerOptions: {
      clientOptions: {
        ...options.clientOptions,
        retryConfig: options.clientOptions.retryConfig ?? { retries: 2, factor: 2, minTimeout: 500 },
      },
    },
  });
}

export interface EnvelopeGate {
  /** Envelopes dispatched and not yet acknowledged. */
  readonly unacked: number;
  /** From now on envelopes are not dispatched (nor acknowledged); `onIdle` runs once none is unacked. */
  pause(onIdle: () => void): void;
}

/**
 * Bolt's receiver takes every envelope from the client's `slack_event`. Interpose, to stop dispatching
 * on shutdown and to know which envelopes are still waiting for their ack.
 */
export function gateEnvelopes(client: SocketModeClient, log: SlackLogger): EnvelopeGate {
  const dispatchers = client.listeners("slack_event");
  if (dispatchers.length !== 1) {
    throw new Error(
      `Expected Bolt's SocketModeReceiver to listen to slack_event once, found ${dispatchers.length}: ` +
        "check the @slack/bolt version.",
    );
  }
  const unacked = new Set<string>();
  let paused = false;
  let onIdle: (() => void) | undefined;
  client.removeAllListeners("slack_event");
  client.on("slack_event", (event: unknown) => {
    if (!isSlackEvent(event)) return;
    if (paused) {
      log.warn(
        `Shutting down: a ${event.type} envelope arrived after shutdown began and was not taken ` +
          "(not acknowledged, so Slack redelivers events; a command or form shows the user it failed).",
      );
      return;
    }
    const id = event.envelope_id;
    unacked.add(id);
    const ack = async (response?: unknown): Promise<void> => {
      try {
        await event.ack(response);
      } finally {
        unacked.delete(id);
        if (paused && unacked.size === 0) onIdle?.();
      }
    };
    for (const dispatch of dispatchers) {
      // The receiver's listener is async; its failures must not become unhandled rejections.
      Promise.resolve(dispatch({ ...event, ack })).catch((error: unknown) => {
        log.error(
          `A Socket Mode envelope could not be processed: ${error instanceof Error ? error.message : "unknown error"}`,
        );
      });
    }
  });
  return {
    get unacked() {
      return unacked.size;
    },
    pause(idle) {
      if (paused) return;
      paused = true;
      onIdle = idle;
      if (unacked.size === 0) idle();
    },
  };
}

interface SlackEvent {
  envelope_id: string;
  type: string;
  ack: (response?: unknown) => Promise<void>;
}

/** The shape @slack/socket-mode emits as `slack_event`. */
function isSlackEvent(value: unknown): value is SlackEvent & Record<string, unknown> {
  return (
    isRecord(value) &&
    typeof value.envelope_id === "string" &&
    typeof value.type === "string" &&
    typeof value.ack === "function"
  );
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
