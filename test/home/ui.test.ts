import type { HomeView } from "@slack/types";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { ConvaiModel } from "../../src/convai/types.js";
import { parsePage } from "../../src/home/listeners.js";
import {
  HOME_CHROME_BLOCKS,
  HOME_PAGE_SIZE,
  type HomeInput,
  homeView,
  PAGE_ACTION_IDS,
  PAGE_ACTION_PATTERN,
  pageOf,
} from "../../src/home/ui.js";
import { sandboxNote } from "../../src/slack/blocks.js";
import { ACTION } from "../../src/slack/ids.js";
import { charLength, LIMITS } from "../../src/slack/text.js";

const POLICY = "Convai LLM managers — <@U0MANAGER> —";

function model(i: number, extra: Partial<ConvaiModel> = {}): ConvaiModel {
  return {
    model_group_name: `group-${String(i).padStart(3, "0")}`,
    model_name: `model-${i}`,
    display_name: `Model ${i}`,
    base_url: `https://llm${i}.example.com/v1`,
    is_uncensored: i % 2 === 0,
    category: "Private",
    created_at: "2025-07-08T10:00:00Z",
    ...extra,
  };
}
const models = (n: number) => Array.from({ length: n }, (_, i) => model(i + 1));

function build(over: Partial<HomeInput> = {}): HomeView {
  return homeView({
    sandbox: false,
    convaiHost: "api.convai.com",
    prefix: "/llm-models",
    command: "/convai-llm",
    access: { canManage: true },
    page: 1,
    state: { kind: "loaded", models: models(5) },
    now: new Date("2025-07-08T12:00:00Z"),
    ...over,
  }).view;
}

const record = z.record(z.string(), z.unknown());
const textObject = z.looseObject({ type: z.enum(["plain_text", "mrkdwn"]), text: z.string() });
const interactive = z.looseObject({
  type: z.string(),
  action_id: z.string(),
  value: z.string().optional(),
  text: textObject.optional(),
  options: z.array(z.looseObject({ text: textObject, value: z.string() })).optional(),
});
const block = z.looseObject({
  type: z.string(),
  block_id: z.string().optional(),
  text: textObject.optional(),
  elements: z.array(z.unknown()).optional(),
  accessory: z.unknown().optional(),
});

/** Every Block Kit limit a Home view can break; returns the violations, so a failure says what is wrong. */
function violations(view: HomeView): string[] {
  const out: string[] = [];
  if (view.blocks.length > LIMITS.viewBlocks) out.push(`${view.blocks.length} blocks`);
  if ((view.private_metadata ?? "").length > LIMITS.privateMetadata) out.push("private_metadata too long");
  const blockIds = new Set<string>();
  const visitText = (node: unknown, max: number, where: string) => {
    const t = textObject.safeParse(node);
    if (!t.success) return;
    const n = charLength(t.data.text);
    if (n < 1 || n > max) out.push(`${where}: text of ${n} characters`);
  };
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => {
        walk(n, `${where}[${i}]`);
      });
      return;
    }
    const rec = record.safeParse(node);
    if (!rec.success) return;
    visitText(node, LIMITS.text, where);
    for (const [k, v] of Object.entries(rec.data)) walk(v, `${where}.${k}`);
  };
  view.blocks.forEach((raw, i) => {
    const b = block.parse(raw);
    const where = `blocks[${i}](${b.type})`;
    if (b.block_id !== undefined) {
      if (b.block_id.length > LIMITS.blockId) out.push(`${where}: block_id too long`);
      if (blockIds.has(b.block_id)) out.push(`${where}: duplicate block_id ${b.block_id}`);
      blockIds.add(b.block_id);
    }
    if (b.type === "header") visitText(b.text, LIMITS.headerText, where);
    if (b.type === "context" && (b.elements?.length ?? 0) > LIMITS.contextElements)
      out.push(`${where}: elements`);
    const elements = [...(b.type === "actions" ? (b.elements ?? []) : []), b.accessory].flatMap((e) => {
      const p = interactive.safeParse(e);
      return p.success ? [p.data] : [];
    });
    if (b.type === "actions" && elements.length > 25) out.push(`${where}: more than 25 elements`);
    const actionIds = new Set<string>();
    for (const e of elements) {
      if (actionIds.has(e.action_id)) out.push(`${where}: duplicate action_id ${e.action_id}`);
      actionIds.add(e.action_id);
      if (e.action_id.length > LIMITS.actionId) out.push(`${where}: action_id too long`);
      if (e.type === "button") {
        if (e.text) visitText(e.text, 75, `${where} button`);
        if ((e.value ?? "").length > 2000) out.push(`${where}: button value too long`);
      }
      for (const o of e.options ?? []) {
        visitText(o.text, LIMITS.optionText, `${where} option`);
        if (o.value.length > LIMITS.optionValue) out.push(`${where}: option value too long`);
      }
    }
    walk(raw, where);
  });
  return out;
}

