/**
 * The apps under test as child processes: compiled to JavaScript first (the bot bundled as `npm run build`
 * ships it), each in its own process so its CPU time and memory are its own, reporting them over IPC.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import ts from "typescript";
import { Agent, request } from "undici";
import { z } from "zod";
import { DEFAULTS } from "../test/helpers/slack-requests.js";
import { freePort } from "../test/production/processes.js";
import { type AppKind, COMMAND, type Infra, MANAGER } from "./infra.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_ENTRY: Record<AppKind, string> = {
  bot: "bench/bot.ts",
  baseline: "bench/baseline.ts",
};
/**
 * Where the children run from: compiled JavaScript, as production runs `node dist/app.mjs`, so neither
 * start-up time nor memory carries a TypeScript loader. Inside node_modules so bare imports resolve.
 */
export const BUILD_ROOT = path.join(ROOT, "node_modules", ".cache", "convai-bench");

/**
 * Compiles what the children load (src/ and the child entry points) file by file with TypeScript's
 * transpiler and the project's compiler options: the same JavaScript `tsc` emits, without the type check
 * (`npm run typecheck` does that). Returns each child's entry file.
 */
export function buildChildren(buildDir: string): Record<AppKind, string> {
  const configFile = path.join(ROOT, "tsconfig.json");
  const read = ts.readConfigFile(configFile, (file) => ts.sys.readFile(file));
  if (read.error) throw new Error(`bench: cannot read tsconfig.json: ${flatten(read.error.messageText)}`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT);
  const compilerOptions: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: false,
    // What tsc emits for this "type": "module" package under NodeNext; transpileModule alone cannot see
    // package.json, so it is told.
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: false,
    declaration: false,
  };
  const sources = [
    ...readdirSync(path.join(ROOT, "src"), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
      .map((file) => path.join("src", file)),
    "bench/child-ipc.ts",
    SOURCE_ENTRY.bot,
    SOURCE_ENTRY.baseline,
  ];
  for (const file of sources) {
    const out = ts.transpileModule(readFileSync(path.join(ROOT, file), "utf8"), {
      compilerOptions,
      fileName: path.join(ROOT, file),
      reportDiagnostics: true,
    });
    const problem = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
    if (problem) throw new Error(`bench: cannot compile ${file}: ${flatten(problem.messageText)}`);
    const target = path.join(buildDir, file.replace(/\.ts$/, ".js"));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, out.outputText);
  }
  // Inside node_modules a file's package scope stops there; say that these are ES modules.
  // Its start script is how the start-up row starts the baseline through `npm start`.
  writeFileSync(
    path.join(buildDir, "package.json"),
    '{ "type": "module", "private": true, "scripts": { "start": "node bench/baseline.js" } }\n',
  );
  // The bot runs bundled, as `npm run build` ships it (dist/app.mjs): the same esbuild options, the same
  // packages left external. The baseline is a bare Bolt app and runs as plain modules.
  const botBundle = path.join(buildDir, "bench", "bot-bundle.mjs");
  buildSync({
    entryPoints: [path.join(ROOT, SOURCE_ENTRY.bot)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: botBundle,
    external: ["@slack/*", "undici", "pino", "pino-pretty"],
    logLevel: "warning",
  });
  return {
    bot: botBundle,
    baseline: path.join(buildDir, SOURCE_ENTRY.baseline.replace(/\.ts$/, ".js")),
  };
}

function flatten(message: string | ts.DiagnosticMessageChain): string {
  return ts.flattenDiagnosticMessageText(message, "\n");
}
const HEALTH_DEADLINE_MS = 30_000;

const statsSchema = z.object({
  type: z.literal("stats"),
  id: z.number(),
  cpuUserUs: z.number(),
  cpuSystemUs: z.number(),
  rss: z.number(),
  heapUsed: z.number(),
  heapTotal: z.number(),
  maxRssKb: z.number(),
});
export type Stats = z.infer<typeof statsSchema>;

