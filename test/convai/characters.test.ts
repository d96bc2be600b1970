/**
 * ConvaiClient.listCharacters and setCharacterModel (SPEC §10) against the sandbox over real HTTP: what
 * reaches Convai, what is read from its answers (and what is ignored), and the typed failures.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createConvaiClient } from "../../src/convai/client.js";
import { createSandbox, type Fault, type Sandbox } from "../../src/convai/sandbox/index.js";
import {
  API_PREFIXES,
  type ApiPrefix,
  type ConvaiClient,
  type ConvaiFailure,
  type ConvaiResult,
  type FailureKind,
} from "../../src/convai/types.js";
import { createLogger } from "../../src/logger.js";

const KEY = "convai-KEY-chars-41d7-TESTONLY";
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const people = [
  { character_id: "c-1", character_name: "Rafael", model: "gpt-4o", timestamp: "2023-11-07T02:57:59" },
  { character_id: "c-2", character_name: "Steven", model: "acme-llm", timestamp: "2024-12-19T10:30:42" },
  {
    character_id: "c-3",
    character_name: "Noor",
    model: "gemini-2.5-flash",
    timestamp: "2025-01-02T03:04:05",
  },
];

interface Harness {
  sandbox: Sandbox;
  client: ConvaiClient;
  logs: string[];
  /** Requests that reached the sandbox at exactly this path. */
  sent(path: string): Sandbox["requests"];
}

async function start(prefix: ApiPrefix = "/llm-models", basePath = "", timeoutMs = 3000): Promise<Harness> {
  const sandbox = createSandbox({ apiKey: KEY, record: true });
  const url = await sandbox.listen();
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (line: string) => logs.push(line) } });
  const client = createConvaiClient({
    baseUrl: `${url}${basePath}`,
    prefix,
    apiKey: KEY,
    timeoutMs,
    logger,
    backoffMs: 10,
  });
  cleanups.push(async () => {
    await client.close();
    await sandbox.close();
  });
  await sandbox.seedCharacters(people);
  return { sandbox, client, logs, sent: (path) => sandbox.requests.filter((r) => r.path === path) };
}

function failure<T>(result: ConvaiResult<T>, kind: FailureKind): ConvaiFailure {
  if (result.ok) throw new Error(`expected a ${kind} failure, got success`);
  expect(result.kind).toBe(kind);
  return result;
}

/** The sandbox answers the next list with this 200 body instead of its own. */
function answerList(h: Harness, body: unknown, times = 1): void {
  h.sandbox.inject({ endpoint: "character-list", times, fault: { kind: "status", status: 200, body } });
}

describe.each(API_PREFIXES)("with the %s prefix", (prefix) => {
  it("listCharacters posts /character/list with the key and no body, and reads the four fields", async () => {
    const h = await start(prefix);
    const result = await h.client.listCharacters();
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(result.ok && result.data).toStrictEqual(
      people.map((p) => ({
        character_id: p.character_id,
        character_name: p.character_name,
        model: p.model,
        timestamp: p.timestamp,
      })),
    );
    // Not under the model prefix.
    expect(h.sandbox.requests.map((r) => r.path)).toEqual(["/character/list"]);
    const [request] = h.sandbox.requests;
    expect(request?.method).toBe("POST");
    expect(request?.headers["convai-api-key"]).toBe(KEY);
    expect(request?.rawBody).toBe("");
  });

  it("setCharacterModel posts {charID, model_group_name} to /character/update and reads STATUS SUCCESS", async () => {
    const h = await start(prefix);
    const result = await h.client.setCharacterModel("c-1", "claude-4-sonnet");
    expect(result).toEqual({ ok: true, status: 200, data: { status: "SUCCESS" } });
    const [request] = h.sent("/character/update");
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toMatch(/^application\/json/);
    expect(request?.headers["convai-api-key"]).toBe(KEY);
    expect(request?.body).toStrictEqual({ charID: "c-1", model_group_name: "claude-4-sonnet" });
    expect(h.sandbox.requests).toHaveLength(1);
    expect(h.sandbox.characters()[0]?.model).toBe("claude-4-sonnet");
  });
});

describe("base URL with a path", () => {
  it("keeps it in front of /character/... (the sandbox, serving at its root, answers 404)", async () => {
    const h = await start("/custom-llm", "/gateway");
    expect(failure(await h.client.listCharacters(), "not_found").status).toBe(404);
    expect(failure(await h.client.setCharacterModel("c-1", "gpt-4.1"), "not_found").status).toBe(404);
    expect(h.sandbox.requests.map((r) => r.path)).toEqual([
      "/gateway/character/list",
      "/gateway/character/update",
    ]);
  });
});

