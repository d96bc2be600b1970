/**
 * The real entry point (src/app.ts) as a child process, from source through tsx, with only the environment
 * a test gives it. Optional preloads (`--import`) run before it, e.g. process-faults.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const ROOT = join(import.meta.dirname, "..", "..");
// An absolute loader URL, so the bot can run from any working folder.
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

export interface BotProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** SIGKILLs it if it still runs (for afterEach). */
  kill(): Promise<void>;
}

export function runBot(env: Record<string, string>, preloads: string[] = []): BotProcess {
  const imports = preloads.flatMap((file) => ["--import", pathToFileURL(file).href]);
  const child = spawn(process.execPath, ["--import", TSX, ...imports, join(ROOT, "src/app.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** The port the bot logged once serving. */
export async function waitForPort(bot: BotProcess, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /"port":(\d+)/.exec(bot.output());
    if (match?.[1]) return Number(match[1]);
    if (bot.child.exitCode !== null) throw new Error(`bot exited early:\n${bot.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`bot did not start:\n${bot.output()}`);
}
