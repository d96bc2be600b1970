/**
 * `npx tsx bench/characters.ts`: what reading a large account's character list costs (issue 11): 1,000
 * characters of realistic size (~3 KB each: avatar, traits, pronunciations, guard rails, backstory).
 * Every figure sits beside a same-run baseline: JSON.parse of the same bytes, and undici + body.json().
 * Settings: BENCH_CHARACTERS (default 1000), BENCH_RUNS (default 30).
 */
import { createServer } from "node:http";
import os from "node:os";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { request } from "undici";
import { BUILT_IN_MODEL_CODES } from "../src/convai/built-in-models.js";
import { createConvaiClient, parseCharacters } from "../src/convai/client.js";
import { createLogger } from "../src/logger.js";
import { median, percentile } from "./report.js";

v8.setFlagsFromString("--expose-gc");
const gcValue: unknown = vm.runInNewContext("gc");
const gc = (): void => {
  if (typeof gcValue === "function") gcValue();
};

const COUNT = Number(process.env.BENCH_CHARACTERS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = 5;
const KEY = "bench-characters-key";

const words = "calm curious witty patient brave loyal gentle stern playful wise".split(" ");
const pick = (i: number, n: number) => words[(i * 7 + n) % words.length] ?? "calm";

/** One character shaped like Convai's (character-examples.json), padded with the fields real ones carry. */
function character(i: number): Record<string, unknown> {
  const model =
    i % 3 === 0 ? "acme-support-llm" : (BUILT_IN_MODEL_CODES[i % BUILT_IN_MODEL_CODES.length] ?? "gpt-4o");
  return {
    character_name: `Character ${i} ${pick(i, 1)}`,
    collection_name: "convai_default_collection",
    user_id: "USER_0123456789abcdef",
    character_id: `c0ffee${i.toString(16).padStart(26, "0")}`,
    model_type: "RPM-3D",
    listing: "unlisted",
    voice_type: "en-US-Neural2-J",
    timestamp: "2024-12-19T10:30:42",
    language_code: "en-US",
    language_codes: ["en-US", "es-ES", "fr-FR"],
    personalised_prompt_config: {
      MODEL: model,
      PROMPT: "",
      VERBOSITY: 2,
      TEMPERATURE: 0.7,
      MODERATION_ENABLED: true,
      SPEAKER: "User",
    },
    backstory: `${pick(i, 2)} ${pick(i, 3)} guide who knows the museum's east wing. `.repeat(22),
    character_traits: {
      catch_phrases: ["Well, well!", "Let me think...", "Follow me."],
      personality_traits: words.slice(0, 6).map((w, n) => ({ trait: w, score: (i + n) % 10 })),
      speaking_style: "Short sentences, warm tone, asks a question back.",
    },
    pronunciations: Array.from({ length: 6 }, (_, n) => ({ word: `Term${n}`, pronunciation: `tur-m${n}` })),
    guard_rails: { blocked_words: ["spoiler", "password"], topics_to_avoid: ["politics", "medical advice"] },
    model_details: {
      ModelLink: `https://models.readyplayer.me/${i.toString(16).padStart(24, "0")}.glb`,
      ModelType: "RPM-3D",
      ModelPlaceholder: "https://cdn.example.com/placeholders/avatar-default-v3.png",
    },
    avatar: {
      url: `https://cdn.example.com/avatars/${i}/portrait-1024x1024.png`,
      thumbnail: `https://cdn.example.com/avatars/${i}/thumb-128x128.png`,
      colors: { hair: "#3b2a1a", skin: "#e0b899", eyes: "#3a6ea5", outfit: "#223344" },
    },
    actions: ["Wave", "Point", "Nod", "Walk to visitor", "Show exhibit"],
    is_narrative_driven: false,
    edit_character_access: { email_list: [], public: false },
    last_interacted_with: "2025-02-20T07:20:13",
    description: "",
  };
}

interface Stats {
  median: number;
  p95: number;
}
/** The same percentile rule as the main bench's report, so their figures compare. */
function stats(samples: number[]): Stats {
  return { median: median(samples), p95: percentile(samples, 95) };
}

/**
 * Runs the cases round-robin (one sample of each per round) so load on the shared machine falls on all
 * of them alike rather than on whichever ran during a busy moment.
 */
async function measureAll(
  cases: Record<string, () => Promise<unknown> | unknown>,
): Promise<(name: string) => Stats> {
  const entries = Object.entries(cases);
  const samples = new Map<string, number[]>(entries.map(([name]) => [name, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (const [name, run] of entries) {
      const started = performance.now();
      await run();
      if (round >= WARMUP) samples.get(name)?.push(performance.now() - started);
    }
  }
  return (name) => stats(samples.get(name) ?? []);
}

/** Heap the value keeps alive once garbage is collected. */
async function retained(make: () => Promise<unknown> | unknown): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const value = await make();
  gc();
  const after = process.memoryUsage().heapUsed;
  // Keep the value alive until after the second measurement.
  if (value === undefined) throw new Error("nothing was made");
  return after - before;
}

async function main(): Promise<void> {
  const text = JSON.stringify({ characters: Array.from({ length: COUNT }, (_, i) => character(i)) });
  const bytes = Buffer.from(text);
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(bytes.length) });
      res.end(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("bench: no server address");
  const url = `http://127.0.0.1:${address.port}`;
  const client = createConvaiClient({
    baseUrl: url,
    prefix: "/llm-models",
    apiKey: KEY,
    timeoutMs: 30_000,
    logger: createLogger({ level: "silent" }),
  });

  try {
    const check = await client.listCharacters();
    if (!check.ok || check.data.length !== COUNT) throw new Error("the client did not read every character");

    const tree: unknown = JSON.parse(text);
    const m = await measureAll({
      jsonParse: () => JSON.parse(text),
      fieldReads: () => parseCharacters(tree),
      undiciJson: async () => {
        const res = await request(`${url}/character/list`, {
          method: "POST",
          headers: { "CONVAI-API-KEY": KEY },
        });
        return res.body.json();
      },
      clientCall: () => client.listCharacters(),
    });

    const rawTree = await retained(() => JSON.parse(text));
    const parsedList = await retained(async () => {
      const result = await client.listCharacters();
      return result.ok ? result.data : undefined;
    });

    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    const ms = (s: Stats) => `${s.median.toFixed(1)} ms (p95 ${s.p95.toFixed(1)})`;
    const lines = [
      `Character list: ${COUNT} characters, ${kb(bytes.length)} of JSON (${(bytes.length / COUNT / 1024).toFixed(2)} KiB each); ${RUNS} runs after ${WARMUP} warm-up, Node ${process.version}, load ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(" ")}`,
      `  baseline JSON.parse of the body              ${ms(m("jsonParse"))}`,
      `  the client's field reads (zod, per entry)    ${ms(m("fieldReads"))}   (${(m("fieldReads").median / m("jsonParse").median).toFixed(2)}x JSON.parse)`,
      `  baseline undici request + body.json()        ${ms(m("undiciJson"))}`,
      `  client.listCharacters() over 127.0.0.1       ${ms(m("clientCall"))}   (${(m("clientCall").median / m("undiciJson").median).toFixed(2)}x undici + json)`,
      `  heap kept by the parsed list                 ${kb(parsedList)}   (the full JSON tree would keep ${kb(rawTree)}; ${(rawTree / Math.max(parsedList, 1)).toFixed(0)}x more)`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