describe("listCharacters parsing", () => {
  it("absent, null and wrong-typed fields are undefined; every other field is ignored", async () => {
    const h = await start();
    answerList(h, {
      characters: [
        { character_id: "bare" },
        {
          character_id: "nulls",
          character_name: null,
          timestamp: null,
          personalised_prompt_config: null,
        },
        {
          character_id: "no-model",
          character_name: "N",
          personalised_prompt_config: { MODEL: null, PROMPT: "" },
        },
        {
          character_id: 42,
          character_name: 7,
          timestamp: { at: 1 },
          personalised_prompt_config: { MODEL: ["gpt-4o"] },
        },
        { character_id: "odd-config", personalised_prompt_config: "gpt-4o" },
        {
          character_id: "full",
          character_name: "Full",
          personalised_prompt_config: { MODEL: "gpt-4.1", TEMPERATURE: 0.2, extra: { deep: [1, 2] } },
          avatar: { url: "https://x.example/a.png", parts: Array.from({ length: 50 }, (_, i) => i) },
          traits: ["kind"],
          api_key: "should-not-matter",
        },
      ],
      next_page: null,
    });
    const result = await h.client.listCharacters();
    if (!result.ok) throw new Error(result.message);
    expect(result.data).toStrictEqual([
      { character_id: "bare", character_name: undefined, model: undefined, timestamp: undefined },
      { character_id: "nulls", character_name: undefined, model: undefined, timestamp: undefined },
      { character_id: "no-model", character_name: "N", model: undefined, timestamp: undefined },
      { character_id: "42", character_name: undefined, model: undefined, timestamp: undefined },
      { character_id: "odd-config", character_name: undefined, model: undefined, timestamp: undefined },
      { character_id: "full", character_name: "Full", model: "gpt-4.1", timestamp: undefined },
    ]);
  });

  it("entries without a usable character_id are left out and logged once, not fatal", async () => {
    const h = await start();
    answerList(h, {
      characters: [{ character_name: "ghost" }, { character_id: "" }, null, "x", { character_id: "ok" }],
    });
    const result = await h.client.listCharacters();
    expect(result.ok && result.data.map((c) => c.character_id)).toEqual(["ok"]);
    const warnings = h.logs.filter((l) => l.includes("without a character_id"));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] ?? "{}")).toMatchObject({ skipped: 4, kept: 1 });
  });

  it("a bare array and an empty list are read", async () => {
    const h = await start();
    answerList(h, [{ character_id: "a", character_name: "A" }]);
    expect(await h.client.listCharacters()).toMatchObject({
      ok: true,
      data: [{ character_id: "a", character_name: "A" }],
    });
    answerList(h, { characters: [] });
    expect(await h.client.listCharacters()).toMatchObject({ ok: true, data: [] });
  });

  it.each([
    ["no characters field", { status: "success" }],
    ["characters: null", { characters: null }],
    ["characters as an object", { characters: { a: 1 } }],
    ["a string", "characters"],
  ])("%s is malformed, retried like list, then reported", async (_what, body) => {
    const h = await start();
    answerList(h, body, 3);
    const f = failure(await h.client.listCharacters(), "malformed");
    expect(f.ambiguous).toBe(false);
    expect(h.sent("/character/list")).toHaveLength(3);
  });

  it("a list over the model calls' 4 MiB cap (1,500 characters of ~3 KB) is read", async () => {
    const h = await start();
    const big = Array.from({ length: 1500 }, (_, i) => ({
      character_id: `id-${i}`,
      character_name: `Name ${i}`,
      personalised_prompt_config: { MODEL: "gpt-4o-mini" },
      backstory: "x".repeat(3000),
    }));
    answerList(h, { characters: big });
    const result = await h.client.listCharacters();
    expect(result.ok && result.data.length).toBe(1500);
  });
});

