/**
 * Socket Mode: the receiver, a connection supervisor and the state /healthz reports.
 *
 * @slack/socket-mode 3.1's own reconnect logic is turned off (`autoReconnectEnabled: false`) because, with it:
 * start-up never fails for a token Slack refuses with a code it deems recoverable (`not_allowed_token_type`,
 * `missing_scope`...) or for a WebSocket that is refused: it retries forever and start() never settles; and a
 * reconnect whose apps.connections.open fails for good rejects a promise nobody handles, which ends the process.
 * Here start() fails fast with an error that says what to fix, and after the first connection every drop or
 * `disconnect` message is followed by reconnect attempts with a bounded back-off, until close().
 */
import { type Logger as SlackLogger, SocketModeReceiver } from "@slack/bolt";
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  type WebClientOptions,
} from "@slack/web-api";

export interface SocketConnectionOptions {
  appToken: string;
  clientOptions: WebClientOptions;
  logger: SlackLogger;
  /** Pong deadline; a silent socket is closed (and reconnected) after this. Library default 5000 ms. */
  clientPingTimeoutMs?: number;
  /** Deadline for Slack's pings once they have started. Library default 30000 ms. */
  serverPingTimeoutMs?: number;
  /** Bound on start(): apps.connections.open, the WebSocket handshake and Slack's `hello`. Default 10 s. */
  startTimeoutMs?: number;
  /** Bound on one reconnect attempt before it is abandoned and retried. Default 15 s. */
  attemptTimeoutMs?: number;
  /** Waits before reconnect attempts 1, 2, 3...; the last one repeats. Default 0, 1, 2, 5, 10, 30 s (±20%). */
  reconnectDelaysMs?: readonly number[];
  /** Bound on close(): the WebSocket close handshake. Default 5 s. */
  closeTimeoutMs?: number;
}

export interface SocketConnection {
  receiver: SocketModeReceiver;
  /** True while the WebSocket to Slack is open and Slack has said `hello` (for /healthz). */
  readonly connected: boolean;
  /**
   * Connects. Resolves on Slack's `hello`; rejects with a SocketModeStartError (never retried) when Slack
   * refuses the token, the WebSocket cannot be opened, or nothing completes within startTimeoutMs.
   */
  start(): Promise<void>;
  /**
   * Shutdown, step 1: envelopes that arrive from now on are not dispatched (nor acknowledged, so Slack
   * redelivers events and tells the user a command failed, as HTTP mode's 503 does). Once every envelope
   * already dispatched has been acknowledged, the socket is closed so Slack routes to other connections.
   */
  pause(): void;
  /** Shutdown, step 2: pauses, closes the socket (bounded by closeTimeoutMs) and stops reconnecting. */
  close(): Promise<void>;
}

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

const DEFAULT_RECONNECT_DELAYS_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000] as const;

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

