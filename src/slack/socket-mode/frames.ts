/** Frames the supervisor handles before the SDK does: Slack's `disconnect` message, and unreadable ones. */
import type { Logger as SlackLogger } from "@slack/bolt";
import type { SocketModeClient } from "@slack/socket-mode";
import { sendAck } from "./envelopes.js";
import { isRecord } from "./errors.js";

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
