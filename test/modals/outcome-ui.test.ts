import { describe, expect, it } from "vitest";
import type { ConvaiModel } from "../../src/convai/types.js";
import type { ChangeOutcome, ProbeReport } from "../../src/domain/outcome.js";
import { failureBlocks, notifySummary, probeSummary, successBlocks } from "../../src/modals/outcome-ui.js";

type Success = Extract<ChangeOutcome, { ok: true }>;

/** A key that exists in the scenario (it was typed into the form); no builder may ever show it. */
const KEY = "sk-live-SECRET-9f8e7d6c5b4a";

const held: ConvaiModel = {
  model_group_name: "acme-llama",
  model_name: "llama-3.1-70b",
  display_name: "Acme <!channel> Llama",
  base_url: "https://llm.acme.example/v1",
  is_uncensored: true,
  category: "Private",
  created_at: "2025-07-08T10:00:00Z",
};

const tested: ProbeReport = {
  tested: true,
  result: {
    ok: true,
    steps: [
      { method: "GET", url: "https://llm.acme.example/v1/models", status: 200, latencyMs: 41.6 },
      {
        method: "POST",
        url: "https://llm.acme.example/v1/chat/completions",
        status: 200,
        latencyMs: 812.2,
        note: "answered <!here>",
      },
    ],
    notes: ["The model list did not include llama-3.1-70b & friends"],
  },
};

function success(over: Partial<Success> = {}): Success {
  return {
    ok: true,
    action: "register",
    group: "acme-llama",
    model: held,
    changes: [
      { field: "model_name", after: "llama-3.1-70b" },
      { field: "api_key", after: "set" },
    ],
    notTaken: [],
    transactionID: "tx-123",
    probe: tested,
    notify: { posted: "disabled" },
    ...over,
  };
}

const text = (value: unknown) => JSON.stringify(value);

describe("successBlocks", () => {
  it("register: what Convai holds, the key note, the test, the transaction; never the key", () => {
    const { title, blocks } = successBlocks(success(), { notifyChannel: undefined });
    expect(title).toBe("Model registered");
    const shown = text(blocks);
    expect(shown).toContain("`acme-llama` is registered");
    expect(shown).toContain("`llama-3.1-70b`");
    expect(shown).toContain("`https://llm.acme.example/v1`");
    expect(shown).toContain("Uncensored*\\nyes");
    expect(shown).toContain("never shown again");
    expect(shown).toContain("Endpoint tested");
    expect(shown).toContain("Convai transaction `tx-123`");
    expect(shown).not.toContain(KEY);
    expect(shown).not.toContain("<!channel>");
    expect(shown).toContain("&lt;!channel&gt;");
  });

  it("update: each change as before → after, api_key only as rotated, (unset) for a missing before", () => {
    const { title, blocks } = successBlocks(
      success({
        action: "update",
        changes: [
          { field: "display_name", before: "Old", after: "New" },
          { field: "base_url", after: "https://b.example/v1" },
          { field: "api_key", after: "rotated" },
        ],
      }),
      { notifyChannel: undefined },
    );
    expect(title).toBe("Model updated");
    const shown = text(blocks);
    expect(shown).toContain("• `display_name`: `Old` → `New`");
    expect(shown).toContain("• `base_url`: _(unset)_ → `https://b.example/v1`");
    expect(shown).toContain("• `api_key`: rotated");
    expect(shown).not.toContain(KEY);
  });

  it("flags requested fields that did not take effect", () => {
    const shown = text(
      successBlocks(success({ action: "update", notTaken: ["display_name", "base_url"] }), {
        notifyChannel: undefined,
      }).blocks,
    );
    expect(shown).toMatch(/does not show these requested fields as changed: `display_name`, `base_url`/);
    const clean = text(successBlocks(success(), { notifyChannel: undefined }).blocks);
    expect(clean).not.toContain("does not show");
  });

  it("says when Convai's answer was lost but the change took effect, and when the re-read failed", () => {
    const shown = text(
      successBlocks(
        success({
          recovered: "Convai's answer was lost, but the list shows the model registered.",
          rereadError: "Convai <b> timed out",
        }),
        { notifyChannel: undefined },
      ).blocks,
    );
    expect(shown).toContain("answer was lost");
    expect(shown).toContain("re-reading the list failed: Convai &lt;b&gt; timed out");
  });

  it("without a re-read model it still says what happened", () => {
    const { model: _, ...rest } = success();
    const shown = text(successBlocks(rest, { notifyChannel: undefined }).blocks);
    expect(shown).toContain("`acme-llama` is registered");
  });

  it("deregister: the consequence, no endpoint test line", () => {
    const { title, blocks } = successBlocks(
      success({ action: "deregister", changes: [], probe: { tested: false, reason: "No endpoint test." } }),
      { notifyChannel: undefined },
    );
    expect(title).toBe("Model deregistered");
    const shown = text(blocks);
    expect(shown).toContain("no longer answer");
    expect(shown).not.toContain("No endpoint test");
  });

  it("reports the announcement: posted, failed with the Slack error and the fix, or nothing", () => {
    const posted = text(
      successBlocks(success({ notify: { posted: true } }), { notifyChannel: "C0NOTIFY" }).blocks,
    );
    expect(posted).toContain("Announced in <#C0NOTIFY>");
    const failed = text(
      successBlocks(success({ notify: { posted: false, error: "not_in_channel" } }), {
        notifyChannel: "C0NOTIFY",
      }).blocks,
    );
    expect(failed).toContain("The change stands");
    expect(failed).toContain("not_in_channel");
    expect(failed).toContain("/invite");
    const disabled = text(successBlocks(success(), { notifyChannel: undefined }).blocks);
    expect(disabled).not.toContain("Announced");
    expect(disabled).not.toContain("announcement");
  });

  it("every text stays inside Slack's limits with very long values", () => {
    const long: ConvaiModel = {
      ...held,
      model_group_name: "g".repeat(128),
      model_name: "m".repeat(256),
      display_name: "&".repeat(128),
      base_url: `https://x.example/${"p".repeat(2000)}`,
    };
    const { blocks } = successBlocks(
      success({
        action: "update",
        model: long,
        group: long.model_group_name,
        changes: [{ field: "base_url", before: "b".repeat(2048), after: "a".repeat(2048) }],
        notTaken: ["base_url"],
      }),
      { notifyChannel: undefined },
    );
    for (const match of text(blocks).matchAll(/"text":"((?:[^"\\]|\\.)*)"/g)) {
      expect(JSON.parse(`"${match[1] ?? ""}"`).length).toBeLessThanOrEqual(3000);
    }
  });
});

