import type { KnownBlock } from "@slack/types";
import { describe, expect, it } from "vitest";
import {
  helpMessage,
  LIST_PAGE_SIZE,
  listMessage,
  type MessageContext,
  missingGroupMessage,
  unknownMessage,
} from "../../src/commands/ui.js";
import type { ConvaiModel } from "../../src/convai/types.js";
import { filterModels, modelRowSection, plainMessage, type Reply } from "../../src/slack/blocks.js";

const ctx: MessageContext = { sandbox: false, command: "/convai-llm" };
const sandboxCtx: MessageContext = { sandbox: true, command: "/convai-llm" };

const model = (group: string, extra: Partial<ConvaiModel> = {}): ConvaiModel => ({
  model_group_name: group,
  model_name: `${group}-model`,
  display_name: `${group} display`,
  base_url: `https://${group}.example.com/v1`,
  is_uncensored: false,
  category: "Private",
  created_at: "2025-07-08T10:00:00Z",
  ...extra,
});

/** Every text string in the blocks (mrkdwn and plain_text), wherever it sits. */
function texts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(texts);
  if (typeof value !== "object" || value === null) return [];
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (key === "text" && typeof v === "string") out.push(v);
    else out.push(...texts(v));
  }
  return out;
}

/**
 * `<` and `>` are mrkdwn control characters (Slack's "Escaping text"): outside a real mention, channel, special
 * or link sequence they must be sent as `&lt;` / `&gt;`, or Slack eats them.
 */
