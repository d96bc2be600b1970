/**
 * Characters (SPEC §10) end to end: the real bot on its HTTP receiver, the fake Slack Web API and the Convai
 * sandbox over real HTTP. What the user sees ("used by" lines, the characters reply, the assign and deregister
 * forms and their outcomes, the announcement) and what reached Convai (path, header, body, order).
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Fault, SandboxEndpoint } from "../../src/convai/sandbox/index.js";
import {
  CONVAI_KEY,
  MANAGER,
  MEMBER,
  runCommand,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "../helpers/bot.js";
import {
  blockAction,
  DEFAULTS,
  input,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";
import { type Ack, ackSchema, type View, viewSchema } from "../helpers/views.js";

const GROUP = "acme-llm";
const OTHER = "backup-llm";
const NOTIFY = "C0NOTIFY";
const LOADING_VIEW_ID = "VLOADING";
const SUBMITTED_VIEW_ID = "VSUBMITTED";
const ASSIGN = "convai_llm_assign";
const DEREGISTER = "convai_llm_deregister";

const FIVE = [
  { character_id: "c-1", character_name: "Amara", model: "gpt-4o" },
  { character_id: "c-2", character_name: "Bruno", model: "gpt-4o-mini" },
  { character_id: "c-3", character_name: "Chen", model: "claude-4-sonnet" },
  { character_id: "c-4", character_name: "Dana", model: "gpt-4o" },
  { character_id: "c-5", character_name: "Emil", model: "gemini-2.5-flash" },
];

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function bot(
  characters: Array<{ character_id: string; character_name: string; model: string }> = FIVE,
  options: TestBotOptions = {},
): Promise<TestBot> {
  t = await startTestBot({ ...options, env: { CONVAI_NOTIFY_CHANNEL: NOTIFY, ...options.env } });
  await t.sandbox.seed([
    { model_group_name: GROUP, model_name: "llama-3.1-70b", api_key: "sk-model-SECRET-1" },
    { model_group_name: OTHER, model_name: "mistral-large", api_key: "sk-model-SECRET-2" },
  ]);
  await t.sandbox.seedCharacters(characters);
  return t;
}

const command = runCommand;

const replySchema = z.looseObject({
  text: z.string(),
  blocks: z.array(z.looseObject({ type: z.string(), block_id: z.string().optional() })),
});

async function reply(b: TestBot, text: string, userId: string = MANAGER) {
  const { reply: wait } = await command(b, text, userId);
  return replySchema.parse((await wait()).body);
}

/** Opens a modal with the slash command and returns the loading view and the view it is filled with. */
async function openModal(
  b: TestBot,
  text: string,
): Promise<{ opened: View; view: View; convaiAtOpen: number }> {
  let convaiAtOpen = -1;
  b.fake.on("views.open", () => {
    convaiAtOpen = b.sandbox.requests.length;
    return { body: { ok: true, view: { id: LOADING_VIEW_ID, hash: "h1" } } };
  });
  await command(b, text);
  const opened = viewSchema.parse((await b.fake.waitFor("views.open")).args.view);
  const filled = await b.fake.waitFor("views.update", (c) => c.args.view_id === LOADING_VIEW_ID);
  return { opened, view: viewSchema.parse(filled.args.view), convaiAtOpen };
}

const meta = (group: string = GROUP) => JSON.stringify({ v: 1, group, origin: "command" });
const multi = (ids: string[]) => ({
  type: "multi_static_select",
  selected_options: ids.map((v) => ({ text: { type: "plain_text", text: v }, value: v })),
});
const single = (value: string | null) => ({
  type: "static_select",
  selected_option: value === null ? null : { text: { type: "plain_text", text: value }, value },
});

async function submit(
  b: TestBot,
  callbackId: string,
  values: Record<string, object>,
  opts: { userId?: string; group?: string } = {},
): Promise<Ack> {
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      callbackId,
      values: stateValues(values),
      privateMetadata: meta(opts.group),
      userId: opts.userId ?? MANAGER,
      viewId: SUBMITTED_VIEW_ID,
    }),
  );
  expect(res.status).toBe(200);
  return ackSchema.parse(res.json);
}

const assign = (b: TestBot, ids: string[], userId?: string) =>
  submit(b, ASSIGN, { characters: multi(ids) }, userId ? { userId } : {});
