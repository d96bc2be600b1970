import { describe, expect, it } from "vitest";
import type { ApiPrefix } from "../../src/convai/types.js";
import {
  checkBaseUrl,
  checkDisplayName,
  checkGroupName,
  checkModelName,
  resolveApiKey,
} from "../../src/domain/fields.js";
import {
  type FieldErrors,
  readDeregisterForm,
  readRegisterForm,
  readUpdateForm,
  type ValidationContext,
} from "../../src/modals/form.js";
import { decodeMetadata, encodeMetadata, type ModalMetadata } from "../../src/modals/metadata.js";
import { CHECKED_VALUE } from "../../src/slack/ids.js";

const SECRET_VALUE = "sk-from-env-0123456789";
const secrets = new Map([
  ["CONVAI_SECRET_OPENAI", SECRET_VALUE],
  ["CONVAI_SECRET_BROKEN", "has a space"],
  // Never present in practice (config keeps only CONVAI_SECRET_*); proves the prefix rule alone refuses it.
  ["HOME", "/root-value"],
]);
const ctx = (prefix: ApiPrefix, allowPrivateUrls = false): ValidationContext => ({
  prefix,
  allowPrivateUrls,
  secrets,
});

function errorOf<T>(r: { ok: true; value: T } | { ok: false; error: string }): string {
  if (r.ok) throw new Error("expected a failure");
  return r.error;
}
function accepted<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) throw new Error(`expected success, got: ${r.error}`);
  return r.value;
}

describe("checkGroupName", () => {
  it("accepts 1 and 128 characters and trims", () => {
    expect(accepted(checkGroupName("a"))).toBe("a");
    expect(accepted(checkGroupName(`  ${"g".repeat(128)}\n`))).toBe("g".repeat(128));
  });
  it("counts characters, not UTF-16 units", () => {
    expect(accepted(checkGroupName("😀".repeat(128)))).toBe("😀".repeat(128));
  });
  it("refuses 129 characters", () => {
    expect(errorOf(checkGroupName("g".repeat(129)))).toMatch(/1-128 characters/);
  });
  it("refuses blank, null and undefined", () => {
    for (const raw of ["", "   ", null, undefined]) expect(checkGroupName(raw).ok).toBe(false);
  });
  it("refuses inner whitespace of any kind", () => {
    for (const raw of ["my group", "my\tgroup", "my\u00a0group", "my\u3000group"]) {
      expect(errorOf(checkGroupName(raw))).toBe("Use 1-128 characters without spaces");
    }
  });
  it("refuses control and invisible characters", () => {
    for (const raw of ["a\u0000b", "a\u0007b", "a\u007fb", "a\u200bb", "a\u202eb"]) {
      expect(errorOf(checkGroupName(raw))).toMatch(/control or invisible/);
    }
  });
});

describe("checkModelName", () => {
  it("accepts 256 characters and inner spaces", () => {
    expect(accepted(checkModelName("m".repeat(256)))).toHaveLength(256);
    expect(accepted(checkModelName(" my model "))).toBe("my model");
  });
  it("refuses 257 characters, blank and control characters", () => {
    expect(errorOf(checkModelName("m".repeat(257)))).toMatch(/at most 256/);
    expect(checkModelName(" ").ok).toBe(false);
    expect(checkModelName("gpt\n4").ok).toBe(false);
    expect(checkModelName("gpt\u200d4").ok).toBe(false);
  });
});

describe("checkDisplayName", () => {
  it("turns blank into undefined", () => {
    expect(accepted(checkDisplayName("  "))).toBeUndefined();
    expect(accepted(checkDisplayName(null))).toBeUndefined();
  });
  it("accepts 128 characters, spaces and emoji sequences", () => {
    expect(accepted(checkDisplayName("d".repeat(128)))).toHaveLength(128);
    expect(accepted(checkDisplayName("Team 👩‍💻 model"))).toBe("Team 👩‍💻 model");
  });
  it("refuses 129 characters, line breaks and bidi overrides", () => {
    expect(errorOf(checkDisplayName("d".repeat(129)))).toMatch(/at most 128/);
    expect(checkDisplayName("a\nb").ok).toBe(false);
    expect(checkDisplayName("a\u202eb").ok).toBe(false);
  });
});