describe("error bodies and statuses", () => {
  it("401 {API_ERROR} for a wrong key is unauthorized with Convai's words", async () => {
    const h = await start();
    const wrong = createConvaiClient({
      baseUrl: h.sandbox.url,
      prefix: "/llm-models",
      apiKey: "convai-WRONG-TESTONLY",
      timeoutMs: 2000,
      logger: createLogger({ level: "silent" }),
    });
    cleanups.push(() => wrong.close());
    const expected = { status: 401, message: "Invalid API key provided.", ambiguous: false };
    expect(failure(await wrong.listCharacters(), "unauthorized")).toMatchObject(expected);
    expect(failure(await wrong.setCharacterModel("c-1", "gpt-4.1"), "unauthorized")).toMatchObject(expected);
    expect(h.sandbox.characters()[0]?.model).toBe("gpt-4o");
  });

  it("{ERROR} bodies: 400, 404 and an unknown model from the sandbox itself, never ambiguous", async () => {
    const h = await start();
    expect(failure(await h.client.setCharacterModel("nobody", "gpt-4.1"), "not_found")).toMatchObject({
      status: 404,
      message: "Character 'nobody' not found.",
      ambiguous: false,
    });
    expect(failure(await h.client.setCharacterModel("c-1", "no-such-llm"), "invalid")).toMatchObject({
      status: 400,
      message: "Unknown model 'no-such-llm'.",
      ambiguous: false,
    });
    expect(failure(await h.client.setCharacterModel("", "gpt-4.1"), "invalid").message).toBe(
      "charID is required.",
    );
    expect(h.sent("/character/update")).toHaveLength(3);
  });

  it.each<[string, Fault, FailureKind, boolean]>([
    ["500 {ERROR}", { kind: "status", status: 500, body: { ERROR: "Database down" } }, "server", true],
    [
      "200 {ERROR}",
      { kind: "status", status: 200, body: { ERROR: "Character not found" } },
      "not_found",
      false,
    ],
    [
      "200 {API_ERROR}",
      { kind: "status", status: 200, body: { API_ERROR: "Invalid API key provided." } },
      "unauthorized",
      false,
    ],
    ["400 {ERROR}", { kind: "status", status: 400, body: { ERROR: "Bad request" } }, "invalid", false],
    ["200 STATUS FAILED", { kind: "status", status: 200, body: { STATUS: "FAILED" } }, "malformed", true],
    ["malformed", { kind: "malformed" }, "malformed", true],
    ["hang", { kind: "hang" }, "timeout", true],
    ["reset", { kind: "reset" }, "network", true],
    ["apply-then-hang", { kind: "apply-then-hang" }, "timeout", true],
    ["apply-then-reset", { kind: "apply-then-reset" }, "network", true],
  ])("update answered %s: %s, ambiguous %s, sent exactly once", async (_what, fault, kind, ambiguous) => {
    const h = await start("/llm-models", "", 800);
    h.sandbox.inject({ endpoint: "character-update", fault });
    const f = failure(await h.client.setCharacterModel("c-1", "gpt-4.1"), kind);
    expect(f.ambiguous).toBe(ambiguous);
    expect(h.sent("/character/update")).toHaveLength(1);
    // After an ambiguous failure the truth is in a re-read.
    const applied = fault.kind === "apply-then-hang" || fault.kind === "apply-then-reset";
    const reread = await h.client.listCharacters();
    expect(reread.ok && reread.data[0]?.model).toBe(applied ? "gpt-4.1" : "gpt-4o");
  });

  it("update: 429 with Retry-After is waited out and sent again (a 429 applied nothing), as for models", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "character-update",
      fault: {
        kind: "status",
        status: 429,
        body: { ERROR: "Too many requests" },
        headers: { "Retry-After": "0.1" },
      },
    });
    expect(await h.client.setCharacterModel("c-2", "gpt-4.1")).toMatchObject({ ok: true });
    expect(h.sent("/character/update")).toHaveLength(2);
    h.sandbox.inject({
      endpoint: "character-update",
      fault: {
        kind: "status",
        status: 429,
        body: { ERROR: "Too many requests" },
        headers: { "Retry-After": "60" },
      },
    });
    expect(failure(await h.client.setCharacterModel("c-2", "gpt-4o"), "rate_limited")).toMatchObject({
      retryAfterMs: 60_000,
      ambiguous: false,
    });
  });

  it("list: a 500, a reset and a malformed answer are retried; 400 and 401 are not", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "character-list",
      fault: { kind: "status", status: 500, body: { ERROR: "x" } },
    });
    h.sandbox.inject({ endpoint: "character-list", fault: { kind: "reset" } });
    h.sandbox.inject({ endpoint: "character-list", fault: { kind: "malformed" } });
    expect(await h.client.listCharacters()).toMatchObject({ ok: false, kind: "malformed" });
    expect(await h.client.listCharacters()).toMatchObject({ ok: true });
    expect(h.sent("/character/list")).toHaveLength(4);

    h.sandbox.inject({
      endpoint: "character-list",
      fault: { kind: "status", status: 400, body: { ERROR: "no key" } },
    });
    expect(failure(await h.client.listCharacters(), "invalid").message).toBe("no key");
    expect(h.sent("/character/list")).toHaveLength(5);
  });

  it("a hung list ends at the deadline as a timeout", async () => {
    const h = await start("/llm-models", "", 500);
    h.sandbox.inject({ endpoint: "character-list", fault: { kind: "hang" } });
    const f = failure(await h.client.listCharacters(), "timeout");
    expect(f.ambiguous).toBe(false);
  });

  it("the Convai key echoed in an error body never reaches the message or a log line", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "character-update",
      fault: { kind: "status", status: 400, body: { ERROR: `bad key ${KEY} for c-1` } },
    });
    const f = failure(await h.client.setCharacterModel("c-1", "gpt-4.1"), "invalid");
    expect(f.message).toBe("bad key [redacted] for c-1");
    expect(h.logs.join("\n")).not.toContain(KEY);
  });
});
