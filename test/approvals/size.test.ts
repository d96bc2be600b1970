import { describe, expect, it } from "vitest";
import { createSealer, type PendingChange } from "../../src/approvals/seal.js";
import { FIELD_LIMITS } from "../../src/domain/fields.js";

/**
 * Where the sealed change can travel: a Block Kit button value holds at most 2000 characters (Slack's
 * button element reference), so the seal travels in the request message's metadata instead.
 */
describe("the sealed payload's size at the field limits", () => {
  it("is over a button value's 2000 characters, so it goes in message metadata", () => {
    const sealer = createSealer("size-test-secret-0123456789abcdef0123", 86_400_000);
    const max = (ch: string): PendingChange => ({
      kind: "register",
      requester: { userId: "U0123456789AB", teamId: "T0123456789AB" },
      verify: true,
      input: {
        model_group_name: ch.repeat(FIELD_LIMITS.model_group_name),
        model_name: ch.repeat(FIELD_LIMITS.model_name),
        api_key: "k".repeat(FIELD_LIMITS.api_key),
        base_url: `https://${ch.repeat(FIELD_LIMITS.base_url - 8)}`,
        display_name: ch.repeat(FIELD_LIMITS.display_name),
        is_uncensored: true,
      },
    });
    const ascii = sealer.seal(max("a")).sealed.length;
    const wide = sealer.seal(max("\u{1F600}")).sealed.length;
    console.info(
      `sealed payload at the field limits: ${ascii} characters (ASCII), ${wide} (4-byte characters)`,
    );
    expect(ascii).toBeGreaterThan(2000);
    expect(ascii).toBeLessThan(10_000);
    expect(wide).toBeLessThan(20_000);
  });
});
