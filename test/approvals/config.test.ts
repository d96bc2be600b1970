import { describe, expect, it } from "vitest";
import { DEFAULT_APPROVAL_TTL_MS, loadConfig, parseDuration } from "../../src/config.js";

const BASE = { SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_SIGNING_SECRET: "signing-secret-123" };
const SECRET = "APPROVALSECRETq1w2e3r4t5y6u7i8o9p0aa";
const ON = {
  ...BASE,
  CONVAI_REQUIRE_APPROVAL: "true",
  CONVAI_NOTIFY_CHANNEL: "C0NOTIFY",
  CONVAI_APPROVAL_SECRET: SECRET,
};

const errorsOf = (env: Record<string, string>) => {
  const r = loadConfig(env);
  return r.ok ? [] : r.errors;
};

describe("approval configuration (SPEC §13)", () => {
  it("is off by default, so nothing changes", () => {
    const r = loadConfig(BASE);
    expect(r.ok && r.config.approval).toBeUndefined();
  });

  it("takes the secret and a 24-hour default TTL when on", () => {
    const r = loadConfig(ON);
    expect(r.ok && r.config.approval).toEqual({ secret: SECRET, ttlMs: DEFAULT_APPROVAL_TTL_MS });
  });

  it.each([
    ["86400", 86_400_000],
    ["24h", 86_400_000],
    ["90m", 5_400_000],
    ["7d", 604_800_000],
    ["120s", 120_000],
  ])("accepts CONVAI_APPROVAL_TTL=%s", (ttl, ms) => {
    const r = loadConfig({ ...ON, CONVAI_APPROVAL_TTL: ttl });
    expect(r.ok && r.config.approval?.ttlMs).toBe(ms);
  });

  it.each(["soon", "-5", "10s", "31d", "1.5h"])("refuses CONVAI_APPROVAL_TTL=%s in one line", (ttl) => {
    const errors = errorsOf({ ...ON, CONVAI_APPROVAL_TTL: ttl });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^CONVAI_APPROVAL_TTL must be a duration/);
  });

  it("requires the notify channel, naming it in one line", () => {
    const { CONVAI_NOTIFY_CHANNEL: _c, ...env } = ON;
    const errors = errorsOf(env);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^CONVAI_NOTIFY_CHANNEL is required when CONVAI_REQUIRE_APPROVAL is on/);
  });

  it("requires a secret of at least 32 characters and never prints it", () => {
    const { CONVAI_APPROVAL_SECRET: _s, ...env } = ON;
    expect(errorsOf(env)).toEqual([expect.stringMatching(/^CONVAI_APPROVAL_SECRET is required/)]);
    const short = "short-secret-XYZ";
    const errors = errorsOf({ ...ON, CONVAI_APPROVAL_SECRET: short });
    expect(errors).toEqual(["CONVAI_APPROVAL_SECRET must be at least 32 characters"]);
    expect(errors.join("\n")).not.toContain(short);
  });

  it("parses durations", () => {
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("x")).toBeUndefined();
  });
});
