/**
 * `npm run bench:assign`: the assign figures issue 11 asks for, printed (a report, not a test; exits 0
 * unless the bench itself breaks). The character list's parse cost is bench/characters.ts. The real bot runs in this process on its HTTP receiver, against the fake Slack
 * Web API and the Convai sandbox on 127.0.0.1, as the test suite runs it.
 *   1. Convai calls per assign of 5 characters (by path).
 *   2. `assign <group>` command → views.open, with Convai's character list (and model list) held 2.5 s.
 * Settings: BENCH_VIEWS_SAMPLES (5), BENCH_CONVAI_DELAY_MS (2500).
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { MANAGER, startTestBot, type TestBot } from "../test/helpers/bot.js";
import { sendCommand, sendInteraction, stateValues, viewSubmission } from "../test/helpers/slack-requests.js";

const GROUP = "bench-llm";
const num = (v: string | undefined, fallback: number) =>
  v && Number.isFinite(Number(v)) ? Number(v) : fallback;
const samples = num(process.env.BENCH_VIEWS_SAMPLES, 5);
const delayMs = num(process.env.BENCH_CONVAI_DELAY_MS, 2500);
const say = (line: string) => process.stdout.write(`${line}\n`);

async function seeded(): Promise<TestBot> {
  const bot = await startTestBot({ env: { LOG_LEVEL: "warn" } });
  await bot.sandbox.seed([{ model_group_name: GROUP, model_name: "m", api_key: "sk-bench-1" }]);
  await bot.sandbox.seedCharacters(
    Array.from({ length: 5 }, (_, i) => ({
      character_id: `b-${i}`,
      character_name: `Bench ${i}`,
      model: "gpt-4o",
    })),
  );
  return bot;
}

async function callsPerAssign(): Promise<void> {
  const bot = await seeded();
  try {
    bot.sandbox.requests.length = 0;
    const res = await sendInteraction(
      bot.url,
      viewSubmission({
        callbackId: "convai_llm_assign",
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, group: GROUP, origin: "command" }),
        values: stateValues({
          characters: {
            type: "multi_static_select",
            selected_options: Array.from({ length: 5 }, (_, i) => ({ value: `b-${i}` })),
          },
        }),
      }),
    );
    if (res.status !== 200) throw new Error(`assign submission answered HTTP ${res.status}`);
    const byPath = new Map<string, number>();
    for (const r of bot.sandbox.requests) byPath.set(r.path, (byPath.get(r.path) ?? 0) + 1);
    const detail = [...byPath].map(([p, n]) => `${n} × ${p}`).join(", ");
    say(`Convai calls per assign of 5 characters: ${bot.sandbox.requests.length} (${detail})`);
  } finally {
    await bot.stop();
  }
}

async function assignToViewsOpen(): Promise<void> {
  const bot = await seeded();
  try {
    const openMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      bot.fake.reset();
      bot.sandbox.inject({ endpoint: "character-list", fault: { kind: "delay", ms: delayMs } });
      bot.sandbox.inject({ endpoint: "list", fault: { kind: "delay", ms: delayMs } });
      const trigger = `bench.${i}.${randomBytes(4).toString("hex")}`;
      const opened = bot.fake.waitFor("views.open", (c) => c.args.trigger_id === trigger, delayMs + 5000);
      const sent = Date.now();
      await sendCommand(bot.url, {
        text: `assign ${GROUP}`,
        userId: MANAGER,
        responseUrl: bot.fake.responseUrl(`b${i}`),
        triggerId: trigger,
      });
      openMs.push((await opened).at - sent);
      // Let the held answers come back before the next sample.
      await bot.fake.waitFor("views.update", undefined, delayMs + 5000);
      await sleep(20);
    }
    const worst = Math.max(...openMs);
    say(
      `assign → views.open, Convai's character and model lists delayed ${delayMs} ms: worst ${worst} ms of ${samples} (${openMs.join(", ")} ms); target < 300 ms: ${worst < 300 ? "met" : "missed"}`,
    );
  } finally {
    await bot.stop();
  }
}

async function main(): Promise<void> {
  say(`Assign bench, ${new Date().toISOString()}, Node ${process.version}; in-process bot, 127.0.0.1 only.`);
  await callsPerAssign();
  await assignToViewsOpen();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
