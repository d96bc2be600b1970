/**
 * The gate between the SDK clients and Bolt's receiver: which envelopes still wait for their ack (shutdown
 * and refreshes wait for them), no dispatch once shutdown began, and on which socket an ack goes.
 */
import type { Logger as SlackLogger } from "@slack/bolt";
import type { SocketModeClient } from "@slack/socket-mode";
import { isRecord } from "./errors.js";

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
export function sendAck(client: SocketModeClient, envelopeId: string, response: unknown): Promise<void> {
  const payload = typeof response === "string" ? { text: response } : isRecord(response) ? response : {};
  return new Promise<void>((resolve, reject) => {
    const socket = client.websocket;
    if (socket === undefined) return reject(new Error("The Socket Mode connection closed before the ack."));
    socket.send(JSON.stringify({ envelope_id: envelopeId, payload }), (error) =>
      error ? reject(error) : resolve(),
    );
  });
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
