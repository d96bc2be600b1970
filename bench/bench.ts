/**
 * `npm run bench`: SPEC §8 measured against a bare Bolt baseline in the same run; prints one table.
 * A report, not a test: it exits 0 when a row is missed, and non-zero only when the bench itself breaks.
 * Settings: BENCH_REQUESTS, BENCH_CONCURRENCY, BENCH_REPEATS, BENCH_WARMUP, BENCH_START_RUNS,
 * BENCH_VIEWS_SAMPLES, BENCH_CONVAI_DELAY_MS, BENCH_MODELS (see bench/lib.ts).
 */
import { optionsFromEnv, runBench } from "./lib.js";

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