function buttons(view: HomeView) {
  return view.blocks.flatMap((raw) => {
    const b = block.parse(raw);
    return [...(b.elements ?? []), b.accessory].flatMap((e) => {
      const p = interactive.safeParse(e);
      return p.success ? [{ ...p.data, block_id: b.block_id }] : [];
    });
  });
}
/** Everything Slack renders (text objects); block_ids and values are never shown, so they cannot ping. */
function rendered(view: HomeView): string {
  const texts: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    const rec = record.safeParse(node);
    if (!rec.success) return;
    const t = textObject.safeParse(node);
    if (t.success) texts.push(t.data.text);
    for (const v of Object.values(rec.data)) walk(v);
  };
  walk(view.blocks);
  return texts.join("\n");
}
const actionIds = (view: HomeView) => buttons(view).map((b) => b.action_id);
const json = (view: HomeView) => JSON.stringify(view);

describe("App Home view: content", () => {
  it("a manager gets Register, Refresh and an Edit/Deregister menu on every row, sorted by group", () => {
    const shuffled = [model(3), model(1), model(5), model(2), model(4)];
    const view = build({ state: { kind: "loaded", models: shuffled } });
    expect(view.type).toBe("home");
    expect(violations(view)).toEqual([]);
    const ids = actionIds(view);
    expect(ids).toContain(ACTION.openRegister);
    expect(ids).toContain(ACTION.homeRefresh);
    expect(ids.filter((id) => id === ACTION.modelOverflow)).toHaveLength(5);
    const rows = view.blocks.flatMap((b) => (b.block_id?.startsWith("model:") ? [b.block_id] : []));
    expect(rows).toEqual([
      "model:group-001",
      "model:group-002",
      "model:group-003",
      "model:group-004",
      "model:group-005",
    ]);
    const menu = buttons(view).find((b) => b.action_id === ACTION.modelOverflow);
    expect(menu?.options?.map((o) => [o.text.text, o.value])).toEqual([
      ["Edit", "update"],
      ["Assign characters", "assign"],
      ["Deregister", "deregister"],
    ]);
    const text = json(view);
    expect(text).toContain("Convai custom LLMs");
    expect(text).toContain("5 custom LLMs");
    // Each fact the issue asks for: group, display name, model, base URL host, uncensored, created.
    expect(text).toContain("*group-002* · Model 2");
    expect(text).toContain("`model-2`");
    expect(text).toContain("llm2.example.com");
    expect(text).toContain(":warning: uncensored");
    expect(text).toContain("created 2025-07-08");
    expect(text).toContain("Live Convai at `api.convai.com`");
    expect(text).not.toContain("Read-only");
    expect(actionIds(view).some((id) => PAGE_ACTION_PATTERN.test(id))).toBe(false);
  });

  it("a member gets the same rows read-only, and who can grant access", () => {
    const view = build({ access: { canManage: false, policy: POLICY } });
    expect(violations(view)).toEqual([]);
    const ids = actionIds(view);
    expect(ids).not.toContain(ACTION.openRegister);
    expect(ids).not.toContain(ACTION.modelOverflow);
    expect(ids).toContain(ACTION.homeRefresh);
    expect(view.blocks.filter((b) => b.block_id?.startsWith("model:"))).toHaveLength(5);
    expect(json(view)).toContain(`Read-only. Only ${POLICY} can register, edit or deregister models`);
  });

  it("a failed permission lookup is said, escaped, beside the policy", () => {
    const view = build({
      access: { canManage: false, policy: POLICY, problem: "Slack said <users_not_found> & gave up" },
    });
    expect(json(view)).toContain("Slack said &lt;users_not_found&gt; &amp; gave up");
  });

  it("sandbox mode says so in a context line", () => {
    const view = build({ sandbox: true });
    expect(json(view)).toContain(sandboxNote);
    expect(json(view)).not.toContain("Live Convai");
  });

  it("0 models: an empty state that says how to register", () => {
    const manager = build({ state: { kind: "loaded", models: [] } });
    expect(violations(manager)).toEqual([]);
    expect(json(manager)).toContain("No custom LLMs are registered yet.");
    expect(json(manager)).toContain("*Register a model* above, or `/convai-llm register`");
    expect(actionIds(manager)).toEqual([ACTION.openRegister, ACTION.homeRefresh]);
    const member = build({
      state: { kind: "loaded", models: [] },
      access: { canManage: false, policy: POLICY },
    });
    expect(json(member)).toContain("A manager can register one with `/convai-llm register`");
    expect(actionIds(member)).toEqual([ACTION.homeRefresh]);
  });

  it("Convai failure: the error, escaped, and a retry button that keeps the page", () => {
    const view = build({
      page: 3,
      state: { kind: "failed", message: "Convai had an internal error: <!channel> down & out (tx-9)" },
    });
    expect(violations(view)).toEqual([]);
    const text = rendered(view);
    expect(text).toContain("could not load the models from Convai");
    expect(text).toContain("&lt;!channel&gt; down &amp; out (tx-9)");
    expect(text).not.toContain("<!channel>");
    const retry = buttons(view).filter((b) => b.action_id === ACTION.homeRefresh);
    expect(retry.map((b) => [b.text?.text, b.value])).toEqual([
      ["Refresh", "3"],
      ["Try again", "3"],
    ]);
    expect(view.blocks.some((b) => b.block_id?.startsWith("model:"))).toBe(false);
  });

  it("loading: a placeholder, never a blank page", () => {
    const view = build({ state: { kind: "loading" } });
    expect(json(view)).toContain("Loading the models from Convai");
    expect(violations(view)).toEqual([]);
  });
});

