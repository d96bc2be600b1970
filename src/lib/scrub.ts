/**
 * One key scrubber for every text that came back from a server which saw a key (the Convai client, the
 * endpoint test): a server may echo the key raw, JSON-escaped (inside a JSON string) or URL-encoded.
 */

export const REDACTED = "[redacted]";

/** Keys this long or longer are removed wherever they appear, even inside a longer word. */
export const SHORT_KEY = 8;

// Word characters: a short key is only removed where none touches it ("key=abc" loses abc, "abcdef" stays).
const TOKEN_CHAR = "A-Za-z0-9_\\-";

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The forms a key may come back in: raw, JSON-escaped, URL-encoded (with `%20` or `+` for a space). */
export function keyForms(key: string): string[] {
  const forms = new Set<string>();
  for (const k of [key, key.trim()]) {
    if (k === "") continue;
    forms.add(k);
    forms.add(JSON.stringify(k).slice(1, -1));
    forms.add(encodeURIComponent(k));
    forms.add(encodeURIComponent(k).replace(/%20/g, "+"));
  }
  return [...forms];
}

/**
 * A function removing every form of every key from a text. A key under SHORT_KEY characters ("EMPTY",
 * "token") is removed only as a whole token, so the bot's own words that merely contain it stay readable;
 * longer keys are removed everywhere. Empty keys are ignored.
 */
export function makeScrubber(keys: readonly (string | undefined)[]): (text: string) => string {
  const long: string[] = [];
  const short: string[] = [];
  for (const key of keys) {
    if (key === undefined || key.trim() === "") continue;
    for (const form of keyForms(key)) (key.trim().length >= SHORT_KEY ? long : short).push(form);
  }
  // Longest first, so a form that contains another is removed whole.
  const byLength = (a: string, b: string) => b.length - a.length;
  const parts = [
    ...[...new Set(long)].sort(byLength).map(escapeRegExp),
    ...[...new Set(short)]
      .sort(byLength)
      .map((f) => `(?<![${TOKEN_CHAR}])${escapeRegExp(f)}(?![${TOKEN_CHAR}])`),
  ];
  if (parts.length === 0) return (text) => text;
  const re = new RegExp(parts.join("|"), "g");
  return (text) => text.replace(re, REDACTED);
}
