/**
 * Bench child: a bare Bolt app doing what the bot's `list` does, and nothing more: ack, one POST to the
 * Convai list endpoint with undici, one reply to response_url with respond(). Same Bolt version as the
 * bot, the bot's ids given (so no auth.test), the conversation store off, Bolt's own HTTP server and logger.
 */
import { App, LogLevel } from "@slack/bolt";
import type { KnownBlock } from "@slack/types";
import { request } from "undici";
import { readBenchEnv, serveStats } from "./child-ipc.js";

interface ListedModel {
  group: string;
  model: string;
  baseUrl: string;
  created: string;
}

/** Reads `{models:[…]}` (or a bare array) without a schema library: the baseline stays bare. */
function modelsOf(json: unknown): ListedModel[] {
  const list = Array.isArray(json)
    ? json
    : typeof json === "object" && json !== null && "models" in json
      ? json.models
      : [];
  if (!Array.isArray(list)) return [];
  const out: ListedModel[] = [];
  for (const item of list) {
    if (typeof item !== "object" || item === null) continue;
    const text = (key: string) => {
      const value = key in item ? Object.entries(item).find(([k]) => k === key)?.[1] : undefined;
      return typeof value === "string" ? value : "";
    };
    out.push({
      group: text("model_group_name"),
      model: text("model_name"),
      baseUrl: text("base_url"),
      created: text("created_at"),
    });
  }
  return out;
}

function main(): Promise<void> {
  const env = readBenchEnv();
  const need = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === "") throw new Error(`bench baseline needs ${name}`);
    return value;
  };
  const listUrl = `${need("CONVAI_API_URL")}/llm-models/list`;
  const convaiKey = need("CONVAI_API_KEY");
  const app = new App({
    token: need("SLACK_BOT_TOKEN"),
    signingSecret: need("SLACK_SIGNING_SECRET"),
    botId: need("BENCH_BOT_ID"),
    botUserId: need("BENCH_BOT_USER_ID"),
    convoStore: false,
    logLevel: LogLevel.INFO,
    clientOptions: { slackApiUrl: need("SLACK_API_URL") },
    customRoutes: [
      {
        path: "/healthz",
        method: ["GET"],
        handler: (_req, res) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end('{"ok":true}');
        },
      },
    ],
  });

  app.command(need("BENCH_COMMAND"), async ({ ack, respond }) => {
    await ack();
    const res = await request(listUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "CONVAI-API-KEY": convaiKey,
      },
      body: "{}",
    });
    const models = modelsOf(await res.body.json());
    const blocks: KnownBlock[] = [
      { type: "section", text: { type: "mrkdwn", text: `*${models.length} custom LLMs*` } },
    ];
    for (const m of models) {
      blocks.push({
        type: "section",
        text: { type: "mrkdwn", text: `*${m.group}*\n\`${m.model}\` · ${m.baseUrl} · created ${m.created}` },
      });
    }
    await respond({
      response_type: "ephemeral",
      text: `${models.length} custom LLMs: ${models.map((m) => `${m.group} (${m.model})`).join(", ")}`,
      blocks,
    });
  });

  serveStats(() => app.stop().then(() => undefined));
  return app.start(Number(need("PORT"))).then(() => undefined);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench baseline failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
