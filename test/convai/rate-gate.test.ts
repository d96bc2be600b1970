/**
 * The shared 429 window (SPEC §12) through the real client against the sandbox over HTTP: a 429 that
 * one call gets holds back every other call of the same client, and is logged once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createConvaiClient } from "../../src/convai/client.js";
import { createSandbox, type Sandbox } from "../../src/convai/sandbox/index.js";
import type { ConvaiClient } from "../../src/convai/types.js";
import { createLogger } from "../../src/logger.js";

const KEY = "convai-KEY-rategate-TESTONLY";
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(timeoutMs: number): Promise<{ sandbox: Sandbox; client: ConvaiClient; logs: string[] }> {
  const sandbox = createSandbox({ apiKey: KEY, record: true });
  const url = await sandbox.listen(0, "127.0.0.1");
  const logs: string[] = [];
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => void logs.push(line) },
  });
  const client = createConvaiClient({ baseUrl: url, prefix: "/llm-models", apiKey: KEY, timeoutMs, logger });
  cleanups.push(
    () => sandbox.close(),
    () => client.close(),
  );
  return { sandbox, client, logs };
}

const lists = (sandbox: Sandbox) => sandbox.requests.filter((r) => r.path.endsWith("/list")).length;
const windowLines = (logs: string[]) =>
  logs.filter((l) => l.includes("Convai is rate limiting the bot")).length;

describe("shared back-off after a 429", () => {
  it("holds every caller until Retry-After, sends nothing meanwhile, and logs the window once", async () => {
    const { sandbox, client, logs } = await start(10_000);
    sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 429, headers: { "Retry-After": "0.6" } },
    });
    const first = client.list();
    await new Promise((r) => setTimeout(r, 150)); // the 429 has come back; the window is open
    expect(lists(sandbox)).toBe(1);
    const others = Array.from({ length: 5 }, () => client.list());
    await new Promise((r) => setTimeout(r, 150));
    // Still inside the window: none of the five was sent.
    expect(lists(sandbox)).toBe(1);
    const results = await Promise.all([first, ...others]);
    expect(results.every((r) => r.ok)).toBe(true);
    // The first call's retry plus the five, each sent once after the window.
    expect(lists(sandbox)).toBe(7);
    expect(windowLines(logs)).toBe(1);
  });

  it("a call whose deadline ends inside the window fails fast with the rate-limit failure, unsent", async () => {
    const { sandbox, client } = await start(800);
    sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 429, headers: { "Retry-After": "30" } },
    });
    const first = await client.list();
    expect(first.ok ? "ok" : first.kind).toBe("rate_limited");
    const second = await client.list();
    expect(second.ok ? "ok" : second.kind).toBe("rate_limited");
    expect(second.ok ? undefined : second.ambiguous).toBe(false);
    // A mutation is held back the same way and never reaches Convai.
    const change = await client.deregister("any-group");
    expect(change.ok ? "ok" : change.kind).toBe("rate_limited");
    expect(sandbox.requests.map((r) => r.path)).toEqual(["/llm-models/list"]);
  });
});
