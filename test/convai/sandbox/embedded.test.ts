/** The bot's embedded sandbox (what src/app.ts starts in sandbox mode). */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startEmbeddedSandbox } from "../../../src/convai/sandbox/embedded.js";
import type { RecordedRequest, Sandbox } from "../../../src/convai/sandbox/index.js";
import { createLogger } from "../../../src/logger.js";

const MODEL_KEY = "sk-embedded-SECRET-7a1f";
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the sandbox still holds about past requests; [] when it does not record. */
function kept(sandbox: Sandbox): RecordedRequest[] {
  try {
    return sandbox.requests;
  } catch {
    return [];
  }
}

describe("startEmbeddedSandbox", () => {
  // Regression (issue 16 item 9): it kept every request, headers and raw body with the model keys, forever.
  it("serves the calls and keeps nothing of them: no headers, no bodies, no keys", async () => {
    const dir = await mkdtemp(join(tmpdir(), "convai-embedded-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "state.json");
    const { convai, sandbox } = await startEmbeddedSandbox({
      prefix: "/llm-models",
      timeoutMs: 2000,
      file,
      demo: true,
      logger: createLogger({ level: "silent" }),
    });
    cleanups.push(() => convai.close());
    // The bot's default (CONVAI_SANDBOX_DEMO unset): a fresh sandbox shows the demo characters.
    const demo = await convai.listCharacters();
    expect(demo.ok && demo.data.length).toBeGreaterThan(0);

    const registered = await convai.register({
      model_group_name: "embedded",
      model_name: "gpt-4o-mini",
      api_key: MODEL_KEY,
      is_uncensored: false,
    });
    expect(registered.ok).toBe(true);
    for (let i = 0; i < 50; i++) expect((await convai.list()).ok).toBe(true);
    expect((await convai.update({ model_group_name: "embedded", api_key: `${MODEL_KEY}-2` })).ok).toBe(true);

    expect(sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-support-llm", "embedded"]);
    expect(kept(sandbox)).toEqual([]);
    expect(() => sandbox.requests).toThrow(/record: true/);
    expect(await readFile(file, "utf8")).not.toContain(MODEL_KEY);
  });

  it("with demo off a fresh sandbox is empty", async () => {
    const dir = await mkdtemp(join(tmpdir(), "convai-embedded-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { convai } = await startEmbeddedSandbox({
      prefix: "/custom-llm",
      timeoutMs: 2000,
      file: join(dir, "state.json"),
      demo: false,
      logger: createLogger({ level: "silent" }),
    });
    cleanups.push(() => convai.close());
    expect(await convai.list()).toMatchObject({ ok: true, data: [] });
    expect(await convai.listCharacters()).toMatchObject({ ok: true, data: [] });
  });
});
