import { describe, expect, it } from "vitest";
import { keyForms, makeScrubber } from "../../src/lib/scrub.js";

describe("makeScrubber (issue 16 item 5)", () => {
  const key = 'sk-"quoted\\key&x=1 2';
  const scrub = makeScrubber([key]);
  it.each(keyForms(key))("removes the form %j", (form) => {
    expect(scrub(`before ${form} after`)).toBe("before [redacted] after");
  });
  it("removes a long key inside a longer word too", () => {
    expect(makeScrubber(["abcdefgh12"])("xxabcdefgh12yy")).toBe("xx[redacted]yy");
  });
  it("removes a short key only as a whole word, so the bot's words stay readable", () => {
    const short = makeScrubber(["tok"]);
    expect(short("max_tokens for tok; key=tok&a")).toBe("max_tokens for [redacted]; key=[redacted]&a");
  });
  it("ignores empty keys", () => {
    expect(makeScrubber(["", "  ", undefined])("text")).toBe("text");
  });
});