/** `moveTo` undefined: a form without the move_to block (no character used the model); null: left unset. */
const deregister = (b: TestBot, moveTo: string | null | undefined, group: string = GROUP) =>
  submit(
    b,
    DEREGISTER,
    { confirm_group_name: input.text(group), ...(moveTo !== undefined ? { move_to: single(moveTo) } : {}) },
    { group },
  );

/** The outcome view: in the ack when quick, else the views.update after the working view. */
async function outcome(b: TestBot, ack: Ack): Promise<View> {
  if (ack.response_action === "update" && ack.view && ack.view.title.text !== "Working…") return ack.view;
  const call = await b.fake.waitFor("views.update", (c) => c.args.view_id === SUBMITTED_VIEW_ID, 8000);
  return viewSchema.parse(call.args.view);
}

const text = (v: unknown) => JSON.stringify(v);
const updates = (b: TestBot) => b.sandbox.requests.filter((r) => r.path === "/character/update");
const modelOf = (b: TestBot, id: string) => b.sandbox.characters().find((c) => c.character_id === id)?.model;
const fault = (
  b: TestBot,
  endpoint: SandboxEndpoint,
  f: Fault,
  more: { after?: number; times?: number } = {},
) => b.sandbox.inject({ endpoint, fault: f, ...more });
const notifications = (b: TestBot) =>
  b.fake.callsTo("chat.postMessage").filter((c) => c.args.channel === NOTIFY);
const audits = (b: TestBot) => b.logLines().filter((l) => l.event === "audit");

/** Every mrkdwn text in a view or message: where a raw `<!channel>` would ping. */
function mrkdwnTexts(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      const rec = Object.fromEntries(Object.entries(v));
      if (rec.type === "mrkdwn" && typeof rec.text === "string") out.push(rec.text);
      Object.values(rec).forEach(walk);
    }
  };
  walk(value);
  return out;
}

describe("used by", () => {
  it("list names each custom LLM's characters after one character list read, and says when none uses it", async () => {
    const many = Array.from({ length: 14 }, (_, i) => ({
      character_id: `u-${i}`,
      character_name: ["Rafael", "Steven"][i] ?? `Zed ${String(i).padStart(2, "0")}`,
      model: GROUP,
    }));
    const b = await bot(many);
    const msg = await reply(b, "list");
    const all = text(msg.blocks);
    expect(all).toContain("Used by 14 characters: Rafael, Steven and 12 more");
    expect(all).toContain("No character uses it.");
    expect(b.sandbox.requests.filter((r) => r.path === "/character/list")).toHaveLength(1);
  });

  it("when the character list fails, list still shows the models and says usage could not be read", async () => {
    const b = await bot();
    fault(b, "character-list", { kind: "status", status: 500, body: { ERROR: "boom" } }, { times: 10 });
    const msg = await reply(b, "list");
    const all = text(msg.blocks);
    expect(all).toContain(GROUP);
    expect(all).toContain(OTHER);
    expect(all).toContain("Which characters use each model could not be read");
    expect(all).not.toContain("No character uses it");
  });

  it("the App Home and the update form show the same line", async () => {
    const b = await bot([{ character_id: "r", character_name: "Rafael", model: GROUP }]);
    await sendInteraction(
      b.url,
      blockAction({ actionId: "convai_home_refresh", value: "1", userId: MANAGER, viewId: "VHOME" }),
    );
    const home = await b.fake.waitFor("views.publish", (c) => text(c.args.view).includes("Used by"));
    expect(text(home.args.view)).toContain("Used by 1 character: Rafael");
    const { view } = await openModal(b, `update ${GROUP}`);
    expect(text(view.blocks)).toContain("Used by 1 character: Rafael");
  });
});

