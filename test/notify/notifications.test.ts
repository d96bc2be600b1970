/**
 * Change notifications (SPEC §3) end to end: a change made through the real modals posts one message to
 * CONVAI_NOTIFY_CHANNEL on the fake Slack Web API; a failed post leaves the change standing and tells the actor.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { CHECKED_VALUE } from "../../src/slack/ids.js";
import { everythingSent, MANAGER, startTestBot, type TestBot, type TestBotOptions } from "../helpers/bot.js";
import { input, sendInteraction, stateValues, viewSubmission } from "../helpers/slack-requests.js";

const NOTIFY = "C0NOTIFY";
const MODEL_KEY = "sk-model-SECRET-notify-1";
const NEW_KEY = "sk-model-SECRET-notify-2";
const SEEDED_KEY = "sk-seeded-SECRET-notify-0";

const postSchema = z.looseObject({
  channel: z.string(),
  text: z.string(),
  blocks: z.array(z.looseObject({ type: z.string() })),
});
const ackSchema = z.looseObject({
  response_action: z.string(),
  errors: z.record(z.string(), z.string()).optional(),
  view: z
    .looseObject({ title: z.looseObject({ text: z.string() }), blocks: z.array(z.unknown()) })
    .optional(),
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

async function submit(
  b: TestBot,
  callbackId: string,
  values: Record<string, Record<string, unknown>>,
  group?: string,
) {
  const privateMetadata = JSON.stringify({ v: 1, origin: "command", ...(group ? { group } : {}) });
  const res = await sendInteraction(
    b.url,
    viewSubmission({ callbackId, values, privateMetadata, userId: MANAGER, viewId: "VSUB" }),
  );
  expect(res.status).toBe(200);
  return ackSchema.parse(res.json);
}

const register = (b: TestBot, group = "acme-llama") =>
  submit(
    b,
    "convai_llm_register",
    stateValues({
      model_group_name: input.text(group),
      model_name: input.text("llama-3.1-70b"),
      display_name: input.text("Acme Llama"),
      api_key: input.text(MODEL_KEY),
      base_url: input.url("https://llm.acme.example/v1"),
      is_uncensored: input.checkbox([CHECKED_VALUE]),
      verify: input.checkbox([]),
    }),
  );

const seeded = {
  model_group_name: "acme-mistral",
  model_name: "mistral-large",
  display_name: "Acme Mistral",
  base_url: "https://mistral.acme.example/v1",
  is_uncensored: false,
  api_key: SEEDED_KEY,
};

/** The transaction ID the outcome view reports, so the notification can be matched against it. */
function transactionOf(view: unknown): string {
  const match = /Convai transaction `([^`]+)`/.exec(JSON.stringify(view));
  if (!match?.[1]) throw new Error("no transaction ID in the outcome view");
  return match[1];
}

async function onlyPost(b: TestBot) {
  const call = await b.fake.waitFor("chat.postMessage");
  // Give a stray second post the chance to show up before counting.
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(b.fake.callsTo("chat.postMessage")).toHaveLength(1);
  return postSchema.parse(call.args);
}

describe("change notifications", () => {
  it("register → one message with action, group, actor, fields, transactionID and a text fallback", async () => {
    const b = await bot();
    const ack = await register(b);
    expect(ack.response_action).toBe("update");
    const post = await onlyPost(b);
    expect(post.channel).toBe(NOTIFY);
    expect(post.text).toContain("acme-llama");
    expect(post.text).toContain("registered");
    expect(post.text).toContain(`<@${MANAGER}>`);
    const blocks = JSON.stringify(post.blocks);
    expect(blocks).toContain("registered");
    expect(blocks).toContain("`acme-llama`");
    expect(blocks).toContain(`<@${MANAGER}>`);
    expect(blocks).toContain("llama-3.1-70b");
    expect(blocks).toContain("Acme Llama");
    expect(blocks).toContain("https://llm.acme.example/v1");
    expect(blocks).toMatch(/Uncensored\*\\nyes/);
    expect(blocks).toContain(transactionOf(ack.view));
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
    // The outcome view says where it was announced.
    expect(JSON.stringify(ack.view)).toContain(`<#${NOTIFY}>`);
  });

  it("update → before → after for each changed field, api_key only as rotated", async () => {
    const b = await bot();
    await b.sandbox.seed([seeded]);
    const ack = await submit(
      b,
      "convai_llm_update",
      stateValues({
        display_name: input.text("Acme Mistral v2"),
        base_url: input.url(seeded.base_url),
        api_key: input.text(NEW_KEY),
        is_uncensored: input.radio("true"),
        verify: input.checkbox([]),
      }),
      "acme-mistral",
    );
    expect(ack.response_action).toBe("update");
    const post = await onlyPost(b);
    expect(post.text).toContain("updated");
    expect(post.text).toContain(`<@${MANAGER}>`);
    const blocks = JSON.stringify(post.blocks);
    expect(blocks).toContain("`display_name`: `Acme Mistral` → `Acme Mistral v2`");
    expect(blocks).toContain("`is_uncensored`: `no` → `yes`");
    expect(blocks).toContain("`api_key`: rotated");
    // An unchanged field is described, not listed as changed.
    expect(blocks).not.toContain("`base_url`:");
    expect(blocks).toContain(seeded.base_url);
    expect(blocks).toContain("mistral-large");
    expect(blocks).toContain(transactionOf(ack.view));
    expect(everythingSent(b)).not.toContain(NEW_KEY);
    expect(everythingSent(b)).not.toContain(SEEDED_KEY);
  });

  it("deregister → one message with the model as it was", async () => {
    const b = await bot();
    await b.sandbox.seed([seeded]);
    const ack = await submit(
      b,
      "convai_llm_deregister",
      stateValues({ confirm_group_name: input.text("acme-mistral") }),
      "acme-mistral",
    );
    expect(ack.response_action).toBe("update");
    const post = await onlyPost(b);
    expect(post.text).toContain("deregistered");
    expect(post.text).toContain("acme-mistral");
    const blocks = JSON.stringify(post.blocks);
    expect(blocks).toContain(`<@${MANAGER}>`);
    expect(blocks).toContain("mistral-large");
    expect(blocks).toContain("Acme Mistral");
    expect(blocks).toContain(seeded.base_url);
    expect(blocks).toMatch(/Uncensored\*\\nno/);
    expect(blocks).toContain(transactionOf(ack.view));
    expect(everythingSent(b)).not.toContain(SEEDED_KEY);
  });

  it("a failed change posts nothing", async () => {
    const b = await bot();
    await b.sandbox.seed([{ ...seeded, model_group_name: "acme-llama" }]);
    const ack = await register(b);
    expect(ack.response_action).toBe("errors");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b.fake.callsTo("chat.postMessage")).toEqual([]);
  });

  it("without CONVAI_NOTIFY_CHANNEL nothing is posted", async () => {
    t = await startTestBot();
    const ack = await register(t);
    expect(ack.response_action).toBe("update");
    expect(JSON.stringify(ack.view)).not.toMatch(/announce/i);
    expect(t.fake.callsTo("chat.postMessage")).toEqual([]);
  });

  it("a failed post → the change stands and the actor is told the Slack error and the fix", async () => {
    const b = await bot();
    b.fake.on("chat.postMessage", () => ({ body: { ok: false, error: "not_in_channel" } }));
    const ack = await register(b);
    expect(ack.response_action).toBe("update");
    expect(ack.view?.title.text).toBe("Model registered");
    const shown = JSON.stringify(ack.view);
    expect(shown).toContain("not_in_channel");
    expect(shown).toMatch(/change stands/i);
    expect(shown).toContain("/invite");
    expect(shown).toContain(`<#${NOTIFY}>`);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-llama"]);
    expect(b.fake.callsTo("chat.postMessage")).toHaveLength(1);
  });

  it("a failed post after the working view is reported in the outcome view too", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    b.fake.on("chat.postMessage", () => ({ body: { ok: false, error: "is_archived" } }));
    b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 700 } });
    const ack = await register(b);
    expect(JSON.stringify(ack.view)).toContain("Working");
    const update = await b.fake.waitFor("views.update", (c) => c.args.view_id === "VSUB", 5000);
    const shown = JSON.stringify(update.args.view);
    expect(shown).toContain("Model registered");
    expect(shown).toContain("is_archived");
    expect(b.sandbox.models()).toHaveLength(1);
  });
});