describe("App Home view: escaping and limits", () => {
  it("escapes <!channel>, <@U…> and & in every Convai-supplied field", () => {
    const evil = model(1, {
      model_group_name: "grp-<!channel>",
      display_name: "<!channel> & <@U0BOSS>",
      model_name: "<!here>",
      base_url: "https://<!everyone>.example.com/v1",
      created_at: "<!date^1^x|y>",
    });
    const view = build({ state: { kind: "loaded", models: [evil] } });
    const text = rendered(view);
    for (const ping of ["<!channel>", "<@U0BOSS>", "<!here>", "<!everyone>", "<!date^1^x"]) {
      expect(text).not.toContain(ping);
    }
    expect(text).toContain("&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;");
    expect(violations(view)).toEqual([]);
  });

  it("huge fields are cut to Slack's limits; groups sharing a 250-character prefix keep unique block_ids", () => {
    const long = "x".repeat(5000);
    const many = [
      model(1, {
        model_group_name: `${"g".repeat(300)}-a`,
        display_name: long,
        model_name: long,
        base_url: `https://${"h".repeat(3000)}.com`,
      }),
      model(2, { model_group_name: `${"g".repeat(300)}-b`, display_name: "&".repeat(3000) }),
      model(3, {
        model_group_name: "<".repeat(128),
        display_name: ">".repeat(128),
        model_name: "&".repeat(256),
      }),
    ];
    const view = build({ state: { kind: "loaded", models: many } });
    expect(violations(view)).toEqual([]);
    // A group too long for a block_id gets no menu (its group could not be read back); the others do.
    expect(actionIds(view).filter((id) => id === ACTION.modelOverflow)).toHaveLength(1);
  });

  it("300 models: 6 pages of 50, each within 100 blocks, Previous/Next only where they lead somewhere", () => {
    const all = models(300);
    const seen: string[] = [];
    for (let page = 1; page <= 6; page++) {
      const view = build({ page, state: { kind: "loaded", models: all } });
      expect(violations(view)).toEqual([]);
      expect(view.blocks.length).toBeLessThanOrEqual(LIMITS.viewBlocks);
      const rows = view.blocks.filter((b) => b.block_id?.startsWith("model:"));
      expect(rows).toHaveLength(50);
      seen.push(...rows.flatMap((b) => (b.block_id ? [b.block_id] : [])));
      expect(json(view)).toContain(`Page ${page} of 6* · 300 custom LLMs`);
      const pager = buttons(view).filter((b) => PAGE_ACTION_PATTERN.test(b.action_id));
      const expected = [
        ...(page > 1 ? [[PAGE_ACTION_IDS.prev, String(page - 1)]] : []),
        ...(page < 6 ? [[PAGE_ACTION_IDS.next, String(page + 1)]] : []),
      ];
      expect(pager.map((b) => [b.action_id, b.value])).toEqual(expected);
      expect(view.private_metadata).toBe(String(page));
      expect(buttons(view).find((b) => b.action_id === ACTION.homeRefresh)?.value).toBe(String(page));
    }
    // Every model appears exactly once across the pages, in group order.
    expect(seen).toEqual(all.map((m) => `model:${m.model_group_name}`));
  });

  it("the worst case (member, full page, every chrome block) stays within 100 blocks", () => {
    expect(HOME_PAGE_SIZE + HOME_CHROME_BLOCKS).toBeLessThanOrEqual(LIMITS.viewBlocks);
    const view = build({
      page: 2,
      access: { canManage: false, policy: POLICY, problem: "x" },
      state: { kind: "loaded", models: models(HOME_PAGE_SIZE * 3) },
      usage: { kind: "unknown", reason: "Convai had an internal error." },
    });
    expect(view.blocks).toHaveLength(HOME_PAGE_SIZE + HOME_CHROME_BLOCKS);
    expect(violations(view)).toEqual([]);
  });

  it("out-of-range pages are clamped", () => {
    expect(pageOf(300, 999)).toEqual({ page: 6, pages: 6, start: 250, end: 300 });
    expect(pageOf(300, 0)).toEqual({ page: 1, pages: 6, start: 0, end: 50 });
    expect(pageOf(300, Number.NaN).page).toBe(1);
    expect(pageOf(0, 4)).toEqual({ page: 1, pages: 1, start: 0, end: 0 });
    expect(pageOf(5, 1)).toEqual({ page: 1, pages: 1, start: 0, end: 5 });
    expect(pageOf(51, 2)).toEqual({ page: 2, pages: 2, start: 50, end: 51 });
    const last = build({ page: 999, state: { kind: "loaded", models: models(120) } });
    expect(json(last)).toContain("Page 3 of 3*");
  });

  it("page values are validated: digits only, 1 or more", () => {
    expect(parsePage("2")).toEqual({ ok: true, page: 2 });
    expect(parsePage(" 7 ")).toEqual({ ok: true, page: 7 });
    for (const bad of [undefined, "", "0", "-1", "1.5", "2e3", "abc", "9999999", "0x10", 3]) {
      expect(parsePage(bad)).toEqual({ ok: false, page: 1 });
    }
  });

  it("the paging listener's pattern matches the bare id and both buttons, nothing else", () => {
    expect(PAGE_ACTION_PATTERN.test(ACTION.homePage)).toBe(true);
    expect(PAGE_ACTION_PATTERN.test(PAGE_ACTION_IDS.prev)).toBe(true);
    expect(PAGE_ACTION_PATTERN.test(PAGE_ACTION_IDS.next)).toBe(true);
    expect(PAGE_ACTION_PATTERN.test(`${ACTION.homePage}x`)).toBe(false);
    expect(PAGE_ACTION_PATTERN.test("convai_homepage")).toBe(false);
  });
});
