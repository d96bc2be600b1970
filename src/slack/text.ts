export { charLength } from "../domain/fields.js";

import type { MrkdwnElement, PlainTextElement } from "@slack/types";

/**
 * Block Kit limits, checked against Slack's reference pages (docs.slack.dev: modal views, text object,
 * input block, plain-text input, option object, section, header and context blocks). Slack rejects a
 * whole view or message when one of these is exceeded, so every builder cuts to them.
 */
export const LIMITS = {
  /** Modal `title`, `submit` and `close` texts. */
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  /** Blocks per modal or Home tab (messages allow 50). */
  viewBlocks: 100,
  messageBlocks: 50,
  blockId: 255,
  actionId: 255,
  /** Any text object (plain_text or mrkdwn): 1 to 3000 characters. */
  text: 3000,
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  contextElements: 10,
  inputLabel: 2000,
  inputHint: 2000,
  placeholder: 150,
  /** plain_text_input `max_length` accepts 1 to 3000. */
  plainTextInputMaxLength: 3000,
  /** Option text and description; `value` is documented as 150 in newer pages, 75 in older ones. */
  optionText: 75,
  optionDescription: 75,
  optionValue: 75,
  /** Options in a checkbox or radio button group. */
  groupOptions: 10,
} as const;

/** Shown where Slack needs a non-empty text and there is nothing to say. */
const EMPTY = "—";

/** Escapes the three characters Slack's mrkdwn treats as control characters, so `<!channel>` pings nobody. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Length in code points, so an emoji counts as one character and is never split in half. */

/** Cuts `s` to at most `max` code points, ending with "…" when anything was cut. */
export function truncate(s: string, max: number): string {
  if (max <= 0) return "";
  if (s.length <= max) return s; // UTF-16 length bounds the code point count: nothing to cut.
  const points = Array.from(s);
  if (points.length <= max) return s;
  return `${cutGraphemes(s, max - 1)}…`;
}

const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" });

/**
 * The longest prefix of whole graphemes (a flag, a ZWJ family, a letter with its accents) of at most
 * `max` code points: a cut never leaves half an emoji. A single grapheme longer than `max` is cut by
 * code point, which still never splits a surrogate pair.
 */
export function cutGraphemes(s: string, max: number): string {
  let out = "";
  let used = 0;
  for (const { segment } of graphemes.segment(s)) {
    const n = Array.from(segment).length;
    if (used + n > max) return used === 0 ? Array.from(segment).slice(0, max).join("") : out;
    out += segment;
    used += n;
  }
  return out;
}

/** A plain_text object cut to `max` (3000 by default); empty text, which Slack refuses, becomes "—". */
export function plainText(text: string, max: number = LIMITS.text): PlainTextElement {
  const cut = truncate(text, Math.min(max, LIMITS.text));
  return { type: "plain_text", text: cut.trim() === "" ? EMPTY : cut, emoji: true };
}

/**
 * A mrkdwn object for a section, cut to 3000. The caller escapes user text (escapeMrkdwn, codeSpan)
 * before building the string; a cut never leaves half an entity such as `&am` behind.
 */
export function mrkdwn(text: string, max: number = LIMITS.sectionText): MrkdwnElement {
  let cut = truncate(text, Math.min(max, LIMITS.text));
  if (cut !== text) cut = cut.replace(/&[a-z]{0,3}…$/, "…");
  return { type: "mrkdwn", text: cut.trim() === "" ? EMPTY : cut };
}

/**
 * A base URL as Slack may show it: its query string (Azure's api-version, and sometimes a key) becomes
 * `?…`. The full URL only goes where it is sent (Convai, the endpoint test) and into the update form's
 * input, which the manager edits.
 */
export function shownUrl(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}

/** A changed field's before or after value as people see it: a base URL without its query. */
export function shownValue(field: string, value: string): string {
  return field === "base_url" ? shownUrl(value) : value;
}

/** The host (with port) of an absolute URL, for short displays; the input itself when it does not parse. */
export function hostOf(url: string): string {
  const trimmed = url.trim();
  return URL.canParse(trimmed) ? new URL(trimmed).host || trimmed : trimmed;
}

/**
 * "2025-07-08" from an ISO timestamp. A leading date is taken as written (no time-zone shift);
 * anything else Date understands is shown as its UTC date; an unparseable value is returned as is.
 */
export function formatDate(iso: string): string {
  const s = iso.trim();
  const leading = /^(\d{4}-\d{2}-\d{2})(?:$|[T ])/.exec(s);
  if (leading?.[1]) return leading[1];
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? s : new Date(ms).toISOString().slice(0, 10);
}

/**
 * An inline code span for mrkdwn. Slack has no escape for a backtick inside code, so backticks become
 * the look-alike "ˋ" and line breaks become spaces; `<`, `>` and `&` are escaped since Slack still parses
 * them inside code. `max` cuts the raw text first, so the cut never lands inside an entity.
 */
export function codeSpan(s: string, max?: number): string {
  const raw = max === undefined ? s : truncate(s, max);
  const safe = escapeMrkdwn(raw.replace(/`/g, "ˋ").replace(/[\r\n\u2028\u2029]+/g, " "));
  return safe.trim() === "" ? "_(empty)_" : `\`${safe}\``;
}

/** A date Slack renders in each reader's time zone ("Today at 09:14"); the fallback (ISO) for old clients. */
export function slackDate(ms: number, fallback: string = new Date(ms).toISOString()): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${fallback}>`;
}
