import type { InputBlock, KnownBlock, ModalView } from "@slack/types";
import { describe, expect, it } from "vitest";
import type { ApiPrefix, ConvaiModel } from "../../src/convai/types.js";
import {
  deregisterLoadingModal,
  deregisterModal,
  messageModal,
  registerModal,
  SANDBOX_NOTICE,
  sandboxContext,
  updateLoadingModal,
  updateModal,
  type ViewContext,
  workingModal,
} from "../../src/modals/ui.js";
import { CALLBACK, CHECKED_VALUE } from "../../src/slack/ids.js";
import { charLength } from "../../src/slack/text.js";

const PREFIXES: ApiPrefix[] = ["/llm-models", "/custom-llm"];
const META = JSON.stringify({ v: 1, group: "my-group" });
const ctx = (prefix: ApiPrefix, sandbox = false): ViewContext => ({ prefix, sandbox });

const model: ConvaiModel = {
  model_group_name: "my-group",
  model_name: "gpt-4o",
  display_name: "My Model",
  base_url: "https://llm.example.com/v1",
  is_uncensored: false,
  category: "custom",
  created_at: "2025-07-08T10:00:00Z",
};

/** Every modal the module builds, for checks that apply to all of them. */
function allModals(c: ViewContext, m: ConvaiModel = model, long = ""): ModalView[] {
  return [
    registerModal(c),
    registerModal(
      c,
      {
        model_group_name: long || "g",
        model_name: long,
        display_name: long,
        base_url: long,
        is_uncensored: true,
      },
      { model_group_name: long || "bad", api_key: long || "bad", confirm_group_name: long || "stray" },
      META,
    ),
    updateLoadingModal(c, m.model_group_name, META),
    updateModal(c, m, META),
    updateModal(
      c,
      m,
      META,
      { model_name: long, display_name: long, base_url: long },
      { base_url: long || "bad" },
    ),
    deregisterLoadingModal(c, m.model_group_name, META),
    deregisterModal(c, m, META, { confirm_group_name: long || "bad" }),
    workingModal(c, CALLBACK.register, long || "Registering", long || "Registering `g` with Convai…"),
    messageModal(c, CALLBACK.update, long || "Model updated", [
      { type: "section", text: { type: "mrkdwn", text: "Done." } },
    ]),
  ];
}

const inputs = (view: ModalView): InputBlock[] =>
  view.blocks.filter((b): b is InputBlock => b.type === "input");
const ids = (view: ModalView) => new Set(inputs(view).map((b) => b.block_id));
const actionIds = (view: ModalView) => new Set(inputs(view).map((b) => b.element.action_id));
function inputFor(view: ModalView, id: string): InputBlock {
  const block = inputs(view).find((b) => b.block_id === id);
  if (!block) throw new Error(`no input ${id}`);
  return block;
}

/** Every mrkdwn text in a view, wherever it sits. */
function mrkdwnTexts(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) mrkdwnTexts(n, out);
  else if (typeof node === "object" && node !== null) {
    const rec: Record<string, unknown> = { ...node };
    if (rec.type === "mrkdwn" && typeof rec.text === "string") out.push(rec.text);
    for (const v of Object.values(rec)) mrkdwnTexts(v, out);
  }
  return out;
}

