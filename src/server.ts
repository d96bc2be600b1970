import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import type { AnyMiddlewareArgs, Middleware } from "@slack/bolt";
import type { Logger } from "./logger.js";

/**
 * The process-facing side of the bot: the HTTP server (Slack's events in HTTP mode, `/healthz` in both
 * modes), the count of requests in flight, and a bounded drain on stop. Nothing here knows a feature.
 */
export interface Lifecycle {
  /** Bolt middleware that counts a request in flight until its listener has finished. */
  readonly track: Middleware<AnyMiddlewareArgs>;
  /** Listens on `port`; `slack` serves everything but /healthz (HTTP mode), else those get 404. */
  listen(port: number, slack?: RequestListener): Promise<number>;
  /** Stops taking requests and waits for those in flight, up to the drain bound. */
  drain(): Promise<void>;
  /** Closes the HTTP server and every connection left open; call after drain(). */
  close(): Promise<void>;
  readonly stopping: boolean;
  readonly healthy: boolean;
  readonly inFlight: number;
}

export interface LifecycleOptions {
  logger: Logger;
  /** Extra condition for health besides "not stopping" (Socket Mode: connected to Slack). */
  connected: () => boolean;
  /** Why /healthz is 503 while not stopping. */
  disconnectedReason: string;
  /** How long drain() waits for in-flight requests. */
  drainMs: number;
  /**
   * HTTP mode: how long drain() keeps serving after /healthz turns 503, so a load balancer that health-checks
   * takes the replica out before it stops listening (measured in test/production/replicas.test.ts).
   */
  graceMs?: number;
}

// Over 80 lines because the counters, the server and the sockets are one piece of state that the
// returned methods share; each method is short.
export function createLifecycle(options: LifecycleOptions): Lifecycle {
  const { logger: log } = options;
  let inFlight = 0;
  let stopping = false;
  /** /healthz 503 from the first moment of drain(); `stopping` (refusing requests) follows after the grace. */
  let leaving = false;
  const drained: Array<() => void> = [];
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let closed: Promise<void> = Promise.resolve();
  const isHealthy = () => !leaving && options.connected();

  function health(res: ServerResponse) {
    const ok = isHealthy();
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(
      JSON.stringify(
        ok ? { ok: true } : { ok: false, reason: leaving ? "stopping" : options.disconnectedReason },
      ),
    );
  }

  function handler(slack: RequestListener | undefined) {
    return (req: IncomingMessage, res: ServerResponse) => {
      if (req.method === "GET" && req.url?.split("?")[0] === "/healthz") return health(res);
      if (!slack) {
        res.writeHead(404).end();
        return;
      }
      if (stopping) {
        res.writeHead(503, { connection: "close" }).end();
        return;
      }
      const refused = bodyRefusal(req);
      if (refused) {
        res.writeHead(refused, { connection: "close" }).end();
        return;
      }
      slack(req, res);
    };
  }

  return {
    track: async ({ next }) => {
      inFlight += 1;
      try {
        await next();
      } finally {
        inFlight -= 1;
        if (inFlight === 0) for (const resolve of drained.splice(0)) resolve();
      }
    },
    listen(port, slack) {
      const created = createServer(handler(slack));
      server = created;
      created.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      return new Promise((resolve, reject) => {
        created.once("error", reject);
        created.listen(port, () => {
          created.off("error", reject);
          const address = created.address();
          resolve(typeof address === "object" && address !== null ? address.port : port);
        });
      });
    },
    async drain() {
      leaving = true;
      const graceMs = server ? (options.graceMs ?? 0) : 0;
      if (graceMs > 0) {
        log.info({ graceMs }, "Stopping: /healthz answers 503; still serving while load balancers notice.");
        await new Promise((resolve) => setTimeout(resolve, graceMs));
      }
      stopping = true;
      log.info({ inFlight }, "Stopping: no new requests are taken; finishing those in flight.");
      if (server) {
        const current = server;
        closed = new Promise<void>((resolve) => current.close(() => resolve()));
        current.closeIdleConnections();
      }
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => drained.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, options.drainMs).unref()),
        ]);
        if (inFlight > 0)
          log.warn({ inFlight }, "Stopped with requests still in flight after the drain deadline.");
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    get stopping() {
      return leaving;
    },
    get healthy() {
      return isHealthy();
    },
    get inFlight() {
      return inFlight;
    },
  };
}

/**
 * Largest request body passed to Bolt, which would otherwise buffer up to 4 MB before checking the
 * signature. The largest body the bot's tests send is 6,366 bytes (a view_submission with its blocks);
 * 512 KiB leaves room for Slack's largest modal (100 blocks) echoed back.
 */
export const MAX_BODY_BYTES = 512 * 1024;

/** 413 when Content-Length is over the cap; 411 for a body without one (Slack always sends it). */
function bodyRefusal(req: IncomingMessage): 411 | 413 | undefined {
  const length = req.headers["content-length"];
  if (length === undefined) return req.headers["transfer-encoding"] === undefined ? undefined : 411;
  const n = Number(length);
  return Number.isFinite(n) && n <= MAX_BODY_BYTES ? undefined : 413;
}
