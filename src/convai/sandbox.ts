import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync, renameSync } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../logger.js";
import { API_PREFIXES, type ApiPrefix, type ConvaiModel, DEFAULT_BASE_URL, FORM_FIELDS } from "./types.js";

export interface SandboxOptions {
  /** The CONVAI-API-KEY header value it accepts. */
  apiKey: string;
  /** JSON state file; undefined = memory only. */
  file?: string;
  logger?: Logger;
  /** Default 65536; larger bodies get 413. */
  maxBodyBytes?: number;
  /**
   * How many requests `requests` keeps (oldest dropped first). Default: all of them, which tests want;
   * a long-running sandbox should bound it, since records hold bodies and headers.
   */
  maxRecordedRequests?: number;
}

export type SandboxEndpoint = "register" | "update" | "deregister" | "list";

export type Fault =
  | { kind: "delay"; ms: number }
  | { kind: "status"; status: number; body?: unknown; rawBody?: string; headers?: Record<string, string> }
  | { kind: "hang" }
  | { kind: "reset" }
  | { kind: "malformed" }
  | { kind: "apply-then-hang" }
  | { kind: "apply-then-reset" };

export interface FaultRule {
  endpoint?: SandboxEndpoint | "*";
  /** Default 1; Infinity allowed. */
  times?: number;
  fault: Fault;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined when the body was empty, unread or not JSON. */
  body: unknown;
  rawBody: string;
  at: number;
}

export interface Sandbox {
  /** Defaults: port 0 (any free one) and 127.0.0.1. Resolves to the base URL, without a trailing slash. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops the server, destroys every open socket (hung ones included) and waits for pending writes. */
  close(): Promise<void>;
  /** Throws when not listening. */
  readonly url: string;
  /** Code-only fault injection; never reachable over the network. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Every request received, in order (bounded by `maxRecordedRequests`). */
  readonly requests: RecordedRequest[];
  /** TCP connections accepted since creation. */
  readonly connectionCount: number;
  /** Current state as /llm-models list returns it, sorted by group. */
  models(): ConvaiModel[];
  /** First 16 hex chars of the sha256 of the stored api_key; the raw key is never stored. */
  keyFingerprint(group: string): string | undefined;
  /** Inserts or replaces models (code-only set-up), then persists. */
  seed(
    models: Array<Partial<ConvaiModel> & { model_group_name: string; model_name: string; api_key: string }>,
  ): Promise<void>;
  /** Empties the state and the file. */
  reset(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 65_536;
const UNAUTHORIZED = "Unauthorized: missing or invalid CONVAI-API-KEY";
const ENDPOINTS = ["register", "update", "deregister", "list"] as const satisfies readonly SandboxEndpoint[];

/** What the state file holds per model: everything list shows plus a key fingerprint, never the key. */
const storedModelSchema = z.object({
  model_group_name: z.string().min(1),
  model_name: z.string().min(1),
  display_name: z.string().min(1),
  base_url: z.string(),
  is_uncensored: z.boolean(),
  category: z.string(),
  created_at: z.string(),
  api_key_sha256: z.string().regex(/^[0-9a-f]{16}$/),
});
type StoredModel = z.infer<typeof storedModelSchema>;
const stateFileSchema = z.object({ version: z.literal(1), models: z.array(storedModelSchema) });
const jsonObjectSchema = z.record(z.string(), z.unknown());
type JsonObject = z.infer<typeof jsonObjectSchema>;

interface Route {
  prefix: ApiPrefix;
  endpoint: SandboxEndpoint;
}
const ROUTES = new Map<string, Route>(
  API_PREFIXES.flatMap((prefix) =>
    ENDPOINTS.map((endpoint): [string, Route] => [`${prefix}/${endpoint}`, { prefix, endpoint }]),
  ),
);

interface Reply {
  status: number;
  body?: unknown;
  /** Sent verbatim instead of JSON-encoding `body`. */
  raw?: string;
  headers?: Record<string, string>;
}

/** A request the API rejects with 400; thrown by the field readers so handlers stay linear. */
class BadRequest extends Error {}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();
const fingerprint = (key: string): string => sha256(key).toString("hex").slice(0, 16);

function errorReply(status: number, message: string): Reply {
  return { status, body: { status: "error", message, transactionID: randomUUID() } };
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && "code" in err && err.code === code;
}

/** Absent or null means "not given"; anything else must be a string. */
function readString(body: JsonObject, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new BadRequest(`Invalid field: ${name} must be a string`);
  return value;
}

/** A blank required field counts as missing, as Convai reports it. */
function requiredString(body: JsonObject, name: string): string {
  const value = readString(body, name);
  if (value === undefined || value.trim() === "") throw new BadRequest(`Missing required field: ${name}`);
  return value;
}

/** An optional field, when given, must not be blank. */
function optionalString(body: JsonObject, name: string): string | undefined {
  const value = readString(body, name);
  if (value !== undefined && value.trim() === "") {
    throw new BadRequest(`Invalid field: ${name} must not be empty`);
  }
  return value;
}

function optionalUrl(body: JsonObject, name: string): string | undefined {
  const value = optionalString(body, name);
  if (value === undefined) return undefined;
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new BadRequest(`Invalid field: ${name} must be an http(s) URL`);
  }
  return value;
}

function optionalBoolean(body: JsonObject, name: string): boolean | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new BadRequest(`Invalid field: ${name} must be a boolean`);
  return value;
}

