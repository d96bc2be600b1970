/** The character calls (SPEC §10) as the sandbox serves them over HTTP: answers, state file, demo account, faults. */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BUILT_IN_MODEL_CODES } from "../../../src/convai/built-in-models.js";
import { createSandbox } from "../../../src/convai/sandbox/index.js";
import { runSandboxServer } from "../../../src/convai/sandbox/main.js";
import { docsRegister, KEY, runCleanups, start, tempDir } from "./harness.js";

afterEach(runCleanups);

const people = [
  { character_id: "c-1", character_name: "Rafael", model: "gpt-4o", timestamp: "2023-11-07T02:57:59" },
  { character_id: "c-2", character_name: "Steven", model: "gpt-4o-mini", timestamp: "2024-12-19T10:30:42" },
];

describe("/character/list", () => {
  it("answers {characters: [...]} with the documented fields and the bulk of a real object", async () => {
    const { call, sandbox } = await start();
    const empty = await call("/character/list");
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ characters: [] });

    await sandbox.seedCharacters(people);
    const res = await call("/character/list");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      characters: [
        expect.objectContaining({
          character_name: "Rafael",
          character_id: "c-1",
          timestamp: "2023-11-07T02:57:59",
          collection_name: "convai_default_collection",
          personalised_prompt_config: expect.objectContaining({ MODEL: "gpt-4o", TEMPERATURE: 0.7 }),
          last_interacted_with: null,
        }),
        expect.objectContaining({
          character_id: "c-2",
          personalised_prompt_config: expect.objectContaining({ MODEL: "gpt-4o-mini" }),
        }),
      ],
    });
    // A body is not needed, and one given is ignored.
    expect((await call("/character/list", {})).json).toEqual(res.json);
  });

  it("lives at /character/... whatever the model prefix: never under /llm-models or /custom-llm", async () => {
    const { call } = await start();
    for (const path of [
      "/llm-models/character/list",
      "/custom-llm/character/update",
      "/character",
      "/character/",
    ]) {
      expect((await call(path, {})).status).toBe(404);
    }
  });

  it("answers a missing key 400 and a wrong one 401, in Convai's bodies for these calls", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    for (const path of ["/character/list", "/character/update"]) {
      const none = await call(path, { charID: "c-1", model_group_name: "gpt-4.1" }, { key: null });
      expect(none.status).toBe(400);
      expect(none.json).toEqual({ ERROR: "Missing CONVAI-API-KEY header." });
      const wrong = await call(path, { charID: "c-1", model_group_name: "gpt-4.1" }, { key: "wrong" });
      expect(wrong.status).toBe(401);
      expect(wrong.json).toEqual({ API_ERROR: "Invalid API key provided." });
    }
    expect(sandbox.characters()[0]?.model).toBe("gpt-4o");
    const get = await call("/character/list", undefined, { method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
  });
});

describe("/character/update", () => {
  it("puts a character on a built-in model or on a registered custom LLM, and answers STATUS SUCCESS", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    await call("/llm-models/register", docsRegister("acme-llm"));

    const builtIn = await call("/character/update", { charID: "c-1", model_group_name: "claude-4-sonnet" });
    expect(builtIn.status).toBe(200);
    expect(builtIn.json).toEqual({ STATUS: "SUCCESS" });
    const custom = await call("/character/update", { charID: "c-2", model_group_name: "acme-llm" });
    expect(custom.json).toEqual({ STATUS: "SUCCESS" });
    expect(sandbox.characters().map((c) => [c.character_id, c.model])).toEqual([
      ["c-1", "claude-4-sonnet"],
      ["c-2", "acme-llm"],
    ]);
    const listed = await call("/character/list");
    expect(JSON.stringify(listed.json)).toContain('"MODEL":"acme-llm"');
  });

  it.each([
    [{ model_group_name: "gpt-4.1" }, 400, "charID is required."],
    [{ charID: "  ", model_group_name: "gpt-4.1" }, 400, "charID is required."],
    [{ charID: "c-1" }, 400, "model_group_name is required."],
    [{ charID: "c-1", model_group_name: 7 }, 400, "model_group_name is required."],
    [{ charID: "nobody", model_group_name: "gpt-4.1" }, 404, "Character 'nobody' not found."],
    [{ charID: "c-1", model_group_name: "not-a-model" }, 400, "Unknown model 'not-a-model'."],
  ])("refuses %j with %i {ERROR} and changes nothing", async (body, status, message) => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    const res = await call("/character/update", body);
    expect(res.status).toBe(status);
    expect(res.json).toEqual({ ERROR: message });
    expect(sandbox.characters().map((c) => c.model)).toEqual(["gpt-4o", "gpt-4o-mini"]);
  });

  it("malformed JSON gets 400 and changes nothing", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    expect((await call("/character/update", undefined, { raw: '{"charID":' })).status).toBe(400);
    expect(sandbox.characters()[0]?.model).toBe("gpt-4o");
  });
});

