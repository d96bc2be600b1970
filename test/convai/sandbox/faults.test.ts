/** Every fault the sandbox can inject, seen from a real HTTP client. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Pool } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { docsRegister, errorBody, runCleanups, send, start, tempDir } from "./harness.js";

afterEach(runCleanups);

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