/** Walks a view and lists every Block Kit limit it breaks. */
function limitViolations(view: ModalView): string[] {
  const bad: string[] = [];
  const len = (o: unknown): number =>
    typeof o === "object" && o !== null && "text" in o && typeof o.text === "string"
      ? charLength(o.text)
      : -1;
  const check = (what: string, n: number, max: number) => {
    if (n > max || n === 0) bad.push(`${what}: ${n} > ${max}`);
  };
  check("title", len(view.title), 24);
  if (view.submit) check("submit", len(view.submit), 24);
  if (view.close) check("close", len(view.close), 24);
  if (view.private_metadata !== undefined) check("private_metadata", view.private_metadata.length, 3000);
  check("blocks", view.blocks.length, 100);
  const visit = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => {
        visit(n, `${path}[${i}]`);
      });
      return;
    }
    if (typeof node !== "object" || node === null) return;
    const o: Record<string, unknown> = { ...node };
    if ((o.type === "plain_text" || o.type === "mrkdwn") && typeof o.text === "string") {
      check(`${path} text`, charLength(o.text), 3000);
    }
    if (o.type === "header") check(`${path} header`, len(o.text), 150);
    if (o.type === "section" && o.text) check(`${path} section`, len(o.text), 3000);
    if (o.type === "section" && Array.isArray(o.fields)) {
      const fields: unknown[] = o.fields;
      check(`${path} fields`, fields.length, 10);
      for (const f of fields) check(`${path} field`, len(f), 2000);
    }
    if (o.type === "context" && Array.isArray(o.elements)) check(`${path} context`, o.elements.length, 10);
    if (o.type === "input") {
      check(`${path} label`, len(o.label), 2000);
      if (o.hint) check(`${path} hint`, len(o.hint), 2000);
    }
    if (o.placeholder) check(`${path} placeholder`, len(o.placeholder), 150);
    if (typeof o.block_id === "string") check(`${path} block_id`, o.block_id.length, 255);
    if (typeof o.action_id === "string") check(`${path} action_id`, o.action_id.length, 255);
    if (typeof o.max_length === "number") check(`${path} max_length`, o.max_length, 3000);
    if (typeof o.initial_value === "string" && typeof o.max_length === "number") {
      check(`${path} initial_value`, charLength(o.initial_value), o.max_length);
    }
    if (Array.isArray(o.options)) {
      const options: unknown[] = o.options;
      check(`${path} options`, options.length, 10);
      for (const item of options) {
        const opt: Record<string, unknown> = typeof item === "object" && item !== null ? { ...item } : {};
        check(`${path} option text`, len(opt.text), 75);
        if (opt.description) check(`${path} option description`, len(opt.description), 75);
        check(`${path} option value`, String(opt.value).length, 75);
      }
    }
    for (const [k, v] of Object.entries(o)) visit(v, `${path}.${k}`);
  };
  visit(view.blocks, "blocks");
  return bad;
}

