/**
 * The App Home through the real HTTP flow: signed events and block actions into the real bot, views
 * published to the fake Slack Web API, models held by the Convai sandbox.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ACTION, CALLBACK } from "../../src/slack/ids.js";
import { MANAGER, MEMBER, startTestBot, type TestBot, type TestBotOptions } from "../helpers/bot.js";
import type { SlackCall } from "../helpers/fake-slack.js";
import {
  appHomeOpened,
  blockAction,
  input,
  sendEvent,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function start(options: TestBotOptions = {}): Promise<TestBot> {
  t = await startTestBot(options);
  return t;
}

const textObject = z.looseObject({ type: z.string(), text: z.string() });
const element = z.looseObject({
  type: z.string(),
  action_id: z.string(),
  value: z.string().optional(),
  text: textObject.optional(),
  options: z.array(z.looseObject({ value: z.string() })).optional(),
});
const blockSchema = z.looseObject({
  type: z.string(),
  block_id: z.string().optional(),
  elements: z.array(z.unknown()).optional(),
  accessory: z.unknown().optional(),
});
const viewSchema = z.looseObject({
  type: z.string(),
  callback_id: z.string().optional(),
  blocks: z.array(blockSchema),
  private_metadata: z.string().optional(),
});
type Element = z.infer<typeof element> & { block_id: string | undefined };

function viewOf(call: SlackCall) {
  return viewSchema.parse(call.args.view);
}
function elementsOf(call: SlackCall): Element[] {
  return viewOf(call).blocks.flatMap((b) =>
    [...(b.elements ?? []), b.accessory].flatMap((e) => {
      const p = element.safeParse(e);
      return p.success ? [{ ...p.data, block_id: b.block_id }] : [];
    }),
  );
}
const ids = (call: SlackCall) => elementsOf(call).map((e) => e.action_id);
const rows = (call: SlackCall) => viewOf(call).blocks.filter((b) => b.block_id?.startsWith("model:"));
const viewText = (call: SlackCall) => JSON.stringify(call.args.view);
function button(call: SlackCall, test: (e: Element) => boolean): Element {
  const found = elementsOf(call).find(test);
  if (!found) throw new Error(`no such element in ${viewText(call).slice(0, 500)}`);
  return found;
}

/** Waits for a views.publish to `user` whose view matches; earlier publishes (loading states) are skipped. */
function published(
  bot: TestBot,
  user: string,
  match: (text: string) => boolean = () => true,
  timeoutMs = 4000,
) {
  return bot.fake.waitFor("views.publish", (c) => c.args.user_id === user && match(viewText(c)), timeoutMs);
}

async function openHome(bot: TestBot, user: string, match?: (text: string) => boolean): Promise<SlackCall> {
  const res = await sendEvent(bot.url, appHomeOpened({ userId: user }));
  expect(res.status).toBe(200);
  return published(bot, user, match);
}

/** Clicks an element of the Home as Slack would send it (container: the user's Home view). */
async function click(bot: TestBot, user: string, el: Element, selected?: string) {
  const res = await sendInteraction(
    bot.url,
    blockAction({
      actionId: el.action_id,
      ...(el.block_id !== undefined ? { blockId: el.block_id } : {}),
      ...(el.value !== undefined ? { value: el.value } : {}),
      ...(selected !== undefined ? { selectedOptionValue: selected } : {}),
      userId: user,
      viewId: "VHOME",
      viewType: "home",
    }),
  );
  expect(res.status).toBe(200);
}

const FIVE = [
  {
    model_group_name: "zeta",
    model_name: "llama-3-70b",
    display_name: "<!channel> Zeta",
    base_url: "https://zeta.example.com/v1",
  },
  {
    model_group_name: "alpha",
    model_name: "gpt-4o-mini",
    display_name: "Alpha",
    base_url: "https://alpha.example.com/v1",
  },
  { model_group_name: "mike", model_name: "qwen-2", display_name: "Mike", is_uncensored: true },
  { model_group_name: "bravo", model_name: "mistral-7b", display_name: "Bravo" },
  { model_group_name: "kilo", model_name: "phi-3", display_name: "Kilo" },
].map((m) => ({ ...m, api_key: "sk-seeded-SECRET-0001" }));