describe("/convai-llm characters", () => {
  it("lists every character with its model, custom LLMs marked, and filters by name or model", async () => {
    const b = await bot([...FIVE, { character_id: "c-6", character_name: "Fay", model: GROUP }]);
    const msg = await reply(b, "characters", MEMBER);
    const all = text(msg.blocks);
    expect(all).toContain("6 characters");
    expect(all).toMatch(/Fay\*.*acme-llm`.*custom LLM/);
    expect(all).toMatch(/Amara\*.*`gpt-4o`/);
    expect(all).not.toMatch(/Amara[^•]*custom LLM/);
    const filtered = text((await reply(b, "characters gpt-4o", MEMBER)).blocks);
    expect(filtered).toContain("3 characters matching");
    expect(filtered).not.toContain("Chen");
    const byName = text((await reply(b, "characters fay", MEMBER)).blocks);
    expect(byName).toContain("1 character matching");
  });

  it("0 characters: says so", async () => {
    const b = await bot([]);
    expect(text((await reply(b, "characters")).blocks)).toContain("no characters yet");
  });

  it("1,000 characters: pages of 50 within Slack's limits, Next replaces the reply with page 2", async () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => ({
      character_id: `k-${String(i).padStart(4, "0")}`,
      character_name: `<!channel> & ${"x".repeat(180)} ${String(i).padStart(4, "0")} 🤖`,
      model: i % 2 === 0 ? GROUP : "gpt-4o",
    }));
    const b = await bot(thousand);
    const msg = await reply(b, "characters");
    expect(msg.blocks.length).toBeLessThanOrEqual(50);
    for (const t of mrkdwnTexts(msg.blocks)) {
      expect(t.length).toBeLessThanOrEqual(3000);
      expect(t).not.toContain("<!channel>");
    }
    expect(text(msg.blocks)).toContain("page 1 of 20");
    const next = msg.blocks.flatMap((blk) =>
      blk.block_id === "characters_pager"
        ? z
            .looseObject({ elements: z.array(z.looseObject({ action_id: z.string(), value: z.string() })) })
            .parse(blk).elements
        : [],
    );
    const button = next.find((e) => e.action_id.endsWith(":next"));
    expect(button).toBeDefined();
    const responseUrl = b.fake.responseUrl("page2");
    await sendInteraction(
      b.url,
      blockAction({
        actionId: button?.action_id ?? "",
        value: button?.value ?? "",
        userId: MEMBER,
        responseUrl,
      }),
    );
    const page2 = await b.fake.waitForResponse((r) => r.id === "page2");
    expect(page2.body.replace_original).toBe(true);
    expect(text(page2.body)).toContain("page 2 of 20");
  });
});

describe("/convai-llm assign", () => {
  it("opens a loading view before any Convai call, then the form with 'name — current model' options", async () => {
    const b = await bot();
    const { opened, view, convaiAtOpen } = await openModal(b, `assign ${GROUP}`);
    expect(convaiAtOpen).toBe(0);
    expect(opened.callback_id).toBe(ASSIGN);
    expect(view.callback_id).toBe(ASSIGN);
    const block = view.blocks.find((blk) => blk.block_id === "characters");
    const element = z
      .looseObject({
        type: z.literal("multi_static_select"),
        action_id: z.literal("characters"),
        options: z.array(z.looseObject({ text: z.looseObject({ text: z.string() }), value: z.string() })),
      })
      .parse(block?.element);
    expect(element.options.map((o) => o.text.text)).toContain("Amara — gpt-4o");
    expect(element.options).toHaveLength(5);
    expect(JSON.parse(view.private_metadata ?? "{}")).toMatchObject({ group: GROUP });
  });

  it("more characters than a static select holds: a type-ahead served by app.options", async () => {
    const many = Array.from({ length: 150 }, (_, i) => ({
      character_id: `m-${i}`,
      character_name: i === 77 ? "Rafael" : `Extra ${i}`,
      model: "gpt-4o",
    }));
    const b = await bot(many);
    const { view } = await openModal(b, `assign ${GROUP}`);
    const block = view.blocks.find((blk) => blk.block_id === "characters");
    expect(block?.element?.type).toBe("multi_external_select");
    const res = await sendInteraction(b.url, {
      type: "block_suggestion",
      user: { id: MANAGER, team_id: DEFAULTS.teamId },
      team: { id: DEFAULTS.teamId, domain: "test" },
      api_app_id: DEFAULTS.appId,
      token: DEFAULTS.verificationToken,
      container: { type: "view", view_id: LOADING_VIEW_ID },
      action_id: "characters",
      block_id: "characters",
      value: "rafa",
      view: {
        id: LOADING_VIEW_ID,
        type: "modal",
        callback_id: ASSIGN,
        private_metadata: meta(),
        state: { values: {} },
      },
    });
    expect(res.status).toBe(200);
    const options = z
      .object({ options: z.array(z.looseObject({ value: z.string() })) })
      .parse(res.json).options;
    expect(options.map((o) => o.value)).toEqual(["m-77"]);
  });

  it("moves the chosen characters with one /character/update each, shows each outcome, announces, audits", async () => {
    const b = await bot([...FIVE, { character_id: "c-6", character_name: "Fay", model: GROUP }]);
    const ack = await assign(b, ["c-1", "c-2", "c-6"]);
    const view = await outcome(b, ack);
    const shown = text(view.blocks);
    expect(view.title.text).toBe("Characters assigned");
    expect(shown).toContain("Moved to `acme-llm`* (2)");
    expect(shown).toMatch(/Amara\*: `gpt-4o` → `acme-llm`/);
    expect(shown).toMatch(/Already on `acme-llm`\*, nothing sent \(1\)/);
    const sent = updates(b);
    expect(sent.map((r) => r.body)).toEqual(
      expect.arrayContaining([
        { charID: "c-1", model_group_name: GROUP },
        { charID: "c-2", model_group_name: GROUP },
      ]),
    );
    expect(sent).toHaveLength(2);
    expect(sent.every((r) => r.method === "POST" && r.headers["convai-api-key"] === CONVAI_KEY)).toBe(true);
    expect(modelOf(b, "c-1")).toBe(GROUP);
    expect(modelOf(b, "c-3")).toBe("claude-4-sonnet");
    const [note] = notifications(b);
    expect(notifications(b)).toHaveLength(1);
    expect(text(note?.args.blocks)).toMatch(/Amara: `gpt-4o` → `acme-llm`/);
    expect(text(note?.args.blocks)).toMatch(/Bruno: `gpt-4o-mini` → `acme-llm`/);
    expect(text(note?.args.blocks)).not.toContain("Fay");
    const lines = audits(b).filter((l) => l.action === "assign");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      actor: MANAGER,
      group: GROUP,
      outcome: "succeeded",
      moved: 2,
      already: 1,
    });
  });

  it("validation: nothing chosen, an unknown or deleted character, everyone already on it → field error, nothing sent", async () => {
    const b = await bot([...FIVE, { character_id: "c-6", character_name: "Fay", model: GROUP }]);
    const none = await submit(b, ASSIGN, { characters: multi([]) });
    expect(none.errors?.characters).toMatch(/at least one/);
    const unknown = await assign(b, ["c-1", "c-deleted"]);
    expect(unknown.response_action).toBe("errors");
    expect(unknown.errors?.characters).toMatch(/not in this Convai account.*c-deleted/);
    const already = await assign(b, ["c-6"]);
    expect(already.errors?.characters).toMatch(/Fay is already on acme-llm/);
    expect(updates(b)).toHaveLength(0);
    expect(modelOf(b, "c-1")).toBe("gpt-4o");
  });

  it("at most 4 updates in flight at once", async () => {
    const b = await bot();
    fault(b, "character-update", { kind: "delay", ms: 150 }, { times: 5 });
    const ack = await assign(
      b,
      FIVE.map((c) => c.character_id),
    );
    await outcome(b, ack);
    const times = updates(b).map((r) => r.at);
    expect(times).toHaveLength(5);
    // The fifth starts only after one of the first four answered (150 ms later).
    const sorted = [...times].sort((x, y) => x - y);
    expect((sorted[4] ?? 0) - (sorted[0] ?? 0)).toBeGreaterThanOrEqual(100);
    expect(FIVE.every((c) => modelOf(b, c.character_id) === GROUP)).toBe(true);
  });
});

describe("assign outside Slack's 3-second window", () => {
  it("slow updates: the working view at once, then the outcome with views.update", async () => {
    const b = await bot(FIVE, { submitBudgetMs: 100 });
    fault(b, "character-update", { kind: "delay", ms: 300 }, { times: 2 });
    const ack = await assign(b, ["c-1", "c-2"]);
    expect(ack.response_action).toBe("update");
    expect(ack.view?.title.text).toBe("Working…");
    const view = await outcome(b, ack);
    expect(view.title.text).toBe("Characters assigned");
    expect(text(view.blocks)).toContain("Moved to `acme-llm`* (2)");
  });
  it("the modal is gone when the outcome is ready: the outcome goes to the manager's DM, the moves stand", async () => {
    const b = await bot(FIVE, { submitBudgetMs: 100 });
    b.fake.on("views.update", () => ({ body: { ok: false, error: "not_found" } }));
    fault(b, "character-update", { kind: "delay", ms: 300 }, { times: 2 });
    const ack = await assign(b, ["c-1", "c-2"]);
    expect(ack.view?.title.text).toBe("Working…");
    const dm = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === MANAGER, 8000);
    const shown = text(dm.args);
    expect(shown).toContain("Moved to `acme-llm`* (2)");
    expect(shown).toContain("Amara");
    expect([modelOf(b, "c-1"), modelOf(b, "c-2")]).toEqual([GROUP, GROUP]);
  });
});

describe("assign faults", () => {
  const ids = FIVE.map((c) => c.character_id);

  it("a refused update on the 3rd of 5: says which moved and which did not, with the reason; never re-sent", async () => {
    const b = await bot();
    fault(
      b,
      "character-update",
      { kind: "status", status: 400, body: { ERROR: "Model not allowed." } },
      { after: 2 },
    );
    const view = await outcome(b, await assign(b, ids));
    const shown = text(view.blocks);
    expect(view.title.text).toBe("Partly assigned");
    expect(shown).toContain("Moved to `acme-llm`* (4)");
    expect(shown).toContain("Not moved* (1)");
    expect(shown).toContain("Model not allowed.");
    expect(updates(b)).toHaveLength(5);
    expect(b.sandbox.characters().filter((c) => c.model === GROUP)).toHaveLength(4);
    expect(text(notifications(b)[0]?.args.blocks)).toContain("4 characters");
  });

  it("a reset on the 3rd and a failing re-read: that one is unknown, the others moved", async () => {
    const b = await bot();
    fault(b, "character-update", { kind: "reset" }, { after: 2 });
    fault(
      b,
      "character-list",
      { kind: "status", status: 500, body: { ERROR: "down" } },
      { after: 1, times: 20 },
    );
    const view = await outcome(b, await assign(b, ids));
    const shown = text(view.blocks);
    expect(shown).toContain("Moved to `acme-llm`* (4)");
    expect(shown).toContain("Not confirmed* (1)");
    expect(shown).toContain("could not be re-read");
    expect(updates(b)).toHaveLength(5);
  });

  it("500 / hang / 429 / malformed on one update: the re-read tells the truth for it", async () => {
    const cases: Array<{ f: Fault; expectMoved: boolean }> = [
      { f: { kind: "status", status: 500, body: { ERROR: "oops" } }, expectMoved: false },
      { f: { kind: "hang" }, expectMoved: false },
      { f: { kind: "apply-then-hang" }, expectMoved: true },
      { f: { kind: "malformed" }, expectMoved: false },
      // Last: a 429 opens this replica's shared back-off window (SPEC §12) for the next 60 s.
      {
        f: { kind: "status", status: 429, body: { ERROR: "slow down" }, headers: { "retry-after": "60" } },
        expectMoved: false,
      },
    ];
    const b = await bot(FIVE, { timeoutMs: 600 });
    for (const { f, expectMoved } of cases) {
      await b.sandbox.seedCharacters(FIVE);
      b.fake.reset();
      b.sandbox.requests.length = 0;
      fault(b, "character-update", f);
      const view = await outcome(b, await assign(b, ["c-1"]));
      const shown = text(view.blocks);
      expect(updates(b), f.kind).toHaveLength(1);
      expect(modelOf(b, "c-1") === GROUP, f.kind).toBe(expectMoved);
      if (expectMoved) expect(shown, f.kind).toContain("Moved to `acme-llm`* (1)");
      else expect(shown, f.kind).toMatch(/Not moved\* \(1\)/);
    }
  });

  it("the character list failing at submission: nothing sent, said plainly", async () => {
    const b = await bot();
    fault(b, "character-list", { kind: "status", status: 500, body: { ERROR: "down" } }, { times: 20 });
    const ack = await assign(b, ["c-1"]);
    expect(text(ack)).toMatch(/could not read the characters/);
    expect(updates(b)).toHaveLength(0);
  });
});

describe("hostile names", () => {
  it("escaped and cut in the characters reply, the options, the outcome and the announcement", async () => {
    const hostile = [
      {
        character_id: "h-1",
        character_name: `<!channel> <@U0BOSS> & ${"é".repeat(200)} 🎉`,
        model: "gpt-4o",
      },
      { character_id: "h-2", character_name: "<!here>&<#C1>", model: "gpt-4o" },
    ];
    const b = await bot(hostile);
    const msg = await reply(b, "characters");
    const { view } = await openModal(b, `assign ${GROUP}`);
    const result = await outcome(b, await assign(b, ["h-1", "h-2"]));
    const note = notifications(b)[0];
    for (const surface of [msg.blocks, result.blocks, note?.args.blocks]) {
      for (const m of mrkdwnTexts(surface)) {
        expect(m).not.toMatch(/<!channel>|<!here>|<@U0BOSS>|<#C1>/);
        expect(m.length).toBeLessThanOrEqual(3000);
      }
    }
    expect(text(result.blocks)).toContain("&lt;!channel&gt; &lt;@U0BOSS&gt; &amp;");
    const options = z
      .array(z.looseObject({ text: z.looseObject({ text: z.string() }) }))
      .parse(
        z
          .looseObject({ options: z.unknown() })
          .parse(view.blocks.find((x) => x.block_id === "characters")?.element).options,
      );
    for (const o of options) expect(Array.from(o.text.text).length).toBeLessThanOrEqual(75);
  });
});

describe("non-managers", () => {
  it("the assign command, the Assign menu entry and a forged submission are refused; Convai sees no update", async () => {
    const b = await bot();
    const refused = await reply(b, `assign ${GROUP}`, MEMBER);
    expect(refused.text).toContain("Only Convai LLM managers — <@U0MANAGER> —");
    await sendInteraction(
      b.url,
      blockAction({
        actionId: "convai_model_overflow",
        blockId: `model:${GROUP}`,
        selectedOptionValue: "assign",
        userId: MEMBER,
        responseUrl: b.fake.responseUrl("menu"),
      }),
    );
    expect(text((await b.fake.waitForResponse((r) => r.id === "menu")).body)).toContain(
      "Only Convai LLM managers",
    );
    const forged = await assign(b, ["c-1"], MEMBER);
    expect(forged.view?.title.text).toBe("Not allowed");
    expect(b.fake.callsTo("views.open")).toHaveLength(0);
    expect(updates(b)).toHaveLength(0);
    expect(b.logLines().some((l) => l.event === "refused" && l.managersFrom === "CONVAI_MANAGERS")).toBe(
      true,
    );
  });

  it("a manager's Assign menu entry opens the assign form", async () => {
    const b = await bot();
    await sendInteraction(
      b.url,
      blockAction({
        actionId: "convai_model_overflow",
        blockId: `model:${GROUP}`,
        selectedOptionValue: "assign",
        userId: MANAGER,
        responseUrl: b.fake.responseUrl("m2"),
      }),
    );
    const opened = await b.fake.waitFor("views.open");
    expect(viewSchema.parse(opened.args.view).callback_id).toBe(ASSIGN);
  });
});

describe("deregister moves the characters first", () => {
  const onGroup = FIVE.map((c) => ({ ...c, model: GROUP }));

  it("the form lists the characters and asks for a required move_to (other custom LLMs and built-in models)", async () => {
    const b = await bot(onGroup);
    const { view } = await openModal(b, `deregister ${GROUP}`);
    const shown = text(view.blocks);
    expect(shown).toContain("5 characters use it:* Amara, Bruno, Chen, Dana, Emil");
    const moveTo = view.blocks.find((x) => x.block_id === "move_to");
    expect(moveTo).toMatchObject({ optional: false });
    const groups = z
      .array(z.looseObject({ options: z.array(z.looseObject({ value: z.string() })) }))
      .parse(z.looseObject({ option_groups: z.unknown() }).parse(moveTo?.element).option_groups);
    expect(groups[0]?.options.map((o) => o.value)).toEqual([OTHER]);
    expect(groups[1]?.options.map((o) => o.value)).toContain("gpt-4o-mini");
  });

  it("no move_to, the group itself, or a group that is gone → field error on move_to, nothing sent", async () => {
    const b = await bot(onGroup);
    expect((await deregister(b, null)).errors?.move_to).toMatch(/5 characters use acme-llm/);
    expect((await deregister(b, GROUP)).errors?.move_to).toMatch(/being deregistered/);
    expect((await deregister(b, "gone-llm")).errors?.move_to).toMatch(/No custom LLM named gone-llm/);
    expect(updates(b)).toHaveLength(0);
    expect(b.sandbox.requests.some((r) => r.path.endsWith("/deregister"))).toBe(false);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toContain(GROUP);
  });

  it("every character moves, then the model is deregistered; the updates come before the deregister", async () => {
    const b = await bot(onGroup);
    const view = await outcome(b, await deregister(b, "gpt-4o-mini"));
    expect(view.title.text).toBe("Model deregistered");
    expect(text(view.blocks)).toContain("Moved to `gpt-4o-mini`* (5)");
    const paths = b.sandbox.requests.map((r) => r.path);
    const lastUpdate = paths.lastIndexOf("/character/update");
    expect(paths.indexOf("/llm-models/deregister")).toBeGreaterThan(lastUpdate);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual([OTHER]);
    expect(b.sandbox.characters().every((c) => c.model === "gpt-4o-mini")).toBe(true);
  });

  it("a failed move on the 3rd of 5: nothing deregistered, the outcome names who moved and who did not", async () => {
    const b = await bot(onGroup);
    fault(b, "character-update", { kind: "status", status: 500, body: { ERROR: "boom" } }, { after: 2 });
    const view = await outcome(b, await deregister(b, OTHER));
    const shown = text(view.blocks);
    expect(view.title.text).toBe("Not deregistered");
    expect(shown).toContain("was *not deregistered*");
    expect(shown).toContain("Moved to `backup-llm`* (4)");
    expect(shown).toContain("Not moved* (1)");
    expect(b.sandbox.requests.some((r) => r.path.endsWith("/deregister"))).toBe(false);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toContain(GROUP);
  });

  it("no character on it: the form says so and the deregister goes through", async () => {
    const b = await bot();
    const { view } = await openModal(b, `deregister ${GROUP}`);
    expect(text(view.blocks)).toContain("No character uses it.");
    expect(view.blocks.some((x) => x.block_id === "move_to")).toBe(false);
    const done = await outcome(b, await deregister(b, undefined));
    expect(done.title.text).toBe("Model deregistered");
    expect(updates(b)).toHaveLength(0);
  });

  it("a character put on it after the form opened without move_to: the error goes on a block the form has", async () => {
    const b = await bot();
    await b.sandbox.seedCharacters([{ character_id: "c-9", character_name: "Ines", model: GROUP }]);
    const ack = await deregister(b, undefined);
    // Slack refuses errors naming a block the view lacks, so the user would otherwise see nothing.
    expect(ack.response_action).toBe("errors");
    expect(ack.errors).toEqual({
      confirm_group_name: "move to: 1 character uses acme-llm: choose the model to move them to first.",
    });
    // Then the form is rebuilt as it now is: with the move_to choice and the error under it.
    const call = await b.fake.waitFor("views.update", (c) => c.args.view_id === SUBMITTED_VIEW_ID, 8000);
    const rebuilt = viewSchema.parse(call.args.view);
    const at = rebuilt.blocks.findIndex((x) => x.block_id === "move_to");
    expect(at).toBeGreaterThan(-1);
    expect(text(rebuilt.blocks[at + 1])).toContain(
      "1 character uses acme-llm: choose the model to move them to first.",
    );
    expect(text(rebuilt.blocks)).toContain("Ines");
    expect(b.sandbox.models().map((m) => m.model_group_name)).toContain(GROUP);
  });
});

describe("deregister faults", () => {
  const onGroup = FIVE.map((c) => ({ ...c, model: GROUP }));
  const deregisterSent = (b: TestBot) => b.sandbox.requests.some((r) => r.path.endsWith("/deregister"));

  it.each<[string, Fault]>([
    ["hang", { kind: "hang" }],
    ["reset", { kind: "reset" }],
    ["malformed", { kind: "malformed" }],
  ])("%s on the 3rd move: no deregister, the model and the unmoved character stay", async (_name, f) => {
    const b = await bot(onGroup, { timeoutMs: 600 });
    fault(b, "character-update", f, { after: 2 });
    const view = await outcome(b, await deregister(b, OTHER));
    expect(view.title.text).toBe("Not deregistered");
    expect(text(view.blocks)).toContain("Moved to `backup-llm`* (4)");
    expect(text(view.blocks)).toMatch(/Not moved\* \(1\)|Not confirmed\* \(1\)/);
    expect(deregisterSent(b)).toBe(false);
    expect(updates(b)).toHaveLength(5);
    expect(b.sandbox.characters().filter((c) => c.model === GROUP)).toHaveLength(1);
  });

  it("the character list failing at submission: nothing moved, nothing deregistered", async () => {
    const b = await bot(onGroup);
    fault(b, "character-list", { kind: "status", status: 500, body: { ERROR: "down" } }, { times: 20 });
    const ack = await deregister(b, OTHER);
    expect(text(ack)).toMatch(
      /Nothing was deregistered: the bot could not read which characters use acme-llm/,
    );
    expect(updates(b)).toHaveLength(0);
    expect(deregisterSent(b)).toBe(false);
  });

  it("the character list failing when the form opens: it says so and offers an optional move_to", async () => {
    const b = await bot(onGroup);
    fault(b, "character-list", { kind: "status", status: 500, body: { ERROR: "down" } }, { times: 20 });
    const { view } = await openModal(b, `deregister ${GROUP}`);
    expect(text(view.blocks)).toContain("could not be read");
    expect(view.blocks.find((x) => x.block_id === "move_to")).toMatchObject({ optional: true });
  });
});

describe("limits with 1,000 characters and hostile names", () => {
  const thousand = Array.from({ length: 1000 }, (_, i) => ({
    character_id: `k-${String(i).padStart(4, "0")}`,
    character_name: `<!channel> <@U0BOSS> & ${"é".repeat(190)} 🤖 ${i}`,
    model: GROUP,
  }));

  it("list, update form, deregister form and assign form stay within Slack's limits and ping nobody", async () => {
    const b = await bot(thousand);
    const list = await reply(b, "list");
    expect(list.blocks.length).toBeLessThanOrEqual(50);
    expect(text(list.blocks)).toContain("Used by 1000 characters");
    const views: View[] = [];
    for (const cmd of [`update ${GROUP}`, `deregister ${GROUP}`, `assign ${GROUP}`]) {
      b.fake.reset();
      views.push((await openModal(b, cmd)).view);
    }
    for (const surface of [list.blocks, ...views.map((v) => v.blocks)]) {
      expect(surface.length).toBeLessThanOrEqual(100);
      for (const m of mrkdwnTexts(surface)) {
        expect(m.length).toBeLessThanOrEqual(3000);
        expect(m).not.toMatch(/<!channel>|<@U0BOSS>/);
      }
    }
    expect(text(views[1]?.blocks)).toContain("1000 characters use it");
    expect(views[2]?.blocks.find((x) => x.block_id === "characters")?.element?.type).toBe(
      "multi_external_select",
    );
  });
});

describe("races and character list faults", () => {
  it("a character put on the group while the others move: nothing deregistered, it is named", async () => {
    const b = await bot(FIVE.slice(0, 2).map((c) => ({ ...c, model: GROUP })));
    fault(b, "character-update", { kind: "delay", ms: 300 }, { times: 2 });
    const pending = deregister(b, OTHER);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await b.sandbox.seedCharacters([{ character_id: "late", character_name: "Latecomer", model: GROUP }]);
    const view = await outcome(b, await pending);
    expect(view.title.text).toBe("Not deregistered");
    expect(text(view.blocks)).toContain("characters were put on it meanwhile: Latecomer");
    expect(b.sandbox.requests.some((r) => r.path.endsWith("/deregister"))).toBe(false);
  });

  it("429 on the 3rd move: no deregister; moves not yet sent are held back by the shared window, unsent", async () => {
    const b = await bot(
      FIVE.map((c) => ({ ...c, model: GROUP })),
      { timeoutMs: 600 },
    );
    fault(
      b,
      "character-update",
      { kind: "status", status: 429, body: { ERROR: "slow" }, headers: { "retry-after": "60" } },
      { after: 2 },
    );
    const view = await outcome(b, await deregister(b, OTHER));
    const shown = text(view.blocks);
    expect(view.title.text).toBe("Not deregistered");
    expect(b.sandbox.requests.some((r) => r.path.endsWith("/deregister"))).toBe(false);
    // Up to 4 run at once: the 4th may have been sent before the 429 came back; the 5th waits for a free
    // slot, finds the window open and is not sent. Every character is accounted for either way.
    const sent = updates(b).length;
    expect(sent === 4 || sent === 5).toBe(true);
    const moved = b.sandbox.characters().filter((c) => c.model === OTHER).length;
    expect(moved).toBe(sent - 1);
    expect(shown).toContain(`Moved to \`backup-llm\`* (${moved})`);
    expect(shown).toContain(`Not moved* (${5 - moved})`);
    expect(shown).toMatch(/Convai is rate limiting the bot; it asked to wait \d+ s/);
    expect(b.sandbox.characters().filter((c) => c.model === GROUP)).toHaveLength(5 - moved);
  });

  it.each<[string, Fault]>([
    ["hang", { kind: "hang" }],
    ["reset", { kind: "reset" }],
    ["429", { kind: "status", status: 429, body: { ERROR: "slow" }, headers: { "retry-after": "60" } }],
    ["malformed", { kind: "malformed" }],
  ])(
    "%s on /character/list: list still shows the models; characters says it could not list them",
    async (_n, f) => {
      const b = await bot(FIVE, { timeoutMs: 500 });
      fault(b, "character-list", f, { times: 10 });
      const list = text((await reply(b, "list")).blocks);
      expect(list).toContain(GROUP);
      expect(list).toContain("could not be read");
      const chars = await reply(b, "characters");
      expect(chars.text).toContain("Could not list the characters");
    },
  );
});
