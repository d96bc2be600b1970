/**
 * A fake Slack Socket Mode endpoint: a real WebSocket server (the `ws` package) on 127.0.0.1 (ephemeral port).
 *
 * Flow, as with Slack: the app calls `apps.connections.open` (answered by the fake Web API when
 * `fakeSlack.socketUrl = fakeSocketMode.url`), connects here, receives `hello`, then gets envelopes
 * (`{envelope_id, type, payload, accepts_response_payload}`) that it must ack with `{envelope_id, payload?}`.
 * Pings are answered with pongs automatically (ws default), which keeps @slack/socket-mode's heartbeat happy.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { type WebSocket, WebSocketServer } from "ws";
import { type CommandOpts, commandPayload, eventCallback } from "./slack-requests.js";

export interface Envelope {
  envelope_id: string;
  type: "slash_commands" | "interactive" | "events_api";
  payload: object;
  accepts_response_payload: boolean;
}

export interface Ack {
  envelope_id: string;
  /** What the client sent as `payload` — @slack/socket-mode always sends an object (`{}` for a bare ack()). */
  payload?: unknown;
  at: number;
  /** Which connection it came on: 1 for the first socket accepted, 2 for the next... */
  connection: number;
}

export interface SocketEvent {
  connection: number;
  kind: "hello" | "close";
  at: number;
}

