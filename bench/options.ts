/**
 * The bench's settings: BENCH_* from the environment, each with the default used for the README figures.
 */
import path from "node:path";
import { z } from "zod";

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
  /**
   * Extra rounds at the highest concurrency with Convai this far away (every Convai answer sent this much
   * later), one set per latency; empty skips them.
   */
  remoteLatencyMs: number[];
  /** The bot's CONVAI_MAX_CONNECTIONS; undefined leaves the bot's own default (DEFAULT_MAX_CONNECTIONS). */
  convaiConnections?: number;
  /** `app_home_opened` events in the Home burst (0 skips it), sent evenly over homeSpreadMs. */
  homeEvents: number;
  homeSpreadMs: number;
  /** How far away Convai is during the Home burst: one burst per latency. */
  homeLatencyMs: number[];
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
  BENCH_REMOTE_LATENCY_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, {
      message: "must be a comma-separated list of milliseconds such as 50,150 (0 skips)",
    })
    .default("50,150")
    .transform((s) => s.split(",").map(Number))
    .refine((list) => list.every((n) => n <= 10_000), { message: "each must be 0..10000" })
    .transform((list) => list.filter((n) => n > 0)),
  BENCH_CONVAI_CONNECTIONS: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(1).max(256).optional(),
  ),
  BENCH_HOME_EVENTS: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(0).max(5000).default(200),
  ),
  BENCH_HOME_SPREAD_MS: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : undefined),
    z.number().int().min(0).max(60_000).default(1000),
  ),
  BENCH_HOME_LATENCY_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, { message: "must be a comma-separated list of milliseconds such as 50,150" })
    .default("50,150")
    .transform((s) => s.split(",").map(Number))
    .refine((list) => list.every((n) => n <= 10_000), { message: "each must be 0..10000" }),
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
    ...(e.BENCH_CONVAI_CONNECTIONS === undefined ? {} : { convaiConnections: e.BENCH_CONVAI_CONNECTIONS }),
    homeEvents: e.BENCH_HOME_EVENTS,
    homeSpreadMs: e.BENCH_HOME_SPREAD_MS,
    homeLatencyMs: e.BENCH_HOME_LATENCY_MS,
    ...(e.BENCH_CPU_PROF ? { cpuProfDir: path.resolve(e.BENCH_CPU_PROF) } : {}),
  };
}