describe("state file", () => {
  it("keeps characters beside the models and reads a file written before characters existed", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    await writeFile(file, '{"version":1,"models":[]}');
    const first = await start({ file });
    expect(first.sandbox.characters()).toEqual([]);
    await first.sandbox.seedCharacters(people);
    await first.call("/character/update", { charID: "c-2", model_group_name: "gemini-2.5-flash" });
    await first.sandbox.close();
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      version: 1,
      characters: [{ character_id: "c-1" }, { character_id: "c-2", model: "gemini-2.5-flash" }],
    });

    const second = await start({ file });
    expect(second.sandbox.characters()).toEqual([people[0], { ...people[1], model: "gemini-2.5-flash" }]);
    await second.sandbox.reset();
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ version: 1, models: [] });
  });

  it("answers 500 {ERROR} and keeps the old model when the state cannot be written", async () => {
    const dir = await tempDir();
    const file = join(dir, "sub", "state.json");
    const { call, sandbox } = await start({ file });
    await sandbox.seedCharacters(people);
    // The state's folder becomes a plain file, so every write fails.
    await rm(join(dir, "sub"), { recursive: true });
    await writeFile(join(dir, "sub"), "in the way");
    const res = await call("/character/update", { charID: "c-1", model_group_name: "gpt-4.1" });
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ ERROR: "Internal server error." });
    expect(sandbox.characters()[0]?.model).toBe("gpt-4o");
  });
});

describe("demo account", () => {
  it("a fresh sandbox with demo has a custom LLM with characters on it and characters on built-in models", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const demo = createSandbox({ apiKey: KEY, file, demo: true });
    const [model] = demo.models();
    expect(demo.models()).toHaveLength(1);
    const group = model?.model_group_name ?? "";
    const characters = demo.characters();
    const onCustom = characters.filter((c) => c.model === group);
    const onBuiltIn = characters.filter((c) => BUILT_IN_MODEL_CODES.some((code) => code === c.model));
    expect(onCustom.length).toBeGreaterThanOrEqual(2);
    expect(new Set(onBuiltIn.map((c) => c.model))).toEqual(
      new Set(["gpt-4o-mini", "claude-4-sonnet", "gemini-2.5-flash"]),
    );
    expect(onCustom.length + onBuiltIn.length).toBe(characters.length);
    await demo.close();
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      models: [{ model_group_name: group }],
      characters: expect.arrayContaining([expect.objectContaining({ model: group })]),
    });

    // A sandbox whose file exists keeps what is in it, even when the user removed the demo.
    const again = createSandbox({ apiKey: KEY, file, demo: true });
    await again.reset();
    await again.close();
    const later = createSandbox({ apiKey: KEY, file, demo: true });
    expect(later.models()).toEqual([]);
    expect(later.characters()).toEqual([]);
    await later.close();
    // Tests start empty: demo is off by default.
    expect(createSandbox({ apiKey: KEY }).characters()).toEqual([]);
  });

  it("npm run sandbox serves the demo characters unless CONVAI_SANDBOX_DEMO is false", async () => {
    const dir = await tempDir();
    const on = await runSandboxServer(
      {
        SANDBOX_PORT: "0",
        CONVAI_SANDBOX_FILE: join(dir, "on.json"),
        CONVAI_API_KEY: KEY,
        LOG_LEVEL: "silent",
      },
      () => undefined,
    );
    const off = await runSandboxServer(
      {
        SANDBOX_PORT: "0",
        CONVAI_SANDBOX_DEMO: "false",
        CONVAI_SANDBOX_FILE: join(dir, "off.json"),
        CONVAI_API_KEY: KEY,
        LOG_LEVEL: "silent",
      },
      () => undefined,
    );
    try {
      const list = async (url: string) => {
        const res = await fetch(`${url}/character/list`, {
          method: "POST",
          headers: { "CONVAI-API-KEY": KEY },
        });
        const body: unknown = await res.json();
        return body;
      };
      expect(await list(on.url)).toMatchObject({ characters: expect.arrayContaining([expect.anything()]) });
      expect(await list(off.url)).toEqual({ characters: [] });
      await expect(runSandboxServer({ CONVAI_SANDBOX_DEMO: "maybe" }, () => undefined)).rejects.toThrow(
        /CONVAI_SANDBOX_DEMO/,
      );
    } finally {
      await on.sandbox.close();
      await off.sandbox.close();
    }
  });
});

