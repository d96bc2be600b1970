import { SECRET_ENV_PREFIX, SECRET_HOSTS_SUFFIX } from "../config.js";
import { isIpLiteral, isLocalHostname, isPrivateAddress } from "../probe/ip.js";

/**
 * The fields of a custom LLM as Convai's API names them (SPEC §2). Every surface uses these names:
 * the modals' block_ids, the notification's before → after lines, the field errors.
 */
export const API_FIELD = {
  model_group_name: "model_group_name",
  model_name: "model_name",
  display_name: "display_name",
  api_key: "api_key",
  base_url: "base_url",
  is_uncensored: "is_uncensored",
} as const;
export type ApiField = (typeof API_FIELD)[keyof typeof API_FIELD];

/** What went wrong, per field, in words the user can act on. */
export type FieldErrors = Partial<Record<ApiField, string>>;

/** Field limits from SPEC §5, in characters (code points). */
export const FIELD_LIMITS = {
  model_group_name: 128,
  model_name: 256,
  display_name: 128,
  api_key: 4096,
  base_url: 2048,
} as const;

export type Check<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Check<T> => ({ ok: true, value });
const fail = <T>(error: string): Check<T> => ({ ok: false, error });

// C0/C1 controls, line/paragraph separators and bidi overrides: invisible, break logs, or spoof text.
const CONTROL = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
// Identifiers also refuse every invisible format character (zero-width space, joiners, BOM...),
// so two names that look the same are the same.
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const WHITESPACE = /\s/u;

const clean = (raw: string | null | undefined): string => (typeof raw === "string" ? raw.trim() : "");

export function checkGroupName(raw: string | null | undefined): Check<string> {
  const s = clean(raw);
  const max = FIELD_LIMITS.model_group_name;
  if (s === "") return fail(`Enter a group name: 1-${max} characters without spaces`);
  if (WHITESPACE.test(s)) return fail(`Use 1-${max} characters without spaces`);
  if (INVISIBLE.test(s)) return fail("Remove control or invisible characters from the group name");
  if (charLength(s) > max) return fail(`Use 1-${max} characters without spaces (this has ${charLength(s)})`);
  return ok(s);
}

export function checkModelName(raw: string | null | undefined): Check<string> {
  const s = clean(raw);
  const max = FIELD_LIMITS.model_name;
  if (s === "") return fail("Enter the model name your endpoint expects, e.g. gpt-4o");
  if (INVISIBLE.test(s)) return fail("Remove control or invisible characters from the model name");
  if (charLength(s) > max) return fail(`Use at most ${max} characters (this has ${charLength(s)})`);
  return ok(s);
}

export function checkDisplayName(raw: string | null | undefined): Check<string | undefined> {
  const s = clean(raw);
  const max = FIELD_LIMITS.display_name;
  if (s === "") return ok(undefined);
  // Emoji sequences use zero-width joiners, so only controls and bidi overrides are refused here.
  if (CONTROL.test(s)) return fail("Remove control characters and line breaks from the display name");
  if (charLength(s) > max) return fail(`Use at most ${max} characters (this has ${charLength(s)})`);
  return ok(s);
}

const PRIVATE_HINT = "plain http is only allowed when CONVAI_ALLOW_PRIVATE_URLS is set";

/**
 * The registered base_url is called by Convai's servers (SPEC §2), so it must be a public https
 * endpoint. Only literal addresses and well-known local names are judged here; the endpoint test
 * resolves the host and refuses private addresses again.
 */