describe("probeSummary", () => {
  it("a passed test: each step with method, URL, status and latency; notes escaped", () => {
    const summary = probeSummary(tested);
    expect(summary).toContain(":white_check_mark: *Endpoint tested*");
    expect(summary).toContain("• GET `https://llm.acme.example/v1/models` → 200 (42 ms)");
    expect(summary).toContain("→ 200 (812 ms): answered &lt;!here&gt;");
    expect(summary).toContain("llama-3.1-70b &amp; friends");
    expect(summary).not.toContain(KEY);
  });

  it("a failed test: the reason, and a step without an answer", () => {
    const summary = probeSummary({
      tested: true,
      result: {
        ok: false,
        field: "api_key",
        message: "The endpoint refused the key <401>",
        steps: [{ method: "POST", url: "https://llm.acme.example/v1/chat/completions", latencyMs: 3000 }],
      },
    });
    expect(summary).toContain(":x: *Endpoint test failed*: The endpoint refused the key &lt;401&gt;");
    expect(summary).toContain("→ no answer (3000 ms)");
  });

  it("not tested: the reason", () => {
    expect(probeSummary({ tested: false, reason: "Skipped <here>" })).toBe(
      ":grey_question: Skipped &lt;here&gt;",
    );
  });
});

describe("notifySummary", () => {
  it("disabled → nothing", () => {
    expect(notifySummary({ posted: "disabled" }, undefined)).toBeUndefined();
  });
  it("failed → the error escaped", () => {
    expect(notifySummary({ posted: false, error: "<weird>" }, "C1")).toContain("`&lt;weird&gt;`");
  });
});

describe("failureBlocks", () => {
  it("the message escaped, with the transaction ID when there is one", () => {
    const blocks = failureBlocks("Convai refused <!channel> & more", "tx-9");
    const shown = text(blocks);
    expect(shown).toContain(":x: Convai refused &lt;!channel&gt; &amp; more");
    expect(shown).toContain("Convai transaction `tx-9`");
    expect(failureBlocks("plain")).toHaveLength(1);
  });

  it("a very long message is cut to Slack's limit", () => {
    const blocks = failureBlocks("x".repeat(10_000));
    const first = blocks[0];
    expect(first?.type).toBe("section");
    if (first?.type === "section") expect(first.text?.text.length).toBeLessThanOrEqual(3000);
  });
});
