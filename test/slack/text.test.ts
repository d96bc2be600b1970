import { describe, expect, it } from "vitest";
import {
  charLength,
  codeSpan,
  escapeMrkdwn,
  formatDate,
  hostOf,
  LIMITS,
  mrkdwn,
  plainText,
  truncate,
} from "../../src/slack/text.js";

describe("escapeMrkdwn", () => {
  it("escapes &, < and > so mentions and links are inert", () => {
    expect(escapeMrkdwn("<!channel> & <@U123>")).toBe("&lt;!channel&gt; &amp; &lt;@U123&gt;");
  });
  it("escapes an already escaped entity again, so it shows literally", () => {
    expect(escapeMrkdwn("&amp;")).toBe("&amp;amp;");
  });
  it("leaves other text alone", () => {
    expect(escapeMrkdwn("plain *bold* _it_ 🙂")).toBe("plain *bold* _it_ 🙂");
  });
});

describe("truncate", () => {
  it("returns short text unchanged", () => {
    expect(truncate("abc", 3)).toBe("abc");
  });
  it("cuts to max characters including the ellipsis", () => {
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(charLength(truncate("x".repeat(5000), 3000))).toBe(3000);
  });
  it("counts code points, never splitting a surrogate pair", () => {
    expect(truncate("😀😀😀", 3)).toBe("😀😀😀");
    expect(truncate("😀😀😀", 2)).toBe("😀…");
    expect(truncate("a😀b", 2)).toBe("a…");
  });
  it("handles tiny limits", () => {
    expect(truncate("abc", 1)).toBe("…");
    expect(truncate("abc", 0)).toBe("");
  });
});

describe("plainText and mrkdwn", () => {
  it("builds a plain_text element cut to the given limit", () => {
    const t = plainText("x".repeat(100), LIMITS.modalTitle);
    expect(t.type).toBe("plain_text");
    expect(charLength(t.text)).toBe(24);
    expect(t.text.endsWith("…")).toBe(true);
  });
  it("never exceeds 3000 even when asked for more", () => {
    expect(charLength(plainText("y".repeat(9000), 10_000).text)).toBe(3000);
  });
  it("replaces empty text, which Slack refuses", () => {
    expect(plainText("").text.length).toBeGreaterThan(0);
    expect(mrkdwn("  ").text.trim().length).toBeGreaterThan(0);
  });
  it("cuts mrkdwn to 3000 without leaving half an entity", () => {
    const m = mrkdwn(escapeMrkdwn("&".repeat(1000)));
    expect(m.type).toBe("mrkdwn");
    expect(charLength(m.text)).toBeLessThanOrEqual(3000);
    expect(m.text.endsWith("&amp;…")).toBe(true);
  });
});

describe("hostOf", () => {
  it("returns host and port of an absolute URL", () => {
    expect(hostOf("https://llm.example.com:8443/v1?x=1")).toBe("llm.example.com:8443");
    expect(hostOf(" https://[2001:db8::1]/v1 ")).toBe("[2001:db8::1]");
  });
  it("returns the input when it is not a URL", () => {
    expect(hostOf("not a url")).toBe("not a url");
  });
});

describe("formatDate", () => {
  it("keeps the written date of an ISO timestamp", () => {
    expect(formatDate("2025-07-08T23:59:59-08:00")).toBe("2025-07-08");
    expect(formatDate("2025-07-08 10:00:00")).toBe("2025-07-08");
    expect(formatDate("2025-07-08")).toBe("2025-07-08");
  });
  it("falls back to the UTC date for other parseable forms", () => {
    expect(formatDate("Tue, 08 Jul 2025 12:00:00 GMT")).toBe("2025-07-08");
  });
  it("returns unparseable input as is", () => {
    expect(formatDate("yesterday")).toBe("yesterday");
  });
});

describe("codeSpan", () => {
  it("wraps in backticks and escapes mrkdwn control characters", () => {
    expect(codeSpan("<@U123>&")).toBe("`&lt;@U123&gt;&amp;`");
  });
  it("cannot be broken out of with a backtick or a newline", () => {
    const span = codeSpan("a`<!channel>`\nb");
    expect(span.slice(1, -1)).not.toContain("`");
    expect(span).not.toContain("\n");
    expect(span).not.toContain("<");
  });
  it("cuts the raw text before escaping", () => {
    expect(codeSpan("&&&&", 3)).toBe("`&amp;&amp;…`");
  });
  it("shows an empty value explicitly", () => {
    expect(codeSpan("")).toBe("_(empty)_");
  });
});

describe("LIMITS", () => {
  it("holds the documented Block Kit limits", () => {
    expect(LIMITS).toMatchObject({
      modalTitle: 24,
      modalButton: 24,
      privateMetadata: 3000,
      viewBlocks: 100,
      sectionText: 3000,
      headerText: 150,
      contextElements: 10,
      optionText: 75,
      plainTextInputMaxLength: 3000,
    });
  });
});

describe("cuts never split an emoji (issue 16 item 6)", () => {
  it("truncate keeps a ZWJ family or a flag whole, or drops it whole", async () => {
    const { truncate, cutGraphemes } = await import("../../src/slack/text.js");
    const family = "👨‍👩‍👧"; // 5 code points
    expect(truncate(`ab${family}cd`, 5)).toBe("ab…");
    expect(truncate(`ab${family}cd`, 8)).toBe(`ab${family}…`);
    expect(truncate("ab🇫🇷cd", 4)).toBe("ab…");
    expect(cutGraphemes("x😀", 1)).toBe("x");
    expect(cutGraphemes("😀", 1)).toBe("😀");
    expect(cutGraphemes(family, 2)).toBe("👨‍");
  });
});
