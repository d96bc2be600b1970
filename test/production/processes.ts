/**
 * Child processes for the production tests: the bot started as an operator starts it (`npm start`, or
 * node on the bundle), its output kept, its port read from its start-up log line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILLs the whole process group (npm, its shell and node) if it is still running. */
  kill(): Promise<void>;
}

/**
 * Starts `command args` in `cwd` with only the given environment (plus PATH and HOME, which npm needs),
 * in its own process group so npm's children go with it.
 */
export function start(command: string, args: string[], cwd: string, env: Record<string, string>): Running {
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
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
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      await exited;
    },
  };
}

/** Waits for the `"port":N` of the bot's start-up log line. */
export async function waitForPort(r: Running, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /"port":(\d+)/.exec(r.output());
    if (match?.[1]) return Number(match[1]);
    if (r.child.exitCode !== null) throw new Error(`the bot exited early:\n${r.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the bot did not start within ${timeoutMs} ms:\n${r.output()}`);
}

export async function healthStatus(port: number): Promise<number> {
  try {
    const res = await request(`http://127.0.0.1:${port}/healthz`, {
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

/**
 * The pid of the process in `r`'s process group whose command line contains `marker`. npm does not wait
 * for its script on SIGTERM (it exits 143 at once and leaves the script running), so signals go to the
 * node process itself, as a supervisor running `node scripts/start.mjs` would send them.
 */
export function pidInGroup(r: Running, marker: string): number {
  const group = r.child.pid;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the parenthesised command: state, ppid, pgrp.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      // node itself, not npm (node running npm-cli.js) nor the shell npm runs the script with.
      const isNode = path.basename(argv[0] ?? "") === "node" && !argv.some((a) => a.includes("npm"));
      if (pgrp === group && isNode && argv.some((a) => a.includes(marker))) return Number(entry);
    } catch {
      // The process ended while being read.
    }
  }
  throw new Error(`no process running ${marker} in the group of pid ${group}`);
}

/** A TCP port free on 127.0.0.1 right now, for a child process that must be told its port up front. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}
