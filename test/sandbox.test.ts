import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Pool } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSandbox, type Sandbox, type SandboxOptions } from "../src/convai/sandbox.js";
import { runSandboxServer } from "../src/convai/sandbox-main.js";
import { API_PREFIXES, DEFAULT_BASE_URL } from "../src/convai/types.js";
import { createLogger } from "../src/logger.js";

const KEY = "convai-test-key-5f1c2a";
const MODEL_KEY = "sk-model-secret-9d8e7f";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "convai-sandbox-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface CallOptions {
  /** null sends no key at all. */
  key?: string | null;
  method?: "POST" | "GET" | "PUT" | "DELETE";
  /** Sent verbatim instead of JSON-encoding the body. */
  raw?: string | Readable;
  headersTimeout?: number;
  headers?: Record<string, string>;
}

interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

async function send(
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

async function start(options: Partial<SandboxOptions> = {}) {
  const sandbox = createSandbox({ apiKey: KEY, ...options });
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

const errorBody = (message: string) => ({
  status: "error",
  message,
  transactionID: expect.stringMatching(UUID),
});

const docsRegister = (group: string, extra: Record<string, unknown> = {}) => ({
  model_group_name: group,
  model_name: "gpt-4o-mini",
  api_key: MODEL_KEY,
  is_uncensored: false,
  ...extra,
});

const seedRegister = (group: string, extra: Record<string, unknown> = {}) => ({
  model_group_name: group,
  model_name: "llama-3-70b",
  api_key: MODEL_KEY,
  base_url: "https://llm.example.com/v1",
  ...extra,
});

const fingerprintOf = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 16);

function captureLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

/** Sends raw bytes over a fresh TCP connection and collects everything until the server closes it. */
function rawExchange(url: string, payload: string | Buffer[]): Promise<string> {
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

describe("auth and routing", () => {
  it.each(API_PREFIXES)(
    "%s: a missing or wrong CONVAI-API-KEY gets 401 and changes nothing",
    async (prefix) => {
      const { call, sandbox } = await start();
      const register = prefix === "/llm-models" ? docsRegister("g1") : seedRegister("g1");
      for (const key of [null, "", "wrong", `${KEY}x`, KEY.toUpperCase()]) {
        const res = await call(`${prefix}/register`, register, { key });
        expect(res.status).toBe(401);
        expect(res.json).toEqual(errorBody("Unauthorized: missing or invalid CONVAI-API-KEY"));
      }
      expect((await call(`${prefix}/list`, undefined, { key: "wrong" })).status).toBe(401);
      expect(sandbox.models()).toEqual([]);
    },
  );

  it("unknown paths get 404 with the error body", async () => {
    const { call } = await start();
    for (const path of ["/llm-models/nope", "/custom-llm", "/", "/llm-models/list/", "/v1/llm-models/list"]) {
      const res = await call(path, {});
      expect(res.status).toBe(404);
      expect(res.json).toEqual(errorBody("Not found"));
    }
  });

  it("methods other than POST get 405 with Allow: POST", async () => {
    const { call } = await start();
    for (const method of ["GET", "PUT", "DELETE"] as const) {
      const res = await call("/llm-models/list", undefined, { method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe("POST");
      expect(res.json).toEqual(errorBody("Method not allowed"));
    }
  });

  it("malformed JSON and non-object JSON get 400 and change nothing", async () => {
    const { call, sandbox } = await start();
    const bad = await call("/llm-models/register", undefined, { raw: '{"model_group_name": "g1",' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual(errorBody("Malformed JSON body"));
    const arr = await call("/custom-llm/register", undefined, { raw: '["g1"]' });
    expect(arr.status).toBe(400);
    expect(arr.json).toEqual(errorBody("Malformed body: expected a JSON object"));
    expect(sandbox.models()).toEqual([]);
  });

  it("a body over maxBodyBytes gets 413, whether its length is declared or streamed", async () => {
    const { call, sandbox, url } = await start({ maxBodyBytes: 1024 });
    const big = await call("/llm-models/register", docsRegister("g1", { display_name: "x".repeat(2000) }));
    expect(big.status).toBe(413);
    expect(big.json).toEqual(errorBody("Request body too large (limit 1024 bytes)"));

    async function* chunks() {
      for (let i = 0; i < 100; i++) yield Buffer.alloc(100, 0x20);
    }
    const streamed = await call("/llm-models/register", undefined, { raw: Readable.from(chunks()) });
    expect(streamed.status).toBe(413);

    // Chunked upload over a raw socket that never ends: the answer comes anyway and the socket closes.
    const chunk = `${(512).toString(16)}\r\n${" ".repeat(512)}\r\n`;
    const reply = await rawExchange(url, [
      Buffer.from(
        `POST /custom-llm/register HTTP/1.1\r\nHost: x\r\nCONVAI-API-KEY: ${KEY}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      ),
      ...Array.from({ length: 8 }, () => Buffer.from(chunk)),
    ]);
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(sandbox.models()).toEqual([]);

    const small = await call("/llm-models/register", docsRegister("g1"));
    expect(small.status).toBe(200);
  });

  it("every answer carries a fresh transactionID", async () => {
    const { call } = await start();
    const ids = new Set<string>();
    const idSchema = z.object({ transactionID: z.string().regex(UUID) });
    for (const [path, body] of [
      ["/llm-models/list", undefined],
      ["/llm-models/list", undefined],
      ["/llm-models/register", docsRegister("g1")],
      ["/llm-models/register", docsRegister("g1")],
      ["/llm-models/nope", {}],
    ] as const) {
      ids.add(idSchema.parse((await call(path, body)).json).transactionID);
    }
    expect(ids.size).toBe(5);
  });
});

describe("/llm-models (Convai's documentation)", () => {
  it("register answers like the docs, defaults display_name and base_url, and never stores the key", async () => {
    const { call, sandbox } = await start();
    const res = await call(
      "/llm-models/register",
      docsRegister("my-turbo", { display_name: "Turbo (Private)", base_url: "https://api.openai.com/v1" }),
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      model_group_name: "my-turbo",
      model_name: "gpt-4o-mini",
      display_name: "Turbo (Private)",
      message: "Model 'my-turbo' registered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    const bare = await call(
      "/llm-models/register",
      docsRegister("raw-mixtral", { model_name: "mixtral", is_uncensored: true }),
    );
    expect(bare.status).toBe(200);
    expect(bare.json).toMatchObject({ display_name: "raw-mixtral", model_name: "mixtral" });

    expect(sandbox.models()).toEqual([
      {
        model_group_name: "my-turbo",
        model_name: "gpt-4o-mini",
        display_name: "Turbo (Private)",
        base_url: "https://api.openai.com/v1",
        is_uncensored: false,
        category: "Private",
        created_at: expect.stringMatching(ISO),
      },
      {
        model_group_name: "raw-mixtral",
        model_name: "mixtral",
        display_name: "raw-mixtral",
        base_url: DEFAULT_BASE_URL,
        is_uncensored: true,
        category: "Private",
        created_at: expect.stringMatching(ISO),
      },
    ]);
    expect(sandbox.keyFingerprint("my-turbo")).toBe(fingerprintOf(MODEL_KEY));
    expect(sandbox.keyFingerprint("nope")).toBeUndefined();
  });

  it.each([
    ["model_group_name", "Missing required field: model_group_name"],
    ["model_name", "Missing required field: model_name"],
    ["api_key", "Missing required field: api_key"],
    ["is_uncensored", "Missing required field: is_uncensored"],
  ])("register without %s gets 400", async (field, message) => {
    const { call, sandbox } = await start();
    const body: Record<string, unknown> = docsRegister("g1");
    delete body[field];
    const res = await call("/llm-models/register", body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual(errorBody(message));
    const blank = await call("/llm-models/register", {
      ...docsRegister("g1"),
      [field]: field === "is_uncensored" ? null : "  ",
    });
    expect(blank.status).toBe(400);
    expect(blank.json).toEqual(errorBody(message));
    expect(sandbox.models()).toEqual([]);
  });

  it("register rejects fields of the wrong type with 400", async () => {
    const { call, sandbox } = await start();
    const flag = await call("/llm-models/register", docsRegister("g1", { is_uncensored: "yes" }));
    expect(flag.status).toBe(400);
    expect(flag.json).toEqual(errorBody("Invalid field: is_uncensored must be a boolean"));
    const name = await call("/llm-models/register", docsRegister("g1", { model_name: 42 }));
    expect(name.json).toEqual(errorBody("Invalid field: model_name must be a string"));
    const url = await call("/llm-models/register", docsRegister("g1", { base_url: "ftp://x" }));
    expect(url.status).toBe(400);
    expect(url.json).toEqual(errorBody("Invalid field: base_url must be an http(s) URL"));
    expect(sandbox.models()).toEqual([]);
  });

  it("register answers 409 for a taken group name or display name (case-insensitive)", async () => {
    const { call, sandbox } = await start();
    expect((await call("/llm-models/register", docsRegister("g1", { display_name: "Turbo" }))).status).toBe(
      200,
    );

    const sameGroup = await call("/llm-models/register", docsRegister("g1", { display_name: "Other" }));
    expect(sameGroup.status).toBe(409);
    expect(sameGroup.json).toEqual(errorBody("Model group name already exists"));

    const sameDisplay = await call("/llm-models/register", docsRegister("g2", { display_name: "tURBO" }));
    expect(sameDisplay.status).toBe(409);
    expect(sameDisplay.json).toEqual(errorBody("Display name already exists"));

    // The default display name is the group name, so it collides too.
    const defaulted = await call("/llm-models/register", docsRegister("TURBO"));
    expect(defaulted.status).toBe(409);
    expect(defaulted.json).toEqual(errorBody("Display name already exists"));

    expect(sandbox.models().map((m) => [m.model_group_name, m.display_name])).toEqual([["g1", "Turbo"]]);
  });

  it("update changes the given fields, lists them, and rotates the key fingerprint", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("my-turbo", { display_name: "Turbo (Private)" }));
    const res = await call("/llm-models/update", {
      model_group_name: "my-turbo",
      display_name: "Turbo v2",
      api_key: "sk-proxy-456",
      model_name: "ignored-by-this-form",
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'my-turbo' updated successfully",
      updated_fields: ["display_name", "api_key"],
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({ display_name: "Turbo v2", model_name: "gpt-4o-mini" });
    expect(sandbox.keyFingerprint("my-turbo")).toBe(fingerprintOf("sk-proxy-456"));

    const more = await call("/llm-models/update", {
      model_group_name: "my-turbo",
      base_url: "https://llm.my-org.net/v1",
      is_uncensored: true,
      display_name: "turbo V2",
    });
    expect(more.status).toBe(200);
    expect(more.json).toMatchObject({ updated_fields: ["display_name", "base_url", "is_uncensored"] });
    expect(sandbox.models()[0]).toMatchObject({
      display_name: "turbo V2",
      base_url: "https://llm.my-org.net/v1",
      is_uncensored: true,
    });
  });

  it("update answers 400, 404 and 409 as documented", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("a", { display_name: "Alpha" }));
    await call("/llm-models/register", docsRegister("b", { display_name: "Beta" }));

    const noGroup = await call("/llm-models/update", { display_name: "X" });
    expect(noGroup.status).toBe(400);
    expect(noGroup.json).toEqual(errorBody("Missing required field: model_group_name"));

    const nothing = await call("/llm-models/update", {
      model_group_name: "a",
      model_name: "not-in-this-form",
    });
    expect(nothing.status).toBe(400);
    expect(nothing.json).toEqual(errorBody("No valid fields to update"));

    const badFlag = await call("/llm-models/update", { model_group_name: "a", is_uncensored: "true" });
    expect(badFlag.status).toBe(400);
    expect(badFlag.json).toEqual(errorBody("Invalid field: is_uncensored must be a boolean"));

    const blank = await call("/llm-models/update", { model_group_name: "a", display_name: " " });
    expect(blank.status).toBe(400);
    expect(blank.json).toEqual(errorBody("Invalid field: display_name must not be empty"));

    const missing = await call("/llm-models/update", { model_group_name: "zzz", display_name: "Z" });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(errorBody("Model 'zzz' not found or access denied"));

    const taken = await call("/llm-models/update", { model_group_name: "a", display_name: "BETA" });
    expect(taken.status).toBe(409);
    expect(taken.json).toEqual(errorBody("Display name already exists"));

    expect(sandbox.models().map((m) => m.display_name)).toEqual(["Alpha", "Beta"]);
  });

  it("deregister removes the model, 404 when unknown, 400 without a group", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("my-turbo"));
    const res = await call("/llm-models/deregister", { model_group_name: "my-turbo" });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'my-turbo' deregistered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()).toEqual([]);
    expect(sandbox.keyFingerprint("my-turbo")).toBeUndefined();

    const again = await call("/llm-models/deregister", { model_group_name: "my-turbo" });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(errorBody("Model 'my-turbo' not found or access denied"));

    const empty = await call("/llm-models/deregister", {});
    expect(empty.status).toBe(400);
    expect(empty.json).toEqual(errorBody("Missing required field: model_group_name"));
  });

  it("list needs no body and returns models sorted by group, with count and without api_key", async () => {
    const { call } = await start();
    const empty = await call("/llm-models/list");
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({
      status: "success",
      models: [],
      count: 0,
      transactionID: expect.stringMatching(UUID),
    });

    await call("/llm-models/register", docsRegister("zeta"));
    await call("/llm-models/register", docsRegister("alpha", { display_name: "A" }));
    const res = await call("/llm-models/list", {});
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      models: [
        {
          model_group_name: "alpha",
          model_name: "gpt-4o-mini",
          display_name: "A",
          base_url: DEFAULT_BASE_URL,
          is_uncensored: false,
          category: "Private",
          created_at: expect.stringMatching(ISO),
        },
        {
          model_group_name: "zeta",
          model_name: "gpt-4o-mini",
          display_name: "zeta",
          base_url: DEFAULT_BASE_URL,
          is_uncensored: false,
          category: "Private",
          created_at: expect.stringMatching(ISO),
        },
      ],
      count: 2,
      transactionID: expect.stringMatching(UUID),
    });
    expect(res.text).not.toContain("api_key");
    expect(res.text).not.toContain(MODEL_KEY);
  });
});

describe("/custom-llm (the seed's OpenAPI)", () => {
  it("register requires base_url, defaults is_uncensored to false and ignores display_name", async () => {
    const { call, sandbox } = await start();
    const res = await call("/custom-llm/register", seedRegister("llama", { display_name: "Not accepted" }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      model_group_name: "llama",
      model_name: "llama-3-70b",
      display_name: "llama",
      message: "Model 'llama' registered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({
      base_url: "https://llm.example.com/v1",
      is_uncensored: false,
      display_name: "llama",
    });

    for (const field of ["model_group_name", "model_name", "api_key", "base_url"]) {
      const body: Record<string, unknown> = seedRegister("other");
      delete body[field];
      const missing = await call("/custom-llm/register", body);
      expect(missing.status).toBe(400);
      expect(missing.json).toEqual(errorBody(`Missing required field: ${field}`));
    }
    const dup = await call("/custom-llm/register", seedRegister("llama"));
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual(errorBody("Model group name already exists"));
    const flagged = await call("/custom-llm/register", seedRegister("raw", { is_uncensored: true }));
    expect(flagged.status).toBe(200);
    expect(sandbox.models().map((m) => [m.model_group_name, m.is_uncensored])).toEqual([
      ["llama", false],
      ["raw", true],
    ]);
  });

  it("update accepts model_name, base_url, api_key, is_uncensored and ignores display_name", async () => {
    const { call, sandbox } = await start();
    await call("/custom-llm/register", seedRegister("llama"));
    const res = await call("/custom-llm/update", {
      model_group_name: "llama",
      model_name: "llama-3.1-70b",
      api_key: "sk-new",
      display_name: "ignored",
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'llama' updated successfully",
      updated_fields: ["model_name", "api_key"],
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({ model_name: "llama-3.1-70b", display_name: "llama" });
    expect(sandbox.keyFingerprint("llama")).toBe(fingerprintOf("sk-new"));

    const onlyDisplay = await call("/custom-llm/update", { model_group_name: "llama", display_name: "X" });
    expect(onlyDisplay.status).toBe(400);
    expect(onlyDisplay.json).toEqual(errorBody("No valid fields to update"));
    const missing = await call("/custom-llm/update", { model_group_name: "nope", is_uncensored: true });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(errorBody("Model 'nope' not found or access denied"));
  });

  it("deregister and the bare-array list", async () => {
    const { call } = await start();
    await call("/custom-llm/register", seedRegister("b"));
    await call("/custom-llm/register", seedRegister("a", { model_name: "m-a" }));
    const list = await call("/custom-llm/list");
    expect(list.status).toBe(200);
    expect(list.json).toEqual([
      { model_group_name: "a", model_name: "m-a", base_url: "https://llm.example.com/v1" },
      { model_group_name: "b", model_name: "llama-3-70b", base_url: "https://llm.example.com/v1" },
    ]);
    const gone = await call("/custom-llm/deregister", { model_group_name: "a" });
    expect(gone.status).toBe(200);
    expect(gone.json).toEqual({
      status: "success",
      message: "Model 'a' deregistered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    const again = await call("/custom-llm/deregister", { model_group_name: "a" });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(errorBody("Model 'a' not found or access denied"));
    expect((await call("/custom-llm/list")).json).toEqual([
      { model_group_name: "b", model_name: "llama-3-70b", base_url: "https://llm.example.com/v1" },
    ]);
  });

  it("both prefixes share one store", async () => {
    const { call } = await start();
    await call("/custom-llm/register", seedRegister("from-seed"));
    await call("/llm-models/register", docsRegister("from-docs"));
    expect((await call("/llm-models/list")).json).toMatchObject({
      count: 2,
      models: [{ model_group_name: "from-docs" }, { model_group_name: "from-seed" }],
    });
    const clash = await call("/llm-models/register", docsRegister("from-seed", { display_name: "unique" }));
    expect(clash.status).toBe(409);
    expect((await call("/llm-models/deregister", { model_group_name: "from-seed" })).status).toBe(200);
    expect((await call("/custom-llm/list")).json).toEqual([
      { model_group_name: "from-docs", model_name: "gpt-4o-mini", base_url: DEFAULT_BASE_URL },
    ]);
  });
});

describe("state file", () => {
  it("survives close and a new sandbox on the same file, keeping only a key fingerprint", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const first = await start({ file });
    await first.call("/llm-models/register", docsRegister("keep-me", { display_name: "Keeper" }));
    await first.call("/custom-llm/register", seedRegister("seeded"));
    await first.call("/llm-models/update", { model_group_name: "keep-me", is_uncensored: true });
    // The answer comes only after the write, so the file already holds the change.
    expect(await readFile(file, "utf8")).toContain('"is_uncensored": true');
    const before = first.sandbox.models();
    await first.sandbox.close();

    const text = await readFile(file, "utf8");
    expect(text).not.toContain(MODEL_KEY);
    expect(text).toContain(fingerprintOf(MODEL_KEY));
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    const second = await start({ file });
    expect(second.sandbox.models()).toEqual(before);
    expect(second.sandbox.keyFingerprint("keep-me")).toBe(fingerprintOf(MODEL_KEY));
    const dup = await second.call("/llm-models/register", docsRegister("other", { display_name: "keeper" }));
    expect(dup.status).toBe(409);
  });

  it("concurrent changes are all written", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const { call, sandbox } = await start({ file });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call("/llm-models/register", docsRegister(`g${String(i).padStart(2, "0")}`)),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    await sandbox.close();
    const reopened = createSandbox({ apiKey: KEY, file });
    expect(reopened.models()).toHaveLength(20);
    await reopened.close();
  });

  it("ignores a half-written temp file beside the state file", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const first = createSandbox({ apiKey: KEY, file });
    await first.seed([{ model_group_name: "real", model_name: "m", api_key: "k" }]);
    await first.close();
    await writeFile(`${file}.4242.abcdef.tmp`, '{"version":1,"models":[{"model_group_na');

    const second = await start({ file });
    expect(second.sandbox.models().map((m) => m.model_group_name)).toEqual(["real"]);
    expect((await second.call("/llm-models/register", docsRegister("next"))).status).toBe(200);
    expect(
      createSandbox({ apiKey: KEY, file })
        .models()
        .map((m) => m.model_group_name),
    ).toEqual(["next", "real"]);

    // A temp file alone (crash before the first rename) is not state either.
    const lonely = join(dir, "lonely.json");
    await writeFile(`${lonely}.1.aaaaaa.tmp`, '{"version":1,"models":[]}');
    expect(createSandbox({ apiKey: KEY, file: lonely }).models()).toEqual([]);
  });

  it.each([
    ["not JSON", "{not json"],
    ["the wrong shape", '{"version":1,"models":[{"model_group_name":"x"}]}'],
    ["empty", ""],
  ])("moves a corrupt state file (%s) aside, warns, and starts empty", async (_what, content) => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    await writeFile(file, content);
    const { logger, lines } = captureLogger();
    const { sandbox, call } = await start({ file, logger });
    expect(sandbox.models()).toEqual([]);
    const aside = (await readdir(dir)).filter((f) => f.startsWith("state.json.corrupt-"));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(dir, aside[0] ?? ""), "utf8")).toBe(content);
    const warning = lines.map((l) => z.object({ level: z.number(), msg: z.string() }).parse(JSON.parse(l)));
    expect(warning).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining("corrupt") }),
    );

    expect((await call("/llm-models/register", docsRegister("fresh"))).status).toBe(200);
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      version: 1,
      models: [{ model_group_name: "fresh" }],
    });
  });

  it("answers 500 and keeps nothing when the state cannot be written", async () => {
    const dir = await tempDir();
    const file = join(dir, "sub", "state.json");
    const { call, sandbox } = await start({ file });
    // The state's folder becomes a plain file, so every write fails.
    await writeFile(join(dir, "sub"), "in the way");
    const res = await call("/llm-models/register", docsRegister("g1"));
    expect(res.status).toBe(500);
    expect(res.json).toEqual(errorBody("Database error"));
    expect(sandbox.models()).toEqual([]);
  });

  it("seed and reset change the state and the file", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const { sandbox, call } = await start({ file });
    await sandbox.seed([
      { model_group_name: "b", model_name: "mb", api_key: "kb", display_name: "Bee", is_uncensored: true },
      { model_group_name: "a", model_name: "ma", api_key: "ka" },
    ]);
    expect(sandbox.models()).toMatchObject([
      { model_group_name: "a", display_name: "a", base_url: DEFAULT_BASE_URL, is_uncensored: false },
      { model_group_name: "b", display_name: "Bee", is_uncensored: true, category: "Private" },
    ]);
    expect(sandbox.keyFingerprint("b")).toBe(fingerprintOf("kb"));
    expect((await call("/llm-models/list")).json).toMatchObject({ count: 2 });
    await expect(
      sandbox.seed([{ model_group_name: "c", model_name: "m", api_key: "k", display_name: "BEE" }]),
    ).rejects.toThrow(/display name/);

    await sandbox.reset();
    expect(sandbox.models()).toEqual([]);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ version: 1, models: [] });
  });
});

describe("faults", () => {
  it("delay answers normally after the delay", async () => {
    const { call, sandbox } = await start();
    sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 250 } });
    const t0 = performance.now();
    const res = await call("/llm-models/register", docsRegister("slow"));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
    expect(res.status).toBe(200);
    expect(sandbox.models()).toHaveLength(1);
  });

  it("status 429 returns the Retry-After header and body verbatim and applies nothing", async () => {
    const { call, sandbox } = await start();
    const body = { status: "error", message: "Rate limit exceeded", transactionID: "tx-429" };
    sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 429, body, headers: { "Retry-After": "2" } },
    });
    const res = await call("/llm-models/register", docsRegister("g1"));
    expect(res.status).toBe(429);
    expect(res.headers["retry-after"]).toBe("2");
    expect(res.json).toEqual(body);
    expect(sandbox.models()).toEqual([]);
    expect((await call("/llm-models/register", docsRegister("g1"))).status).toBe(200);
  });

  it("status with a raw HTML body (a 502 from a proxy), and a default error body", async () => {
    const { call, sandbox } = await start();
    const html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 502, rawBody: html } });
    sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 500 } });
    const first = await call("/llm-models/list");
    expect(first.status).toBe(502);
    expect(first.headers["content-type"]).toMatch(/^text\/html/);
    expect(first.text).toBe(html);
    const second = await call("/llm-models/list");
    expect(second.status).toBe(500);
    expect(second.json).toEqual(errorBody("Internal Server Error"));
  });

  it("hang: the client times out, nothing is applied, and close() still resolves quickly", async () => {
    const { call, sandbox, url } = await start();
    sandbox.inject({ endpoint: "register", fault: { kind: "hang" } });
    await expect(
      call("/llm-models/register", docsRegister("g1"), { headersTimeout: 300 }),
    ).rejects.toMatchObject({
      code: "UND_ERR_HEADERS_TIMEOUT",
    });
    expect(sandbox.models()).toEqual([]);
    expect(sandbox.requests.at(-1)?.body).toEqual(docsRegister("g1"));

    // A client still waiting on a hung answer must not hold close() open.
    sandbox.inject({ fault: { kind: "hang" } });
    const waiting = new Pool(url);
    const pending = send(waiting, "/llm-models/list").then(
      () => "answered",
      () => "failed",
    );

    await expect.poll(() => sandbox.requests.length).toBe(2);
    const t0 = performance.now();
    await sandbox.close();
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(await pending).toBe("failed");
    await waiting.destroy();
  });

  it("reset destroys the socket, applies nothing, and the sandbox keeps serving", async () => {
    const { call, sandbox } = await start();
    sandbox.inject({ endpoint: "register", fault: { kind: "reset" } });
    const err: unknown = await call("/llm-models/register", docsRegister("g1")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/) });
    expect(sandbox.models()).toEqual([]);
    expect((await call("/llm-models/register", docsRegister("g1"))).status).toBe(200);
  });

  it("malformed answers 200 with a truncated body and applies nothing", async () => {
    const { call, sandbox } = await start();
    sandbox.inject({ endpoint: "register", fault: { kind: "malformed" } });
    const res = await call("/llm-models/register", docsRegister("g1"));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(() => JSON.parse(res.text)).toThrow();
    expect(sandbox.models()).toEqual([]);
  });

  it("apply-then-hang applies and persists the change but never answers", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const { call, sandbox } = await start({ file });
    sandbox.inject({ endpoint: "register", fault: { kind: "apply-then-hang" } });
    await expect(
      call("/llm-models/register", docsRegister("ghost"), { headersTimeout: 300 }),
    ).rejects.toMatchObject({
      code: "UND_ERR_HEADERS_TIMEOUT",
    });
    expect(sandbox.models().map((m) => m.model_group_name)).toEqual(["ghost"]);
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      models: [{ model_group_name: "ghost" }],
    });
    const list = await call("/llm-models/list");
    expect(list.json).toMatchObject({ count: 1, models: [{ model_group_name: "ghost" }] });
  });

  it("apply-then-reset applies the change and destroys the socket", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("g1"));
    sandbox.inject({ endpoint: "deregister", fault: { kind: "apply-then-reset" } });
    await expect(call("/llm-models/deregister", { model_group_name: "g1" })).rejects.toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/),
    });
    expect(sandbox.models()).toEqual([]);
  });

  it("counts times, matches endpoints, takes rules in injection order, and clears", async () => {
    const { call, sandbox } = await start();
    sandbox.inject({ endpoint: "list", times: 2, fault: { kind: "status", status: 503 } });
    sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 500 } });
    sandbox.inject({
      endpoint: "update",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 418 },
    });

    // A refused key never reaches the faults, so it uses none of them up.
    expect((await call("/llm-models/list", undefined, { key: "wrong" })).status).toBe(401);
    expect((await call("/llm-models/register", docsRegister("g1"))).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call("/custom-llm/list")).status);
    expect(statuses).toEqual([503, 503, 500, 200]);
    for (let i = 0; i < 3; i++) {
      expect((await call("/llm-models/update", { model_group_name: "g1", is_uncensored: true })).status).toBe(
        418,
      );
    }
    expect(sandbox.models()[0]?.is_uncensored).toBe(false);

    sandbox.clearFaults();
    expect((await call("/llm-models/update", { model_group_name: "g1", is_uncensored: true })).status).toBe(
      200,
    );
    sandbox.inject({ fault: { kind: "status", status: 500 } });
    expect((await call("/llm-models/deregister", { model_group_name: "g1" })).status).toBe(500);
    expect((await call("/llm-models/deregister", { model_group_name: "g1" })).status).toBe(200);
  });
});

describe("connections, records and logs", () => {
  it("counts TCP connections, not requests: keep-alive reuse is one connection", async () => {
    const { sandbox, url } = await start();
    const single = new Pool(url, { connections: 1 });
    cleanups.push(() => single.destroy());
    const before = sandbox.connectionCount;
    for (let i = 0; i < 20; i++) expect((await send(single, "/llm-models/list")).status).toBe(200);
    expect(sandbox.connectionCount - before).toBe(1);
    const other = new Pool(url, { connections: 1 });
    cleanups.push(() => other.destroy());
    await send(other, "/custom-llm/list");
    expect(sandbox.connectionCount - before).toBe(2);
  });

  it("records every request in order, including refused ones", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("g1"));
    await call("/custom-llm/list?x=1", undefined, { key: "wrong" });
    await call("/llm-models/update", undefined, { raw: "{oops" });
    expect(sandbox.requests).toHaveLength(3);
    const [first, second, third] = sandbox.requests;
    expect(first).toMatchObject({ method: "POST", path: "/llm-models/register", body: docsRegister("g1") });
    expect(first?.headers["convai-api-key"]).toBe(KEY);
    expect(first?.rawBody).toBe(JSON.stringify(docsRegister("g1")));
    expect(second).toMatchObject({ path: "/custom-llm/list?x=1", body: undefined, rawBody: "" });
    expect(third).toMatchObject({ path: "/llm-models/update", body: undefined, rawBody: "{oops" });
    expect(first?.at).toBeLessThanOrEqual(third?.at ?? 0);
  });

  it("keeps only maxRecordedRequests records when bounded", async () => {
    const { call, sandbox } = await start({ maxRecordedRequests: 3 });
    for (let i = 0; i < 5; i++) await call(`/llm-models/list?n=${i}`);
    expect(sandbox.requests.map((r) => r.path)).toEqual([
      "/llm-models/list?n=2",
      "/llm-models/list?n=3",
      "/llm-models/list?n=4",
    ]);
  });

  it("logs one debug line per request with method, path and status, and never a key or body", async () => {
    const { logger, lines } = captureLogger();
    const { call } = await start({ logger });
    await call("/llm-models/register", docsRegister("g1", { display_name: "Secret-ish Name" }));
    await call("/llm-models/list", undefined, { key: "wrong-key-value" });
    expect(lines).toHaveLength(2);
    const entries = lines.map((l) =>
      z
        .object({ level: z.number(), method: z.string(), path: z.string(), status: z.number() })
        .parse(JSON.parse(l)),
    );
    expect(entries).toMatchObject([
      { level: 20, method: "POST", path: "/llm-models/register", status: 200 },
      { level: 20, method: "POST", path: "/llm-models/list", status: 401 },
    ]);
    const all = lines.join("\n");
    for (const secret of [KEY, MODEL_KEY, "wrong-key-value", "Secret-ish Name"])
      expect(all).not.toContain(secret);
  });

  it("url throws until listening, listen twice fails, close without listen resolves", async () => {
    const sandbox: Sandbox = createSandbox({ apiKey: KEY });
    expect(() => sandbox.url).toThrow(/not listening/);
    await sandbox.close();
    const url = await sandbox.listen(0);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.url).toBe(url);
    await expect(sandbox.listen(0)).rejects.toThrow(/already listening/);
    const other = createSandbox({ apiKey: KEY });
    await expect(other.listen(Number(new URL(url).port))).rejects.toMatchObject({ code: "EADDRINUSE" });
    await other.close();
    await sandbox.close();
    expect(() => sandbox.url).toThrow(/not listening/);
    expect(() => createSandbox({ apiKey: "" })).toThrow(/apiKey/);
  });
});

describe("runSandboxServer", () => {
  it("with SANDBOX_PORT=0 prints the URL, a generated key and curl examples that work", async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    const { sandbox, url } = await runSandboxServer(
      { SANDBOX_PORT: "0", CONVAI_SANDBOX_FILE: join(dir, "s.json"), LOG_LEVEL: "silent" },
      (line) => lines.push(line),
    );
    const pool = new Pool(url);
    cleanups.push(async () => {
      await pool.destroy();
      await sandbox.close();
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const text = lines.join("\n");
    expect(text).toContain(url);
    const key = /CONVAI-API-KEY to use: (sandbox-[0-9a-f]{32})/.exec(text)?.[1];
    expect(key).toBeDefined();
    expect(text).toContain(`${url}/llm-models/register`);
    expect(text).toContain(`${url}/llm-models/list -H "CONVAI-API-KEY: ${key}"`);

    const res = await send(pool, "/llm-models/register", docsRegister("from-main"), { key: key ?? "" });
    expect(res.status).toBe(200);
    expect(JSON.parse(await readFile(join(dir, "s.json"), "utf8"))).toMatchObject({
      models: [{ model_group_name: "from-main" }],
    });
  });

  it("uses CONVAI_API_KEY without printing it, and rejects a bad SANDBOX_PORT", async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    const given = "operator-supplied-key-123";
    const { sandbox, url } = await runSandboxServer(
      {
        SANDBOX_PORT: "0",
        CONVAI_SANDBOX_FILE: join(dir, "s.json"),
        CONVAI_API_KEY: given,
        LOG_LEVEL: "silent",
      },
      (line) => lines.push(line),
    );
    const pool = new Pool(url);
    cleanups.push(async () => {
      await pool.destroy();
      await sandbox.close();
    });
    expect(lines.join("\n")).not.toContain(given);
    expect((await send(pool, "/llm-models/list", undefined, { key: given })).status).toBe(200);
    await expect(runSandboxServer({ SANDBOX_PORT: "abc" }, () => undefined)).rejects.toThrow(/SANDBOX_PORT/);
    await expect(runSandboxServer({ SANDBOX_PORT: "70000" }, () => undefined)).rejects.toThrow(
      /SANDBOX_PORT/,
    );
  });
});