describe("App Home: what managers and members see", () => {
  it("a manager's Home: header, live Convai line, Register and Refresh, a menu per model, sorted, escaped", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    const call = await openHome(bot, MANAGER);
    const view = viewOf(call);
    expect(view.type).toBe("home");
    const text = viewText(call);
    expect(text).toContain("Convai custom LLMs");
    expect(text).toContain("Live Convai at");
    expect(text).toContain("5 custom LLMs");
    expect(rows(call).map((b) => b.block_id)).toEqual([
      "model:alpha",
      "model:bravo",
      "model:kilo",
      "model:mike",
      "model:zeta",
    ]);
    expect(ids(call)).toContain(ACTION.openRegister);
    expect(ids(call)).toContain(ACTION.homeRefresh);
    expect(ids(call).filter((id) => id === ACTION.modelOverflow)).toHaveLength(5);
    expect(text).toContain("alpha.example.com");
    expect(text).toContain(":warning: uncensored");
    expect(text).toContain("&lt;!channel&gt; Zeta");
    expect(text).not.toContain("<!channel>");
    expect(text).not.toContain("Read-only");
    expect(text).not.toContain("SECRET");
  });

  it("a member's Home: the same rows read-only, no change buttons, and who grants access", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    const call = await openHome(bot, MEMBER);
    expect(rows(call)).toHaveLength(5);
    expect(ids(call)).not.toContain(ACTION.openRegister);
    expect(ids(call)).not.toContain(ACTION.modelOverflow);
    expect(ids(call)).toContain(ACTION.homeRefresh);
    const text = viewText(call);
    expect(text).toContain("Read-only. Only Convai LLM managers — <@U0MANAGER> — can register");
    expect(text).toContain("ask one of them for access");
  });

  it("only the Home tab is published; the Messages tab is left alone", async () => {
    const bot = await start();
    await sendEvent(bot.url, appHomeOpened({ userId: MEMBER, tab: "messages" }));
    await openHome(bot, MANAGER);
    expect(bot.fake.callsTo("views.publish").map((c) => c.args.user_id)).toEqual([MANAGER]);
  });

  it("0 models: an empty state that says how to register, with the sandbox line in sandbox mode", async () => {
    const bot = await start({ sandboxMode: true });
    const call = await openHome(bot, MANAGER);
    const text = viewText(call);
    expect(text).toContain("No custom LLMs are registered yet.");
    expect(text).toContain("`/convai-llm register`");
    expect(text).toContain("Sandbox mode");
    expect(rows(call)).toHaveLength(0);
    expect(ids(call)).toEqual([ACTION.openRegister, ACTION.homeRefresh]);
  });
});

