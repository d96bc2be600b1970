/** The `characters` reply, the "used by" text and the character announcement: pure builders. */
import { describe, expect, it } from "vitest";
import { parseCommand } from "../../src/commands/parse.js";
import {
  CHARACTERS_PAGE_SIZE,
  characterLine,
  charactersMessage,
  filterCharacters,
} from "../../src/commands/ui.js";
import type { ConvaiCharacter } from "../../src/convai/types.js";
import { usageOf } from "../../src/domain/characters.js";
import { characterMessage } from "../../src/notify/ui.js";
import { namesText, usedByLine } from "../../src/slack/blocks.js";

const ctx = { sandbox: false, command: "/convai-llm" };
const HOSTILE = `<!channel> <@U0BOSS> & ${"x".repeat(200)} 🎉`;
const known = { kind: "known" as const, groups: new Set(["acme-llm"]) };
const many = (n: number): ConvaiCharacter[] =>
  Array.from({ length: n }, (_, i) => ({
    character_id: `id-${String(i).padStart(4, "0")}`,
    character_name: `${HOSTILE} ${i}`,
    model: i % 2 ? "acme-llm" : "gpt-4o",
  }));
const mrkdwnOf = (blocks: unknown): string[] =>
  JSON.stringify(blocks)
    .split('"type":"mrkdwn","text":')
    .slice(1)
    .map((s) => JSON.parse(s.slice(0, s.indexOf('"}') + 1)));

describe("parse", () => {
  it("characters [filter] and assign <group>", () => {
    expect(parseCommand("characters")).toEqual({ kind: "characters" });
    expect(parseCommand("chars gpt 4o")).toEqual({ kind: "characters", filter: "gpt 4o" });
    expect(parseCommand("assign acme-llm extra")).toEqual({ kind: "assign", group: "acme-llm" });
    expect(parseCommand("assign")).toEqual({ kind: "missing_group", sub: "assign" });
  });
});

describe("used by", () => {
  it("the first names, then 'and N more'", () => {
    expect(namesText([])).toBe("");
    expect(namesText(["Rafael"])).toBe("Rafael");
    expect(namesText(["Rafael", "Steven"])).toBe("Rafael and Steven");
    expect(namesText(["A", "B", "C"])).toBe("A, B and C");
    expect(namesText(["Rafael", "Steven", ...Array.from({ length: 12 }, (_, i) => `x${i}`)])).toBe(
      "Rafael, Steven and 12 more",
    );
    expect(namesText([HOSTILE, "B", "C", "D"])).not.toContain("<!channel>");
  });

  it("a line per custom LLM from one read; none, and unknown (said once per surface, not per row)", () => {
    const usage = { kind: "known" as const, byModel: usageOf(many(5)) };
    expect(usedByLine("acme-llm", usage)).toMatch(/^:busts_in_silhouette: Used by 2 characters: /);
    expect(usedByLine("nobody-llm", usage)).toBe("_No character uses it._");
    expect(usedByLine("acme-llm", { kind: "unknown", reason: "down" })).toBeUndefined();
  });
});

describe("charactersMessage", () => {
  it("marks custom LLMs, escapes and cuts names", () => {
    const line = characterLine({ character_id: "a", character_name: HOSTILE, model: "acme-llm" }, known);
    expect(line).toContain(":gear: custom LLM");
    expect(line).not.toContain("<!channel>");
    expect(characterLine({ character_id: "a", character_name: "B", model: "gpt-4o" }, known)).toBe(
      "• *B* — `gpt-4o`",
    );
  });

  it("filters by name, id or model", () => {
    expect(filterCharacters(many(10), "acme").map((c) => c.model)).toEqual(Array(5).fill("acme-llm"));
    expect(filterCharacters(many(10), "ID-0003").map((c) => c.character_id)).toEqual(["id-0003"]);
  });

  it("0, 1 and 1,000 characters: every page within 50 blocks and 3,000 characters a section", () => {
    expect(JSON.stringify(charactersMessage(ctx, [], known, { page: 1 }).blocks)).toContain(
      "no characters yet",
    );
    const one = charactersMessage(ctx, many(1), known, { page: 1 });
    expect(JSON.stringify(one.blocks)).toContain("*1 character*");
    const pages = Math.ceil(1000 / CHARACTERS_PAGE_SIZE);
    for (const page of [1, 2, pages, pages + 5]) {
      const msg = charactersMessage({ ...ctx, sandbox: true }, many(1000), known, { page });
      expect(msg.blocks.length).toBeLessThanOrEqual(50);
      expect(msg.text.length).toBeLessThanOrEqual(3000);
      for (const t of mrkdwnOf(msg.blocks)) {
        expect(t.length).toBeLessThanOrEqual(3000);
        expect(t).not.toContain("<!channel>");
      }
      expect(JSON.stringify(msg.blocks)).toContain(`page ${Math.min(page, pages)} of ${pages}`);
    }
  });

  it("says so when the custom LLMs could not be read", () => {
    const msg = charactersMessage(ctx, many(3), { kind: "unknown", reason: "Convai is down" }, { page: 1 });
    expect(JSON.stringify(msg.blocks)).toContain("could not be read, so none is marked");
    expect(JSON.stringify(msg.blocks)).not.toContain('custom LLM"');
  });
});

describe("character announcement", () => {
  it("one line per character, before → after; escaped; capped", () => {
    const moves = Array.from({ length: 60 }, (_, i) => ({
      name: i === 0 ? HOSTILE : `C${i}`,
      before: "gpt-4o",
      after: "acme-llm",
    }));
    const msg = characterMessage(
      { action: "assign", actor: { userId: "U1" }, target: "acme-llm", moves },
      { sandbox: false },
    );
    const all = JSON.stringify(msg.blocks);
    expect(all).toContain("60 characters *assigned* to `acme-llm` by <@U1>");
    expect(all).toContain("C1: `gpt-4o` → `acme-llm`");
    expect(all).toContain("and 20 more");
    expect(all).not.toContain("<!channel>");
    expect(msg.text).toContain("60 characters assigned");
    const moved = characterMessage(
      {
        action: "move",
        actor: { userId: "U1" },
        target: "gpt-4o",
        from: "old-llm",
        moves: [{ name: "A", after: "gpt-4o" }],
      },
      { sandbox: true },
    );
    expect(JSON.stringify(moved.blocks)).toContain("*moved* off `old-llm` to `gpt-4o`");
  });
});
