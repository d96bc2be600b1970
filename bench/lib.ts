/**
 * The bench driver: SPEC §8 measured against a bare Bolt baseline in the same run.
 *
 * Processes: this one (load generator, plus one fake Slack and one Convai sandbox per app, all on
 * 127.0.0.1), the bot (bench/bot-process.ts) and the baseline (bench/baseline-process.ts), each in its own
 * child so its CPU time and memory are its own; the children report them over IPC.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import ts from "typescript";
import { Agent, request } from "undici";
import { z } from "zod";
import { createSandbox, type Sandbox } from "../src/convai/sandbox.js";
import { type FakeSlack, startFakeSlack } from "../test/helpers/fake-slack.js";
import { commandPayload, DEFAULTS, signedHeaders } from "../test/helpers/slack-requests.js";

export type AppKind = "bot" | "baseline";
const KINDS: readonly AppKind[] = ["bot", "baseline"];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_ENTRY: Record<AppKind, string> = {
  bot: "bench/bot-process.ts",
  baseline: "bench/baseline-process.ts",
};
/**
 * Where the children run from: compiled JavaScript, as production runs `node dist/app.mjs`, so neither
 * start-up time nor memory carries a TypeScript loader. Inside node_modules so bare imports resolve.
 */
const BUILD_ROOT = path.join(ROOT, "node_modules", ".cache", "convai-bench");

/**
 * Compiles what the children load (src/ and the child entry points) file by file with TypeScript's
 * transpiler and the project's compiler options: the same JavaScript `tsc` emits, without the type check
 * (`npm run typecheck` does that). Returns each child's entry file.
 */
function buildChildren(buildDir: string): Record<AppKind, string> {
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
  writeFileSync(path.join(buildDir, "package.json"), '{ "type": "module", "private": true }\n');
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

const COMMAND = "/convai-llm";
/** In CONVAI_MANAGERS, so `update` opens the modal; list commands come from DEFAULTS.userId. */
const MANAGER = "U0BENCHMGR";
const SEED_GROUP = "bench-model-1";
const HEALTH_DEADLINE_MS = 30_000;
const ACK_TIMEOUT_MS = 10_000;
const REPLY_TIMEOUT_MS = 10_000;
/** More failures than this in one round means the bench is broken, not slow. */
const MAX_FAILED_PER_ROUND = 20;
/**
 * "A handful, not one per call": at most this many connections, or 1 per 100 calls on a long run (a pool
 * reopens the connections that idled past its keep-alive timeout).
 */
const CONNECTIONS_HANDFUL = 16;

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

export interface BenchOptions {
  /** Commands per measured round. */
  requests: number;
  /** Unmeasured commands per app before the first round. */
  warmup: number;
  concurrency: number[];
  /** Measured rounds per app per concurrency; the order alternates bot/baseline each time. */
  repeats: number;
  /** Measured start-ups per app. */
  startRuns: number;
  /** One unmeasured spawn per app first, so the measured ones find warm module and disk caches. */
  startWarmup: boolean;
  /** `update` commands timed to views.open. */
  viewsSamples: number;
  /** How long the sandbox holds its list answer during the views.open measurement. */
  convaiDelayMs: number;
  /** Models seeded into each sandbox (what `list` returns). */
  models: number;
  /** Extra rounds at the highest concurrency with every Convai list answer delayed this long; 0 skips them. */
  remoteLatencyMs: number;
  /** When set, each child writes a V8 CPU profile here on exit (node --cpu-prof), to find hot spots. */
  cpuProfDir?: string;
  /** Where progress lines go (stderr from the CLI), so stdout carries only the report. */
  progress?: (line: string) => void;
}

const positiveInt = (fallback: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(1).max(max).default(fallback),
  );

const envSchema = z.object({
  BENCH_REQUESTS: positiveInt(600, 1_000_000),
  BENCH_WARMUP: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(0).max(1_000_000).optional(),
  ),
  BENCH_CONCURRENCY: z
    .string()
    .regex(/^\d+(,\d+)*$/, { message: "must be a comma-separated list such as 1,10,50" })
    .default("1,10,50")
    .transform((s) => s.split(",").map(Number))
    .refine((list) => list.every((n) => n >= 1 && n <= 500), { message: "each must be 1..500" }),
  BENCH_REPEATS: positiveInt(7, 100),
  BENCH_START_RUNS: positiveInt(5, 50),
  BENCH_START_WARMUP: z.enum(["0", "1"]).default("1"),
  BENCH_VIEWS_SAMPLES: positiveInt(5, 100),
  BENCH_CONVAI_DELAY_MS: positiveInt(2500, 60_000),
  BENCH_MODELS: positiveInt(5, 40),
  BENCH_REMOTE_LATENCY_MS: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(0).max(10_000).default(50),
  ),
  BENCH_CPU_PROF: z.string().trim().min(1).optional(),
});

