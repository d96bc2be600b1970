/**
 * `npm run bench:characters`: the figures issue 11 asks for, printed (a report, not a test; exits 0 unless
 * the bench itself breaks). The real bot runs in this process on its HTTP receiver, against the fake Slack
 * Web API and the Convai sandbox on 127.0.0.1, as the test suite runs it.
 *   1. Convai calls per assign of 5 characters (by path).
 *   2. `assign <group>` command → views.open, with Convai's character list (and model list) held 2.5 s.
 *   3. Client parse time and heap for a /character/list of 1,000 characters of about 3 KB each.
 * Settings: BENCH_VIEWS_SAMPLES (5), BENCH_CONVAI_DELAY_MS (2500), BENCH_PARSE_RUNS (20).
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createConvaiClient } from "../src/convai/client.js";
import { createSandbox } from "../src/convai/sandbox/index.js";
import { createLogger } from "../src/logger.js";
import { MANAGER, startTestBot, type TestBot } from "../test/helpers/bot.js";
import { sendCommand, sendInteraction, stateValues, viewSubmission } from "../test/helpers/slack-requests.js";

const GROUP = "bench-llm";
const num = (v: string | undefined, fallback: number) =>
  v && Number.isFinite(Number(v)) ? Number(v) : fallback;
const samples = num(process.env.BENCH_VIEWS_SAMPLES, 5);
const delayMs = num(process.env.BENCH_CONVAI_DELAY_MS, 2500);
const parseRuns = num(process.env.BENCH_PARSE_RUNS, 20);
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

/** A realistic character: the documented fields plus ~3 KB of the bulk a real one carries. */
function bulkyCharacter(i: number): Record<string, unknown> {
  return {
    character_name: `Character ${i}`,
    character_id: `${randomBytes(16).toString("hex")}`,
    collection_name: "convai_default_collection",
    user_id: "SOME_USER_ID",
    model_type: "RPM-3D",
    listing: "unlisted",
    voice_type: "SOME_VOICE",
    timestamp: "2023-11-07T02:57:59",
    language_code: "en-US",
    personalised_prompt_config: {
      MODEL: i % 3 ? "gpt-4o" : GROUP,
      PROMPT: "",
      VERBOSITY: 2,
      TEMPERATURE: 0.07,
    },
    backstory: "A long backstory. ".repeat(90),
    traits: Array.from({ length: 12 }, (_, k) => ({ name: `trait-${k}`, weight: k / 12 })),
    pronunciations: Array.from({ length: 8 }, (_, k) => ({ word: `word${k}`, ipa: "ˈwɜːd" })),
    avatar: {
      url: `https://cdn.example.com/avatars/${i}.glb`,
      thumbnail: `https://cdn.example.com/t/${i}.png`,
    },
    last_interacted_with: "2025-02-20T07:20:13",
  };
}

async function parseBudget(): Promise<void> {
  const key = "bench-key-0001";
  const body = JSON.stringify({ characters: Array.from({ length: 1000 }, (_, i) => bulkyCharacter(i)) });
  const sandbox = createSandbox({ apiKey: key });
  const url = await sandbox.listen(0, "127.0.0.1");
  const client = createConvaiClient({
    baseUrl: url,
    prefix: "/llm-models",
    apiKey: key,
    timeoutMs: 10_000,
    logger: createLogger({ level: "silent" }),
  });
  try {
    sandbox.inject({
      endpoint: "character-list",
      times: parseRuns + 1,
      fault: { kind: "status", status: 200, rawBody: body, headers: { "content-type": "application/json" } },
    });
    await client.listCharacters(); // warm-up
    const ms: number[] = [];
    let heapDelta = 0;
    for (let i = 0; i < parseRuns; i++) {
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const started = performance.now();
      const res = await client.listCharacters();
      ms.push(performance.now() - started);
      if (!res.ok || res.data.length !== 1000) throw new Error("the 1,000-character list did not parse");
      heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heapBefore);
    }
    ms.sort((a, b) => a - b);
    const median = ms[Math.floor(ms.length / 2)] ?? Number.NaN;
    say(
      `/character/list of 1,000 characters (${(body.length / 1024 / 1024).toFixed(1)} MiB, ${Math.round(body.length / 1000)} bytes each): fetch + parse median ${median.toFixed(1)} ms, worst ${(ms[ms.length - 1] ?? 0).toFixed(1)} ms over ${parseRuns} runs; heap growth during one call at most ${(heapDelta / 1024 / 1024).toFixed(1)} MiB${global.gc ? "" : " (run with --expose-gc for steadier memory figures)"}`,
    );
  } finally {
    await client.close();
    await sandbox.close();
  }
}

async function main(): Promise<void> {
  say(
    `Characters bench, ${new Date().toISOString()}, Node ${process.version}; in-process bot, 127.0.0.1 only.`,
  );
  await callsPerAssign();
  await assignToViewsOpen();
  await parseBudget();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