describe("App Home: buttons", () => {
  it("Register a model opens the register modal", async () => {
    const bot = await start();
    const home = await openHome(bot, MANAGER);
    await click(
      bot,
      MANAGER,
      button(home, (e) => e.action_id === ACTION.openRegister),
    );
    const opened = await bot.fake.waitFor("views.open");
    const modal = viewOf(opened);
    expect(modal.callback_id).toBe(CALLBACK.register);
    expect(modal.blocks.map((b) => b.block_id)).toContain("model_group_name");
    expect(JSON.parse(modal.private_metadata ?? "{}")).toMatchObject({ origin: "home" });
  });

  it("a row's Edit opens the update modal for that group (loading first, then filled)", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    const home = await openHome(bot, MANAGER);
    const menu = button(home, (e) => e.action_id === ACTION.modelOverflow && e.block_id === "model:kilo");
    expect(menu.options?.map((o) => o.value)).toEqual(["update", "assign", "deregister"]);
    await click(bot, MANAGER, menu, "update");
    const opened = await bot.fake.waitFor("views.open");
    expect(viewOf(opened).callback_id).toBe(CALLBACK.update);
    expect(viewOf(opened).blocks.some((b) => b.type === "input")).toBe(false);
    const filled = await bot.fake.waitFor("views.update");
    const modal = viewOf(filled);
    expect(modal.callback_id).toBe(CALLBACK.update);
    expect(modal.blocks.map((b) => b.block_id)).toEqual(
      expect.arrayContaining(["display_name", "base_url", "api_key", "is_uncensored"]),
    );
    expect(viewText(filled)).toContain("Kilo");
    expect(JSON.parse(modal.private_metadata ?? "{}")).toMatchObject({ group: "kilo", origin: "home" });
  });

  it("a row's Deregister opens the confirmation modal for that group", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    const home = await openHome(bot, MANAGER);
    const menu = button(home, (e) => e.action_id === ACTION.modelOverflow && e.block_id === "model:bravo");
    await click(bot, MANAGER, menu, "deregister");
    const filled = await bot.fake.waitFor("views.update");
    const modal = viewOf(filled);
    expect(modal.callback_id).toBe(CALLBACK.deregister);
    expect(modal.blocks.map((b) => b.block_id)).toContain("confirm_group_name");
    expect(JSON.parse(modal.private_metadata ?? "{}")).toMatchObject({ group: "bravo" });
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toContain("bravo");
  });

  it("a member's forged Home buttons are refused: no change modal, Convai untouched", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    await openHome(bot, MEMBER);
    const before = bot.sandbox.requests.length;
    // The member's Home has no such buttons; these are forged from a manager's view.
    await click(bot, MEMBER, {
      type: "button",
      action_id: ACTION.openRegister,
      value: "register",
      block_id: "home_toolbar",
    });
    await click(
      bot,
      MEMBER,
      { type: "overflow", action_id: ACTION.modelOverflow, block_id: "model:alpha" },
      "deregister",
    );
    await bot.fake.waitFor("views.open", () => bot.fake.callsTo("views.open").length >= 2);
    for (const opened of bot.fake.callsTo("views.open")) {
      const modal = viewOf(opened);
      expect(modal.blocks.some((b) => b.type === "input")).toBe(false);
      expect(viewText(opened)).toContain("Only Convai LLM managers — <@U0MANAGER> —");
    }
    expect(bot.fake.callsTo("views.update")).toHaveLength(0);
    expect(bot.sandbox.requests.length).toBe(before);
    expect(bot.sandbox.models()).toHaveLength(5);
  });

  it("Refresh re-reads Convai and re-publishes", async () => {
    const bot = await start();
    const home = await openHome(bot, MEMBER);
    expect(viewText(home)).toContain("No custom LLMs are registered yet.");
    await bot.sandbox.seed(FIVE);
    await click(
      bot,
      MEMBER,
      button(home, (e) => e.action_id === ACTION.homeRefresh),
    );
    const again = await published(bot, MEMBER, (text) => text.includes("5 custom LLMs"));
    expect(rows(again)).toHaveLength(5);
  });
});