export function checkBaseUrl(raw: string | null | undefined, allowPrivate: boolean): Check<string> {
  const s = clean(raw);
  const max = FIELD_LIMITS.base_url;
  if (s === "") return fail("Enter the endpoint's base URL, e.g. https://llm.example.com/v1");
  if (charLength(s) > max) return fail(`Use at most ${max} characters (this has ${charLength(s)})`);
  // The URL parser silently drops tabs and line breaks and encodes spaces: refuse them instead.
  if (WHITESPACE.test(s) || INVISIBLE.test(s))
    return fail("Remove spaces and control characters from the URL");
  // The parser reads `\` as `/`: what was typed would not be what is called.
  if (s.includes("\\")) return fail("Replace the backslashes (\\) with slashes (/)");
  // Require the literal scheme and `//`: the parser also accepts `https:host` and `https:\\host`.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1]?.toLowerCase();
  if (scheme === "http" && !allowPrivate) return fail(`Must start with https:// — ${PRIVATE_HINT}`);
  if (scheme !== "https" && scheme !== "http") {
    return fail("Enter an absolute URL starting with https://, e.g. https://llm.example.com/v1");
  }
  if (!URL.canParse(s)) return fail("This is not a valid URL: check the host name and port");
  const url = new URL(s);
  if (url.hostname === "") return fail("Add the host name, e.g. https://llm.example.com/v1");
  // Any `@` in the authority means userinfo, even an empty one the parser would drop.
  const authority = s.slice(s.indexOf("//") + 2).split(/[/?#]/, 1)[0] ?? "";
  if (authority.includes("@") || url.username !== "" || url.password !== "") {
    return fail("Remove the user:password part; put the key in the API key field");
  }
  if (s.includes("#")) return fail("Remove the #fragment: Convai appends its own paths to the base URL");
  if (!allowPrivate) {
    const host = url.hostname;
    if (isIpLiteral(host) ? isPrivateAddress(host) : isLocalHostname(host)) {
      return fail(
        "Use a public host: Convai's servers can't reach private, loopback or link-local addresses",
      );
    }
    // A dotless name is only resolvable inside some network, never from Convai's servers.
    if (!isIpLiteral(host) && !host.replace(/\.$/, "").includes(".")) {
      return fail("Use the endpoint's full public host name, e.g. llm.example.com");
    }
  }
  return ok(s);
}

export type ResolvedKey = { key: string; source: "typed" | "env"; ref?: string };

const ENV_REF = /^env:/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Only a name in the usual env-var style is quoted back: lowercase text after `env:` may be a pasted key.
const QUOTABLE_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;

function keyProblem(key: string): string | undefined {
  if (key === "") return "is empty";
  if (WHITESPACE.test(key) || INVISIBLE.test(key))
    return "contains spaces, line breaks or invisible characters";
  if (charLength(key) > FIELD_LIMITS.api_key) return `is longer than ${FIELD_LIMITS.api_key} characters`;
  return undefined;
}

/**
 * Reads the api_key field: a typed key, or `env:NAME` naming a CONVAI_SECRET_* variable of the bot's
 * environment (SPEC §5). No error message ever contains the key or a variable's value.
 */
export function resolveApiKey(
  raw: string | null | undefined,
  secrets: ReadonlyMap<string, string>,
): Check<ResolvedKey> {
  const s = clean(raw);
  if (s === "") return fail(`Enter the model's API key, or env:${SECRET_ENV_PREFIX}NAME`);
  if (ENV_REF.test(s)) {
    const name = s.slice(4).trim();
    if (!ENV_NAME.test(name)) {
      return fail(`After env: put a variable name, e.g. env:${SECRET_ENV_PREFIX}OPENAI`);
    }
    const quoted = QUOTABLE_NAME.test(name) ? `env:${name}` : "That env: reference";
    if (!name.startsWith(SECRET_ENV_PREFIX)) {
      return fail(`${quoted} is not allowed: only variables starting with ${SECRET_ENV_PREFIX} can be used`);
    }
    const value = secrets.get(name);
    if (value === undefined) return fail(`${quoted} is not set in the bot's environment`);
    const key = value.trim();
    const problem = keyProblem(key);
    if (problem) return fail(`The value of ${quoted} ${problem}: fix the variable and restart the bot`);
    return ok({ key, source: "env", ref: name });
  }
  const problem = keyProblem(s);
  if (problem) return fail(`The key ${problem}: paste it again without extra characters`);
  return ok({ key: s, source: "typed" });
}

/**
 * Whether the secret `ref` may be sent to `baseUrl`'s host (SPEC §5): only to a host its
 * CONVAI_SECRET_<NAME>_HOSTS lists, so a manager cannot hand a shared key to a host of their choosing.
 * Returns the refusal for the api_key field, or undefined when allowed.
 */
export function secretHostRefusal(
  ref: string,
  baseUrl: string,
  secretHosts: ReadonlyMap<string, readonly string[]>,
): string | undefined {
  const listVar = `${ref}${SECRET_HOSTS_SUFFIX}`;
  const hosts = secretHosts.get(ref);
  if (hosts === undefined) {
    return `env:${ref} has no host list: an admin must set ${listVar} to the host names it may be sent to, then restart the bot`;
  }
  const host = URL.canParse(baseUrl) ? new URL(baseUrl).hostname.toLowerCase().replace(/\.$/, "") : "";
  const allowed = hosts.some((h) =>
    h.startsWith("*.") ? host.endsWith(h.slice(1)) && host.length > h.length - 1 : host === h,
  );
  if (allowed) return undefined;
  return `env:${ref} may not be sent to ${host || "this base URL"}: ${listVar} does not list it. Use a listed host, or type the key`;
}

/** Length in code points, as Slack and Convai count characters (an emoji is one, not two). */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const PASTED_SUFFIXES = ["/chat/completions", "/completions", "/models"];

/**
 * Trims, drops trailing slashes and one pasted endpoint suffix, then returns the URL parser's form (lower-case
 * host, default port dropped, dot segments resolved) without a trailing slash: exactly the base the endpoint
 * test calls and Convai stores. Never adds /v1: that is the user's call. Run once per change, never twice.
 */
export function normaliseBaseUrl(raw: string): string {
  const trimmed = raw.trim();
  // A query (Azure's ?api-version=...) stays; only the path before it is normalised.
  const q = trimmed.indexOf("?");
  const query = q === -1 ? "" : trimmed.slice(q);
  let path = (q === -1 ? trimmed : trimmed.slice(0, q)).replace(/\/+$/, "");
  const lower = path.toLowerCase();
  const suffix = PASTED_SUFFIXES.find((s) => lower.endsWith(s));
  if (suffix !== undefined) path = path.slice(0, -suffix.length).replace(/\/+$/, "");
  const joined = path + query;
  if (!URL.canParse(joined)) return joined;
  const url = new URL(joined);
  // Left as typed when the checks must refuse it (scheme, user:password, #fragment): they say why.
  const plain = (url.protocol === "https:" || url.protocol === "http:") && url.username === "";
  if (!plain || url.password !== "" || url.hash !== "" || joined.includes("#")) return joined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}${url.search}`;
}
