/**
 * `/convai-llm history [group]` end to end (SPEC §13): signed slash commands to the real bot, the change
 * channel read back from the fake Slack Web API through conversations.history with metadata and cursors.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  everythingSent,
  MANAGER,
  MEMBER,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "../helpers/bot.js";
import {
  input,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";

const NOTIFY = "C0NOTIFY";
const KEY = "sk-history-SECRET-0001";

const messageSchema = z.looseObject({
  response_type: z.literal("ephemeral"),
  text: z.string(),
  blocks: z.array(z.looseObject({ type: z.string() })),
});

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});
async function bot(options: TestBotOptions = {}): Promise<TestBot> {
  t = await startTestBot({ ...options, env: { CONVAI_NOTIFY_CHANNEL: NOTIFY, ...options.env } });
  return t;
}

let seq = 0;
async function history(b: TestBot, text = "history", userId: string = MEMBER) {
  seq += 1;
  const id = `hist${seq}`;
  const res = await sendCommand(b.url, { text, userId, responseUrl: b.fake.responseUrl(id) });
  expect(res.status).toBe(200);
  return messageSchema.parse((await b.fake.waitForResponse((r) => r.id === id, 5000)).body);
}

/** The change lines of a reply, in order. */
const lines = (m: z.infer<typeof messageSchema>) =>
  JSON.stringify(m.blocks)
    .split(/\\n|"/)
    .filter((l) => l.startsWith("• "));

/** A change announcement as the bot posts it, pushed straight into the fake channel. */
function changeMessage(n: number, group: string) {
  return {
    ts: `${1_600_000_000 + n}.000100`,
    text: `change ${n}`,
    user: "UBOT",
    bot_id: "BBOT",
    metadata: {
      event_type: "convai_llm_change",
      event_payload: {
        action: "update",
        group,
        fields: "display_name",
        actor: "U0SOMEONE",
        transactionID: `tx-${n}`,
        at: new Date(1_600_000_000_000 + n * 1000).toISOString(),
      },
    },
  };
}

describe("/convai-llm history", () => {
  it("anyone sees the changes made through the bot, newest first, with who and the transaction", async () => {
    const b = await bot();
    const submit = (callbackId: string, values: Record<string, Record<string, unknown>>, group?: string) =>
      sendInteraction(
        b.url,
        viewSubmission({
          callbackId,
          values,
          privateMetadata: JSON.stringify({ v: 1, origin: "command", ...(group ? { group } : {}) }),
          userId: MANAGER,
          viewId: "VSUB",
        }),
      );
    await submit(
      "convai_llm_register",
      stateValues({
        model_group_name: input.text("acme-llama"),
        model_name: input.text("llama-3.1-70b"),
        display_name: input.text("Acme Llama"),
        api_key: input.text(KEY),
        base_url: input.url("https://llm.acme.example/v1"),
        is_uncensored: input.checkbox([]),
        verify: input.checkbox([]),
      }),
    );
    await submit(
      "convai_llm_update",
      stateValues({
        display_name: input.text("Acme Llama 2"),
        base_url: input.url("https://llm.acme.example/v1"),
        api_key: input.text(""),
        is_uncensored: input.radio("false"),
        verify: input.checkbox([]),
      }),
      "acme-llama",
    );
    await b.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("updated"));
    const reply = await history(b);
    const shown = lines(reply);
    expect(shown).toHaveLength(2);
    expect(shown[0]).toContain("`acme-llama` updated: `display_name` by <@U0MANAGER>");
    expect(shown[1]).toContain("`acme-llama` registered by <@U0MANAGER>");
    const tx = /tx `([^`]+)`/.exec(shown[1] ?? "")?.[1];
    expect(tx).toBeDefined();
    // The line's transaction is the one Convai gave the register.
    expect(b.sandbox.models()).toHaveLength(1);
    const read = b.fake.callsTo("conversations.history");
    expect(read).toHaveLength(1);
    expect(read[0]?.args).toMatchObject({ channel: NOTIFY, include_all_metadata: "true", limit: "200" });
    expect(everythingSent(b)).not.toContain(KEY);
  });

  it("1,000 messages of which 50 are changes: at most five pages of 200, the 20 newest shown, within 50 blocks", async () => {
    const b = await bot();
    const all: Array<{ ts: string; text: string; user: string; metadata?: unknown }> = [];
    for (let n = 0; n < 1000; n++) {
      // Every 20th message is a change; the others are chatter, some with another app's metadata.
      if (n % 20 === 0) all.push(changeMessage(n, n % 40 === 0 ? "prod-gpt" : "dev-llama"));
      else
        all.push({
          ts: `${1_600_000_000 + n}.000100`,
          text: `chatter ${n}`,
          user: "U0HUMAN",
          ...(n % 7 === 0
            ? { metadata: { event_type: "other_app", event_payload: { group: "prod-gpt" } } }
            : {}),
        });
    }
    b.fake.messages.set(NOTIFY, [...all]);
    const reply = await history(b);
    const shown = lines(reply);
    expect(shown).toHaveLength(20);
    // Newest first: the change at n = 980 is first, 600 is the 20th.
    expect(shown[0]).toContain("tx `tx-980`");
    expect(shown[19]).toContain("tx `tx-600`");
    expect(reply.blocks.length).toBeLessThanOrEqual(50);
    const calls = b.fake.callsTo("conversations.history");
    // 20 changes are within the newest 400 messages: two pages, the second with the first's cursor.
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(Number(c.args.limit)).toBeLessThanOrEqual(200);
    expect(calls[0]?.args.cursor).toBeUndefined();
    expect(typeof calls[1]?.args.cursor).toBe("string");

    // A group filter: only prod-gpt's 25 changes qualify; 20 shown, read over three pages.
    b.fake.reset();
    b.fake.messages.set(NOTIFY, [...all]);
    const filtered = await history(b, "history PROD-GPT");
    const prod = lines(filtered);
    expect(prod).toHaveLength(20);
    for (const l of prod) expect(l).toContain("`prod-gpt`");
    expect(prod[0]).toContain("tx `tx-960`");
    expect(JSON.stringify(filtered.blocks)).not.toContain("dev-llama");
    const pages = b.fake.callsTo("conversations.history");
    expect(pages.length).toBeLessThanOrEqual(5);
    for (const c of pages) expect(Number(c.args.limit)).toBeLessThanOrEqual(200);
  });

  it("stops after five pages when the changes are older, and says so", async () => {
    const b = await bot();
    const msgs = Array.from({ length: 1500 }, (_, n) =>
      n === 10
        ? changeMessage(n, "old-model")
        : { ts: `${1_600_000_000 + n}.000100`, text: `chatter ${n}`, user: "U0HUMAN" },
    );
    b.fake.messages.set(NOTIFY, msgs);
    const reply = await history(b);
    expect(lines(reply)).toEqual([]);
    expect(reply.text).toMatch(/No changes recorded/);
    expect(JSON.stringify(reply.blocks)).toContain("latest 1000 messages");
    expect(b.fake.callsTo("conversations.history")).toHaveLength(5);
  });

  it("an unknown group: no changes, clearly", async () => {
    const b = await bot();
    b.fake.messages.set(NOTIFY, [changeMessage(1, "prod-gpt")]);
    const reply = await history(b, "history nope");
    expect(reply.text).toBe("No changes of `nope` recorded in <#C0NOTIFY>.");
  });

  it("the bot is not in the channel → says so and how to fix it", async () => {
    const b = await bot();
    b.fake.notIn.add(NOTIFY);
    const reply = await history(b);
    expect(reply.text).toContain("not a member");
    expect(reply.text).toContain("/invite");
    expect(reply.text).toContain(`<#${NOTIFY}>`);
    expect(t?.logs.join("\n")).toContain("not_in_channel");
  });

  it("missing scope → names the scopes to add", async () => {
    const b = await bot();
    b.fake.on("conversations.history", () => ({
      body: { ok: false, error: "missing_scope", needed: "channels:history" },
    }));
    const reply = await history(b);
    expect(reply.text).toContain("channels:history");
    expect(reply.text).toContain("groups:history");
  });

  it("without CONVAI_NOTIFY_CHANNEL → there is no history, and why", async () => {
    t = await startTestBot();
    const reply = await history(t);
    expect(reply.text).toContain("CONVAI_NOTIFY_CHANNEL is not set");
    expect(t.fake.callsTo("conversations.history")).toEqual([]);
  });
});