describe("App Home: Convai failures, paging, republish", () => {
  it("Convai failing: the Home says what failed (escaped) with a retry button that works", async () => {
    const bot = await start();
    await bot.sandbox.seed(FIVE);
    bot.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: {
        kind: "status",
        status: 500,
        body: { status: "error", message: "db <!channel> down", transactionID: "tx-home-500" },
      },
    });
    const call = await openHome(bot, MANAGER);
    const text = viewText(call);
    expect(text).toContain("could not load the models from Convai");
    expect(text).toContain("db &lt;!channel&gt; down");
    expect(text).toContain("tx-home-500");
    expect(text).not.toContain("<!channel>");
    expect(rows(call)).toHaveLength(0);
    const retry = button(call, (e) => e.action_id === ACTION.homeRefresh && e.text?.text === "Try again");

    bot.sandbox.clearFaults();
    await click(bot, MANAGER, retry);
    const recovered = await published(bot, MANAGER, (t2) => t2.includes("5 custom LLMs"));
    expect(rows(recovered)).toHaveLength(5);
  });

  it("slow Convai: a loading state first, then the list; never a blank page", async () => {
    const bot = await start({ timeoutMs: 5000 });
    await bot.sandbox.seed(FIVE);
    bot.sandbox.inject({ endpoint: "list", fault: { kind: "delay", ms: 1600 } });
    await sendEvent(bot.url, appHomeOpened({ userId: MANAGER }));
    const loading = await published(bot, MANAGER);
    expect(viewText(loading)).toContain("Loading the models from Convai");
    const loaded = await published(bot, MANAGER, (text) => text.includes("5 custom LLMs"), 6000);
    expect(rows(loaded)).toHaveLength(5);
  });

  it("300 models: pages of at most 100 blocks with Next, Previous and a validated page number", async () => {
    const bot = await start();
    await bot.sandbox.seed(
      Array.from({ length: 300 }, (_, i) => ({
        model_group_name: `grp-${String(i).padStart(3, "0")}`,
        model_name: `model-${i}`,
        api_key: "sk-seeded-SECRET-0002",
      })),
    );
    const first = await openHome(bot, MANAGER);
    expect(viewOf(first).blocks.length).toBeLessThanOrEqual(100);
    expect(viewText(first)).toContain("Page 1 of 6* · 300 custom LLMs");
    expect(rows(first)[0]?.block_id).toBe("model:grp-000");
    const blockIds = viewOf(first).blocks.flatMap((b) => (b.block_id ? [b.block_id] : []));
    expect(new Set(blockIds).size).toBe(blockIds.length);
    expect(elementsOf(first).filter((e) => e.text?.text.includes("Previous"))).toHaveLength(0);
    const next = button(first, (e) => e.text?.text.includes("Next") ?? false);
    expect(next.value).toBe("2");

    await click(bot, MANAGER, next);
    const second = await published(bot, MANAGER, (text) => text.includes("Page 2 of 6*"));
    expect(rows(second)[0]?.block_id).toBe("model:grp-050");
    expect(elementsOf(second).filter((e) => /Previous|Next/.test(e.text?.text ?? ""))).toHaveLength(2);

    // The bare action id with a page number, as a client would send it.
    await click(bot, MANAGER, {
      type: "button",
      action_id: ACTION.homePage,
      value: "6",
      block_id: "home_pager",
    });
    const last = await published(bot, MANAGER, (text) => text.includes("Page 6 of 6*"));
    expect(rows(last)).toHaveLength(50);
    expect(rows(last).at(-1)?.block_id).toBe("model:grp-299");
    const pager = elementsOf(last).filter((e) => /Previous|Next/.test(e.text?.text ?? ""));
    expect(pager.map((e) => [e.text?.text, e.value])).toEqual([["◀ Previous", "5"]]);
    expect(viewOf(last).private_metadata).toBe("6");

    // Out of range is clamped; garbage means page 1.
    bot.fake.reset();
    await click(bot, MANAGER, {
      type: "button",
      action_id: ACTION.homePage,
      value: "999",
      block_id: "home_pager",
    });
    expect(viewText(await published(bot, MANAGER))).toContain("Page 6 of 6*");
    bot.fake.reset();
    await click(bot, MANAGER, {
      type: "button",
      action_id: ACTION.homePage,
      value: "<!channel>",
      block_id: "home_pager",
    });
    expect(viewText(await published(bot, MANAGER))).toContain("Page 1 of 6*");
    expect(
      bot.logLines().some((l) => l.component === "home" && String(l.msg).includes("malformed page")),
    ).toBe(true);
  });

  it("after a register through the modal, the actor's Home is republished with the new model", async () => {
    const bot = await start();
    const home = await openHome(bot, MANAGER);
    expect(viewText(home)).toContain("No custom LLMs are registered yet.");
    const sub = await sendInteraction(
      bot.url,
      viewSubmission({
        callbackId: CALLBACK.register,
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, origin: "home" }),
        values: stateValues({
          model_group_name: input.text("fresh-one"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("Fresh"),
          api_key: input.text("sk-model-SECRET-1234"),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    expect(sub.status).toBe(200);
    const republished = await published(bot, MANAGER, (text) => text.includes("fresh-one"));
    expect(rows(republished).map((b) => b.block_id)).toEqual(["model:fresh-one"]);
    expect(ids(republished)).toContain(ACTION.modelOverflow);
    expect(viewText(republished)).not.toContain("SECRET");
  });

  it("a failing views.publish is logged, never thrown: the change still reports success", async () => {
    const bot = await start();
    bot.fake.on("views.publish", () => ({ body: { ok: false, error: "not_enabled" } }));
    const sub = await sendInteraction(
      bot.url,
      viewSubmission({
        callbackId: CALLBACK.register,
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, origin: "home" }),
        values: stateValues({
          model_group_name: input.text("still-saved"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text(""),
          api_key: input.text("sk-model-SECRET-1234"),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    expect(sub.status).toBe(200);
    expect(sub.text).toContain("registered");
    await bot.fake.waitFor("views.publish");
    await expect
      .poll(() => bot.logLines().find((l) => l.component === "home" && l.error === "not_enabled"))
      .toMatchObject({ level: 50, userId: MANAGER, reason: "changed" });
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["still-saved"]);
    expect(bot.logLines().some((l) => String(l.msg).includes("A listener failed unexpectedly"))).toBe(false);
  });
});