/** Reads BENCH_* from an environment; anything unset gets the default used for the README figures. */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): BenchOptions {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      parsed.error.issues.map((i) => `${String(i.path[0] ?? "BENCH")} ${i.message}`).join("; "),
    );
  }
  const e = parsed.data;
  return {
    requests: e.BENCH_REQUESTS,
    // The JIT keeps improving for the first thousand or so commands; measure after that.
    warmup: e.BENCH_WARMUP ?? 1000,
    concurrency: e.BENCH_CONCURRENCY,
    repeats: e.BENCH_REPEATS,
    startRuns: e.BENCH_START_RUNS,
    startWarmup: e.BENCH_START_WARMUP === "1",
    viewsSamples: e.BENCH_VIEWS_SAMPLES,
    convaiDelayMs: e.BENCH_CONVAI_DELAY_MS,
    models: e.BENCH_MODELS,
    remoteLatencyMs: e.BENCH_REMOTE_LATENCY_MS,
    ...(e.BENCH_CPU_PROF ? { cpuProfDir: path.resolve(e.BENCH_CPU_PROF) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Fake Slack + Convai sandbox, one pair per app
// ---------------------------------------------------------------------------------------------------------

interface Infra {
  kind: AppKind;
  fake: FakeSlack;
  sandbox: Sandbox;
  convaiUrl: string;
  convaiKey: string;
  /** auth.test calls over the whole run (the fake's own record is cleared between rounds). */
  authTests: number;
  /** response_url ids awaited: resolved true when a reply that lists the seeded models arrives. */
  pending: Map<string, (ok: boolean) => void>;
  /** Commands sent to this app (all kinds, warm-up included). */
  commands: number;
}

async function startInfra(kind: AppKind, models: number): Promise<Infra> {
  const fake = await startFakeSlack();
  const convaiKey = `bench-${randomBytes(12).toString("hex")}`;
  // Memory only, and a bounded request record: the run sends thousands of calls.
  const sandbox = createSandbox({ apiKey: convaiKey, maxRecordedRequests: 200 });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");
  await sandbox.seed(
    Array.from({ length: models }, (_, i) => ({
      model_group_name: `bench-model-${i + 1}`,
      model_name: `gpt-4o-mini-${i + 1}`,
      display_name: `Bench model ${i + 1}`,
      base_url: "https://api.openai.com/v1",
      api_key: `sk-bench-${i + 1}`,
    })),
  );
  const infra: Infra = {
    kind,
    fake,
    sandbox,
    convaiUrl,
    convaiKey,
    authTests: 0,
    pending: new Map(),
    commands: 0,
  };
  arm(infra);
  return infra;
}

/** (Re)installs the fake's handlers; FakeSlack.reset() clears them. */
function arm(infra: Infra): void {
  infra.fake.on("auth.test", () => {
    infra.authTests += 1;
    return undefined;
  });
  infra.fake.onResponse((post) => {
    const done = infra.pending.get(post.id);
    if (done) {
      infra.pending.delete(post.id);
      const text = post.body.text;
      done(typeof text === "string" && text.includes(SEED_GROUP));
    }
    return undefined;
  });
}

/** Drops the fake's records (they grow with every call) but keeps its counters. */
function clearRecords(infra: Infra): void {
  infra.fake.reset();
  arm(infra);
}

function expectReply(infra: Infra, id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      infra.pending.delete(id);
      resolve(false);
    }, REPLY_TIMEOUT_MS);
    infra.pending.set(id, (ok) => {
      clearTimeout(timer);
      resolve(ok);
    });
  });
}