export interface Child {
  kind: AppKind;
  /** POST target for signed Slack requests. */
  url: string;
  startupMs: number;
  /** auth.test calls between spawn and /healthz 200. */
  authTestsAtStartup: number;
  /** auth.test count of this app's fake Slack when this child became healthy. */
  authTestsWhenHealthy: number;
  stats(gc?: boolean): Promise<Stats>;
  /** Lines the child wrote to stdout (its log) so far. */
  readonly stdoutLines: number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

export const buildDirs = new Set<string>();

/** Last resort: a driver that exits for any reason takes its children and compiled files with it. */
export function killAllNow(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
  for (const dir of buildDirs) rmSync(dir, { recursive: true, force: true });
  buildDirs.clear();
}
process.once("exit", killAllNow);

function exited(proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function childEnv(kind: AppKind, infra: Infra, port: number, secret: string): Record<string, string> {
  const common = {
    SLACK_BOT_TOKEN: "xoxb-bench-bot-token",
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: infra.fake.apiUrl,
    PORT: String(port),
    CONVAI_API_KEY: infra.convaiKey,
    CONVAI_API_URL: infra.convaiUrl,
  };
  if (kind === "bot") {
    return {
      ...common,
      CONVAI_API_PREFIX: "/llm-models",
      CONVAI_MANAGERS: MANAGER,
      // As in production.
      LOG_LEVEL: "info",
      ...infra.extraEnv,
    };
  }
  return {
    ...common,
    BENCH_BOT_ID: DEFAULTS.botId,
    BENCH_BOT_USER_ID: DEFAULTS.botUserId,
    BENCH_COMMAND: COMMAND,
  };
}

export async function launch(
  entry: string,
  kind: AppKind,
  infra: Infra,
  secret: string,
  cpuProfDir?: string,
): Promise<Child> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const authBefore = infra.authTests;
  // Only what a child needs: never the developer's own tokens or LOG_LEVEL.
  const env: Record<string, string> = {
    NODE_ENV: "production",
    BENCH_ENV: JSON.stringify(childEnv(kind, infra, port, secret)),
  };
  for (const name of ["PATH", "HOME", "TMPDIR", "SystemRoot"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const started = performance.now();
  const proc = fork(entry, [], {
    cwd: ROOT,
    execArgv: [
      "--expose-gc",
      ...(cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${path.join(cpuProfDir, kind)}`] : []),
    ],
    env,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  live.add(proc);
  proc.once("exit", () => live.delete(proc));

  const tail: string[] = [];
  const remember = (text: string) => {
    for (const line of text.split("\n")) if (line.trim() !== "") tail.push(line.slice(0, 500));
    if (tail.length > 30) tail.splice(0, tail.length - 30);
  };
  let stdoutLines = 0;
  proc.stdout?.setEncoding("utf8");
  proc.stdout?.on("data", (chunk: string) => {
    for (const c of chunk) if (c === "\n") stdoutLines += 1;
    remember(chunk);
  });
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", remember);

  const waiting = new Map<number, (stats: Stats) => void>();
  proc.on("message", (message: unknown) => {
    const parsed = statsSchema.safeParse(message);
    if (!parsed.success) return;
    waiting.get(parsed.data.id)?.(parsed.data);
    waiting.delete(parsed.data.id);
  });
  let statsSeq = 0;

  const broken = (what: string) =>
    new Error(`${kind}: ${what}; its last output:\n${tail.map((l) => `  ${l}`).join("\n") || "  (none)"}`);

  try {
    await pollHealthy(base, () => proc.exitCode !== null || proc.signalCode !== null, broken);
  } catch (error) {
    proc.kill("SIGKILL");
    throw error;
  }
  const startupMs = performance.now() - started;

  return {
    kind,
    url: `${base}/slack/events`,
    startupMs,
    authTestsAtStartup: infra.authTests - authBefore,
    authTestsWhenHealthy: infra.authTests,
    get stdoutLines() {
      return stdoutLines;
    },
    stats(gc = false) {
      statsSeq += 1;
      const id = statsSeq;
      return new Promise<Stats>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(broken("did not answer a stats request within 5 s"));
        }, 5000);
        waiting.set(id, (stats) => {
          clearTimeout(timer);
          resolve(stats);
        });
        proc.send({ type: "stats", id, gc }, (error) => {
          if (error) {
            clearTimeout(timer);
            waiting.delete(id);
            reject(broken(`stats request failed (${error.message})`));
          }
        });
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (proc.connected) proc.send({ type: "stop" }, () => undefined);
      if (!(await exited(proc, 5000))) {
        proc.kill("SIGKILL");
        await exited(proc, 2000);
      }
    },
  };
}

/** Polls `base`/healthz every 5 ms until it answers 200; throws when the app exits or the deadline passes. */
async function pollHealthy(
  base: string,
  gone: () => boolean,
  broken: (what: string) => Error,
): Promise<void> {
  const poll = new Agent({ connections: 1, keepAliveTimeout: 1000 });
  try {
    const deadline = Date.now() + HEALTH_DEADLINE_MS;
    for (;;) {
      if (gone()) throw broken("exited before serving /healthz");
      if (Date.now() > deadline) throw broken(`not healthy within ${HEALTH_DEADLINE_MS} ms`);
      const status = await request(`${base}/healthz`, {
        dispatcher: poll,
        headersTimeout: 1000,
        bodyTimeout: 1000,
      }).then(
        async (res) => {
          await res.body.dump();
          return res.statusCode;
        },
        () => 0,
      );
      if (status === 200) break;
      await sleep(5);
    }
  } finally {
    await poll.close();
  }
}

/** Process groups started through npm; killed with the driver like `live`. */
const groups = new Set<number>();
process.once("exit", () => {
  for (const pgid of groups) signalGroup(pgid, "SIGKILL");
});

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `npm start` runs for the start-up row (SPEC §11). The bot: a folder whose package.json and
 * scripts/ link to the project's, so npm runs the project's own start script (the real root, its dist/
 * and node_modules, since node resolves the script's links) without reading a developer's .env from the
 * project folder. The baseline: the compiled children's folder, its start script `node bench/baseline.js`.
 */
export function npmStartDirs(buildDir: string): Record<AppKind, string> {
  const bot = path.join(buildDir, "npm-bot");
  mkdirSync(bot, { recursive: true });
  symlinkSync(path.join(ROOT, "package.json"), path.join(bot, "package.json"));
  symlinkSync(path.join(ROOT, "scripts"), path.join(bot, "scripts"), "dir");
  return { bot, baseline: buildDir };
}

/**
 * Starts an app with `npm start` in `dir` and returns the time from spawn to /healthz 200, then stops
 * the whole process group (npm exits at once on SIGTERM and leaves its script running otherwise).
 */
export async function startThroughNpm(
  kind: AppKind,
  dir: string,
  infra: Infra,
  secret: string,
): Promise<number> {
  const port = await freePort();
  const appEnv = childEnv(kind, infra, port, secret);
  // The bot reads its settings from the environment as in production; the baseline from BENCH_ENV.
  const env: Record<string, string> =
    kind === "bot"
      ? { NODE_ENV: "production", ...appEnv }
      : { NODE_ENV: "production", BENCH_ENV: JSON.stringify(appEnv) };
  for (const name of ["PATH", "HOME", "TMPDIR", "SystemRoot"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const tail: string[] = [];
  const started = performance.now();
  const proc = spawn("npm", ["start"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const pgid = proc.pid;
  if (pgid === undefined) throw new Error(`${kind}: npm start could not be spawned`);
  groups.add(pgid);
  for (const stream of [proc.stdout, proc.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") tail.push(line.slice(0, 500));
      if (tail.length > 30) tail.splice(0, tail.length - 30);
    });
  }
  const broken = (what: string) =>
    new Error(
      `${kind} (npm start): ${what}; its last output:\n${tail.map((l) => `  ${l}`).join("\n") || "  (none)"}`,
    );
  try {
    await pollHealthy(
      `http://127.0.0.1:${port}`,
      () => proc.exitCode !== null || proc.signalCode !== null,
      broken,
    );
    return performance.now() - started;
  } finally {
    signalGroup(pgid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (signalGroup(pgid, 0) && Date.now() < deadline) await sleep(20);
    signalGroup(pgid, "SIGKILL");
    groups.delete(pgid);
  }
}
