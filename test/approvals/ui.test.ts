/** The request message and outcome wording for character requests, built without Slack (pure builders). */
import { describe, expect, it } from "vitest";
import {
  awaitingBlocks,
  decidedMessage,
  movesOutcome,
  REQUEST_MOVE_LINES,
  type RequestSummary,
  requestMessage,
} from "../../src/approvals/ui.js";

const hostile = "<!channel> *bold* `tick` & <https://evil.example|click>";

function assignSummary(total: number): RequestSummary {
  return {
    action: "assign",
    group: "acme-llm",
    requester: "U0REQ",
    changes: [],
    expiresAt: Date.UTC(2026, 11, 5),
    moves: {
      total,
      shown: Array.from({ length: Math.min(total, REQUEST_MOVE_LINES) }, (_, i) => ({
        name: i === 0 ? hostile : `Character ${i}`,
        before: "gpt-4o",
        after: "acme-llm",
      })),
    },
  };
}

const sectionTexts = (blocks: unknown[]) =>
  blocks.flatMap((b) => {
    const text = (b as { text?: { text?: string } }).text?.text;
    return text === undefined ? [] : [text];
  });

describe("a character request message", () => {
  it("names at most 20 characters, counts the rest, and escapes names", () => {
    const message = requestMessage(assignSummary(100), "req-1", { sandbox: false });
    const all = JSON.stringify(message.blocks);
    expect(message.text).toContain("assignment of 100 characters to custom LLM");
    expect(all).toContain("Character 19");
    expect(all).not.toContain("Character 20");
    expect(all).toContain("…and 80 more");
    expect(all).not.toContain("<!channel>");
    expect(all).toContain("&lt;!channel&gt;");
    for (const text of sectionTexts(message.blocks)) expect(text.length).toBeLessThanOrEqual(3000);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
  });

  it("a deregister with moves says the model goes only after every character moves", () => {
    const s: RequestSummary = { ...assignSummary(2), action: "deregister" };
    const shown = JSON.stringify(requestMessage(s, "req-2", { sandbox: false }).blocks);
    expect(shown).toContain(
      "is removed from Convai, after its 2 characters move (if one does not, nothing is removed)",
    );
    expect(JSON.stringify(awaitingBlocks(s, undefined))).toContain(
      "your deregister of custom LLM `acme-llm`",
    );
    const decided = decidedMessage(s, { emoji: ":x:", text: "Not applied." }, { sandbox: false });
    expect(JSON.stringify(decided.blocks)).not.toContain("convai_approval_approve");
  });
});

describe("movesOutcome", () => {
  const result = (name: string, status: "moved" | "failed" | "unknown" | "already") =>
    status === "failed" || status === "unknown"
      ? { id: name, name, before: "gpt-4o", status, reason: `${name} went wrong` }
      : { id: name, name, before: "gpt-4o", status };

  it("all moved: complete", () => {
    expect(movesOutcome({ target: "acme", results: [result("A", "moved"), result("B", "moved")] })).toEqual({
      complete: true,
      text: "2 characters moved to `acme`.",
    });
  });

  it("a failure and an unknown: incomplete, each named with its reason, names escaped", () => {
    const out = movesOutcome({
      target: "acme",
      results: [result("A", "moved"), result("<!here>", "failed"), result("C", "unknown")],
    });
    expect(out.complete).toBe(false);
    expect(out.text).toBe(
      "1 of 3 characters moved to `acme`; &lt;!here&gt; (not moved: &lt;!here&gt; went wrong); C (not confirmed: C went wrong).",
    );
  });

  it("a failed re-read is not complete", () => {
    const out = movesOutcome({ target: "acme", results: [result("A", "moved")], rereadError: "down" });
    expect(out).toEqual({
      complete: false,
      text: "1 character moved to `acme`. The character list could not be re-read to confirm it.",
    });
  });
});
