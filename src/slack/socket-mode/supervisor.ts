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
import { createEnvelopeGate, type EnvelopeGate, type LinkEnvelopes, takeDispatcher } from "./envelopes.js";
import { SocketModeStartError, startError, timeoutError } from "./errors.js";
import { interceptFrames } from "./frames.js";
import { type ConnectionHealth, watchHealth } from "./health.js";
import { createClient, createReceiver } from "./receiver.js";

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
  /** How long a replaced connection waits for its pending acks before it closes. Default 3 s (Slack's ack window). */
  retireTimeoutMs?: number;
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

/** One WebSocket to Slack: one SDK client (the SDK holds one socket per client). */
interface Link {
  readonly client: SocketModeClient;
  readonly health: ConnectionHealth;
  readonly envelopes: LinkEnvelopes;
  /** Timed out or superseded: disconnect it as soon as its WebSocket exists; never serve on it. */
  aborted: boolean;
}

/**
 * A `disconnect` message (Slack refreshing its side) is handled make-before-break: a new connection is
 * opened while the old one keeps receiving and acknowledging; once the new one has said `hello` it serves,
 * and the old one closes when its pending acks are sent (bounded by retireTimeoutMs). A socket that drops
 * is reconnected at once, then with back-off; acks due meanwhile go on the new socket once it is up.
 */
class Supervisor implements SocketConnection {
  readonly receiver: SocketModeReceiver;
  private readonly options: SocketConnectionOptions;
  private readonly log: SlackLogger;
  private readonly gate: EnvelopeGate;
  private readonly startTimeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly retireTimeoutMs: number;
  private readonly delays: readonly number[];
  /** The connection serving: the newest one that said `hello`. */
  private current: Link | undefined;
  /** The connection being opened, initial or reconnect; never two at once. */
  private candidate: Link | undefined;
  /** Replaced connections waiting for their last acks before they close. */
  private readonly retiring = new Set<Link>();
  /** The first connection succeeded: from then on, a lost socket is reconnected. */
  private established = false;
  private closing = false;
  private closed: Promise<void> | undefined;
  /** The candidate's start(), settled (errors swallowed). */
  private attempt: Promise<void> | undefined;
  private reconnectLoop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(options: SocketConnectionOptions) {
    this.options = options;
    this.log = options.logger;
    this.receiver = createReceiver(options);
    this.gate = createEnvelopeGate(takeDispatcher(this.receiver.client), this.log);
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 15_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.retireTimeoutMs = options.retireTimeoutMs ?? 3_000;
    this.delays =
      options.reconnectDelaysMs && options.reconnectDelaysMs.length > 0
        ? options.reconnectDelaysMs
        : DEFAULT_RECONNECT_DELAYS_MS;
  }

  get connected(): boolean {
    return (this.current?.health.connected ?? false) && !this.closing;
  }

