import { describe, expect, it } from "vitest";
import {
  amongRequested,
  charactersDigest,
  createSealer,
  MEMBER_HASHES,
  type PendingChange,
} from "../../src/approvals/seal.js";
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

  it("an assign of 100 characters stays near a register's size; a deregister of 10,000 characters does not grow", () => {
    const sealer = createSealer("size-test-secret-0123456789abcdef0123", 86_400_000);
    const requester = { userId: "U0123456789AB", teamId: "T0123456789AB" };
    const uuid = (i: number) => `${String(i).padStart(8, "0")}-1111-4222-8333-444455556666`;
    const assign: PendingChange = {
      kind: "assign",
      requester,
      group: "g".repeat(FIELD_LIMITS.model_group_name),
      characters: Array.from({ length: 100 }, (_, i) => ({ id: uuid(i), before: "gpt-4o-mini" })),
    };
    const ids = Array.from({ length: 10_000 }, (_, i) => uuid(i));
    const deregister: PendingChange = {
      kind: "deregister",
      requester,
      group: "g".repeat(FIELD_LIMITS.model_group_name),
      before: { model_name: "m".repeat(FIELD_LIMITS.model_name) },
      moveTo: "backup-llm",
      characters: charactersDigest(ids),
    };
    const assignSize = sealer.seal(assign).sealed.length;
    const deregisterSize = sealer.seal(deregister).sealed.length;
    const each = sealer.seal({
      ...deregister,
      characters: charactersDigest(ids.slice(0, MEMBER_HASHES)),
    }).sealed.length;
    console.info(
      `sealed assign of 100 characters (UUID ids): ${assignSize} characters; deregister moving ${MEMBER_HASHES} (each id hashed): ${each}; moving 10,000 (one digest): ${deregisterSize}`,
    );
    expect(assignSize).toBeLessThan(10_000);
    expect(each).toBeLessThan(10_000);
    expect(deregisterSize).toBeLessThan(1_000);
    // The digest is order-free and ignores repeats, so a re-read in another order compares equal.
    expect(charactersDigest([...ids].reverse())).toEqual(charactersDigest([...ids, ids[0] ?? ""]));
    expect(charactersDigest(ids.slice(1)).digest).not.toBe(charactersDigest(ids).digest);
    // Up to MEMBER_HASHES ids, a subset of the requested characters is recognised; above, only all or none.
    const few = charactersDigest(ids.slice(0, 3));
    expect(amongRequested(ids.slice(1, 3), few)).toBe(true);
    expect(amongRequested([ids[0] ?? "", "someone-new"], few)).toBe(false);
    expect(amongRequested([], few)).toBe(true);
    const many = charactersDigest(ids);
    expect(many.members).toBeUndefined();
    expect(amongRequested([...ids].reverse(), many)).toBe(true);
    expect(amongRequested(ids.slice(1), many)).toBe(false);
  });
});
