import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../../src/history/read.js";
import { historyLine, historyMessage } from "../../src/history/ui.js";

const entry = (n: number, extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
  ts: `${n}.0001`,
  action: "update",
  group: "prod-gpt",
  fields: "model_name,api_key",
  actor: "U0ACTOR",
  at: "2026-12-04T05:00:00.000Z",
  ...extra,
});

describe("history lines", () => {
  it("an update names its fields, the approver and the transaction; the date renders per reader", () => {
    const line = historyLine(entry(1, { approver: "U0APPROVER", transactionID: "tx-1" }));
    expect(line).toBe(
      "• <!date^1796360400^{date_short_pretty} at {time}|2026-12-04T05:00:00.000Z>: `prod-gpt` updated: `model_name`, `api_key` by <@U0ACTOR>, approved by <@U0APPROVER> · tx `tx-1`",
    );
  });

  it("register and deregister list no fields; assign and move count characters", () => {
    expect(historyLine(entry(1, { action: "register" }))).toContain("`prod-gpt` registered by <@U0ACTOR>");
    expect(historyLine(entry(1, { action: "deregister" }))).not.toContain("model_name");
    expect(historyLine(entry(1, { action: "move", characters: 3, from: "old" }))).toContain(
      "3 characters moved to `prod-gpt` (off `old`)",
    );
  });

  it("a forged payload cannot break out of its mention or code span", () => {
    const line = historyLine(entry(1, { actor: "U1>|<!channel", group: "a`b<!here>" }));
    expect(line).not.toContain("<!channel>");
    expect(line).not.toContain("<!here>");
  });

  it("20 long lines stay within the section and block limits", () => {
    const entries = Array.from({ length: 20 }, (_, n) =>
      entry(n, { group: "g".repeat(500), fields: "f".repeat(400), transactionID: "t".repeat(200) }),
    );
    const m = historyMessage({ sandbox: true }, { ok: true, entries, scanned: 200, exhausted: false }, {});
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    for (const b of m.blocks)
      if (b.type === "section") expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
  });
});
