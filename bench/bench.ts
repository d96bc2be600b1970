/**
 * `npm run bench`: SPEC §8 (and §11's start-up through `npm start`) measured against a bare Bolt baseline in
 * the same run; prints one table. A report, not a test: it exits 0 when a row is missed, and non-zero only
 * when the bench itself breaks. Settings: BENCH_* (bench/options.ts).
 *
 * Processes: this one (load generator, plus one fake Slack and one Convai sandbox per app, all on
 * 127.0.0.1: bench/infra.ts), the bot (bench/bot.ts) and the baseline (bench/baseline.ts), each in its own
 * child so its CPU time and memory are its own (bench/processes.ts); the load is bench/load.ts and the
 * table bench/report.ts.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent } from "undici";
import { DEFAULT_MAX_CONNECTIONS } from "../src/config.js";
import { type AppKind, type Infra, KINDS, startInfra } from "./infra.js";
import { type HomeBurst, measureViewsOpen, type Round, runHomeBurst, runRound } from "./load.js";
import { type BenchOptions, optionsFromEnv } from "./options.js";
import {
  BUILD_ROOT,
  buildChildren,
  buildDirs,
  type Child,
  killAllNow,
  launch,
  npmStartDirs,
  startThroughNpm,
} from "./processes.js";
import { benchRows, formatTable, machineLines, type PerApp, percentile, type Row } from "./report.js";

export interface BenchResult {
  rows: Row[];
  table: string;
  /** Everything to print: machine, settings, the table. */
  report: string;
  authTestsAfterStartup: Record<AppKind, number>;
  durationMs: number;
}

