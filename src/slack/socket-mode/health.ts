/** What /healthz reports in Socket Mode: whether the WebSocket to Slack is open and Slack has said `hello`. */
import type { SocketModeClient } from "@slack/socket-mode";
import { isRecord } from "./errors.js";

export interface ConnectionHealth {
  /** True between Slack's `hello` and the start of a disconnect. */
  readonly connected: boolean;
  /** Where the last apps.connections.open pointed (origin only: the URL's ticket is a credential). */
  readonly socketOrigin: string | undefined;
  /** The last WebSocket error, for the start-up message when start() rejects without one. */
  lastSocketError: unknown;
}

/** Follows the client's lifecycle events; `onDisconnected` says whether the socket had been connected. */
export function watchHealth(
  client: SocketModeClient,
  onDisconnected: (wasConnected: boolean) => void,
): ConnectionHealth {
  let connected = false;
  let socketOrigin: string | undefined;
  const health: ConnectionHealth = {
    get connected() {
      return connected;
    },
    get socketOrigin() {
      return socketOrigin;
    },
    lastSocketError: undefined,
  };
  client.on("connected", () => {
    connected = true;
  });
  client.on("disconnecting", () => {
    connected = false;
  });
  client.on("authenticated", (response: unknown) => {
    const url = isRecord(response) && typeof response.url === "string" ? response.url : undefined;
    socketOrigin = url && URL.canParse(url) ? new URL(url).origin : undefined;
  });
  client.on("error", (error: unknown) => {
    health.lastSocketError = error;
  });
  client.on("disconnected", () => {
    const wasConnected = connected;
    connected = false;
    onDisconnected(wasConnected);
  });
  return health;
}
