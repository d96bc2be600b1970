/**
 * Bolt's SocketModeReceiver, built so that apps.connections.open honours SLACK_API_URL and no envelope
 * payload reaches a log line, plus the gate that knows which envelopes still wait for their ack.
 */
import { type Logger as SlackLogger, SocketModeReceiver } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
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

/** Bolt's receiver listener: one envelope in, processed through the app, acked through `ack`. */
export type Dispatch = (event: Record<string, unknown>) => unknown;

/** Takes Bolt's envelope listener off the receiver's client, so the gate can feed it from every client. */
export function takeDispatcher(client: SocketModeClient): Dispatch {
  const dispatchers = client.listeners("slack_event");
  const [dispatch] = dispatchers;
  if (dispatchers.length !== 1 || dispatch === undefined) {
    throw new Error(
      `Expected Bolt's SocketModeReceiver to listen to slack_event once, found ${dispatchers.length}: ` +
        "check the @slack/bolt version.",
    );
  }
  client.removeAllListeners("slack_event");
  return (event) => dispatch(event);
}

/** The envelopes one connection has dispatched and not yet acknowledged. */
export interface LinkEnvelopes {
  readonly unacked: number;
  /** Resolves once this connection has no envelope waiting for its ack. */
  idle(): Promise<void>;
}

export interface EnvelopeGate {
  /** Envelopes dispatched and not yet acknowledged, on every connection. */
  readonly unacked: number;
  /**
   * Feeds `client`'s envelopes to Bolt. An ack goes on the socket its envelope came on; if that one has
   * closed meanwhile, on the socket `current()` names (as the SDK does with its single socket).
   */
  attach(client: SocketModeClient, current: () => SocketModeClient | undefined): LinkEnvelopes;
  /** From now on envelopes are not dispatched (nor acknowledged); `onIdle` runs once none is unacked. */
  pause(onIdle: () => void): void;
}

/**
 * Interposes between the SDK clients and Bolt's receiver: to stop dispatching on shutdown, to know which
 * envelopes still wait for their ack (shutdown and refresh wait for them), and to route acks.
 */
export function createEnvelopeGate(dispatch: Dispatch, log: SlackLogger): EnvelopeGate {
  let unacked = 0;
  let paused = false;
  let onIdle: (() => void) | undefined;
  return {
    get unacked() {
      return unacked;
    },
    attach(client, current) {
      const pending = new Set<string>();
      const waiters: Array<() => void> = [];
      const settled = (id: string) => {
        if (pending.delete(id)) unacked -= 1;
        if (pending.size === 0) for (const wake of waiters.splice(0)) wake();
        if (paused && unacked === 0) onIdle?.();
      };
      client.on("slack_event", (event: unknown) => {
        if (!isSlackEvent(event)) return;
        if (paused) {
          log.warn(
            `Shutting down: a ${event.type} envelope arrived after shutdown began and was not taken ` +
              "(not acknowledged, so Slack redelivers events; a command or form shows the user it failed).",
          );
          return;
        }
        if (!isRecord(event.body)) {
          // Bolt would fail on it and leave it unacknowledged, so Slack would resend it.
          log.warn(
            `Ignored a malformed Socket Mode ${event.type.slice(0, 40)} envelope from Slack (no payload); acknowledged it.`,
          );
          event.ack().catch(() => undefined);
          return;
        }
        const id = event.envelope_id;
        pending.add(id);
        unacked += 1;
        const ack = async (response?: unknown): Promise<void> => {
          try {
            const other = isOpen(client) ? undefined : current();
            if (other === undefined || other === client || !isOpen(other)) await event.ack(response);
            else await sendAck(other, id, response);
          } finally {
            settled(id);
          }
        };
        // The receiver's listener is async; its failures must not become unhandled rejections.
        Promise.resolve(dispatch({ ...event, ack })).catch((error: unknown) => {
          log.error(
            `A Socket Mode envelope could not be processed: ${error instanceof Error ? error.message : "unknown error"}`,
          );
        });
      });
      return {
        get unacked() {
          return pending.size;
        },
        idle() {
          if (pending.size === 0) return Promise.resolve();
          return new Promise<void>((resolve) => waiters.push(resolve));
        },
      };
    },
    pause(idle) {
      if (paused) return;
      paused = true;
      onIdle = idle;
      if (unacked === 0) idle();
    },
  };
}

const OPEN = 1;

function isOpen(client: SocketModeClient): boolean {
  return client.websocket?.readyState === OPEN;
}

/** An ack frame as the SDK writes it, on another client's socket (the SDK's own send() is private). */
function sendAck(client: SocketModeClient, envelopeId: string, response: unknown): Promise<void> {
  const payload = typeof response === "string" ? { text: response } : isRecord(response) ? response : {};
  return new Promise<void>((resolve, reject) => {
    const socket = client.websocket;
    if (socket === undefined) return reject(new Error("The Socket Mode connection closed before the ack."));
    socket.send(JSON.stringify({ envelope_id: envelopeId, payload }), (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/**
 * Takes Slack's `disconnect` message away from the SDK, which would close the socket at once (losing the
 * acks of envelopes in flight): `onDisconnect` opens a new connection first (supervisor.ts). And a frame
 * the SDK cannot read (`{"type":"events_api","payload":{}}` makes it throw in an async listener, which
 * would end the process) is acknowledged, so Slack does not resend it, logged and dropped.
 */
export function interceptFrames(
  client: SocketModeClient,
  log: SlackLogger,
  onDisconnect: (reason: string) => void,
): void {
  const handlers = client.listeners("ws_message");
  client.removeAllListeners("ws_message");
  client.on("ws_message", (data: unknown, isBinary: unknown) => {
    const reason = disconnectReason(data);
    if (reason !== undefined) return onDisconnect(reason);
    for (const handle of handlers) {
      const handled: unknown = handle(data, isBinary);
      if (handled instanceof Promise) {
        handled.catch((error: unknown) => void dropUnreadable(client, log, data, error));
      }
    }
  });
}

/** Acks and logs a frame the SDK failed on; the frame itself is never logged (it may hold a form's key). */
async function dropUnreadable(
  client: SocketModeClient,
  log: SlackLogger,
  data: unknown,
  error: unknown,
): Promise<void> {
  const frame = parseFrame(data);
  const type = typeof frame?.type === "string" ? frame.type.slice(0, 40) : "untyped";
  const id = typeof frame?.envelope_id === "string" ? frame.envelope_id : undefined;
  const acked =
    id !== undefined &&
    (await sendAck(client, id, {}).then(
      () => true,
      () => false,
    ));
  log.warn(
    `Ignored a malformed Socket Mode ${type} message from Slack (${error instanceof Error ? error.message : "unreadable"})` +
      `${acked ? "; acknowledged it so Slack does not resend it." : "."}`,
  );
}

function parseFrame(data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const frame: unknown = JSON.parse(data);
    return isRecord(frame) ? frame : undefined;
  } catch {
    return undefined;
  }
}

/** Slack's control frames are tiny; envelopes are not parsed twice (the SDK parses them). */
const CONTROL_FRAME_MAX = 1_024;

function disconnectReason(data: unknown): string | undefined {
  if (typeof data !== "string" || data.length > CONTROL_FRAME_MAX || !data.includes("disconnect")) return;
  const frame = parseFrame(data);
  if (frame?.type !== "disconnect") return;
  return typeof frame.reason === "string" ? frame.reason : "unknown";
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
