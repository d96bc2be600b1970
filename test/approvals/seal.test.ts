import { describe, expect, it } from "vitest";
import { createSealer, type PendingChange } from "../../src/approvals/seal.js";

const SECRET = "approval-secret-0123456789abcdef0123456789";
const KEY = "sk-TYPEDKEY-9f8e7d6c5b4a3928";
const TTL = 3_600_000;
const NOW = 1_800_000_000_000;

const change: PendingChange = {
  kind: "register",
  requester: { userId: "UREQ", teamId: "T0TEST" },
  verify: true,
  input: {
    model_group_name: "prod-gpt",
    model_name: "gpt-4o",
    api_key: KEY,
    base_url: "https://llm.example.com/v1",
    is_uncensored: false,
  },
};

describe("sealed approval payload", () => {
  const sealer = createSealer(SECRET, TTL);

  it("round-trips, and the key is not in the envelope", () => {
    const env = sealer.seal(change, NOW);
    expect(env.expiresAt).toBe(NOW + TTL);
    expect(JSON.stringify(env)).not.toContain(KEY);
    expect(Buffer.from(env.sealed.slice(3), "base64url").toString("latin1")).not.toContain(KEY);
    expect(sealer.open(env, NOW + 1)).toStrictEqual({ ok: true, change });
  });

  it("a fresh nonce and id per request", () => {
    const a = sealer.seal(change, NOW);
    const b = sealer.seal(change, NOW);
    expect(a.id).not.toBe(b.id);
    expect(a.sealed).not.toBe(b.sealed);
  });

  it("an expired request is refused", () => {
    const env = sealer.seal(change, NOW);
    const opened = sealer.open(env, NOW + TTL);
    expect(opened).toMatchObject({ ok: false, code: "expired" });
  });

  it("an edited expiry, another request's payload, a flipped byte or a changed secret cannot be read", () => {
    const env = sealer.seal(change, NOW);
    const other = sealer.seal(change, NOW);
    const bytes = Buffer.from(env.sealed.slice(3), "base64url");
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    const cases = [
      { ...env, expiresAt: env.expiresAt + 86_400_000 },
      { ...env, sealed: other.sealed },
      { ...env, id: other.id },
      { ...env, sealed: `v1.${bytes.toString("base64url")}` },
      { ...env, sealed: "v1." },
      { ...env, sealed: "v2.AAAA" },
      { ...env, sealed: "garbage" },
    ];
    for (const forged of cases) {
      const opened = sealer.open(forged, NOW);
      expect(opened).toMatchObject({ ok: false, code: "unreadable" });
      if (!opened.ok) expect(opened.message).toMatch(/CONVAI_APPROVAL_SECRET changed/);
    }
    const rotated = createSealer("another-secret-0123456789abcdef012345", TTL);
    expect(rotated.open(env, NOW)).toMatchObject({ ok: false, code: "unreadable" });
  });
});
