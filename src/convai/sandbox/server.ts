/** The sandbox's HTTP side: key check, routing, body cap, faults applied, answers written. */
import { randomUUID, timingSafeEqual } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "../../logger.js";
import {
  type Api,
  errorReply,
  type JsonObject,
  jsonObjectSchema,
  type Reply,
  ROUTES,
  type Route,
} from "./api.js";
import { characterError, INVALID_KEY, MISSING_KEY } from "./characters.js";
import type { Fault, Faults } from "./faults.js";
import { sha256 } from "./store.js";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined when the body was empty, unread or not JSON. */
  body: unknown;
  rawBody: string;
  at: number;
}

export interface ServerOptions {
  apiKey: string;
  maxBodyBytes: number;
  logger: Logger | undefined;
  api: Api;
  faults: Faults;
  /**
   * Called once per request received, before anything else; the entry is completed once the body is
   * read. Absent: nothing about a request outlives it.
   */
  record?: (entry: RecordedRequest) => void;
}

export interface SandboxServer {
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
  readonly url: string | undefined;
  readonly connectionCount: number;
}

const UNAUTHORIZED = "Unauthorized: missing or invalid CONVAI-API-KEY";

type BodyResult = { kind: "ok"; text: string } | { kind: "too-large" } | { kind: "aborted" };

/** Reads at most `limit` bytes; stops listening as soon as the body is known to be too large. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ kind: "too-large" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyResult) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("close", onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish({ kind: "too-large" });
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => finish({ kind: "ok", text: Buffer.concat(chunks).toString("utf8") });
    const onAbort = () => finish({ kind: "aborted" });
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("close", onAbort);
  });
}

/** An empty body is `{}`; anything else must be a JSON object. */
function parseBody(text: string): { body: JsonObject; json: unknown } | { error: string; json: unknown } {
  if (text.trim() === "") return { body: {}, json: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { error: "Malformed JSON body", json: undefined };
  }
  const asObject = jsonObjectSchema.safeParse(parsed);
  return asObject.success
    ? { body: asObject.data, json: parsed }
    : { error: "Malformed body: expected a JSON object", json: parsed };
}

function sendReply(res: ServerResponse, reply: Reply): void {
  const text = reply.raw ?? JSON.stringify(reply.body);
  const headers: Record<string, string> = {
    "content-type":
      reply.raw === undefined
        ? "application/json; charset=utf-8"
        : reply.raw.trimStart().startsWith("<")
          ? "text/html; charset=utf-8"
          : "text/plain; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
  };
  // Lower-cased so a caller's Content-Type replaces ours instead of being sent twice.
  for (const [name, value] of Object.entries(reply.headers ?? {})) headers[name.toLowerCase()] = value;
  res.writeHead(reply.status, headers);
  res.end(text);
}

/** Without a body of its own, a status fault answers in the error style of the call it hits. */
function statusFaultReply(fault: Extract<Fault, { kind: "status" }>, route: Route): Reply {
  const reply: Reply = { status: fault.status };
  const words = STATUS_CODES[fault.status] ?? "Error";
  const fallback =
    route.family === "character" ? characterError(fault.status, words) : errorReply(fault.status, words);
  if (fault.rawBody !== undefined) reply.raw = fault.rawBody;
  else reply.body = fault.body ?? fallback.body;
  if (fault.headers) reply.headers = fault.headers;
  return reply;
}

/** A 200 whose JSON stops mid-way, as a proxy cutting the answer would leave it. */
function sendTruncated(res: ServerResponse): void {
  const truncated = `{"status":"success","transactionID":"${randomUUID()}","mod`;
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(truncated)),
  });
  res.end(truncated);
}