describe("checkBaseUrl", () => {
  it("accepts a public https URL and returns it trimmed, unnormalized", () => {
    expect(accepted(checkBaseUrl("  https://LLM.example.com:8443/v1  ", false))).toBe(
      "https://LLM.example.com:8443/v1",
    );
    expect(checkBaseUrl("https://8.8.8.8/v1", false).ok).toBe(true);
  });
  it("accepts 2048 characters and refuses 2049", () => {
    const base = "https://llm.example.com/";
    expect(checkBaseUrl(base + "a".repeat(2048 - base.length), false).ok).toBe(true);
    expect(errorOf(checkBaseUrl(base + "a".repeat(2049 - base.length), false))).toMatch(/at most 2048/);
  });
  it("refuses plain http unless private URLs are allowed, and says how", () => {
    const error = errorOf(checkBaseUrl("http://llm.example.com/v1", false));
    expect(error).toMatch(/^Must start with https:\/\//);
    expect(error).toContain("CONVAI_ALLOW_PRIVATE_URLS");
    expect(checkBaseUrl("http://llm.example.com/v1", true).ok).toBe(true);
  });
  it("refuses user:password, even an empty one", () => {
    expect(errorOf(checkBaseUrl("https://user:pw@llm.example.com/v1", false))).toMatch(/user:password/);
    expect(checkBaseUrl("https://user@llm.example.com/v1", true).ok).toBe(false);
    expect(checkBaseUrl("https://@llm.example.com/v1", false).ok).toBe(false);
  });
  it("refuses a fragment, even an empty one", () => {
    expect(errorOf(checkBaseUrl("https://llm.example.com/v1#x", false))).toMatch(/fragment/);
    expect(checkBaseUrl("https://llm.example.com/v1#", false).ok).toBe(false);
  });
  it.each([
    "https://127.0.0.1/v1",
    "https://[::1]/v1",
    "https://169.254.169.254/latest",
    "https://localhost/v1",
    "https://api.localhost/v1",
    "https://10.1.2.3/v1",
    "https://192.168.1.10/v1",
    "https://[fd00::1]/v1",
    "https://[::ffff:127.0.0.1]/v1",
    "https://2130706433/v1", // decimal form of 127.0.0.1
    "https://0x7f.1/v1", // hex form of 127.0.0.1
    "https://metadata.google.internal/v1",
  ])("refuses the private or local host in %s unless allowed", (url) => {
    expect(errorOf(checkBaseUrl(url, false))).toMatch(/public host/);
    expect(accepted(checkBaseUrl(url, true))).toBe(url);
  });
  it("refuses a dotless host name unless private URLs are allowed", () => {
    expect(errorOf(checkBaseUrl("https://intranet/v1", false))).toMatch(/public host name/);
    expect(checkBaseUrl("https://intranet/v1", true).ok).toBe(true);
  });
  it.each([
    ["", /Enter the endpoint's base URL/],
    ["llm.example.com/v1", /starting with https:\/\//],
    ["ftp://llm.example.com/", /starting with https:\/\//],
    ["https:llm.example.com", /starting with https:\/\//],
    ["https:\\\\llm.example.com", /Replace the backslashes/],
    ["https://llm.example.com\\v1", /Replace the backslashes/],
    ["https://llm.exa mple.com/", /spaces/],
    ["https://llm.example.com/\tv1", /spaces/],
    ["https://llm.example.com:99999/", /not a valid URL/],
  ])("refuses %j", (url, message) => {
    expect(errorOf(checkBaseUrl(url, true))).toMatch(message);
  });
});

describe("resolveApiKey", () => {
  it("accepts a typed key, trimmed", () => {
    expect(accepted(resolveApiKey("  sk-abc  ", secrets))).toEqual({ key: "sk-abc", source: "typed" });
  });
  it("accepts 4096 characters and refuses 4097 without quoting the key", () => {
    expect(accepted(resolveApiKey("k".repeat(4096), secrets)).key).toHaveLength(4096);
    const long = `sk-${"k".repeat(4094)}`;
    const error = errorOf(resolveApiKey(long, secrets));
    expect(error).toMatch(/4096/);
    expect(error).not.toContain("sk-");
  });
  it("refuses whitespace and control characters inside a key without quoting it", () => {
    for (const key of [
      "sk-secret part2",
      "sk-secret\npart2",
      "sk-secret\u0000part2",
      "sk-secret\u200bpart2",
    ]) {
      const error = errorOf(resolveApiKey(key, secrets));
      expect(error).not.toContain("sk-secret");
      expect(error).not.toContain("part2");
    }
  });
  it("refuses blank", () => {
    expect(errorOf(resolveApiKey("   ", secrets))).toMatch(/Enter the model's API key/);
  });
  it("resolves env:CONVAI_SECRET_* from the secrets", () => {
    expect(accepted(resolveApiKey("env:CONVAI_SECRET_OPENAI", secrets))).toEqual({
      key: SECRET_VALUE,
      source: "env",
      ref: "CONVAI_SECRET_OPENAI",
    });
  });
  it("names an unknown reference and never a value", () => {
    const error = errorOf(resolveApiKey("env:CONVAI_SECRET_MISSING", secrets));
    expect(error).toContain("env:CONVAI_SECRET_MISSING");
    expect(error).toMatch(/not set/);
  });
  it("refuses a variable outside the CONVAI_SECRET_ prefix even when it exists", () => {
    const error = errorOf(resolveApiKey("env:HOME", secrets));
    expect(error).toContain("env:HOME");
    expect(error).toContain("CONVAI_SECRET_");
    expect(error).not.toContain("/root-value");
  });
  it("does not quote a lowercase reference, which may be a pasted key", () => {
    const error = errorOf(resolveApiKey("env:sk_live_abcdef", secrets));
    expect(error).not.toContain("sk_live_abcdef");
    expect(error).toMatch(/not allowed/);
  });
  it("refuses a malformed reference without quoting it", () => {
    const error = errorOf(resolveApiKey("env:sk-live-123", secrets));
    expect(error).not.toContain("sk-live-123");
  });
  it("refuses a variable whose value is not a valid key, without showing the value", () => {
    const error = errorOf(resolveApiKey("env:CONVAI_SECRET_BROKEN", secrets));
    expect(error).toContain("env:CONVAI_SECRET_BROKEN");
    expect(error).not.toContain("has a space");
  });
});

// ---- form readers -------------------------------------------------------------------------------

type Values = Record<string, Record<string, unknown>>;
const text = (value: string | null) => ({ type: "plain_text_input", value });
const url = (value: string | null) => ({ type: "url_text_input", value });
const box = (checked: boolean, value = CHECKED_VALUE) => ({
  type: "checkboxes",
  selected_options: checked ? [{ text: { type: "plain_text", text: "x" }, value }] : [],
});
const radio = (value: string | null) => ({
  type: "radio_buttons",
  selected_option: value === null ? null : { text: { type: "plain_text", text: value }, value },
});

function state(fields: Record<string, unknown>): Values {
  const out: Values = {};
  for (const [field, action] of Object.entries(fields)) out[field] = { [field]: action };
  return out;
}

const registerState = (over: Record<string, unknown> = {}) =>
  state({
    model_group_name: text("my-group"),
    model_name: text("gpt-4o"),
    display_name: text("My Model"),
    api_key: text("sk-typed-123"),
    base_url: url("https://llm.example.com/v1"),
    is_uncensored: box(false),
    verify: box(true),
    ...over,
  });

function errorsOf(r: { ok: true } | { ok: false; errors: FieldErrors }): FieldErrors {
  if (r.ok) throw new Error("expected errors");
  return r.errors;
}

describe("readRegisterForm", () => {
  it("reads all six fields for /llm-models", () => {
    expect(readRegisterForm(registerState(), ctx("/llm-models"))).toEqual({
      ok: true,
      input: {
        model_group_name: "my-group",
        model_name: "gpt-4o",
        display_name: "My Model",
        api_key: "sk-typed-123",
        base_url: "https://llm.example.com/v1",
        is_uncensored: false,
      },
      verify: true,
      keySource: "typed",
    });
  });
  it("leaves out a blank display name and base URL on /llm-models (Convai's defaults)", () => {
    const r = readRegisterForm(
      registerState({ display_name: text(null), base_url: url("  ") }),
      ctx("/llm-models"),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.input).not.toHaveProperty("display_name");
    expect(r.input).not.toHaveProperty("base_url");
  });
  it("requires the base URL on /custom-llm", () => {
    const errors = errorsOf(readRegisterForm(registerState({ base_url: url(null) }), ctx("/custom-llm")));
    expect(Object.keys(errors)).toEqual(["base_url"]);
  });
  it("ignores a display_name the /custom-llm form does not offer, even a bad one", () => {
    const forged = registerState({ display_name: text("x\u0000".repeat(300)) });
    const r = readRegisterForm(forged, ctx("/custom-llm"));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.input).not.toHaveProperty("display_name");
    const { display_name: _, ...withoutDisplay } = registerState();
    expect(readRegisterForm(withoutDisplay, ctx("/custom-llm")).ok).toBe(true);
  });
  it("reads the checkboxes", () => {
    const r = readRegisterForm(
      registerState({ is_uncensored: box(true), verify: box(false) }),
      ctx("/llm-models"),
    );
    if (!r.ok) throw new Error("expected ok");
    expect(r.input.is_uncensored).toBe(true);
    expect(r.verify).toBe(false);
    const other = readRegisterForm(registerState({ is_uncensored: box(true, "other") }), ctx("/llm-models"));
    expect(other.ok && other.input.is_uncensored).toBe(false);
  });
  it("resolves an env: key", () => {
    const r = readRegisterForm(
      registerState({ api_key: text("env:CONVAI_SECRET_OPENAI") }),
      ctx("/custom-llm"),
    );
    if (!r.ok) throw new Error("expected ok");
    expect(r.input.api_key).toBe(SECRET_VALUE);
    expect(r.keySource).toBe("env");
  });
  it("collects every field error at once, the key never among them", () => {
    const errors = errorsOf(
      readRegisterForm(
        registerState({
          model_group_name: text("has space"),
          model_name: text("m".repeat(257)),
          display_name: text("d".repeat(129)),
          api_key: text("sk-very secret"),
          base_url: url("http://10.0.0.1/v1"),
        }),
        ctx("/llm-models"),
      ),
    );
    expect(Object.keys(errors).sort()).toEqual(
      ["api_key", "base_url", "display_name", "model_group_name", "model_name"].sort(),
    );
    expect(JSON.stringify(errors)).not.toContain("secret");
  });
  it.each([null, undefined, "values", 42, [], {}])("turns forged values %j into field errors", (values) => {
    const errors = errorsOf(readRegisterForm(values, ctx("/custom-llm")));
    expect(Object.keys(errors).sort()).toEqual(
      ["api_key", "base_url", "is_uncensored", "model_group_name", "model_name", "verify"].sort(),
    );
  });
  it("refuses an element of the wrong type or a non-string value", () => {
    const errors = errorsOf(
      readRegisterForm(
        registerState({
          model_name: box(true),
          model_group_name: { type: "plain_text_input", value: 5 },
          base_url: text("https://llm.example.com/v1"),
          verify: { type: "checkboxes", selected_options: "yes" },
        }),
        ctx("/llm-models"),
      ),
    );
    expect(Object.keys(errors).sort()).toEqual(["base_url", "model_group_name", "model_name", "verify"]);
  });
  it("refuses a block whose action_id differs from its block_id", () => {
    const values = registerState();
    values.model_name = { other_action: text("gpt-4o") };
    expect(Object.keys(errorsOf(readRegisterForm(values, ctx("/llm-models"))))).toEqual(["model_name"]);
  });
});

const updateState = (over: Record<string, unknown> = {}) =>
  state({
    display_name: text("New Name"),
    model_name: text("gpt-4.1"),
    base_url: url("https://new.example.com/v1"),
    api_key: text(null),
    is_uncensored: radio("keep"),
    verify: box(true),
    ...over,
  });

describe("readUpdateForm", () => {
  it("reads the /llm-models fields and ignores a forged model_name", () => {
    const r = readUpdateForm(
      updateState({ api_key: text("sk-new"), is_uncensored: radio("true") }),
      ctx("/llm-models"),
    );
    expect(r).toEqual({
      ok: true,
      fields: {
        display_name: "New Name",
        base_url: "https://new.example.com/v1",
        api_key: "sk-new",
        is_uncensored: true,
      },
      verify: true,
      keySource: "typed",
    });
  });
  it("reads the /custom-llm fields and ignores a forged display_name", () => {
    const r = readUpdateForm(updateState({ is_uncensored: radio("false") }), ctx("/custom-llm"));
    expect(r).toEqual({
      ok: true,
      fields: { model_name: "gpt-4.1", base_url: "https://new.example.com/v1", is_uncensored: false },
      verify: true,
    });
  });
  it("leaves blank fields, an empty key and 'keep' out of fields", () => {
    const r = readUpdateForm(
      updateState({ display_name: text(" "), base_url: url(null), verify: box(false) }),
      ctx("/llm-models"),
    );
    expect(r).toEqual({ ok: true, fields: {}, verify: false });
  });
  it("treats no radio selection as keep and refuses an unknown choice", () => {
    const none = readUpdateForm(updateState({ is_uncensored: radio(null) }), ctx("/custom-llm"));
    expect(none.ok && "is_uncensored" in none.fields).toBe(false);
    const errors = errorsOf(
      readUpdateForm(updateState({ is_uncensored: radio("maybe") }), ctx("/custom-llm")),
    );
    expect(Object.keys(errors)).toEqual(["is_uncensored"]);
  });
  it("refuses the register-style checkbox where the radio belongs", () => {
    const errors = errorsOf(readUpdateForm(updateState({ is_uncensored: box(true) }), ctx("/llm-models")));
    expect(Object.keys(errors)).toEqual(["is_uncensored"]);
  });
  it("resolves an env: key and reports its source", () => {
    const r = readUpdateForm(updateState({ api_key: text("env:CONVAI_SECRET_OPENAI") }), ctx("/llm-models"));
    expect(r.ok && r.fields.api_key).toBe(SECRET_VALUE);
    expect(r.ok && r.keySource).toBe("env");
  });
  it("collects all errors, never quoting the key", () => {
    const errors = errorsOf(
      readUpdateForm(
        updateState({
          model_name: text("bad\u0000"),
          base_url: url("https://localhost/v1"),
          api_key: text("sk-leaky key"),
        }),
        ctx("/custom-llm"),
      ),
    );
    expect(Object.keys(errors).sort()).toEqual(["api_key", "base_url", "model_name"]);
    expect(JSON.stringify(errors)).not.toContain("leaky");
  });
  it("turns forged values into errors on the offered fields only", () => {
    expect(Object.keys(errorsOf(readUpdateForm({ junk: 1 }, ctx("/llm-models")))).sort()).toEqual(
      ["api_key", "base_url", "display_name", "is_uncensored", "verify"].sort(),
    );
    expect(Object.keys(errorsOf(readUpdateForm(null, ctx("/custom-llm")))).sort()).toEqual(
      ["api_key", "base_url", "is_uncensored", "model_name", "verify"].sort(),
    );
  });
});

describe("readDeregisterForm", () => {
  const confirm = (value: string | null) => state({ confirm_group_name: text(value) });
  it("accepts the exact group name, trimmed", () => {
    expect(readDeregisterForm(confirm("my-group"), "my-group")).toEqual({ ok: true });
    expect(readDeregisterForm(confirm("  my-group \n"), "my-group")).toEqual({ ok: true });
  });
  it.each([["My-Group"], ["my-group2"], [""], [null]])("refuses %j", (value) => {
    expect(Object.keys(errorsOf(readDeregisterForm(confirm(value), "my-group")))).toEqual([
      "confirm_group_name",
    ]);
  });
  it("refuses forged values", () => {
    expect(readDeregisterForm(undefined, "my-group").ok).toBe(false);
    expect(readDeregisterForm(state({ confirm_group_name: box(true) }), "my-group").ok).toBe(false);
  });
});

describe("modal metadata", () => {
  it("round-trips every field", () => {
    const meta: ModalMetadata = { v: 1, group: "my-group", origin: "home", channelId: "C0123ABCD" };
    expect(decodeMetadata(encodeMetadata(meta))).toEqual({ ok: true, meta });
    expect(decodeMetadata(encodeMetadata({ v: 1 }))).toEqual({ ok: true, meta: { v: 1 } });
  });
  it("never carries a stray property such as an api_key", () => {
    const withKey = { v: 1 as const, group: "g", api_key: "sk-must-not-leak" };
    const encoded = encodeMetadata(withKey);
    expect(encoded).not.toContain("sk-must-not-leak");
    expect(encoded).not.toContain("api_key");
  });
  it("refuses to encode an invalid value without quoting it", () => {
    expect(() => encodeMetadata({ v: 1, group: "bad group secret" })).toThrow(RangeError);
    expect(() => encodeMetadata({ v: 1, group: "bad group secret" })).not.toThrow(/secret/);
  });
  it("refuses oversize metadata", () => {
    const big = JSON.stringify({ v: 1, group: "g", pad: "x".repeat(3000) });
    expect(decodeMetadata(big)).toEqual({ ok: false, reason: expect.stringMatching(/3000/) });
  });
  it.each([
    ["not JSON", "{v:1"],
    ["empty", ""],
    ["non-string", 42],
    ["wrong version", JSON.stringify({ v: 2, group: "g" })],
    ["api_key smuggled in", JSON.stringify({ v: 1, group: "g", api_key: "sk-x" })],
    ["group with a space", JSON.stringify({ v: 1, group: "my group" })],
    ["unknown origin", JSON.stringify({ v: 1, origin: "email" })],
    ["bad channel", JSON.stringify({ v: 1, channelId: "<!channel>" })],
    ["array", "[1]"],
    ["null", "null"],
  ])("refuses forged metadata: %s", (_, raw) => {
    const r = decodeMetadata(raw);
    expect(r.ok).toBe(false);
  });
});
