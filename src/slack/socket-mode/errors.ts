/** Why Socket Mode could not connect, in words that name the setting to fix (never a secret). */
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
} from "@slack/web-api";

/** Why Socket Mode could not start; the message names the setting to fix and never holds a secret. */
export class SocketModeStartError extends Error {
  override readonly name = "SocketModeStartError";
  /** Slack's error code (`invalid_auth`...) or a transport code, when there is one. */
  readonly code: string | undefined;
  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

const TOKEN_CODES = new Set([
  "invalid_auth",
  "not_authed",
  "not_allowed_token_type",
  "token_revoked",
  "token_expired",
  "account_inactive",
  "missing_scope",
  "no_permission",
]);

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function duration(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`;
}

/** The error for a connection attempt that did not complete within its bound. */
export function timeoutError(timeoutMs: number): SocketModeStartError {
  return new SocketModeStartError(
    `Could not connect to Slack with Socket Mode within ${duration(timeoutMs)} ` +
      "(apps.connections.open, the WebSocket handshake, then Slack's hello). Check that outbound " +
      "HTTPS and WebSocket (wss://, port 443) connections to Slack are allowed, and SLACK_API_URL if set.",
    "timeout",
  );
}

/** Turns what client.start() rejected with into a message that names the fix. */
export function startError(
  error: unknown,
  apiUrl: string | undefined,
  socketOrigin: string | undefined,
): SocketModeStartError {
  if (error instanceof SocketModeStartError) return error;
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    if (TOKEN_CODES.has(code)) {
      return new SocketModeStartError(
        `Slack refused SLACK_APP_TOKEN when opening a Socket Mode connection (${code}). Use an app-level ` +
          "token (xapp-…) with the connections:write scope, from the app's Basic Information page, " +
          "App-Level Tokens, and check that Socket Mode is enabled for the app.",
        code,
        { cause: error },
      );
    }
    return new SocketModeStartError(
      `Slack's apps.connections.open failed (${code}). Check SLACK_APP_TOKEN and that Socket Mode is enabled ` +
        "for the app (Settings, Socket Mode).",
      code,
      { cause: error },
    );
  }
  const where = apiUrl ?? "https://slack.com/api/";
  if (error instanceof WebAPIRequestError) {
    return new SocketModeStartError(
      `Could not reach Slack's Web API at ${where} to open a Socket Mode connection ` +
        `(${errorCodeOf(error.original) ?? error.original.message}). Check the network, any proxy, and SLACK_API_URL.`,
      errorCodeOf(error.original) ?? "request_error",
      { cause: error },
    );
  }
  if (error instanceof WebAPIHTTPError) {
    return new SocketModeStartError(
      `Slack's Web API at ${where} answered HTTP ${error.statusCode} to apps.connections.open. ` +
        "Check SLACK_API_URL; if it is Slack's own, Slack may be having an outage.",
      `http_${error.statusCode}`,
      { cause: error },
    );
  }
  if (error instanceof WebAPIRateLimitedError) {
    return new SocketModeStartError(
      `Slack rate-limited apps.connections.open (retry after ${error.retryAfter} s): too many connections ` +
        "or restarts; at most 10 Socket Mode connections per app are allowed.",
      "ratelimited",
      { cause: error },
    );
  }
  const detail = error instanceof Error ? (errorCodeOf(causeOf(error)) ?? error.message) : undefined;
  return new SocketModeStartError(
    `Slack gave a Socket Mode address but the WebSocket connection to ${socketOrigin ?? "it"} failed` +
      `${detail ? ` (${detail})` : ""}. Outbound WebSocket (wss://, port 443) connections to Slack must be ` +
      "allowed; where they cannot be, run in HTTP mode instead (unset SLACK_APP_TOKEN, set SLACK_SIGNING_SECRET).",
    "websocket_failed",
    error instanceof Error ? { cause: error } : undefined,
  );
}

function causeOf(error: Error): unknown {
  return "original" in error ? error.original : error.cause;
}

function errorCodeOf(error: unknown): string | undefined {
  return isRecord(error) && typeof error.code === "string" ? error.code : undefined;
}
