/**
 * Socket Mode's connection supervisor: fail-fast start-up, reconnects with a bounded back-off, drain on stop.
 *
 * @slack/socket-mode 3.1's own reconnect logic is turned off (`autoReconnectEnabled: false`) because, with it:
 * start-up never fails for a token Slack refuses with a code it deems recoverable (`not_allowed_token_type`,
 * `missing_scope`...) or for a WebSocket that is refused: it retries forever and start() never settles; and a
 * reconnect whose apps.connections.open fails for good rejects a promise nobody handles, which ends the process.
 * Here start() fails fast with an error that says what to fix, and after the first connection every drop or
 * `disconnect` message is followed by reconnect attempts with a bounded back-off, until close().
 */
import type { Logger as SlackLogger, SocketModeReceiver } from "@slack/bolt";
import type { SocketModeClient } from "@slack/socket-mode";
import type { WebClientOptions } from "@slack/web-api";
import { SocketModeStartError, startError, timeoutError } from "./errors.js";
import { type ConnectionHealth, watchHealth } from "./health.js";
import { createReceiver, type EnvelopeGate, gateEnvelopes } from "./receiver.js";

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

const DEFAULT_RECONNECT_DELAYS_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000] as const;

/** The Socket Mode receiver, with its connection supervised (fail-fast start, reconnects) for /healthz. */
export function createSocketConnection(options: SocketConnectionOptions): SocketConnection {
  return new Supervisor(options);
}

class Supervisor implements SocketConnection {
  readonly receiver: SocketModeReceiver;
  private readonly client: SocketModeClient;
  private readonly log: SlackLogger;
  private readonly health: ConnectionHealth;
  private readonly gate: EnvelopeGate;
  private readonly startTimeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly delays: readonly number[];
  private readonly apiUrl: string | undefined;
  /** The first connection succeeded: from then on, a lost socket is reconnected. */
  private established = false;
  private closing = false;
  private closed: Promise<void> | undefined;
  /** The start() in progress, initial or reconnect; never two at once. */
  private attempt: Promise<void> | undefined;
  /** Abandon the attempt in progress as soon as its WebSocket exists. */
  private abortAttempt = false;
  private reconnectLoop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(options: SocketConnectionOptions) {
    this.log = options.logger;
    this.receiver = createReceiver(options);
    this.client = this.receiver.client;
    this.apiUrl = options.clientOptions.slackApiUrl;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 15_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.delays =
      options.reconnectDelaysMs && options.reconnectDelaysMs.length > 0
        ? options.reconnectDelaysMs
        : DEFAULT_RECONNECT_DELAYS_MS;
    this.health = watchHealth(this.client, (wasConnected) => this.onDisconnected(wasConnected));
    this.client.on("connecting", () => {
      // Emitted just before the WebSocket connects; disconnecting now would let it connect anyway.
      if (this.abortAttempt || this.closing) setImmediate(() => void this.client.disconnect());
    });
    this.gate = gateEnvelopes(this.client, this.log);
  }

  get connected(): boolean {
    return this.health.connected && !this.closing;
  }

  async start(): Promise<void> {
    if (this.closing) throw new SocketModeStartError("This Socket Mode connection was closed.", "closed");
    await this.connectOnce(this.startTimeoutMs);
    if (this.closing) return;
    this.established = true;
  }

  pause(): void {
    this.gate.pause(() => void this.close());
  }

  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.gate.pause(() => undefined);
    this.closing = true;
    this.wakeUp?.();
    const disconnected = this.client.disconnect();
    const inProgress = [disconnected, this.reconnectLoop, this.attempt?.catch(() => undefined)];
    const finished = await within(this.closeTimeoutMs, Promise.all(inProgress));
    if (!finished) {
      this.log.warn(
        `The Socket Mode connection did not close within ${this.closeTimeoutMs} ms; going on without waiting.`,
      );
    }
    if (this.gate.unacked > 0) {
      this.log.warn(
        `Closed the Socket Mode connection with ${this.gate.unacked} envelope(s) never acknowledged.`,
      );
    }
  }

  private onDisconnected(wasConnected: boolean): void {
    if (!this.established || this.closing || this.reconnectLoop) return;
    // Routine: Slack refreshes connections. Failed attempts are logged as errors.
    if (wasConnected) this.log.info("Socket Mode connection to Slack closed; reconnecting.");
    this.reconnectLoop = this.reconnect().finally(() => {
      this.reconnectLoop = undefined;
    });
  }

  /** One client.start(), bounded: after timeoutMs it is aborted, and this waits for it to settle. */
  private connectOnce(timeoutMs: number): Promise<void> {
    this.health.lastSocketError = undefined;
    this.abortAttempt = false;
    const run = this.receiver.start().then(
      () => undefined,
      (error: unknown) => {
        throw startError(error ?? this.health.lastSocketError, this.apiUrl, this.health.socketOrigin);
      },
    );
    this.attempt = run.finally(() => {
      this.attempt = undefined;
    });
    this.attempt.catch(() => undefined);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.abortAttempt = true;
        // The WebSocket may already exist; otherwise the `connecting` listener aborts it once it does.
        if (this.client.websocket?.readyState !== undefined) void this.client.disconnect();
        reject(timeoutError(timeoutMs));
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

  private async reconnect(): Promise<void> {
    const since = Date.now();
    for (let n = 1; !this.closing; n += 1) {
      const base = this.delays[Math.min(n - 1, this.delays.length - 1)] ?? 0;
      const wait = base > 0 ? Math.round(base * (0.8 + Math.random() * 0.4)) : 0;
      if (wait > 0) await this.sleep(wait);
      if (this.closing) return;
      // A timed-out attempt must settle before the next one starts, or two sockets could open.
      await this.attempt?.catch(() => undefined);
      if (this.closing) return;
      if (this.health.connected) {
        // The abandoned attempt made it after all.
        this.log.info(`Socket Mode reconnected to Slack after ${Date.now() - since} ms (attempt ${n - 1}).`);
        return;
      }
      try {
        await this.connectOnce(this.attemptTimeoutMs);
        if (this.closing) {
          await this.client.disconnect();
          return;
        }
        this.log.info(`Socket Mode reconnected to Slack after ${Date.now() - since} ms (attempt ${n}).`);
        return;
      } catch (error) {
        if (this.closing) return;
        const next = this.delays[Math.min(n, this.delays.length - 1)] ?? 0;
        this.log.error(
          `Socket Mode reconnect attempt ${n} failed; next attempt in about ${Math.round(next / 1000)} s. ` +
            `${error instanceof Error ? error.message : "Unknown error."} /healthz answers 503 meanwhile.`,
        );
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
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