function cancelReply(infra: Infra, id: string): void {
  infra.pending.get(id)?.(false);
  infra.pending.delete(id);
}

// ---------------------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------------------

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
type Stats = z.infer<typeof statsSchema>;

interface Child {
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

const buildDirs = new Set<string>();

/** Last resort: a driver that exits for any reason takes its children and compiled files with it. */
function killAllNow(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
  for (const dir of buildDirs) rmSync(dir, { recursive: true, force: true });
  buildDirs.clear();
}
process.once("exit", killAllNow);

function freePort(): Promise<number> {
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
    };
  }
  return {
    ...common,
    BENCH_BOT_ID: DEFAULTS.botId,
    BENCH_BOT_USER_ID: DEFAULTS.botUserId,
    BENCH_COMMAND: COMMAND,
  };
}

async function launch(
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

  const poll = new Agent({ connections: 1, keepAliveTimeout: 1000 });
  try {
    const deadline = Date.now() + HEALTH_DEADLINE_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw broken("exited before serving /healthz");
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
  } catch (error) {
    proc.kill("SIGKILL");
    throw error;
  } finally {
    await poll.close();
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

// ---------------------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------------------

interface SignedCommand {
  body: string;
  headers: Record<string, string>;
}

/** A slash command body as Slack posts it, signed; built before the clock starts. */
function signedCommand(
  secret: string,
  fields: { text: string; userId?: string; responseUrl: string; triggerId?: string },
): SignedCommand {
  const body = new URLSearchParams(
    commandPayload({
      text: fields.text,
      responseUrl: fields.responseUrl,
      command: COMMAND,
      ...(fields.userId ? { userId: fields.userId } : {}),
      ...(fields.triggerId ? { triggerId: fields.triggerId } : {}),
    }),
  ).toString();
  // signedHeaders sends Content-Type: application/x-www-form-urlencoded, exactly as Slack does.
  return { body, headers: signedHeaders(body, { secret }) };
}

/** POSTs the command; resolves with the HTTP status once the ack's body is read, 0 on a transport error. */
async function post(agent: Agent, url: string, command: SignedCommand): Promise<number> {
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: "POST",
      headers: command.headers,
      body: command.body,
      headersTimeout: ACK_TIMEOUT_MS,
      bodyTimeout: ACK_TIMEOUT_MS,
    });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

interface Round {
  commands: number;
  failed: number;
  /** Ack latency of each successful command, ms. */
  latencies: number[];
  /** First send to last reply, ms. */
  elapsedMs: number;
  cpuMs: number;
  logLines: number;
}

let roundSeq = 0;

/** `total` signed `list` commands with `concurrency` in flight; a command is in flight until its reply lands. */
async function runRound(
  agent: Agent,
  child: Child,
  infra: Infra,
  secret: string,
  concurrency: number,
  total: number,
): Promise<Round> {
  roundSeq += 1;
  const label = `${child.kind}-${roundSeq}`;
  const before = await child.stats();
  const linesBefore = child.stdoutLines;
  const latencies: number[] = [];
  let issued = 0;
  let failed = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < total) {
      if (failed > MAX_FAILED_PER_ROUND) {
        throw new Error(`${child.kind}: more than ${MAX_FAILED_PER_ROUND} commands failed in one round`);
      }
      const id = `${label}-${issued}`;
      issued += 1;
      infra.commands += 1;
      const command = signedCommand(secret, { text: "list", responseUrl: infra.fake.responseUrl(id) });
      const replied = expectReply(infra, id);
      const sent = performance.now();
      const status = await post(agent, child.url, command);
      if (status !== 200) {
        cancelReply(infra, id);
        failed += 1;
        continue;
      }
      latencies.push(performance.now() - sent);
      if (!(await replied)) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const elapsedMs = performance.now() - started;
  // Let the last reply's own response finish on the child before reading its CPU time.
  await sleep(30);
  const after = await child.stats();
  clearRecords(infra);
  return {
    commands: total,
    failed,
    latencies,
    elapsedMs,
    cpuMs: (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000,
    logLines: child.stdoutLines - linesBefore,
  };
}

interface ViewsResult {
  /** Command sent → views.open arrived at the fake Slack, ms, one per sample. */
  openMs: number[];
  /** Command sent → views.update (the form filled with Convai's data), ms. */
  filledMs: number[];
}

/** `update <group>` with the sandbox holding its list answer: views.open must not wait for Convai. */
async function measureViewsOpen(
  agent: Agent,
  child: Child,
  infra: Infra,
  secret: string,
  samples: number,
  delayMs: number,
): Promise<ViewsResult> {
  clearRecords(infra);
  infra.sandbox.inject({ endpoint: "list", times: samples, fault: { kind: "delay", ms: delayMs } });
  const openMs: number[] = [];
  const sentAt: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const trigger = `bench.${Date.now()}.${i}.${randomBytes(6).toString("hex")}`;
      const opened = infra.fake.waitFor("views.open", (c) => c.args.trigger_id === trigger, delayMs + 5000);
      const command = signedCommand(secret, {
        text: `update ${SEED_GROUP}`,
        userId: MANAGER,
        responseUrl: infra.fake.responseUrl(`views-${i}`),
        triggerId: trigger,
      });
      const sent = Date.now();
      sentAt.push(sent);
      infra.commands += 1;
      const status = await post(agent, child.url, command);
      if (status !== 200) throw new Error(`${child.kind}: update command answered HTTP ${status}`);
      const call = await opened;
      openMs.push(call.at - sent);
      await sleep(50);
    }
    // Every form is filled once Convai answers, about delayMs after its command.
    const deadline = Date.now() + delayMs + 5000;
    while (infra.fake.callsTo("views.update").length < samples && Date.now() < deadline) await sleep(20);
    const updates = infra.fake
      .callsTo("views.update")
      .map((c) => c.at)
      .sort((a, b) => a - b);
    const filledMs = sentAt.flatMap((sent, i) => {
      const at = updates[i];
      return at === undefined ? [] : [at - sent];
    });
    return { openMs, filledMs };
  } finally {
    infra.sandbox.clearFaults();
    clearRecords(infra);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Statistics and the table
// ---------------------------------------------------------------------------------------------------------

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export type Verdict = "met" | "missed" | "info";

export interface Row {
  metric: string;
  bot: string;
  baseline: string;
  ratio: string;
  target: string;
  result: Verdict;
}

type Target =
  | { kind: "ratio-min"; x: number }
  | { kind: "ratio-max"; x: number }
  | { kind: "bot-max"; x: number; unit: string }
  | { kind: "bot-eq"; x: number }
  | { kind: "info"; note?: string };

const fmt = (n: number, digits: number) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a";

function row(metric: string, bot: number, baseline: number | undefined, digits: number, target: Target): Row {
  const ratio = baseline !== undefined && baseline > 0 ? bot / baseline : Number.NaN;
  let result: Verdict = "info";
  let targetText = target.kind === "info" ? (target.note ?? "—") : "";
  switch (target.kind) {
    case "ratio-min":
      targetText = `≥ ${target.x}x baseline`;
      result = ratio >= target.x ? "met" : "missed";
      break;
    case "ratio-max":
      targetText = `≤ ${target.x}x baseline`;
      result = ratio <= target.x ? "met" : "missed";
      break;
    case "bot-max":
      targetText = `≤ ${target.x}${target.unit}`;
      result = bot <= target.x ? "met" : "missed";
      break;
    case "bot-eq":
      targetText = `${target.x}`;
      result = bot === target.x ? "met" : "missed";
      break;
    case "info":
      break;
  }
  return {
    metric,
    bot: fmt(bot, digits),
    baseline: baseline === undefined ? "—" : fmt(baseline, digits),
    ratio: Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "—",
    target: targetText,
    result,
  };
}

export function formatTable(rows: readonly Row[]): string {
  const header: Row = {
    metric: "metric",
    bot: "bot",
    baseline: "baseline",
    ratio: "ratio",
    target: "SPEC §8 target",
    result: "info",
  };
  const cells = (r: Row, isHeader: boolean) => [
    r.metric,
    r.bot,
    r.baseline,
    r.ratio,
    r.target,
    isHeader ? "met/missed" : r.result === "info" ? "(info)" : r.result,
  ];
  const all = [cells(header, true), ...rows.map((r) => cells(r, false))];
  const widths = all[0]?.map((_, i) => Math.max(...all.map((c) => (c[i] ?? "").length))) ?? [];
  const line = (c: string[]) =>
    `| ${c.map((cell, i) => (i === 0 || i === 4 || i === 5 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 || i === 4 || i === 5 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  const [head, ...body] = all;
  return [line(head ?? []), rule, ...body.map(line)].join("\n");
}

export function machineLines(now = new Date()): string[] {
  const cpus = os.cpus();
  return [
    `Machine: ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`,
    `Node ${process.version}, @slack/bolt ${boltVersion()}`,
    `Date: ${now.toISOString()}`,
  ];
}

function boltVersion(): string {
  // Read through zod so a malformed package.json is reported, not cast.
  try {
    const text = readFileSync(path.join(ROOT, "node_modules", "@slack", "bolt", "package.json"), "utf8");
    return z.object({ version: z.string() }).parse(JSON.parse(text)).version;
  } catch {
    return "unknown";
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

export interface BenchResult {
  rows: Row[];
  table: string;
  /** Everything to print: machine, settings, the table. */
  report: string;
  authTestsAfterStartup: Record<AppKind, number>;
  durationMs: number;
}

interface PerApp {
  startupMs: number[];
  idleRss: number[];
  idleHeap: number[];
  rounds: Map<number, Round[]>;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const runStarted = performance.now();
  // One directory per run, so two runs (a smoke test beside `npm run bench`) never share files.
  const buildDir = path.join(BUILD_ROOT, `${process.pid}-${randomBytes(4).toString("hex")}`);
  const loadAtStart = os.loadavg()[0] ?? 0;
  const say = options.progress ?? (() => undefined);
  const secret = randomBytes(24).toString("hex");
  const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const infras = new Map<AppKind, Infra>();
  const children = new Map<AppKind, Child>();
  const spare = new Set<Child>();
  const per: Record<AppKind, PerApp> = {
    bot: { startupMs: [], idleRss: [], idleHeap: [], rounds: new Map() },
    baseline: { startupMs: [], idleRss: [], idleHeap: [], rounds: new Map() },
  };
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`bench: ${what} missing`);
    return value;
  };
  try {
    say("compiling the children (src/ and bench/*-process.ts) to JavaScript");
    buildDirs.add(buildDir);
    const entries = buildChildren(buildDir);
    for (const kind of KINDS) infras.set(kind, await startInfra(kind, options.models));
    const infraOf = (kind: AppKind) => need(infras.get(kind), `${kind} infra`);

    // Start-up: one unmeasured spawn each (module caches warm), then startRuns measured, alternating.
    if (options.startWarmup) say("start-up: warm-up spawns");
    for (const kind of options.startWarmup ? KINDS : []) {
      const child = await launch(entries[kind], kind, infraOf(kind), secret);
      spare.add(child);
      await child.stop();
      spare.delete(child);
    }
    for (let run = 0; run < options.startRuns; run++) {
      const order: AppKind[] = run % 2 === 0 ? ["bot", "baseline"] : ["baseline", "bot"];
      for (const kind of order) {
        const last = run === options.startRuns - 1;
        const child = await launch(
          entries[kind],
          kind,
          infraOf(kind),
          secret,
          last ? options.cpuProfDir : undefined,
        );
        spare.add(child);
        per[kind].startupMs.push(child.startupMs);
        await sleep(500);
        const idle = await child.stats(true);
        per[kind].idleRss.push(idle.rss);
        per[kind].idleHeap.push(idle.heapUsed);
        say(`start-up ${run + 1}/${options.startRuns} ${kind}: ${child.startupMs.toFixed(0)} ms`);
        if (last) {
          children.set(kind, child);
        } else {
          await child.stop();
        }
        spare.delete(child);
      }
    }
    const childOf = (kind: AppKind) => need(children.get(kind), `${kind} child`);

    if (options.warmup > 0) {
      for (const kind of KINDS) {
        say(`warm-up ${kind}: ${options.warmup} commands`);
        await runRound(agent, childOf(kind), infraOf(kind), secret, 10, options.warmup);
      }
    }

    /** `repeats` rounds per app at one concurrency, alternating which app goes first. */
    const alternate = async (
      concurrency: number,
      repeats: number,
      requests: number,
      label: string,
    ): Promise<Record<AppKind, Round[]>> => {
      const out: Record<AppKind, Round[]> = { bot: [], baseline: [] };
      for (let rep = 0; rep < repeats; rep++) {
        const order: AppKind[] = rep % 2 === 0 ? ["bot", "baseline"] : ["baseline", "bot"];
        for (const kind of order) {
          const round = await runRound(agent, childOf(kind), infraOf(kind), secret, concurrency, requests);
          out[kind].push(round);
          say(
            `${label} ${kind} #${rep + 1}: ${((round.commands / round.elapsedMs) * 1000).toFixed(0)} cmd/s, ` +
              `ack p50/p99/max ${percentile(round.latencies, 50).toFixed(1)}/${percentile(round.latencies, 99).toFixed(1)}/${Math.max(...round.latencies).toFixed(0)} ms, ` +
              `${(round.cpuMs / round.commands).toFixed(3)} ms CPU/cmd` +
              (round.failed > 0 ? `, ${round.failed} failed` : ""),
          );
        }
      }
      return out;
    };

    for (const concurrency of options.concurrency) {
      const rounds = await alternate(concurrency, options.repeats, options.requests, `c=${concurrency}`);
      for (const kind of KINDS) per[kind].rounds.set(concurrency, rounds[kind]);
    }

    // Convai is remote in production: with each list answer taking remoteLatencyMs, throughput depends on
    // how many calls can be in flight to Convai at once, not on CPU.
    const remoteConcurrency = Math.max(...options.concurrency);
    let remote: Record<AppKind, Round[]> | undefined;
    if (options.remoteLatencyMs > 0) {
      for (const kind of KINDS) {
        infraOf(kind).sandbox.inject({
          endpoint: "list",
          times: Number.POSITIVE_INFINITY,
          fault: { kind: "delay", ms: options.remoteLatencyMs },
        });
      }
      try {
        remote = await alternate(
          remoteConcurrency,
          Math.min(options.repeats, 3),
          Math.min(options.requests, 300),
          `c=${remoteConcurrency}, Convai ${options.remoteLatencyMs} ms,`,
        );
      } finally {
        for (const kind of KINDS) infraOf(kind).sandbox.clearFaults();
      }
    }

    say(
      `views.open: ${options.viewsSamples} update commands, Convai list delayed ${options.convaiDelayMs} ms`,
    );
    const views = await measureViewsOpen(
      agent,
      childOf("bot"),
      infraOf("bot"),
      secret,
      options.viewsSamples,
      options.convaiDelayMs,
    );

    const peak = new Map<AppKind, number>();
    for (const kind of KINDS) peak.set(kind, (await childOf(kind).stats()).maxRssKb * 1024);
    const authAfter: Record<AppKind, number> = {
      bot: infraOf("bot").authTests - childOf("bot").authTestsWhenHealthy,
      baseline: infraOf("baseline").authTests - childOf("baseline").authTestsWhenHealthy,
    };

    // ---- rows
    const rows: Row[] = [];
    const sum = (rounds: Round[], f: (r: Round) => number) => rounds.reduce((a, r) => a + f(r), 0);
    const roundsOf = (kind: AppKind, c: number) => per[kind].rounds.get(c) ?? [];
    const spec = (c: number) => c >= 10;
    for (const c of options.concurrency) {
      const [b, s] = [roundsOf("bot", c), roundsOf("baseline", c)];
      // Each figure is the median over an app's rounds, so one round hit by a noisy neighbour does not
      // decide a row.
      const throughput = (r: Round[]) => median(r.map((x) => ((x.commands - x.failed) / x.elapsedMs) * 1000));
      const ack = (r: Round[], p: number) => median(r.map((x) => percentile(x.latencies, p)));
      const cpu = (r: Round[]) => median(r.map((x) => x.cpuMs / x.commands));
      const infoNote: Target = { kind: "info", note: "— (SPEC: 10 and 50 in flight)" };
      rows.push(
        row(
          `list throughput, ${c} in flight (cmd/s)`,
          throughput(b),
          throughput(s),
          0,
          spec(c) ? { kind: "ratio-min", x: 0.8 } : infoNote,
        ),
        row(`ack latency p50, ${c} in flight (ms)`, ack(b, 50), ack(s, 50), 2, {
          kind: "info",
        }),
        row(
          `ack latency p99, ${c} in flight (ms)`,
          ack(b, 99),
          ack(s, 99),
          2,
          spec(c) ? { kind: "ratio-max", x: 1.25 } : infoNote,
        ),
        row(
          `CPU per command, ${c} in flight (ms)`,
          cpu(b),
          cpu(s),
          3,
          spec(c) ? { kind: "ratio-max", x: 1.25 } : infoNote,
        ),
      );
    }
    if (remote) {
      const throughput = (r: Round[]) => median(r.map((x) => ((x.commands - x.failed) / x.elapsedMs) * 1000));
      rows.push(
        row(
          `list throughput, ${remoteConcurrency} in flight, Convai answering in ${options.remoteLatencyMs} ms (cmd/s)`,
          throughput(remote.bot),
          throughput(remote.baseline),
          0,
          remoteConcurrency >= 10 ? { kind: "ratio-min", x: 0.8 } : { kind: "info" },
        ),
      );
    }
    const mib = (bytes: number) => bytes / 2 ** 20;
    rows.push(
      row(
        "idle RSS after start-up (MiB)",
        mib(median(per.bot.idleRss)),
        mib(median(per.baseline.idleRss)),
        1,
        { kind: "ratio-max", x: 1.3 },
      ),
      row(
        "idle heap used after start-up (MiB)",
        mib(median(per.bot.idleHeap)),
        mib(median(per.baseline.idleHeap)),
        1,
        { kind: "info" },
      ),
      row(
        "peak RSS over the run (MiB)",
        mib(peak.get("bot") ?? Number.NaN),
        mib(peak.get("baseline") ?? Number.NaN),
        1,
        { kind: "info" },
      ),
      row(
        "start-up, spawn to /healthz 200 (ms, median)",
        median(per.bot.startupMs),
        median(per.baseline.startupMs),
        0,
        { kind: "ratio-max", x: 1.5 },
      ),
      row(
        `update → views.open, Convai list delayed ${(options.convaiDelayMs / 1000).toFixed(1)} s (ms, worst of ${views.openMs.length})`,
        Math.max(...views.openMs),
        undefined,
        0,
        { kind: "bot-max", x: 300, unit: " ms" },
      ),
      row("update → views.update, form filled (ms, median)", median(views.filledMs), undefined, 0, {
        kind: "info",
        note: `— (≈ the ${options.convaiDelayMs} ms delay)`,
      }),
      row("auth.test calls after start-up", authAfter.bot, authAfter.baseline, 0, { kind: "bot-eq", x: 0 }),
      row(
        "auth.test calls during start-up",
        childOf("bot").authTestsAtStartup,
        childOf("baseline").authTestsAtStartup,
        0,
        {
          kind: "info",
          note: "— (src/app.ts learns the ids once)",
        },
      ),
    );
    const conns = {
      bot: infraOf("bot").sandbox.connectionCount,
      baseline: infraOf("baseline").sandbox.connectionCount,
    };
    const connLimit = Math.max(CONNECTIONS_HANDFUL, Math.floor(infraOf("bot").commands / 100));
    const connRow = row("Convai connections opened, whole run", conns.bot, conns.baseline, 0, {
      kind: "bot-max",
      x: connLimit,
      unit: ` (a pool: ≤ max(${CONNECTIONS_HANDFUL}, 1% of calls), not 1 per call)`,
    });
    connRow.ratio = "—";
    connRow.bot = `${conns.bot} for ${infraOf("bot").commands.toLocaleString("en-US")} cmds`;
    connRow.baseline = `${conns.baseline} for ${infraOf("baseline").commands.toLocaleString("en-US")} cmds`;
    rows.push(connRow);
    const allRounds = (kind: AppKind) =>
      [...per[kind].rounds.values(), ...(remote ? [remote[kind]] : [])].flat();
    const failed = (kind: AppKind) => sum(allRounds(kind), (r) => r.failed);
    rows.push(
      row("commands failed (no 200 ack or no reply)", failed("bot"), failed("baseline"), 0, {
        kind: "bot-eq",
        x: 0,
      }),
      row(
        "log lines per list command (LOG_LEVEL=info)",
        sum(allRounds("bot"), (r) => r.logLines) /
          Math.max(
            1,
            sum(allRounds("bot"), (r) => r.commands),
          ),
        sum(allRounds("baseline"), (r) => r.logLines) /
          Math.max(
            1,
            sum(allRounds("baseline"), (r) => r.commands),
          ),
        2,
        { kind: "info" },
      ),
    );

    const table = formatTable(rows);
    const durationMs = performance.now() - runStarted;
    const report = [
      ...machineLines(),
      `Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${(os.loadavg()[0] ?? 0).toFixed(2)}: ` +
        "the figures are only as steady as the machine was.",
      `Settings: ${options.requests} list commands per round, concurrency ${options.concurrency.join("/")}, ` +
        `${options.repeats} rounds per app per concurrency (alternating bot/baseline; each figure is the median of the rounds), ` +
        `${options.warmup} warm-up commands per app, ${options.startRuns} measured start-ups per app` +
        `${options.startWarmup ? " after one warm-up spawn" : ""}, ${options.models} models in each sandbox` +
        (options.remoteLatencyMs > 0
          ? `; then ${Math.min(options.repeats, 3)} rounds of ${Math.min(options.requests, 300)} at ${Math.max(...options.concurrency)} in flight with each Convai list answer delayed ${options.remoteLatencyMs} ms.`
          : "."),
      "",
      table,
      "",
      `Bench run time: ${(durationMs / 1000).toFixed(1)} s`,
    ].join("\n");
    return { rows, table, report, authTestsAfterStartup: authAfter, durationMs };
  } finally {
    await Promise.all([...children.values(), ...spare].map((c) => c.stop().catch(() => undefined)));
    killAllNow();
    for (const infra of infras.values()) {
      for (const done of infra.pending.values()) done(false);
      await infra.sandbox.close().catch(() => undefined);
      await infra.fake.close().catch(() => undefined);
    }
    await agent.close().catch(() => undefined);
    rmSync(buildDir, { recursive: true, force: true });
    buildDirs.delete(buildDir);
  }
}
