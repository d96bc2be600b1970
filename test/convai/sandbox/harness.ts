/** What the sandbox test files share: a sandbox on 127.0.0.1 port 0, a raw client, and request bodies. */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Pool } from "undici";
import { expect } from "vitest";
import { createSandbox, type SandboxOptions } from "../../../src/convai/sandbox/index.js";
import { createLogger } from "../../../src/logger.js";

export const KEY = "convai-test-key-5f1c2a";
export const MODEL_KEY = "sk-model-secret-9d8e7f";
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export const cleanups: Array<() => Promise<void>> = [];
/** Runs and forgets every cleanup registered by the test that just ended; each test file calls it in afterEach. */
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "convai-sandbox-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CallOptions {
  /** null sends no key at all. */
  key?: string | null;
  method?: "POST" | "GET" | "PUT" | "DELETE";
  /** Sent verbatim instead of JSON-encoding the body. */
  raw?: string | Readable;
  headersTimeout?: number;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

export async function send(
  pool: Pool,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  const key = options.key === undefined ? KEY : options.key;
  if (key !== null) headers["convai-api-key"] = key;
  const res = await pool.request({
    path,
    method: options.method ?? "POST",
    headers,
    body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    ...(options.headersTimeout === undefined ? {} : { headersTimeout: options.headersTimeout }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

export async function start(options: Partial<SandboxOptions> = {}) {
  const sandbox = createSandbox({ apiKey: KEY, record: true, ...options });
  const url = await sandbox.listen();
  const pool = new Pool(url);
  cleanups.push(async () => {
    await pool.destroy();
    await sandbox.close();
  });
  return {
    sandbox,
    url,
    pool,
    call: (path: string, body?: unknown, opts?: CallOptions) => send(pool, path, body, opts),
  };
}

export const errorBody = (message: string) => ({
  status: "error",
  message,
  transactionID: expect.stringMatching(UUID),
});

export const docsRegister = (group: string, extra: Record<string, unknown> = {}) => ({
  model_group_name: group,
  model_name: "gpt-4o-mini",
  api_key: MODEL_KEY,
  is_uncensored: false,
  ...extra,
});

export const seedRegister = (group: string, extra: Record<string, unknown> = {}) => ({
  model_group_name: group,
  model_name: "llama-3-70b",
  api_key: MODEL_KEY,
  base_url: "https://llm.example.com/v1",
  ...extra,
});

export const fingerprintOf = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 16);

export function captureLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

/** Sends raw bytes over a fresh TCP connection and collects everything until the server closes it. */
export function rawExchange(url: string, payload: string | Buffer[]): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("error", (err) =>
      received.length > 0 ? resolve(Buffer.concat(received).toString()) : reject(err),
    );
    socket.on("close", () => resolve(Buffer.concat(received).toString()));
    socket.on("connect", () => {
      if (typeof payload === "string") socket.write(payload);
      else for (const chunk of payload) socket.write(chunk);
    });
  });
}