function strayBrackets(reply: Reply): string[] {
  const control = /<(?:[@#!][A-Za-z0-9^|_.-]+|https?:\/\/[^\s<>]+|mailto:[^\s<>]+)>/g;
  return [reply.text, ...texts(reply.blocks)].filter((s) => /[<>]/.test(s.replace(control, "")));
}

const hasSandboxLine = (blocks: KnownBlock[]) =>
  blocks.some((b) => b.type === "context" && JSON.stringify(b).includes("Sandbox mode"));
const rowIds = (reply: Reply) =>
  reply.blocks.flatMap((b) => (b.type === "section" && b.block_id?.startsWith("model:") ? [b.block_id] : []));

describe("help and unknown", () => {
  it("help lists every subcommand in the text and the blocks", () => {
    const reply = helpMessage(ctx);
    for (const sub of ["list [filter]", "register [group]", "update", "deregister", "help"]) {
      expect(reply.text).toContain(sub);
      expect(JSON.stringify(reply.blocks)).toContain(sub);
    }
    expect(hasSandboxLine(reply.blocks)).toBe(false);
    expect(hasSandboxLine(helpMessage(sandboxCtx).blocks)).toBe(true);
  });

  it("unknown quotes the input escaped, with the suggestion and usage", () => {
    const reply = unknownMessage(ctx, "<!channel>", "list");
    expect(reply.text).toContain("Unknown subcommand `&lt;!channel&gt;`. Did you mean `list`?");
    expect(JSON.stringify(reply)).not.toContain("<!channel>");
    expect(JSON.stringify(reply.blocks)).toContain("deregister");
    expect(unknownMessage(ctx, "florp").text).not.toContain("Did you mean");
  });

  it("unknown cuts a very long input", () => {
    const reply = unknownMessage(ctx, "x".repeat(5000));
    for (const s of texts(reply.blocks)) expect(s.length).toBeLessThanOrEqual(3000);
    expect(reply.text.length).toBeLessThanOrEqual(3000);
  });

  it("missing group names the subcommand and points at list", () => {
    const reply = missingGroupMessage(ctx, "update");
    expect(reply.text).toContain("/convai-llm update");
    expect(reply.text).toContain("/convai-llm list");
  });

  // Regression: `<group>` and `<filter>` in the usage lines and hints went into mrkdwn unescaped, where Slack
  // parses them as control sequences and the placeholders vanish.
  it.each<[string, () => Reply]>([
    ["help", () => helpMessage(ctx)],
    ["unknown", () => unknownMessage(ctx, "florp", "list")],
    ["missing group", () => missingGroupMessage(ctx, "deregister")],
    [
      "list with more than a page",
      () =>
        listMessage(
          ctx,
          Array.from({ length: LIST_PAGE_SIZE + 5 }, (_, i) => model(`g${i}`)),
          { canManage: false },
        ),
    ],
  ])("%s: no bare < or > reaches mrkdwn", (_, build) => {
    expect(strayBrackets(build())).toEqual([]);
  });
});

describe("filterModels", () => {
  const models = [
    model("zeta"),
    model("Alpha", { model_name: "LLAMA-3" }),
    model("mid", { display_name: "Big Llama" }),
  ];

  it("sorts by group", () => {
    expect(filterModels(models).map((m) => m.model_group_name)).toEqual(["Alpha", "mid", "zeta"]);
  });

  it("filters by a case-insensitive substring of group, model or display name", () => {
    expect(filterModels(models, "llama").map((m) => m.model_group_name)).toEqual(["Alpha", "mid"]);
    expect(filterModels(models, "ZET").map((m) => m.model_group_name)).toEqual(["zeta"]);
    expect(filterModels(models, "nothing")).toEqual([]);
  });

  it("tolerates a model without a display name", () => {
    const { display_name: _, ...bare } = model("bare");
    expect(filterModels([bare], "bare display")).toEqual([]);
    expect(filterModels([bare], "bare")).toHaveLength(1);
  });
});

describe("listMessage", () => {
  it("one row per model, sorted by group, with model, display name, host, uncensored and created", () => {
    const reply = listMessage(ctx, [model("zeta", { is_uncensored: true }), model("alpha"), model("mid")], {
      canManage: false,
    });
    expect(rowIds(reply)).toEqual(["model:alpha", "model:mid", "model:zeta"]);
    const zeta = JSON.stringify(
      reply.blocks.find((b) => b.type === "section" && b.block_id === "model:zeta"),
    );
    expect(zeta).toContain("zeta-model");
    expect(zeta).toContain("zeta display");
    expect(zeta).toContain("zeta.example.com");
    expect(zeta).not.toContain("https://zeta.example.com/v1");
    expect(zeta).toContain("uncensored");
    expect(zeta).toContain("created 2025-07-08");
    expect(reply.text).toContain("3 custom LLMs");
  });

  it("escapes <!channel>, <@U…> and & in display names, groups and model names", () => {
    const reply = listMessage(
      ctx,
      [model("g1", { display_name: "<!channel> ping" }), model("<@U123>", { model_name: "a&b <!here>" })],
      { canManage: true },
    );
    const shown = [reply.text, ...texts(reply.blocks)].join("\n");
    expect(shown).not.toContain("<!channel>");
    expect(shown).not.toContain("<!here>");
    expect(shown).not.toContain("<@U123>");
    expect(shown).toContain("&lt;!channel&gt; ping");
    expect(shown).toContain("&lt;@U123&gt;");
    expect(shown).toContain("a&amp;b");
  });

  it("a filter narrows the rows and is quoted escaped", () => {
    const reply = listMessage(ctx, [model("alpha"), model("beta")], { filter: "<b>", canManage: false });
    expect(rowIds(reply)).toEqual([]);
    expect(reply.text).toContain("`&lt;b&gt;`");
    expect(reply.text).toContain("2 registered");
    const hit = listMessage(ctx, [model("alpha"), model("beta")], { filter: "BET", canManage: false });
    expect(rowIds(hit)).toEqual(["model:beta"]);
    expect(hit.text).toContain("1 custom LLM matching `BET`");
  });

  it("the empty state says how to register", () => {
    const reply = listMessage(ctx, [], { canManage: false });
    expect(rowIds(reply)).toEqual([]);
    expect(reply.text).toContain("/convai-llm register");
  });

  it.each([LIST_PAGE_SIZE + 1, 200, 1000])(
    "%i models → the first page, the count, the filter hint; ≤ 50 blocks even in sandbox mode",
    (n) => {
      const models = Array.from({ length: n }, (_, i) => model(`m${String(i).padStart(4, "0")}`));
      for (const c of [ctx, sandboxCtx]) {
        const reply = listMessage(c, models, { canManage: true });
        expect(reply.blocks.length).toBeLessThanOrEqual(50);
        expect(rowIds(reply)).toHaveLength(LIST_PAGE_SIZE);
        expect(rowIds(reply)[0]).toBe("model:m0000");
        expect(reply.text).toContain(`${n} custom LLMs`);
        expect(JSON.stringify(reply.blocks)).toContain(`Showing the first ${LIST_PAGE_SIZE} of ${n}`);
        expect(JSON.stringify(reply.blocks)).toContain("/convai-llm list");
        expect(reply.text.length).toBeLessThanOrEqual(3000);
        expect(hasSandboxLine(reply.blocks)).toBe(c.sandbox);
      }
    },
  );

  it("exactly a page shows no paging hint", () => {
    const reply = listMessage(
      ctx,
      Array.from({ length: LIST_PAGE_SIZE }, (_, i) => model(`m${i}`)),
      { canManage: false },
    );
    expect(JSON.stringify(reply.blocks)).not.toContain("Showing the first");
  });

  it("long values stay inside Slack's text limits", () => {
    const long = model("g".repeat(128), {
      model_name: "m".repeat(256),
      display_name: "d".repeat(128),
      base_url: `https://${"h".repeat(60)}.example.com/${"p".repeat(1900)}`,
    });
    const reply = listMessage(ctx, [long], { canManage: true });
    for (const s of texts(reply.blocks)) expect(s.length).toBeLessThanOrEqual(3000);
    for (const b of reply.blocks)
      if (b.type === "section") expect((b.block_id ?? "").length).toBeLessThanOrEqual(255);
  });

  it("managers get the Edit/Deregister menu on each row, others don't", () => {
    const row = modelRowSection(model("alpha"), true);
    expect(row.accessory?.type).toBe("overflow");
    expect(JSON.stringify(row.accessory)).toContain('"value":"update"');
    expect(JSON.stringify(row.accessory)).toContain('"value":"deregister"');
    expect(modelRowSection(model("alpha"), false).accessory).toBeUndefined();
  });
});

describe("plainMessage", () => {
  it("carries the sandbox line only in sandbox mode", () => {
    expect(hasSandboxLine(plainMessage({ sandbox: true }, "hi").blocks)).toBe(true);
    expect(hasSandboxLine(plainMessage({ sandbox: false }, "hi").blocks)).toBe(false);
  });
});