describe("faults on the character calls", () => {
  it("after: 2 fails the 3rd /character/update only; other endpoints do not count", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    sandbox.inject({ endpoint: "character-update", after: 2, fault: { kind: "status", status: 500 } });
    const statuses: number[] = [];
    for (const model of ["gpt-4.1", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano"]) {
      expect((await call("/character/list")).status).toBe(200);
      statuses.push((await call("/character/update", { charID: "c-1", model_group_name: model })).status);
    }
    expect(statuses).toEqual([200, 200, 500, 200]);
    // A status fault without a body answers in these calls' own error style.
    sandbox.inject({ endpoint: "character-list", fault: { kind: "status", status: 503 } });
    expect((await call("/character/list")).json).toEqual({ ERROR: "Service Unavailable" });
    expect(sandbox.characters()[0]?.model).toBe("gpt-4.1-nano");
    expect(() => sandbox.inject({ after: -1, fault: { kind: "hang" } })).toThrow(/after/);
  });

  it("hang and reset apply nothing; apply-then-hang and apply-then-reset apply", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    const move = (model: string, headersTimeout?: number) =>
      call(
        "/character/update",
        { charID: "c-1", model_group_name: model },
        headersTimeout ? { headersTimeout } : {},
      ).catch((e: unknown) => e);

    sandbox.inject({ endpoint: "character-update", fault: { kind: "hang" } });
    expect(await move("gpt-4.1", 300)).toMatchObject({ code: "UND_ERR_HEADERS_TIMEOUT" });
    sandbox.inject({ endpoint: "character-update", fault: { kind: "reset" } });
    expect(await move("gpt-4.1")).toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/),
    });
    expect(sandbox.characters()[0]?.model).toBe("gpt-4o");

    sandbox.inject({ endpoint: "character-update", fault: { kind: "apply-then-hang" } });
    expect(await move("gpt-4.1", 300)).toMatchObject({ code: "UND_ERR_HEADERS_TIMEOUT" });
    expect(sandbox.characters()[0]?.model).toBe("gpt-4.1");
    sandbox.inject({ endpoint: "character-update", fault: { kind: "apply-then-reset" } });
    expect(await move("claude-4-sonnet")).toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/),
    });
    expect(sandbox.characters()[0]?.model).toBe("claude-4-sonnet");
  });

  it("429 with Retry-After and malformed on /character/list and /character/update", async () => {
    const { call, sandbox } = await start();
    await sandbox.seedCharacters(people);
    sandbox.inject({
      endpoint: "character-list",
      fault: {
        kind: "status",
        status: 429,
        body: { ERROR: "Rate limit exceeded" },
        headers: { "Retry-After": "1" },
      },
    });
    const limited = await call("/character/list");
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("1");
    expect(limited.json).toEqual({ ERROR: "Rate limit exceeded" });

    sandbox.inject({ endpoint: "character-list", fault: { kind: "malformed" } });
    sandbox.inject({ endpoint: "character-update", fault: { kind: "malformed" } });
    const list = await call("/character/list");
    expect(list.status).toBe(200);
    expect(() => JSON.parse(list.text)).toThrow();
    const update = await call("/character/update", { charID: "c-1", model_group_name: "gpt-4.1" });
    expect(() => JSON.parse(update.text)).toThrow();
    expect(sandbox.characters()[0]?.model).toBe("gpt-4o");
    expect((await call("/character/list")).json).toMatchObject({ characters: [{}, {}] });
  });
});
