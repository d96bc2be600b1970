/** The state file: survives restarts, written atomically, a corrupt one moved aside, a failed write undone. */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSandbox } from "../../../src/convai/sandbox/index.js";
import { DEFAULT_BASE_URL } from "../../../src/convai/types.js";
import {
  captureLogger,
  docsRegister,
  errorBody,
  fingerprintOf,
  KEY,
  MODEL_KEY,
  runCleanups,
  seedRegister,
  start,
  tempDir,
} from "./harness.js";

afterEach(runCleanups);

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