function formatUrl(address: AddressInfo, host: string): string {
  const shown = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${address.port}`;
}

// Longer than 80 lines as a whole: a factory whose inner functions (each under 50 lines) share the open
// sockets, pending timers and the server, which close() must reach to end hung requests.
export function createSandboxServer(options: ServerOptions): SandboxServer {
  const { logger, api, faults, maxBodyBytes } = options;
  // Comparing digests keeps timingSafeEqual's equal-length requirement from leaking the key's length.
  const expectedKeyDigest = sha256(options.apiKey);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let server: Server | undefined;
  let baseUrl: string | undefined;

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  /** The key check and the route; a reply when the request goes no further. */
  function admit(req: IncomingMessage, pathname: string): Route | Reply {
    const route = ROUTES.get(pathname);
    const key = req.headers["convai-api-key"];
    if (typeof key !== "string" || !timingSafeEqual(sha256(key), expectedKeyDigest)) {
      // The character calls answer as Convai documents them: 400 without a key, 401 {API_ERROR} for a bad one.
      if (route?.family === "character") return typeof key === "string" ? INVALID_KEY : MISSING_KEY;
      return errorReply(401, UNAUTHORIZED);
    }
    if (!route) return errorReply(404, "Not found");
    if (req.method !== "POST") {
      const refusal =
        route.family === "character"
          ? characterError(405, "Method not allowed.")
          : errorReply(405, "Method not allowed");
      return { ...refusal, headers: { allow: "POST" } };
    }
    return route;
  }

  /**
   * Applies the fault before the call (delay, status, hang, reset, malformed); true when the request has
   * been answered or dropped and must go no further.
   */
  async function faultBefore(
    fault: Fault | undefined,
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
    done: (outcome: number | string, reply?: Reply) => void,
  ): Promise<boolean> {
    switch (fault?.kind) {
      case "delay":
        await sleep(fault.ms);
        return false;
      case "status":
        done(fault.status, statusFaultReply(fault, route));
        return true;
      case "hang":
        done("fault:hang");
        return true;
      case "reset":
        req.socket.resetAndDestroy();
        done("fault:reset");
        return true;
      case "malformed":
        sendTruncated(res);
        done("fault:malformed");
        return true;
      default:
        return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "";
    const rawPath = req.url ?? "";
    const pathname = rawPath.split("?")[0] ?? "";
    const entry: RecordedRequest | undefined = options.record && {
      method,
      path: rawPath,
      headers: { ...req.headers },
      body: undefined,
      rawBody: "",
      at: Date.now(),
    };
    if (entry) options.record?.(entry);
    // Method, path and outcome only: headers and bodies carry keys.
    const done = (outcome: number | string, reply?: Reply) => {
      if (reply) sendReply(res, reply);
      logger?.debug(
        { method, path: pathname, status: outcome, ms: Math.round(performance.now() - started) },
        "convai sandbox request",
      );
    };

    const route = admit(req, pathname);
    if (!("endpoint" in route)) return done(route.status, route);

    const read = await readBody(req, maxBodyBytes);
    if (read.kind === "aborted") return done("aborted");
    if (read.kind === "too-large") {
      // Close rather than drain: the rest of the body is never read.
      const reply = errorReply(413, `Request body too large (limit ${maxBodyBytes} bytes)`);
      return done(413, { ...reply, headers: { connection: "close" } });
    }
    const parsed = parseBody(read.text);
    if (entry) {
      entry.rawBody = read.text;
      entry.body = parsed.json;
    }

    const fault = faults.take(route.endpoint);
    if (await faultBefore(fault, route, req, res, done)) return;
    if ("error" in parsed) return done(400, errorReply(400, parsed.error));
    const reply = await api.apply(route, parsed.body);
    if (fault?.kind === "apply-then-hang") return done(`fault:apply-then-hang(${reply.status})`);
    if (fault?.kind === "apply-then-reset") {
      req.socket.resetAndDestroy();
      return done(`fault:apply-then-reset(${reply.status})`);
    }
    done(reply.status, reply);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    handle(req, res).catch((err: unknown) => {
      logger?.error(
        { err: err instanceof Error ? err.message : String(err) },
        "convai sandbox: request failed",
      );
      if (!res.headersSent) sendReply(res, errorReply(500, "Internal server error"));
      else res.destroy();
    });
  }

  return {
    listen(port, host) {
      if (server) return Promise.reject(new Error("sandbox is already listening"));
      const s = createServer(onRequest);
      // Longer than undici's default keep-alive so a client's pool keeps reusing one connection.
      s.keepAliveTimeout = 30_000;
      s.on("connection", (socket: Socket) => {
        connections += 1;
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
      });
      server = s;
      return new Promise<string>((resolve, reject) => {
        const onListenError = (err: Error) => {
          server = undefined;
          reject(err);
        };
        s.once("error", onListenError);
        s.listen(port, host, () => {
          s.off("error", onListenError);
          // Without a listener a later server error would crash the process that embeds the sandbox.
          s.on("error", (err) => logger?.error({ err: err.message }, "convai sandbox: server error"));
          const address = s.address();
          if (address === null || typeof address === "string") {
            reject(new Error("sandbox: unexpected server address"));
            return;
          }
          baseUrl = formatUrl(address, host);
          resolve(baseUrl);
        });
      });
    },

    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const s = server;
      server = undefined;
      baseUrl = undefined;
      if (!s) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      // Hung and idle keep-alive sockets would otherwise hold close() open.
      for (const socket of sockets) socket.destroy();
      await closed;
    },

    get url() {
      return baseUrl;
    },

    get connectionCount() {
      return connections;
    },
  };
}