  async start(): Promise<void> {
    if (this.closing) throw new SocketModeStartError("This Socket Mode connection was closed.", "closed");
    await this.connectOnce(this.link(this.receiver.client), this.startTimeoutMs);
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
    const links = [this.current, this.candidate, ...this.retiring];
    const inProgress = [...links.map((link) => link?.client.disconnect()), this.reconnectLoop, this.attempt];
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

  /** Wires a client: health, abort on connect, the envelope gate, and make-before-break refreshes. */
  private link(client: SocketModeClient): Link {
    const health = watchHealth(client, (wasConnected) => this.onDisconnected(link, wasConnected));
    const envelopes = this.gate.attach(client, () => this.current?.client);
    const link: Link = { client, health, envelopes, aborted: false };
    client.on("connecting", () => {
      // Emitted just before the WebSocket connects; disconnecting now would let it connect anyway.
      if (link.aborted || this.closing) setImmediate(() => void client.disconnect());
    });
    interceptFrames(client, this.log, (reason) => this.onRefreshRequested(link, reason));
    return link;
  }

  private onRefreshRequested(link: Link, reason: string): void {
    if (link !== this.current || !this.established || this.closing) {
      // Not the serving socket (or no supervisor duty yet): close it as the SDK would.
      if (!this.retiring.has(link)) void link.client.disconnect();
      return;
    }
    this.log.info(
      `Slack asked to refresh the Socket Mode connection (${reason}); opening a new one before closing this one.`,
    );
    this.reconnectLoop ??= this.reconnect().finally(() => {
      this.reconnectLoop = undefined;
    });
  }

  private onDisconnected(link: Link, wasConnected: boolean): void {
    this.retiring.delete(link);
    if (link !== this.current || !this.established || this.closing) return;
    if (this.reconnectLoop) {
      if (wasConnected) this.log.warn("The Socket Mode connection closed before its replacement was up.");
      return;
    }
    // Routine: Slack refreshes connections. Failed attempts are logged as errors.
    if (wasConnected) this.log.info("Socket Mode connection to Slack closed; reconnecting.");
    this.reconnectLoop = this.reconnect().finally(() => {
      this.reconnectLoop = undefined;
    });
  }

  /** One client.start(), bounded: after timeoutMs it is aborted, and `attempt` waits for it to settle. */
  private connectOnce(link: Link, timeoutMs: number): Promise<void> {
    this.candidate = link;
    const run = link.client.start().then(
      () => undefined,
      (error: unknown) => {
        throw startError(
          error ?? link.health.lastSocketError,
          this.options.clientOptions.slackApiUrl,
          link.health.socketOrigin,
        );
      },
    );
    this.attempt = run.then(
      () => this.settleCandidate(link),
      () => this.settleCandidate(link),
    );
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.aborted = true;
        // The WebSocket may already exist; otherwise the `connecting` listener aborts it once it does.
        if (link.client.websocket?.readyState !== undefined) void link.client.disconnect();
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

  /** The attempt is over: an aborted link that connected late is closed; a good one starts serving. */
  private settleCandidate(link: Link): void {
    if (this.candidate === link) this.candidate = undefined;
    if (!link.health.connected) return;
    if (link.aborted || this.closing) {
      void link.client.disconnect();
      return;
    }
    const previous = this.current;
    this.current = link;
    if (previous !== undefined && previous !== link) void this.retire(previous);
  }

  /** A replaced connection keeps acknowledging what it took, then closes. */
  private async retire(link: Link): Promise<void> {
    this.retiring.add(link);
    if (!(await within(this.retireTimeoutMs, link.envelopes.idle()))) {
      this.log.warn(
        `Closing the replaced Socket Mode connection with ${link.envelopes.unacked} envelope(s) not yet ` +
          `acknowledged after ${this.retireTimeoutMs} ms; their acks go on the new connection.`,
      );
    }
    await link.client.disconnect();
  }

  private async reconnect(): Promise<void> {
    const since = Date.now();
    for (let n = 1; !this.closing; n += 1) {
      const base = this.delays[Math.min(n - 1, this.delays.length - 1)] ?? 0;
      const wait = base > 0 ? Math.round(base * (0.8 + Math.random() * 0.4)) : 0;
      if (wait > 0) await this.sleep(wait);
      // A timed-out attempt must settle before the next one starts, or two candidates could open.
      await this.attempt;
      if (this.closing) return;
      try {
        await this.connectOnce(this.link(createClient(this.options)), this.attemptTimeoutMs);
        await this.attempt;
        if (this.closing) return;
        this.log.info(`Socket Mode reconnected to Slack after ${Date.now() - since} ms (attempt ${n}).`);
        return;
      } catch (error) {
        if (this.closing) return;
        const next = this.delays[Math.min(n, this.delays.length - 1)] ?? 0;
        const serving = this.current?.health.connected
          ? "The old connection keeps serving meanwhile."
          : "/healthz answers 503 meanwhile.";
        this.log.error(
          `Socket Mode reconnect attempt ${n} failed; next attempt in about ${Math.round(next / 1000)} s. ` +
            `${error instanceof Error ? error.message : "Unknown error."} ${serving}`,
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
