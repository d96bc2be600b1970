/** The sandbox over HTTP: key check, routing, body cap, connections, the request record and the log lines. */
import { Readable } from "node:stream";
import { Pool } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSandbox, type Sandbox } from "../../../src/convai/sandbox/index.js";
import { API_PREFIXES } from "../../../src/convai/types.js";
import {
  captureLogger,
  cleanups,
  docsRegister,
  errorBody,
  KEY,
  MODEL_KEY,
  rawExchange,
  runCleanups,
  seedRegister,
  send,
  start,
  UUID,
} from "./harness.js";

afterEach(runCleanups);

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

describe("recording is opt-in", () => {
  it("a sandbox created without record keeps no request, even with maxRecordedRequests", async () => {
    // start() turns recording on; `record: undefined` gives createSandbox's own default.
    for (const options of [
      { record: undefined },
      { record: undefined, maxRecordedRequests: 200 },
      { record: false },
    ]) {
      const { call, sandbox } = await start(options);
      expect((await call("/llm-models/register", docsRegister("g1"))).status).toBe(200);
      expect((await call("/llm-models/list")).status).toBe(200);
      expect(() => sandbox.requests).toThrow(/not recorded; create it with record: true/);
      expect(sandbox.models().map((m) => m.model_group_name)).toEqual(["g1"]);
    }
  });
});
