/** The standalone sandbox server (npm run sandbox). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Pool } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { runSandboxServer } from "../../../src/convai/sandbox/main.js";
import { cleanups, docsRegister, runCleanups, send, tempDir } from "./harness.js";

afterEach(runCleanups);

describe("runSandboxServer", () => {
  it("with SANDBOX_PORT=0 prints the URL, a generated key and curl examples that work", async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    const { sandbox, url } = await runSandboxServer(
      {
        SANDBOX_PORT: "0",
        CONVAI_SANDBOX_DEMO: "false",
        CONVAI_SANDBOX_FILE: join(dir, "s.json"),
        LOG_LEVEL: "silent",
      },
      (line) => lines.push(line),
    );
    const pool = new Pool(url);
    cleanups.push(async () => {
      await pool.destroy();
      await sandbox.close();
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // A standalone sandbox may run for days: it keeps no request (headers and bodies carry keys).
    expect(() => sandbox.requests).toThrow(/not recorded/);
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
