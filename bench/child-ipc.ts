/**
 * What both bench children share: their settings from the driver and the IPC stats channel.
 * Kept tiny and dependency-free so it costs the bot and the baseline the same memory and start-up time.
 */

/** The plain env object the driver chose (never the developer's own environment). */
export function readBenchEnv(): Record<string, string> {
  const raw = process.env.BENCH_ENV;
  if (raw === undefined)
    throw new Error("BENCH_ENV is not set; bench children are started by bench/bench.ts");
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("BENCH_ENV must be a JSON object of strings");
  }
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") throw new Error(`BENCH_ENV.${key} must be a string`);
    env[key] = value;
  }
  return env;
}

export interface ChildStats {
  type: "stats";
  id: number;
  /** process.cpuUsage(), microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** process.resourceUsage().maxRSS: the peak resident set, KiB. */
  maxRssKb: number;
}

function field(message: unknown, name: string): unknown {
  return typeof message === "object" && message !== null && name in message
    ? Object.entries(message).find(([key]) => key === name)?.[1]
    : undefined;
}

/**
 * Answers the driver's `{type:"stats", id, gc}` with this process's CPU and memory, and `{type:"stop"}`
 * by stopping the app and exiting. A child whose driver went away exits too, so none is left behind.
 */
export function serveStats(stop: () => Promise<void>): void {
  let stopping = false;
  const exitAfterStop = () => {
    if (stopping) return;
    stopping = true;
    // Bounded: a stuck stop() must not keep the child alive.
    setTimeout(() => process.exit(0), 3000).unref();
    stop().then(
      () => {
        process.send?.({ type: "stopped" });
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on("message", (message: unknown) => {
    const type = field(message, "type");
    if (type === "stop") return exitAfterStop();
    if (type !== "stats") return;
    const id = field(message, "id");
    if (field(message, "gc") === true) globalThis.gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const stats: ChildStats = {
      type: "stats",
      id: typeof id === "number" ? id : -1,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      maxRssKb: process.resourceUsage().maxRSS,
    };
    process.send?.(stats);
  });
  process.on("disconnect", exitAfterStop);
  process.on("SIGTERM", exitAfterStop);
  process.on("SIGINT", exitAfterStop);
}
