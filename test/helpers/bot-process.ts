/**
 * The real entry point (src/app.ts) as a child process, from source through tsx, with only the environment
 * a test gives it. Optional preloads (`--import`) run before it, e.g. process-faults.ts. Spawning, output
 * capture and the port read are the production tests' own helpers (test/production/processes.ts).
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { waitForPort as portOf, ROOT, type Running, start } from "../production/processes.js";

export { ROOT };
export type BotProcess = Running;

// An absolute loader URL, so the bot can run from any working folder.
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

export function runBot(env: Record<string, string>, preloads: string[] = []): BotProcess {
  const imports = preloads.flatMap((file) => ["--import", pathToFileURL(file).href]);
  return start(process.execPath, ["--import", TSX, ...imports, join(ROOT, "src/app.ts")], ROOT, env);
}

/** The port the bot logged once serving. */
export function waitForPort(bot: BotProcess, timeoutMs = 15_000): Promise<number> {
  return portOf(bot, timeoutMs);
}