describe("register modal", () => {
  it("offers all six fields plus verify on /llm-models", () => {
    const view = registerModal(ctx("/llm-models"));
    const expected = new Set([
      "model_group_name",
      "model_name",
      "display_name",
      "api_key",
      "base_url",
      "is_uncensored",
      "verify",
    ]);
    expect(ids(view)).toEqual(expected);
    expect(actionIds(view)).toEqual(expected);
    expect(view.callback_id).toBe("convai_llm_register");
    expect(view.submit).toBeDefined();
  });
  it("offers all but display_name on /custom-llm", () => {
    const view = registerModal(ctx("/custom-llm"));
    const expected = new Set([
      "model_group_name",
      "model_name",
      "api_key",
      "base_url",
      "is_uncensored",
      "verify",
    ]);
    expect(ids(view)).toEqual(expected);
    expect(actionIds(view)).toEqual(expected);
  });
  it("uses the contracted element types and text limits", () => {
    const view = registerModal(ctx("/llm-models"));
    const types = Object.fromEntries(inputs(view).map((b) => [b.block_id, b.element.type]));
    expect(types).toEqual({
      model_group_name: "plain_text_input",
      model_name: "plain_text_input",
      display_name: "plain_text_input",
      api_key: "plain_text_input",
      base_url: "url_text_input",
      is_uncensored: "checkboxes",
      verify: "checkboxes",
    });
    const maxLength = (id: string) => {
      const el = inputFor(view, id).element;
      return el.type === "plain_text_input" ? el.max_length : "not a text input";
    };
    expect(maxLength("model_group_name")).toBe(128);
    expect(maxLength("model_name")).toBe(256);
    expect(maxLength("display_name")).toBe(128);
    // Slack refuses max_length over 3000, so the 4096-character key limit is left to validation.
    expect(maxLength("api_key")).toBeUndefined();
    expect(inputFor(view, "base_url").element).not.toHaveProperty("max_length");
  });
  it("has a single-option uncensored checkbox, unchecked unless prefilled", () => {
    const el = inputFor(registerModal(ctx("/custom-llm")), "is_uncensored").element;
    if (el.type !== "checkboxes") throw new Error("not checkboxes");
    expect(el.options.map((o) => o.value)).toEqual([CHECKED_VALUE]);
    expect(el.initial_options).toBeUndefined();
    const pre = inputFor(registerModal(ctx("/custom-llm"), { is_uncensored: true }), "is_uncensored").element;
    expect(pre.type === "checkboxes" && pre.initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
  });
  it("checks verify by default, and unchecks it only when asked", () => {
    for (const prefix of PREFIXES) {
      const el = inputFor(registerModal(ctx(prefix)), "verify").element;
      if (el.type !== "checkboxes") throw new Error("not checkboxes");
      expect(el.options).toHaveLength(1);
      expect(el.options[0]?.text.text).toBe("Test the endpoint before saving");
      expect(el.initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
      const off = inputFor(registerModal(ctx(prefix), { verify: false }), "verify").element;
      expect(off.type === "checkboxes" && off.initial_options).toBeUndefined();
    }
  });
  it("makes checkboxes optional, base_url optional only on /llm-models, the rest required", () => {
    const optional = (prefix: ApiPrefix) =>
      Object.fromEntries(inputs(registerModal(ctx(prefix))).map((b) => [b.block_id, b.optional === true]));
    expect(optional("/llm-models")).toEqual({
      model_group_name: false,
      model_name: false,
      display_name: true,
      api_key: false,
      base_url: true,
      is_uncensored: true,
      verify: true,
    });
    expect(optional("/custom-llm").base_url).toBe(false);
  });
  it("restores prefilled values, but never a key", () => {
    const prefill = {
      model_group_name: "g1",
      model_name: "m1",
      display_name: "d1",
      base_url: "https://x.example.com/v1",
      api_key: "sk-must-not-appear",
    };
    const view = registerModal(ctx("/llm-models"), prefill);
    const initial = (id: string) => {
      const el = inputFor(view, id).element;
      return "initial_value" in el ? el.initial_value : undefined;
    };
    expect([
      initial("model_group_name"),
      initial("model_name"),
      initial("display_name"),
      initial("base_url"),
    ]).toEqual(["g1", "m1", "d1", "https://x.example.com/v1"]);
    expect(inputFor(view, "api_key").element).not.toHaveProperty("initial_value");
    expect(JSON.stringify(view)).not.toContain("sk-must-not-appear");
  });
  it("leaves out a prefill longer than its field rather than cutting it", () => {
    const view = registerModal(ctx("/llm-models"), { model_group_name: "g".repeat(129) });
    expect(inputFor(view, "model_group_name").element).not.toHaveProperty("initial_value");
  });
  it("explains the key field: never shown again, env: references", () => {
    const hint = inputFor(registerModal(ctx("/llm-models")), "api_key").hint?.text ?? "";
    expect(hint).toMatch(/never shown again/);
    expect(hint).toContain("env:CONVAI_SECRET_");
  });
});

describe("update modal", () => {
  it("offers display_name, base_url, api_key, is_uncensored and verify on /llm-models", () => {
    const view = updateModal(ctx("/llm-models"), model, META);
    const expected = new Set(["display_name", "base_url", "api_key", "is_uncensored", "verify"]);
    expect(ids(view)).toEqual(expected);
    expect(actionIds(view)).toEqual(expected);
    expect(view.callback_id).toBe("convai_llm_update");
    expect(view.private_metadata).toBe(META);
  });
  it("offers model_name, base_url, api_key, is_uncensored and verify on /custom-llm", () => {
    const view = updateModal(ctx("/custom-llm"), model, META);
    const expected = new Set(["model_name", "base_url", "api_key", "is_uncensored", "verify"]);
    expect(ids(view)).toEqual(expected);
    expect(actionIds(view)).toEqual(expected);
  });
  it("shows the group instead of asking for it", () => {
    const view = updateModal(ctx("/llm-models"), model, META);
    expect(ids(view).has("model_group_name")).toBe(false);
    const shown = view.blocks.filter((b) => b.type === "section");
    expect(JSON.stringify(shown)).toContain("`my-group`");
  });
  it("prefills from the model, never the key", () => {
    const withKey = { ...model, api_key: "sk-never-in-view" };
    for (const prefix of PREFIXES) {
      const view = updateModal(ctx(prefix), withKey, META);
      const el = (id: string) => inputFor(view, id).element;
      expect(el("base_url")).toHaveProperty("initial_value", "https://llm.example.com/v1");
      expect(el("api_key")).not.toHaveProperty("initial_value");
      expect(JSON.stringify(view)).not.toContain("sk-never-in-view");
      const editable = prefix === "/llm-models" ? ["display_name", "My Model"] : ["model_name", "gpt-4o"];
      expect(el(editable[0] ?? "")).toHaveProperty("initial_value", editable[1]);
    }
  });
  it("uses a keep/true/false radio starting on keep, whose label states the current value", () => {
    const el = inputFor(
      updateModal(ctx("/custom-llm"), { ...model, is_uncensored: true }, META),
      "is_uncensored",
    ).element;
    if (el.type !== "radio_buttons") throw new Error("not radio buttons");
    expect(el.options.map((o) => o.value)).toEqual(["keep", "true", "false"]);
    expect(el.initial_option?.value).toBe("keep");
    expect(el.options[0]?.text.text).toMatch(/current.*yes/);
    const no = inputFor(updateModal(ctx("/custom-llm"), model, META), "is_uncensored").element;
    expect(no.type === "radio_buttons" && no.options[0]?.text.text).toMatch(/current.*no/);
  });
  it("restores a submitted form from the prefill", () => {
    const view = updateModal(ctx("/llm-models"), model, META, {
      display_name: "",
      base_url: "https://typed.example.com/v1",
      is_uncensored: "true",
      verify: false,
    });
    expect(inputFor(view, "display_name").element).not.toHaveProperty("initial_value");
    expect(inputFor(view, "base_url").element).toHaveProperty(
      "initial_value",
      "https://typed.example.com/v1",
    );
    const radio = inputFor(view, "is_uncensored").element;
    expect(radio.type === "radio_buttons" && radio.initial_option?.value).toBe("true");
    const verify = inputFor(view, "verify").element;
    expect(verify.type === "checkboxes" && verify.initial_options).toBeUndefined();
  });
  it("checks verify by default and makes every text field optional (empty keeps)", () => {
    const view = updateModal(ctx("/llm-models"), model, META);
    const verify = inputFor(view, "verify").element;
    expect(verify.type === "checkboxes" && verify.initial_options?.map((o) => o.value)).toEqual([
      CHECKED_VALUE,
    ]);
    for (const id of ["display_name", "base_url", "api_key"]) expect(inputFor(view, id).optional).toBe(true);
    expect(inputFor(view, "api_key").hint?.text).toMatch(/empty to keep the current key/);
    expect(inputFor(view, "api_key").hint?.text).toContain("env:CONVAI_SECRET_");
  });
  it("has a loading state without a submit button", () => {
    const view = updateLoadingModal(ctx("/llm-models"), "my-group", META);
    expect(view.callback_id).toBe("convai_llm_update");
    expect(view.submit).toBeUndefined();
    expect(inputs(view)).toHaveLength(0);
    expect(JSON.stringify(view.blocks)).toContain("Loading `my-group` from Convai…");
    expect(view.private_metadata).toBe(META);
  });
});

describe("deregister modal", () => {
  it("asks only for confirm_group_name and warns in bold", () => {
    for (const prefix of PREFIXES) {
      const view = deregisterModal(ctx(prefix), model, META);
      expect(ids(view)).toEqual(new Set(["confirm_group_name"]));
      expect(actionIds(view)).toEqual(new Set(["confirm_group_name"]));
      expect(view.callback_id).toBe("convai_llm_deregister");
      expect(view.submit).toBeDefined();
      const texts = mrkdwnTexts(view.blocks);
      expect(
        texts.some((t) => /\*[^*]*Characters that use this model will stop answering[^*]*\*/.test(t)),
      ).toBe(true);
      expect(texts.join("\n")).toContain("`my-group`");
      expect(inputFor(view, "confirm_group_name").element).not.toHaveProperty("initial_value");
    }
  });
  it("lets a group longer than 128 characters be typed", () => {
    const long = { ...model, model_group_name: "g".repeat(200) };
    const el = inputFor(deregisterModal(ctx("/llm-models"), long, META), "confirm_group_name").element;
    expect(el.type === "plain_text_input" && el.max_length).toBe(200);
  });
  it("has a loading state without a submit button", () => {
    const view = deregisterLoadingModal(ctx("/custom-llm"), "my-group", META);
    expect(view.callback_id).toBe("convai_llm_deregister");
    expect(view.submit).toBeUndefined();
    expect(inputs(view)).toHaveLength(0);
  });
});

describe("working and message modals", () => {
  it("working: no submit, says it is working", () => {
    const view = workingModal(ctx("/llm-models"), CALLBACK.update, "Updating", "Saving `g`…");
    expect(view.callback_id).toBe("convai_llm_update");
    expect(view.submit).toBeUndefined();
    expect(mrkdwnTexts(view.blocks).join("\n")).toContain("Working…");
    expect(mrkdwnTexts(view.blocks).join("\n")).toContain("Saving `g`…");
  });
  it("message: close button Done, no submit, caller's blocks kept within 100", () => {
    const many: KnownBlock[] = Array.from({ length: 150 }, () => ({ type: "divider" }));
    const view = messageModal(ctx("/llm-models", true), CALLBACK.register, "Registered", many);
    expect(view.close?.text).toBe("Done");
    expect(view.submit).toBeUndefined();
    expect(view.blocks).toHaveLength(100);
    expect(view.blocks[0]?.type).toBe("context");
  });
});

describe("inline errors", () => {
  it("puts a warning context right under its field and escapes it", () => {
    const view = registerModal(ctx("/llm-models"), {}, { base_url: "Bad <!channel> & co" });
    const index = view.blocks.findIndex((b) => b.type === "input" && b.block_id === "base_url");
    const next = view.blocks[index + 1];
    expect(next?.type).toBe("context");
    expect(mrkdwnTexts(next)).toEqual(["⚠️ Bad &lt;!channel&gt; &amp; co"]);
  });
  it("shows errors for fields the view lacks near the top", () => {
    const view = registerModal(ctx("/custom-llm"), {}, { display_name: "Duplicate display name" });
    const firstInput = view.blocks.findIndex((b) => b.type === "input");
    const at = view.blocks.findIndex((b) => mrkdwnTexts(b).some((t) => t.includes("Duplicate display name")));
    expect(at).toBeGreaterThan(-1);
    expect(at).toBeLessThan(firstInput);
  });
  it("adds nothing when there are no errors", () => {
    const texts = mrkdwnTexts(updateModal(ctx("/custom-llm"), model, META).blocks).join("\n");
    expect(texts).not.toContain("⚠️ ");
  });
});

describe("escaping and limits", () => {
  const hostile: ConvaiModel = {
    model_group_name: "<!channel>",
    model_name: "<@U123>",
    display_name: "&amp; <!here> <https://evil.example|click>",
    base_url: "https://x.example.com/<@U123>",
    is_uncensored: true,
    category: "<!everyone>",
    created_at: "<!channel>",
  };
  it("escapes every Convai-supplied string in mrkdwn", () => {
    for (const prefix of PREFIXES) {
      for (const view of allModals(ctx(prefix), hostile)) {
        const texts = mrkdwnTexts(view).join("\n");
        expect(texts).not.toMatch(/<[!@#]/);
        expect(texts).not.toContain("<https://evil");
      }
      const showingModel = [
        updateLoadingModal(ctx(prefix), hostile.model_group_name, META),
        updateModal(ctx(prefix), hostile, META),
        deregisterLoadingModal(ctx(prefix), hostile.model_group_name, META),
        deregisterModal(ctx(prefix), hostile, META),
      ];
      for (const view of showingModel) expect(mrkdwnTexts(view).join("\n")).toContain("&lt;!channel&gt;");
      const details = mrkdwnTexts(updateModal(ctx(prefix), hostile, META)).join("\n");
      expect(details).toContain("&lt;@U123&gt;");
      expect(details).toContain("&amp;amp;");
    }
  });
  it("keeps titles and buttons within 24 characters", () => {
    for (const prefix of PREFIXES) {
      for (const view of allModals(ctx(prefix))) {
        expect(charLength(view.title.text)).toBeLessThanOrEqual(24);
        expect(charLength(view.close?.text ?? "")).toBeLessThanOrEqual(24);
        expect(charLength(view.submit?.text ?? "")).toBeLessThanOrEqual(24);
      }
    }
  });
  it("keeps every text within Block Kit limits for 3000-character inputs", () => {
    const long = "&<".repeat(1500);
    const huge: ConvaiModel = {
      model_group_name: "g".repeat(3000),
      model_name: long,
      display_name: long,
      base_url: `https://x.example.com/${long}`,
      is_uncensored: false,
      category: long,
      created_at: long,
    };
    for (const prefix of PREFIXES) {
      for (const sandbox of [false, true]) {
        for (const view of allModals(ctx(prefix, sandbox), huge, long)) {
          expect(limitViolations(view)).toEqual([]);
        }
      }
    }
  });
  it("the limit checker itself catches an oversize text", () => {
    const view = messageModal(ctx("/llm-models"), CALLBACK.register, "ok", [
      { type: "section", text: { type: "mrkdwn", text: "x".repeat(3001) } },
    ]);
    expect(limitViolations(view).length).toBeGreaterThan(0);
  });
  it("refuses private_metadata over 3000 characters", () => {
    expect(() => updateLoadingModal(ctx("/llm-models"), "g", "x".repeat(3001))).toThrow(RangeError);
  });
});

describe("sandbox context", () => {
  it("is returned only in sandbox mode", () => {
    expect(sandboxContext(ctx("/llm-models"))).toBeUndefined();
    expect(mrkdwnTexts(sandboxContext(ctx("/llm-models", true))).join("")).toContain(SANDBOX_NOTICE);
  });
  it("is carried by every modal in sandbox mode and by none otherwise", () => {
    for (const prefix of PREFIXES) {
      for (const view of allModals(ctx(prefix, true))) {
        expect(view.blocks[0]?.type).toBe("context");
        expect(mrkdwnTexts(view.blocks[0]).join("")).toContain("Sandbox mode");
      }
      for (const view of allModals(ctx(prefix, false))) {
        expect(mrkdwnTexts(view.blocks).join("")).not.toContain("Sandbox mode");
      }
    }
  });
});