export interface FakeSocketMode {
  /** ws://127.0.0.1:PORT/link — set `fakeSlack.socketUrl` to this. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  readonly openSockets: number;
  readonly acks: Ack[];
  /** Every text message received from clients (acks included), for secret scanning. */
  readonly rawLog: string[];
  /** When each connection was sent `hello` and when it closed, in order. */
  readonly history: SocketEvent[];
  /** Sends a raw text frame on the newest open socket (malformed frames, for robustness tests). */
  sendRaw(text: string): void;
  /** Until `n` connections have been sent `hello` and a socket is open. */
  waitForConnection(n?: number, timeoutMs?: number): Promise<void>;
  /** Until no socket is open (e.g. after `app.stop()`). */
  waitForNoSockets(timeoutMs?: number): Promise<void>;
  /** Sends an envelope on the newest open socket; resolves with its ack (rejects after timeoutMs, default 5000). */
  send(type: Envelope["type"], payload: object, timeoutMs?: number): Promise<Ack>;
  sendCommand(opts: CommandOpts): Promise<Ack>;
  sendInteractive(payload: object): Promise<Ack>;
  sendEvent(event: object, opts?: { teamId?: string; enterpriseId?: string }): Promise<Ack>;
  /** Sends `{type:"disconnect", reason}` on every open socket (default reason "refresh_requested"). */
  disconnect(reason?: "refresh_requested" | "warning" | "link_disabled"): void;
  /** Terminates every socket abruptly (no close frame). */
  dropAll(): void;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export async function startFakeSocketMode(): Promise<FakeSocketMode> {
  const httpServer: Server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("upgrade required");
  });
  const wss = new WebSocketServer({ server: httpServer, path: "/link" });
  /** Open sockets that have been sent `hello`, oldest first. */
  const ready: WebSocket[] = [];
  const all = new Set<WebSocket>();
  const acks: Ack[] = [];
  const rawLog: string[] = [];
  const history: SocketEvent[] = [];
  const ackWaiters = new Map<string, (ack: Ack) => void>();
  const stateListeners = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let hellos = 0;
  let closed = false;

  const notify = () => {
    for (const listener of stateListeners) listener();
  };

  wss.on("connection", (ws) => {
    connections += 1;
    const connection = connections;
    all.add(ws);
    ws.on("error", () => {
      // Abrupt client resets are expected in reconnect tests; the close handler does the bookkeeping.
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      rawLog.push(text);
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      if (!isRecord(message) || typeof message.envelope_id !== "string") return;
      const ack: Ack = {
        envelope_id: message.envelope_id,
        payload: message.payload,
        at: Date.now(),
        connection,
      };
      acks.push(ack);
      ackWaiters.get(ack.envelope_id)?.(ack);
    });
    ws.on("close", () => {
      history.push({ connection, kind: "close", at: Date.now() });
      all.delete(ws);
      const i = ready.indexOf(ws);
      if (i !== -1) ready.splice(i, 1);
      notify();
    });
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: 1,
        debug_info: { host: "fake", approximate_connection_time: 3600 },
        connection_info: { app_id: "A0TEST" },
      }),
      (error) => {
        if (error === undefined || error === null) {
          hellos += 1;
          history.push({ connection, kind: "hello", at: Date.now() });
          ready.push(ws);
          notify();
        }
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(0, "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const address = httpServer.address();
  if (address === null || typeof address === "string")
    throw new Error("fake Socket Mode: unexpected address");
  const url = `ws://127.0.0.1:${address.port}/link`;

  const openReady = (): WebSocket[] => ready.filter((ws) => ws.readyState === ws.OPEN);

  const until = (condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> => {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const listener = () => {
        if (!condition()) return;
        clearTimeout(timer);
        timers.delete(timer);
        stateListeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        timers.delete(timer);
        stateListeners.delete(listener);
        reject(new Error(describe()));
      }, timeoutMs);
      timers.add(timer);
      stateListeners.add(listener);
    });
  };

  const fake: FakeSocketMode = {
    url,
    get connections() {
      return connections;
    },
    get openSockets() {
      return [...all].filter((ws) => ws.readyState === ws.OPEN).length;
    },
    acks,
    rawLog,
    history,
    sendRaw(text) {
      const socket = openReady().at(-1);
      if (socket === undefined) throw new Error("fake Socket Mode: no open socket to send a raw frame on");
      socket.send(text);
    },
    waitForConnection(n = 1, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return until(
        () => hellos >= n && openReady().length > 0,
        timeoutMs,
        () =>
          `fake Socket Mode: timed out after ${timeoutMs}ms waiting for connection #${n} ` +
          `(connections so far: ${connections}, hellos sent: ${hellos}, open sockets: ${openReady().length})`,
      );
    },
    waitForNoSockets(timeoutMs = DEFAULT_TIMEOUT_MS) {
      return until(
        () => fake.openSockets === 0,
        timeoutMs,
        () => `fake Socket Mode: ${fake.openSockets} socket(s) still open after ${timeoutMs}ms`,
      );
    },
    send(type, payload, timeoutMs = DEFAULT_TIMEOUT_MS) {
      const socket = openReady().at(-1);
      if (socket === undefined) {
        return Promise.reject(
          new Error(
            `fake Socket Mode: no open socket to send a ${type} envelope on (connections: ${connections})`,
          ),
        );
      }
      const envelope: Envelope & { retry_attempt?: number; retry_reason?: string } = {
        envelope_id: randomUUID(),
        type,
        payload,
        accepts_response_payload: type !== "events_api",
        ...(type === "events_api" ? { retry_attempt: 0, retry_reason: "" } : {}),
      };
      return new Promise<Ack>((resolve, reject) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          ackWaiters.delete(envelope.envelope_id);
          reject(
            new Error(
              `fake Socket Mode: no ack for ${type} envelope ${envelope.envelope_id} within ${timeoutMs}ms ` +
                `(acks seen: ${acks.length})`,
            ),
          );
        }, timeoutMs);
        timers.add(timer);
        ackWaiters.set(envelope.envelope_id, (ack) => {
          clearTimeout(timer);
          timers.delete(timer);
          ackWaiters.delete(envelope.envelope_id);
          resolve(ack);
        });
        socket.send(JSON.stringify(envelope), (error) => {
          if (error === undefined || error === null) return;
          clearTimeout(timer);
          timers.delete(timer);
          ackWaiters.delete(envelope.envelope_id);
          reject(error);
        });
      });
    },
    sendCommand(opts) {
      return fake.send("slash_commands", commandPayload(opts));
    },
    sendInteractive(payload) {
      return fake.send("interactive", payload);
    },
    sendEvent(event, opts) {
      return fake.send("events_api", eventCallback(event, opts));
    },
    disconnect(reason = "refresh_requested") {
      const message = JSON.stringify({ type: "disconnect", reason, debug_info: { host: "fake" } });
      for (const ws of all) if (ws.readyState === ws.OPEN) ws.send(message);
    },
    dropAll() {
      for (const ws of all) ws.terminate();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      stateListeners.clear();
      ackWaiters.clear();
      for (const ws of all) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
  return fake;
}