/** What one run holds while it measures; everything here is closed by runBench's finally. */
interface Run {
  options: BenchOptions;
  say: (line: string) => void;
  secret: string;
  agent: Agent;
  entries: Record<AppKind, string>;
  infraOf: (kind: AppKind) => Infra;
  per: Record<AppKind, PerApp>;
  /** The children measured by the rounds, once the start-ups are done. */
  children: Map<AppKind, Child>;
  /** Children between spawn and stop, stopped by the finally if a step throws. */
  spare: Set<Child>;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`bench: ${what} missing`);
  return value;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const runStarted = performance.now();
  // One directory per run, so two runs (a smoke test beside `npm run bench`) never share files.
  const buildDir = path.join(BUILD_ROOT, `${process.pid}-${randomBytes(4).toString("hex")}`);
  const loadAtStart = os.loadavg()[0] ?? 0;
  const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const infras = new Map<AppKind, Infra>();
  const run: Run = {
    options,
    say: options.progress ?? (() => undefined),
    secret: randomBytes(24).toString("hex"),
    agent,
    entries: { bot: "", baseline: "" },
    infraOf: (kind) => need(infras.get(kind), `${kind} infra`),
    per: {
      bot: { startupMs: [], npmStartupMs: [], idleRss: [], idleHeap: [], rounds: new Map() },
      baseline: { startupMs: [], npmStartupMs: [], idleRss: [], idleHeap: [], rounds: new Map() },
    },
    children: new Map(),
    spare: new Set(),
  };
  try {
    run.say("compiling the children (src/ and bench/bot.ts, bench/baseline.ts) to JavaScript");
    buildDirs.add(buildDir);
    run.entries = buildChildren(buildDir);
    const botEnv: Record<string, string> =
      options.convaiConnections === undefined
        ? {}
        : { CONVAI_MAX_CONNECTIONS: String(options.convaiConnections) };
    for (const kind of KINDS) {
      infras.set(kind, await startInfra(kind, options.models, kind === "bot" ? botEnv : {}));
    }

    await measureNpmStartups(run, npmStartDirs(buildDir));
    await measureStartups(run);
    const childOf = (kind: AppKind) => need(run.children.get(kind), `${kind} child`);

    if (options.warmup > 0) {
      for (const kind of KINDS) {
        run.say(`warm-up ${kind}: ${options.warmup} commands`);
        await runRound(agent, childOf(kind), run.infraOf(kind), run.secret, 10, options.warmup);
      }
    }
    for (const concurrency of options.concurrency) {
      const rounds = await alternate(run, concurrency, options.repeats, options.requests, `c=${concurrency}`);
      for (const kind of KINDS) run.per[kind].rounds.set(concurrency, rounds[kind]);
    }
    const remote = new Map<number, Record<AppKind, Round[]>>();
    for (const latencyMs of options.remoteLatencyMs)
      remote.set(latencyMs, await measureRemote(run, latencyMs));
    const home: HomeBurst[] = [];
    for (const latencyMs of options.homeEvents > 0 ? options.homeLatencyMs : []) {
      home.push(await measureHome(run, latencyMs));
    }

    run.say(
      `views.open: ${options.viewsSamples} update commands, Convai list delayed ${options.convaiDelayMs} ms`,
    );
    const views = await measureViewsOpen(
      agent,
      childOf("bot"),
      run.infraOf("bot"),
      run.secret,
      options.viewsSamples,
      options.convaiDelayMs,
    );

    const peakRss = {
      bot: (await childOf("bot").stats()).maxRssKb * 1024,
      baseline: (await childOf("baseline").stats()).maxRssKb * 1024,
    };
    const authAfter: Record<AppKind, number> = {
      bot: run.infraOf("bot").authTests - childOf("bot").authTestsWhenHealthy,
      baseline: run.infraOf("baseline").authTests - childOf("baseline").authTestsWhenHealthy,
    };
    const rows = benchRows({
      options,
      per: run.per,
      remote,
      home,
      views,
      peakRss,
      authAfter,
      authAtStartup: {
        bot: childOf("bot").authTestsAtStartup,
        baseline: childOf("baseline").authTestsAtStartup,
      },
      connections: {
        bot: run.infraOf("bot").sandbox.connectionCount,
        baseline: run.infraOf("baseline").sandbox.connectionCount,
      },
      commands: { bot: run.infraOf("bot").commands, baseline: run.infraOf("baseline").commands },
    });

    const table = formatTable(rows);
    const durationMs = performance.now() - runStarted;
    const report = [
      ...machineLines(),
      `Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${(os.loadavg()[0] ?? 0).toFixed(2)}: ` +
        "the figures are only as steady as the machine was.",
      settingsLine(options),
      "",
      table,
      "",
      `Bench run time: ${(durationMs / 1000).toFixed(1)} s`,
    ].join("\n");
    return { rows, table, report, authTestsAfterStartup: authAfter, durationMs };
  } finally {
    await Promise.all([...run.children.values(), ...run.spare].map((c) => c.stop().catch(() => undefined)));
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

function settingsLine(options: BenchOptions): string {
  return (
    `Settings: ${options.requests} list commands per round, concurrency ${options.concurrency.join("/")}, ` +
    `${options.repeats} rounds per app per concurrency (alternating bot/baseline; each figure is the median of the rounds), ` +
    `${options.warmup} warm-up commands per app, ${options.startRuns} measured start-ups per app` +
    `${options.startWarmup ? " after one warm-up spawn" : ""}, ${options.models} models in each sandbox` +
    (options.remoteLatencyMs.length > 0
      ? `; then ${Math.min(options.repeats, 3)} rounds of ${Math.min(options.requests, 300)} at ${Math.max(...options.concurrency)} in flight with Convai ${options.remoteLatencyMs.join(" and ")} ms away (every Convai answer sent that much later)`
      : "") +
    (options.homeEvents > 0
      ? `; then ${options.homeEvents} app_home_opened events from as many users sent evenly over ${options.homeSpreadMs} ms to the bot, once with Convai ${options.homeLatencyMs.join(" and once ")} ms away`
      : "") +
    `. The bot's CONVAI_MAX_CONNECTIONS: ${options.convaiConnections ?? `${DEFAULT_MAX_CONNECTIONS} (its default)`}.`
  );
}

/**
 * Start-up through `npm start`, as an operator runs it (SPEC §11): one unmeasured start each first (it
 * builds dist/ when it is missing or stale, as a first `npm start` does), then startRuns, alternating.
 */
async function measureNpmStartups(run: Run, dirs: Record<AppKind, string>): Promise<void> {
  run.say("start-up through npm start: one unmeasured start each (builds dist/ if it is stale)");
  for (const kind of KINDS) await startThroughNpm(kind, dirs[kind], run.infraOf(kind), run.secret);
  for (let i = 0; i < run.options.startRuns; i++) {
    const order: AppKind[] = i % 2 === 0 ? ["bot", "baseline"] : ["baseline", "bot"];
    for (const kind of order) {
      const ms = await startThroughNpm(kind, dirs[kind], run.infraOf(kind), run.secret);
      run.per[kind].npmStartupMs.push(ms);
      run.say(`npm start ${i + 1}/${run.options.startRuns} ${kind}: ${ms.toFixed(0)} ms`);
    }
  }
}

/** Start-up: one unmeasured spawn each (module caches warm), then startRuns measured, alternating. */
async function measureStartups(run: Run): Promise<void> {
  const { options } = run;
  if (options.startWarmup) run.say("start-up: warm-up spawns");
  for (const kind of options.startWarmup ? KINDS : []) {
    const child = await launch(run.entries[kind], kind, run.infraOf(kind), run.secret);
    run.spare.add(child);
    await child.stop();
    run.spare.delete(child);
  }
  for (let i = 0; i < options.startRuns; i++) {
    const order: AppKind[] = i % 2 === 0 ? ["bot", "baseline"] : ["baseline", "bot"];
    for (const kind of order) {
      const last = i === options.startRuns - 1;
      const child = await launch(
        run.entries[kind],
        kind,
        run.infraOf(kind),
        run.secret,
        last ? options.cpuProfDir : undefined,
      );
      run.spare.add(child);
      run.per[kind].startupMs.push(child.startupMs);
      await sleep(500);
      const idle = await child.stats(true);
      run.per[kind].idleRss.push(idle.rss);
      run.per[kind].idleHeap.push(idle.heapUsed);
      run.say(`start-up ${i + 1}/${options.startRuns} ${kind}: ${child.startupMs.toFixed(0)} ms`);
      if (last) {
        run.children.set(kind, child);
      } else {
        await child.stop();
      }
      run.spare.delete(child);
    }
  }
}

/** `repeats` rounds per app at one concurrency, alternating which app goes first. */
async function alternate(
  run: Run,
  concurrency: number,
  repeats: number,
  requests: number,
  label: string,
): Promise<Record<AppKind, Round[]>> {
  const out: Record<AppKind, Round[]> = { bot: [], baseline: [] };
  for (let rep = 0; rep < repeats; rep++) {
    const order: AppKind[] = rep % 2 === 0 ? ["bot", "baseline"] : ["baseline", "bot"];
    for (const kind of order) {
      const child = need(run.children.get(kind), `${kind} child`);
      const round = await runRound(run.agent, child, run.infraOf(kind), run.secret, concurrency, requests);
      out[kind].push(round);
      run.say(
        `${label} ${kind} #${rep + 1}: ${((round.commands / round.elapsedMs) * 1000).toFixed(0)} cmd/s, ` +
          `ack p50/p99/max ${percentile(round.latencies, 50).toFixed(1)}/${percentile(round.latencies, 99).toFixed(1)}/${Math.max(...round.latencies).toFixed(0)} ms, ` +
          `${(round.cpuMs / round.commands).toFixed(3)} ms CPU/cmd` +
          (round.failed > 0 ? `, ${round.failed} failed` : ""),
      );
    }
  }
  return out;
}

/**
 * Convai is remote in production: with every answer latencyMs away, throughput depends on how many
 * commands one Convai call serves and how many calls can be in flight at once, not on CPU. Every
 * endpoint is delayed (the bot's list also reads the character list); each call waits on its own, so
 * concurrent calls are all served, as over a network.
 */
async function measureRemote(run: Run, latencyMs: number): Promise<Record<AppKind, Round[]>> {
  const { options } = run;
  const remoteConcurrency = Math.max(...options.concurrency);
  for (const kind of KINDS) {
    run.infraOf(kind).sandbox.inject({
      endpoint: "*",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "delay", ms: latencyMs },
    });
  }
  try {
    return await alternate(
      run,
      remoteConcurrency,
      Math.min(options.repeats, 3),
      Math.min(options.requests, 300),
      `c=${remoteConcurrency}, Convai ${latencyMs} ms,`,
    );
  } finally {
    for (const kind of KINDS) run.infraOf(kind).sandbox.clearFaults();
  }
}

/** A burst of Home openings (SPEC §12): the bot only, since the baseline has no Home. */
async function measureHome(run: Run, latencyMs: number): Promise<HomeBurst> {
  const { options } = run;
  run.say(
    `Home burst: ${options.homeEvents} app_home_opened over ${options.homeSpreadMs} ms, Convai ${latencyMs} ms away`,
  );
  const burst = await runHomeBurst(
    run.agent,
    need(run.children.get("bot"), "bot child"),
    run.infraOf("bot"),
    run.secret,
    {
      events: options.homeEvents,
      spreadMs: options.homeSpreadMs,
      latencyMs,
    },
  );
  run.say(
    `Home burst: ${burst.published}/${burst.events} Homes, ${burst.convai.models} model-list and ${burst.convai.characters} character-list calls, last views.publish after ${burst.lastPublishMs.toFixed(0)} ms`,
  );
  return burst;
}

async function main(): Promise<void> {
  const options = optionsFromEnv(process.env);
  options.progress = (line) => process.stderr.write(`bench: ${line}\n`);
  const result = await runBench(options);
  process.stdout.write(`${result.report}\n`);
}

process.once("SIGINT", () => process.exit(130));
process.once("SIGTERM", () => process.exit(143));

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
