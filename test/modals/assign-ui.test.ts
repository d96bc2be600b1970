/** The pure character builders of the assign and deregister forms, and the per-character outcome. */
import { describe, expect, it } from "vitest";
import { BUILT_IN_MODEL_CODES } from "../../src/convai/built-in-models.js";
import type { ConvaiCharacter } from "../../src/convai/types.js";
import type { MoveReport } from "../../src/domain/characters.js";
import {
  assignModal,
  assignOptions,
  assignOutcomeBlocks,
  characterOption,
  deregisterCharacterBlocks,
  keptBlocks,
  moveReportBlocks,
  moveToSelect,
  STATIC_OPTIONS,
} from "../../src/modals/assign-ui.js";

const chars = (n: number, model = "gpt-4o"): ConvaiCharacter[] =>
  Array.from({ length: n }, (_, i) => ({ character_id: `id-${i}`, character_name: `Name ${i}`, model }));
const json = (v: unknown) => JSON.stringify(v);
const HOSTILE = `<!channel> <@U0BOSS> & ${"é".repeat(200)} 🎉`;

describe("characterOption", () => {
  it("reads 'name — current model' and marks a character already on the group", () => {
    expect(
      characterOption({ character_id: "a", character_name: "Rafael", model: "gpt-4o" }, "g").text.text,
    ).toBe("Rafael — gpt-4o");
    expect(characterOption({ character_id: "a", character_name: "Rafael", model: "g" }, "g").text.text).toBe(
      "Rafael — g (already)",
    );
    expect(characterOption({ character_id: "a" }, "g").text.text).toBe("a — no model");
  });

  it("never exceeds 75 characters, even with a 200-character name and a long model", () => {
    const o = characterOption({ character_id: "a", character_name: HOSTILE, model: "m".repeat(128) }, "g");
    expect(Array.from(o.text.text).length).toBeLessThanOrEqual(75);
    expect(o.text.type).toBe("plain_text");
    expect(o.text.text).toContain(" — ");
  });
});

describe("assignModal", () => {
  it("a static multi-select up to 100 characters, a type-ahead beyond", () => {
    const small = assignModal({ sandbox: false }, "g", chars(STATIC_OPTIONS), "{}");
    expect(json(small)).toContain('"type":"multi_static_select"');
    const big = assignModal({ sandbox: false }, "g", chars(STATIC_OPTIONS + 1), "{}");
    expect(json(big)).toContain('"type":"multi_external_select"');
    expect(json(big)).not.toContain('"options"');
    for (const view of [small, big]) {
      expect(view.callback_id).toBe("convai_llm_assign");
      expect(view.blocks.some((b) => b.type === "input" && b.block_id === "characters")).toBe(true);
      expect(view.blocks.length).toBeLessThanOrEqual(100);
    }
  });

  it("0 characters: says so and offers no submit", () => {
    const view = assignModal({ sandbox: true }, "g", [], "{}");
    expect(view.submit).toBeUndefined();
    expect(json(view)).toContain("no characters yet");
  });

  it("the 'now used by' line escapes hostile names", () => {
    const view = assignModal(
      { sandbox: false },
      "g",
      [{ character_id: "x", character_name: HOSTILE, model: "g" }],
      "{}",
    );
    // mrkdwn is escaped; option texts are plain_text, which Slack never parses for mentions.
    const mrkdwn = view.blocks.filter((b) => b.type === "context");
    expect(json(mrkdwn)).not.toContain("<!channel>");
    expect(json(mrkdwn)).toContain("&lt;!channel&gt;");
  });
});

describe("assignOptions (type-ahead)", () => {
  it("matches name, id or model, at most 100 options, characters not yet on the group first", () => {
    const all = [...chars(300), { character_id: "z", character_name: "Zoe", model: "g" }];
    expect(assignOptions(all, "g", "")).toHaveLength(100);
    expect(assignOptions(all, "g", "zoe").map((o) => o.value)).toEqual(["z"]);
    expect(assignOptions(all, "g", "name 29").map((o) => o.value)).toContain("id-29");
    expect(assignOptions(all, "g", "nothing-like-it")).toEqual([]);
  });

  it("leaves out characters whose id does not fit an option value", () => {
    expect(assignOptions([{ character_id: "x".repeat(76), character_name: "Long" }], "g", "")).toEqual([]);
  });
});

describe("move_to", () => {
  it("the other custom LLMs, then the built-in models; 100 options at most", () => {
    const select = moveToSelect({ custom: ["b-llm", "a-llm"], builtIn: BUILT_IN_MODEL_CODES });
    expect(select.action_id).toBe("move_to");
    const groups = select.option_groups ?? [];
    expect(groups.map((g) => g.label.text)).toEqual(["Your custom LLMs", "Convai built-in models"]);
    expect(groups[0]?.options.map((o) => o.value)).toEqual(["a-llm", "b-llm"]);
    const many = moveToSelect({
      custom: Array.from({ length: 200 }, (_, i) => `g-${i}`),
      builtIn: BUILT_IN_MODEL_CODES,
    });
    expect((many.option_groups ?? []).flatMap((g) => g.options)).toHaveLength(100);
  });

  it("the deregister blocks: none, some (required select), unknown (optional select)", () => {
    const targets = { custom: [], builtIn: BUILT_IN_MODEL_CODES };
    expect(json(deregisterCharacterBlocks("g", { kind: "known", names: [], targets }))).toContain(
      "No character uses it.",
    );
    const some = deregisterCharacterBlocks("g", { kind: "known", names: ["A", "B"], targets });
    expect(json(some)).toContain("2 characters use it:* A, B");
    expect(some.find((b) => b.type === "input")).toMatchObject({ block_id: "move_to", optional: false });
    const unknown = deregisterCharacterBlocks("g", { kind: "unknown", reason: "down", targets });
    expect(unknown.find((b) => b.type === "input")).toMatchObject({ block_id: "move_to", optional: true });
  });
});

describe("outcome", () => {
  const report = (n: number): MoveReport => ({
    target: "g",
    results: Array.from({ length: n }, (_, i) => ({
      id: `c${i}`,
      name: i === 0 ? HOSTILE : `C${i}`,
      before: "gpt-4o",
      ...(i % 3 === 0
        ? { status: "moved" as const }
        : i % 3 === 1
          ? { status: "failed" as const, reason: "Convai refused the request: <b>." }
          : { status: "unknown" as const, reason: "Convai did not answer in time." }),
    })),
  });

  it("names each character's outcome, escaped", () => {
    const blocks = moveReportBlocks(report(3));
    const text = json(blocks);
    expect(text).toContain("Moved to `g`* (1)");
    expect(text).toContain("Not moved* (1)");
    expect(text).toContain("Not confirmed* (1)");
    expect(text).not.toContain("<!channel>");
    expect(text).toContain("&lt;b&gt;");
  });

  it("1,000 characters stay within a modal's 100 blocks and 3,000 characters a section", () => {
    for (const built of [
      assignOutcomeBlocks("g", report(1000), { posted: true }, "C1"),
      keptBlocks("g", report(1000), { posted: false, error: "not_in_channel" }, "C1"),
    ]) {
      expect(built.blocks.length).toBeLessThanOrEqual(99);
      for (const b of built.blocks)
        if (b.type === "section") expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      expect(json(built.blocks)).toContain("more");
    }
    expect(assignOutcomeBlocks("g", report(3), { posted: "disabled" }, undefined).title).toBe(
      "Partly assigned",
    );
  });
});
