import { randomBytes } from "node:crypto";
import { LOG_LEVELS, type LogLevel } from "../../config.js";
import { createLogger } from "../../logger.js";
import { createSandbox, type Sandbox } from "./index.js";

const DEFAULT_PORT = 4010;
const DEFAULT_FILE = ".convai-sandbox.json";

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_PORT;
  const port = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || port > 65_535) {
    throw new Error("SANDBOX_PORT must be a whole number between 0 and 65535");
  }
  return port;
}

/** CONVAI_SANDBOX_DEMO, read as the bot's config reads it: on unless switched off; fills only a fresh file. */
function parseDemo(value: string | undefined): boolean {
  const text = value?.trim().toLowerCase() ?? "";
  if (["", "1", "true", "yes"].includes(text)) return true;
  if (["0", "false", "no"].includes(text)) return false;
  throw new Error("CONVAI_SANDBOX_DEMO must be true or false");
}

function isLogLevel(value: string | undefined): value is LogLevel {
  return LOG_LEVELS.some((level) => level === value);
}

/**
 * Starts the Convai sandbox as a server of its own (SPEC §7, §9) on 127.0.0.1. Takes the environment as
 * a parameter and prints through `log`, so the caller owns process.env and the process's lifetime.
 */
export async function runSandboxServer(
  env: Readonly<Record<string, string | undefined>>,
  log: (line: string) => void,
): Promise<{ sandbox: Sandbox; url: string; apiKey: string }> {
  const port = parsePort(env.SANDBOX_PORT);
  const demo = parseDemo(env.CONVAI_SANDBOX_DEMO);
  const file = env.CONVAI_SANDBOX_FILE?.trim() || DEFAULT_FILE;
  const givenKey = env.CONVAI_API_KEY?.trim() || undefined;
  const apiKey = givenKey ?? `sandbox-${randomBytes(16).toString("hex")}`;
  const level = env.LOG_LEVEL?.trim();
  const sandbox = createSandbox({
    apiKey,
    file,
    logger: createLogger({ level: isLogLevel(level) ? level : "info" }),
    demo,
  });
  const url = await sandbox.listen(port, "127.0.0.1");

  // A key the operator supplied may be a real one, so only a key generated here is printed.
  const keyShown = givenKey === undefined ? apiKey : "$CONVAI_API_KEY";
  log(`Convai sandbox listening on ${url} (state in ${file})`);
  log(
    givenKey === undefined
      ? `CONVAI-API-KEY to use: ${apiKey}`
      : "CONVAI-API-KEY to use: the value of CONVAI_API_KEY",
  );
  log(
    `Register: curl -s -X POST ${url}/llm-models/register -H "CONVAI-API-KEY: ${keyShown}" ` +
      `-H 'Content-Type: application/json' -d '{"model_group_name":"my-turbo","model_name":"gpt-4o-mini",` +
      `"api_key":"sk-example","is_uncensored":false}'`,
  );
  log(`List:     curl -s -X POST ${url}/llm-models/list -H "CONVAI-API-KEY: ${keyShown}"`);
  log(`The seed's form is served too: replace /llm-models with /custom-llm.`);
  log(`Characters: curl -s -X POST ${url}/character/list -H "CONVAI-API-KEY: ${keyShown}"`);
  return { sandbox, url, apiKey };
}
