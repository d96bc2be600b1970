/**
 * Keeps `npm run bench` from rotting: a real run with a handful of commands. Nothing here is timed; it
 * checks that the report prints every row with a verdict, that the bot never calls auth.test after
 * start-up, that the list calls are counted at the sandbox, and that the Home burst publishes every Home.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "bench.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bench did not finish within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The table's body rows as cells: metric, bot, baseline, ratio, target, verdict. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| metric "))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
}

describe("npm run bench (smoke)", () => {
  it("prints the machine, the date and every SPEC §8 row, with auth.test at 0", async () => {
    const run = await runBench(
      {
        BENCH_REQUESTS: "6",
        BENCH_WARMUP: "3",
        BENCH_CONCURRENCY: "1,10",
        BENCH_REPEATS: "1",
        BENCH_START_RUNS: "1",
        BENCH_START_WARMUP: "0",
        BENCH_VIEWS_SAMPLES: "1",
        BENCH_CONVAI_DELAY_MS: "500",
        BENCH_REMOTE_LATENCY_MS: "20,30",
        BENCH_HOME_EVENTS: "4",
        BENCH_HOME_SPREAD_MS: "50",
        BENCH_HOME_LATENCY_MS: "20",
        BENCH_CONVAI_CONNECTIONS: "3",
      },
      55_000,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Machine: .+, \d+ cores/m);
    expect(run.stdout).toMatch(/^Node v\d+/m);
    expect(run.stdout).toMatch(/^Date: \d{4}-\d\d-\d\dT/m);

    const rows = tableRows(run.stdout);
    const metrics = rows.map((r) => r[0] ?? "");
    const expected = [
      ...[1, 10].flatMap((c) => [
        `list throughput, ${c} in flight`,
        `ack latency p50, ${c} in flight`,
        `ack latency p99, ${c} in flight`,
        `CPU per command, ${c} in flight`,
      ]),
      "list throughput, 10 in flight, Convai answering in 20 ms",
      "CPU per command, 10 in flight, Convai answering in 20 ms",
      "list throughput, 10 in flight, Convai answering in 30 ms",
      "CPU per command, 10 in flight, Convai answering in 30 ms",
      "Convai list calls per list command, 10 in flight, Convai local",
      "Convai list calls per list command, 10 in flight, Convai 20 ms",
      "Convai list calls per list command, 10 in flight, Convai 30 ms",
      "4 app_home_opened over 0.1 s, Convai 20 ms: Homes published",
      "4 app_home_opened over 0.1 s, Convai 20 ms: Convai list calls",
      "4 app_home_opened over 0.1 s, Convai 20 ms: first event → last views.publish",
      "idle RSS after start-up",
      "idle heap used after start-up",
      "peak RSS over the run",
      "start-up, spawn to /healthz 200",
      "start-up through npm start, to /healthz 200",
      "update → views.open",
      "update → views.update",
      "auth.test calls after start-up",
      "auth.test calls during start-up",
      "Convai connections opened",
      "commands failed",
      "log lines per list command",
    ];
    for (const prefix of expected) {
      expect(
        metrics.some((m) => m.startsWith(prefix)),
        `row "${prefix}" in:\n${run.stdout}`,
      ).toBe(true);
    }
    expect(rows).toHaveLength(expected.length);
    for (const row of rows) {
      expect(row).toHaveLength(6);
      expect(["met", "missed", "(info)"]).toContain(row[5]);
      expect(row[1], `bot value of ${row[0]}`).not.toBe("n/a");
    }

    const authAfter = rows.find((r) => r[0] === "auth.test calls after start-up");
    expect(authAfter?.[1]).toBe("0");
    expect(authAfter?.[5]).toBe("met");
    expect(rows.find((r) => r[0]?.startsWith("commands failed"))?.[1]).toBe("0");
    expect(run.stdout).toContain("The bot's CONVAI_MAX_CONNECTIONS: 3.");

    // Counted at the sandbox: the baseline makes exactly one model-list call per command and no other.
    for (const where of ["Convai local", "Convai 20 ms", "Convai 30 ms"]) {
      const calls = rows.find((r) =>
        r[0]?.startsWith(`Convai list calls per list command, 10 in flight, ${where}`),
      );
      expect(calls?.[2]).toBe("1.000 + 0.000");
      // The bot reads both lists, each at most once per command.
      const [models, characters] = (calls?.[1] ?? "").split(" + ").map(Number);
      expect(models).toBeGreaterThan(0);
      expect(models).toBeLessThanOrEqual(1);
      expect(characters).toBeGreaterThan(0);
      expect(characters).toBeLessThanOrEqual(1);
    }
    const homes = rows.find((r) => r[0]?.includes("app_home_opened") && r[0].includes("Homes published"));
    expect(homes?.[1]).toMatch(/^4 of 4 \(\d+ views\.publish, 4 acked\)$/);
    expect(homes?.[5]).toBe("met");
    const homeCalls = rows.find(
      (r) => r[0]?.includes("app_home_opened") && r[0].includes("Convai list calls"),
    );
    expect(homeCalls?.[1]).toMatch(/^[1-4] \+ [1-4]$/);
  }, 60_000);
});