/** The Socket Mode receiver, with its connection supervised (fail-fast start, reconnects) for /healthz. */
export function createSocketConnection(options: SocketConnectionOptions): SocketConnection {
  const log = options.logger;
  const receiver = new SocketModeReceiver({
    appToken: options.appToken,
    logger: withoutPayloads(log),
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
  const client = receiver.client;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 15_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const delays =
    options.reconnectDelaysMs && options.reconnectDelaysMs.length > 0
      ? options.reconnectDelaysMs
      : DEFAULT_RECONNECT_DELAYS_MS;

  let connected = false;
  /** The first connection succeeded: from then on, a lost socket is reconnected. */
  let established = false;
  let paused = false;
  let closing = false;
  let closed: Promise<void> | undefined;
  /** The start() in progress, initial or reconnect; never two at once. */
  let attempt: Promise<void> | undefined;
  /** Abandon the attempt in progress as soon as its WebSocket exists. */
  let abortAttempt = false;
  let reconnectLoop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let lastSocketError: unknown;
  /** Where the last apps.connections.open pointed (origin only: the URL's ticket is a credential). */
  let socketOrigin: string | undefined;
  /** Envelopes dispatched and not yet acknowledged. */
  const unacked = new Set<string>();

  client.on("connected", () => {
    connected = true;
  });
  client.on("connecting", () => {
    // Emitted just before the WebSocket connects; disconnecting now would let it connect anyway.
    if (abortAttempt || closing) setImmediate(() => void client.disconnect());
  });
  client.on("disconnecting", () => {
    connected = false;
  });
  client.on("authenticated", (response: unknown) => {
    const url = isRecord(response) && typeof response.url === "string" ? response.url : undefined;
    socketOrigin = url && URL.canParse(url) ? new URL(url).origin : undefined;
  });
  client.on("error", (error: unknown) => {
    lastSocketError = error;
  });
  client.on("disconnected", () => {
    const wasConnected = connected;
    connected = false;
    if (!established || closing || reconnectLoop) return;
    // Routine: Slack refreshes connections. Failed attempts are logged as errors.
    if (wasConnected) log.info("Socket Mode connection to Slack closed; reconnecting.");
    reconnectLoop = reconnect().finally(() => {
      reconnectLoop = undefined;
    });
  });

  gateEnvelopes();

  /** One client.start(), bounded: after timeoutMs it is aborted, and this waits for it to settle. */
  function connectOnce(timeoutMs: number): Promise<void> {
    lastSocketError = undefined;
    abortAttempt = false;
    const run = receiver.start().then(
      () => undefined,
      (error: unknown) => {
        throw startError(error ?? lastSocketError, options.clientOptions.slackApiUrl, socketOrigin);
      },
    );
    attempt = run.finally(() => {
      attempt = undefined;
    });
    attempt.catch(() => undefined);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        abortAttempt = true;
        // The WebSocket may already exist; otherwise the `connecting` listener aborts it once it does.
        if (client.websocket?.readyState !== undefined) void client.disconnect();
        reject(
          new SocketModeStartError(
            `Could not connect to Slack with Socket Mode within ${duration(timeoutMs)} ` +
              "(apps.connections.open, the WebSocket handshake, then Slack's hello). Check that outbound " +
              "HTTPS and WebSocket (wss://, port 443) connections to Slack are allowed, and SLACK_API_URL if set.",
            "timeout",
          ),
        );
      }, timeoutMs);
      run.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  async function reconnect(): Promise<void> {
    const since = Date.now();
    for (let n = 1; !closing; n += 1) {
      const base = delays[Math.min(n - 1, delays.length - 1)] ?? 0;
      const wait = base > 0 ? Math.round(base * (0.8 + Math.random() * 0.4)) : 0;
      if (wait > 0) await sleep(wait);
      if (closing) return;
      // A timed-out attempt must settle before the next one starts, or two sockets could open.
      await attempt?.catch(() => undefined);
      if (closing) return;
      if (connected) {
        // The abandoned attempt made it after all.
        log.info(`Socket Mode reconnected to Slack after ${Date.now() - since} ms (attempt ${n - 1}).`);
        return;
      }
      try {
        await connectOnce(attemptTimeoutMs);
        if (closing) {
          await client.disconnect();
          return;
        }
        log.info(`Socket Mode reconnected to Slack after ${Date.now() - since} ms (attempt ${n}).`);
        return;
      } catch (error) {
        if (closing) return;
        const next = delays[Math.min(n, delays.length - 1)] ?? 0;
        log.error(
          `Socket Mode reconnect attempt ${n} failed; next attempt in about ${Math.round(next / 1000)} s. ` +
            `${error instanceof Error ? error.message : "Unknown error."} /healthz answers 503 meanwhile.`,
        );
      }
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });
  }

  /**
   * Bolt's receiver takes every envelope from the client's `slack_event`. Interpose, to stop dispatching
   * on shutdown and to know which envelopes are still waiting for their ack.
   */
  function gateEnvelopes(): void {
    const dispatchers = client.listeners("slack_event");
    if (dispatchers.length !== 1) {
      throw new Error(
        `Expected Bolt's SocketModeReceiver to listen to slack_event once, found ${dispatchers.length}: ` +
          "check the @slack/bolt version.",
      );
    }
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
          if (paused && unacked.size === 0) void close();
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
  }

  function pause(): void {
    if (paused) return;
    paused = true;
    if (unacked.size === 0) void close();
  }

  function close(): Promise<void> {
    closed ??= (async () => {
      paused = true;
      closing = true;
      wakeUp?.();
      const disconnected = client.disconnect();
      const inProgress = [disconnected, reconnectLoop, attempt?.catch(() => undefined)];
      const finished = await within(closeTimeoutMs, Promise.all(inProgress));
      if (!finished) {
        log.warn(
          `The Socket Mode connection did not close within ${closeTimeoutMs} ms; going on without waiting.`,
        );
      }
      connected = false;
      if (unacked.size > 0) {
        log.warn(`Closed the Socket Mode connection with ${unacked.size} envelope(s) never acknowledged.`);
      }
    })();
    return closed;
  }

  return {
    receiver,
    get connected() {
      return connected && !closing;
    },
    async start() {
      if (closing) throw new SocketModeStartError("This Socket Mode connection was closed.", "closed");
      await connectOnce(startTimeoutMs);
      if (closing) return;
      established = true;
    },
    pause,
    close,
  };
}

interface SlackEvent {
  envelope_id: string;
  type: string;
  ack: (response?: unknown) => Promise<void>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
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

function duration(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`;
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
function within(ms: number, promise: Promise<unknown>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** Turns what client.start() rejected with into a message that names the fix. */
function startError(
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

/** Debug lines of @slack/socket-mode that print whole envelopes (an api_key typed into a form among them). */
const PAYLOAD_LINES =
  /^(Received a message on the WebSocket|Sending a WebSocket message|Calling ack\(\)|ack\(\) call begins|ack\(\) response sent|Unable to parse an incoming WebSocket message)/;

/**
 * The Slack SDK logger, minus what must not be logged: envelope payloads are cut (SPEC §5), and the
 * one-time `ticket` of a Socket Mode URL is masked.
 */
function withoutPayloads(logger: SlackLogger): SlackLogger {
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