function publicModel(m: StoredModel): ConvaiModel {
  return {
    model_group_name: m.model_group_name,
    model_name: m.model_name,
    display_name: m.display_name,
    base_url: m.base_url,
    is_uncensored: m.is_uncensored,
    category: m.category,
    created_at: m.created_at,
  };
}

function compareGroups(a: StoredModel, b: StoredModel): number {
  if (a.model_group_name === b.model_group_name) return 0;
  return a.model_group_name < b.model_group_name ? -1 : 1;
}

/** Reads the state file; a corrupt one is moved aside so the sandbox starts empty instead of failing. */
function loadState(file: string, logger: Logger | undefined): Map<string, StoredModel> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return new Map();
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const result = stateFileSchema.safeParse(parsed);
  if (result.success) {
    return new Map(result.data.models.map((m) => [m.model_group_name, m]));
  }
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    renameSync(file, movedTo);
    logger?.warn(
      { file, movedTo },
      "convai sandbox: state file is corrupt; moved it aside and starting empty",
    );
  } catch (err) {
    logger?.error(
      { file, err: err instanceof Error ? err.message : String(err) },
      "convai sandbox: state file is corrupt and could not be moved aside; starting empty",
    );
  }
  return new Map();
}

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

function formatUrl(address: AddressInfo, host: string): string {
  const shown = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${address.port}`;
}

export function createSandbox(options: SandboxOptions): Sandbox {
  if (options.apiKey === "") throw new Error("createSandbox: apiKey must not be empty");
  const { file, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRecorded = options.maxRecordedRequests ?? Number.POSITIVE_INFINITY;
  // Comparing digests keeps timingSafeEqual's equal-length requirement from leaking the key's length.
  const expectedKeyDigest = sha256(options.apiKey);

  const store = file ? loadState(file, logger) : new Map<string, StoredModel>();
  const recorded: RecordedRequest[] = [];
  const faults: Array<{ endpoint: SandboxEndpoint | "*"; left: number; fault: Fault }> = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let server: Server | undefined;
  let baseUrl: string | undefined;

  // Writes run one at a time; callers that arrive while one waits share it, since each write
  // snapshots the whole store when it starts.
  let running: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;

  function persist(): Promise<void> {
    if (file === undefined) return Promise.resolve();
    if (queued) return queued;
    const target = file;
    const next = running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return writeState(target);
      });
    queued = next;
    running = next;
    return next;
  }

  async function writeState(target: string): Promise<void> {
    const models = [...store.values()].sort(compareGroups);
    const data = `${JSON.stringify({ version: 1, models }, null, 2)}\n`;
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    // Temp file beside the target so the rename is atomic; a crash leaves only an ignored *.tmp.
    const tmp = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    let handle: FileHandle | undefined;
    try {
      handle = await open(tmp, "w", 0o600);
      await handle.writeFile(data, "utf8");
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(tmp, target);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    // Make the rename itself durable; not every platform can fsync a directory, so best effort.
    const dirHandle = await open(dir, "r").catch(() => undefined);
    await dirHandle?.sync().catch(() => undefined);
    await dirHandle?.close().catch(() => undefined);
  }

  /** Applies one change, persists it, and undoes it in memory if the write fails. */
  async function commit(group: string, next: StoredModel | undefined): Promise<Reply | undefined> {
    const previous = store.get(group);
    if (next) store.set(group, next);
    else store.delete(group);
    try {
      await persist();
      return undefined;
    } catch (err) {
      if (store.get(group) === next) {
        if (previous) store.set(group, previous);
        else store.delete(group);
      }
      logger?.error(
        { file, err: err instanceof Error ? err.message : String(err) },
        "convai sandbox: could not persist state",
      );
      return errorReply(500, "Database error");
    }
  }

  function displayNameTaken(displayName: string, exceptGroup: string | undefined): boolean {
    const wanted = displayName.toLowerCase();
    for (const m of store.values()) {
      if (m.model_group_name !== exceptGroup && m.display_name.toLowerCase() === wanted) return true;
    }
    return false;
  }

  function sortedModels(): ConvaiModel[] {
    return [...store.values()].sort(compareGroups).map(publicModel);
  }

  async function register(prefix: ApiPrefix, body: JsonObject): Promise<Reply> {
    const docsForm = prefix === "/llm-models";
    const group = requiredString(body, "model_group_name");
    const modelName = requiredString(body, "model_name");
    const apiKey = requiredString(body, "api_key");
    let isUncensored: boolean;
    let baseUrl: string;
    if (docsForm) {
      const flag = optionalBoolean(body, "is_uncensored");
      if (flag === undefined) throw new BadRequest("Missing required field: is_uncensored");
      isUncensored = flag;
      baseUrl = optionalUrl(body, "base_url") ?? DEFAULT_BASE_URL;
    } else {
      const url = optionalUrl(body, "base_url");
      if (url === undefined) throw new BadRequest("Missing required field: base_url");
      baseUrl = url;
      isUncensored = optionalBoolean(body, "is_uncensored") ?? false;
    }
    // The seed's form has no display_name; it defaults to the group there too.
    const displayName = (docsForm ? optionalString(body, "display_name") : undefined) ?? group;

    if (store.has(group)) return errorReply(409, "Model group name already exists");
    if (displayNameTaken(displayName, undefined)) return errorReply(409, "Display name already exists");
    const failed = await commit(group, {
      model_group_name: group,
      model_name: modelName,
      display_name: displayName,
      base_url: baseUrl,
      is_uncensored: isUncensored,
      category: "Private",
      created_at: new Date().toISOString(),
      api_key_sha256: fingerprint(apiKey),
    });
    return (
      failed ?? {
        status: 200,
        body: {
          status: "success",
          model_group_name: group,
          model_name: modelName,
          display_name: displayName,
          message: `Model '${group}' registered successfully`,
          transactionID: randomUUID(),
        },
      }
    );
  }

  async function update(prefix: ApiPrefix, body: JsonObject): Promise<Reply> {
    const group = requiredString(body, "model_group_name");
    const changes: Partial<StoredModel> = {};
    const updated: string[] = [];
    for (const field of FORM_FIELDS[prefix].update) {
      if (body[field] === undefined || body[field] === null) continue;
      switch (field) {
        case "is_uncensored":
          changes.is_uncensored = optionalBoolean(body, field);
          break;
        case "base_url":
          changes.base_url = optionalUrl(body, field);
          break;
        case "api_key": {
          const key = optionalString(body, field);
          if (key !== undefined) changes.api_key_sha256 = fingerprint(key);
          break;
        }
        case "display_name":
        case "model_name":
          changes[field] = optionalString(body, field);
          break;
      }
      updated.push(field);
    }
    if (updated.length === 0) return errorReply(400, "No valid fields to update");
    const current = store.get(group);
    if (!current) return errorReply(404, `Model '${group}' not found or access denied`);
    if (changes.display_name !== undefined && displayNameTaken(changes.display_name, group)) {
      return errorReply(409, "Display name already exists");
    }
    // Only fields given (never undefined) are in `changes`, so the spread cannot blank a stored value.
    const failed = await commit(group, { ...current, ...changes });
    return (
      failed ?? {
        status: 200,
        body: {
          status: "success",
          message: `Model '${group}' updated successfully`,
          updated_fields: updated,
          transactionID: randomUUID(),
        },
      }
    );
  }

  async function deregister(body: JsonObject): Promise<Reply> {
    const group = requiredString(body, "model_group_name");
    if (!store.has(group)) return errorReply(404, `Model '${group}' not found or access denied`);
    const failed = await commit(group, undefined);
    return (
      failed ?? {
        status: 200,
        body: {
          status: "success",
          message: `Model '${group}' deregistered successfully`,
          transactionID: randomUUID(),
        },
      }
    );
  }

  function list(prefix: ApiPrefix): Reply {
    const models = sortedModels();
    if (prefix === "/custom-llm") {
      return {
        status: 200,
        body: models.map((m) => ({
          model_group_name: m.model_group_name,
          model_name: m.model_name,
          base_url: m.base_url,
        })),
      };
    }
    return {
      status: 200,
      body: { status: "success", models, count: models.length, transactionID: randomUUID() },
    };
  }

  async function apply(route: Route, body: JsonObject): Promise<Reply> {
    try {
      switch (route.endpoint) {
        case "register":
          return await register(route.prefix, body);
        case "update":
          return await update(route.prefix, body);
        case "deregister":
          return await deregister(body);
        case "list":
          return list(route.prefix);
      }
    } catch (err) {
      if (err instanceof BadRequest) return errorReply(400, err.message);
      throw err;
    }
  }

  function takeFault(endpoint: SandboxEndpoint): Fault | undefined {
    const index = faults.findIndex((r) => r.left > 0 && (r.endpoint === "*" || r.endpoint === endpoint));
    const rule = faults[index];
    if (!rule) return undefined;
    rule.left -= 1;
    if (rule.left <= 0) faults.splice(index, 1);
    return rule.fault;
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  function record(entry: RecordedRequest): void {
    recorded.push(entry);
    if (recorded.length > maxRecorded) recorded.splice(0, recorded.length - maxRecorded);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "";
    const rawPath = req.url ?? "";
    const pathname = rawPath.split("?")[0] ?? "";
    const entry: RecordedRequest = {
      method,
      path: rawPath,
      headers: { ...req.headers },
      body: undefined,
      rawBody: "",
      at: Date.now(),
    };
    record(entry);
    // Method, path and outcome only: headers and bodies carry keys.
    const log = (outcome: number | string) =>
      logger?.debug(
        { method, path: pathname, status: outcome, ms: Math.round(performance.now() - started) },
        "convai sandbox request",
      );
    const answer = (reply: Reply) => {
      sendReply(res, reply);
      log(reply.status);
    };

    const key = req.headers["convai-api-key"];
    if (typeof key !== "string" || !timingSafeEqual(sha256(key), expectedKeyDigest)) {
      return answer(errorReply(401, UNAUTHORIZED));
    }
    const route = ROUTES.get(pathname);
    if (!route) return answer(errorReply(404, "Not found"));
    if (method !== "POST")
      return answer({ ...errorReply(405, "Method not allowed"), headers: { allow: "POST" } });

    const read = await readBody(req, maxBodyBytes);
    if (read.kind === "aborted") return log("aborted");
    if (read.kind === "too-large") {
      // Close rather than drain: the rest of the body is never read.
      return answer({
        ...errorReply(413, `Request body too large (limit ${maxBodyBytes} bytes)`),
        headers: { connection: "close" },
      });
    }
    entry.rawBody = read.text;
    let body: JsonObject | undefined;
    let bodyError: string | undefined;
    if (read.text.trim() === "") {
      body = {};
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(read.text);
        entry.body = parsed;
      } catch {
        bodyError = "Malformed JSON body";
      }
      if (bodyError === undefined) {
        const asObject = jsonObjectSchema.safeParse(parsed);
        if (asObject.success) body = asObject.data;
        else bodyError = "Malformed body: expected a JSON object";
      }
    }

    const fault = takeFault(route.endpoint);
    switch (fault?.kind) {
      case "delay":
        await sleep(fault.ms);
        break;
      case "status": {
        const reply: Reply = { status: fault.status };
        if (fault.rawBody !== undefined) reply.raw = fault.rawBody;
        else reply.body = fault.body ?? errorReply(fault.status, STATUS_CODES[fault.status] ?? "Error").body;
        if (fault.headers) reply.headers = fault.headers;
        return answer(reply);
      }
      case "hang":
        return log("fault:hang");
      case "reset":
        req.socket.resetAndDestroy();
        return log("fault:reset");
      case "malformed": {
        const truncated = `{"status":"success","transactionID":"${randomUUID()}","mod`;
        res.writeHead(200, {
          "content-type": "application/json; charset=utf-8",
          "content-length": String(Buffer.byteLength(truncated)),
        });
        res.end(truncated);
        return log("fault:malformed");
      }
      case "apply-then-hang":
      case "apply-then-reset":
      case undefined:
        break;
    }

    if (body === undefined) return answer(errorReply(400, bodyError ?? "Malformed JSON body"));
    const reply = await apply(route, body);
    if (fault?.kind === "apply-then-hang") return log(`fault:apply-then-hang(${reply.status})`);
    if (fault?.kind === "apply-then-reset") {
      req.socket.resetAndDestroy();
      return log(`fault:apply-then-reset(${reply.status})`);
    }
    answer(reply);
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
    listen(port = 0, host = "127.0.0.1") {
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
      if (s) {
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        // Hung and idle keep-alive sockets would otherwise hold close() open.
        for (const socket of sockets) socket.destroy();
        await closed;
      }
      await running.catch(() => undefined);
    },

    get url() {
      if (baseUrl === undefined) throw new Error("sandbox is not listening");
      return baseUrl;
    },

    inject(rule) {
      const times = rule.times ?? 1;
      if (!(times > 0)) throw new Error("FaultRule.times must be positive");
      faults.push({ endpoint: rule.endpoint ?? "*", left: times, fault: rule.fault });
    },

    clearFaults() {
      faults.length = 0;
    },

    get requests() {
      return recorded;
    },

    get connectionCount() {
      return connections;
    },

    models: sortedModels,

    keyFingerprint(group) {
      return store.get(group)?.api_key_sha256;
    },

    async seed(models) {
      const now = new Date().toISOString();
      for (const m of models) {
        const displayName = m.display_name ?? m.model_group_name;
        if (displayNameTaken(displayName, m.model_group_name)) {
          throw new Error(`seed: display name '${displayName}' already exists`);
        }
        store.set(m.model_group_name, {
          model_group_name: m.model_group_name,
          model_name: m.model_name,
          display_name: displayName,
          base_url: m.base_url ?? DEFAULT_BASE_URL,
          is_uncensored: m.is_uncensored ?? false,
          category: m.category ?? "Private",
          created_at: m.created_at ?? now,
          api_key_sha256: fingerprint(m.api_key),
        });
      }
      await persist();
    },

    async reset() {
      store.clear();
      await persist();
    },
  };
}