describe("history metadata on every announcement (SPEC §13)", () => {
  const metadataSchema = z.object({
    event_type: z.literal("convai_llm_change"),
    event_payload: z.record(z.string(), z.unknown()),
  });

  it("register, update and deregister each carry action, group, fields, actor, transactionID and time; never a key", async () => {
    const b = await bot();
    const before = Date.now();
    const registered = await register(b);
    await b.fake.waitFor("chat.postMessage");
    const updated = await submit(
      b,
      "convai_llm_update",
      stateValues({
        display_name: input.text("Acme Llama v2"),
        base_url: input.url("https://llm.acme.example/v1"),
        api_key: input.text(NEW_KEY),
        is_uncensored: input.radio("true"),
        verify: input.checkbox([]),
      }),
      "acme-llama",
    );
    await b.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("updated"));
    const removed = await submit(
      b,
      "convai_llm_deregister",
      stateValues({ confirm_group_name: input.text("acme-llama") }),
      "acme-llama",
    );
    await b.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("deregistered"));
    const payloads = b.fake
      .callsTo("chat.postMessage")
      .map((c) => metadataSchema.parse(c.args.metadata).event_payload);
    expect(payloads.map((p) => [p.action, p.group, p.actor, p.transactionID])).toEqual([
      ["register", "acme-llama", MANAGER, transactionOf(registered.view)],
      ["update", "acme-llama", MANAGER, transactionOf(updated.view)],
      ["deregister", "acme-llama", MANAGER, transactionOf(removed.view)],
    ]);
    expect(String(payloads[1]?.fields).split(",").sort()).toEqual(["api_key", "display_name"]);
    for (const p of payloads) {
      expect(p.approver).toBeUndefined();
      const at = Date.parse(String(p.at));
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    }
    const sent = everythingSent(b);
    expect(sent).not.toContain(MODEL_KEY);
    expect(sent).not.toContain(NEW_KEY);
  });
});
