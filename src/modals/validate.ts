import { z } from "zod";
import { SECRET_ENV_PREFIX } from "../config.js";
import { type ApiPrefix, FORM_FIELDS, type RegisterInput } from "../convai/types.js";
import { isIpLiteral, isLocalHostname, isPrivateAddress } from "../probe/ip.js";
import { CHECKED_VALUE, FIELD, type FieldId, UNCENSORED_CHOICE } from "../slack/ids.js";
import { charLength } from "../slack/text.js";

/** Field limits from SPEC §5, in characters (code points). */
export const FIELD_LIMITS = {
  model_group_name: 128,
  model_name: 256,
  display_name: 128,
  api_key: 4096,
  base_url: 2048,
} as const;

export interface ValidationContext {
  prefix: ApiPrefix;
  allowPrivateUrls: boolean;
  /** CONVAI_SECRET_* variables: the only ones an `env:NAME` key may name. */
  secrets: ReadonlyMap<string, string>;
}
export type FieldErrors = Partial<Record<FieldId, string>>;
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

// ---- Slack's view.state.values ----------------------------------------------------------------

const textState = (type: "plain_text_input" | "url_text_input") =>
  z.object({ type: z.literal(type), value: z.string().nullish() });
const checkboxState = z.object({
  type: z.literal("checkboxes"),
  selected_options: z.array(z.object({ value: z.string() })).nullish(),
});
const radioState = z.object({
  type: z.literal("radio_buttons"),
  selected_option: z.object({ value: z.string() }).nullish(),
});

const MISSING = "This field was missing from the form: close the window and open it again";

type Read<T> = { ok: true; value: T } | { ok: false; error: string };

/** One action's state: `values[field][field]`, since every input's action_id equals its block_id. */
function stateOf(values: unknown, field: FieldId): unknown {
  if (typeof values !== "object" || values === null) return undefined;
  const block: unknown = Reflect.get(values, field);
  if (typeof block !== "object" || block === null) return undefined;
  return Reflect.get(block, field);
}

function readText(
  values: unknown,
  field: FieldId,
  type: "plain_text_input" | "url_text_input",
): Read<string> {
  const parsed = textState(type).safeParse(stateOf(values, field));
  return parsed.success ? { ok: true, value: parsed.data.value ?? "" } : { ok: false, error: MISSING };
}

function readCheckbox(values: unknown, field: FieldId): Read<boolean> {
  const parsed = checkboxState.safeParse(stateOf(values, field));
  if (!parsed.success) return { ok: false, error: MISSING };
  return { ok: true, value: (parsed.data.selected_options ?? []).some((o) => o.value === CHECKED_VALUE) };
}

function readUncensoredChoice(values: unknown): Read<boolean | undefined> {
  const parsed = radioState.safeParse(stateOf(values, FIELD.is_uncensored));
  if (!parsed.success) return { ok: false, error: MISSING };
  const choice = parsed.data.selected_option?.value ?? UNCENSORED_CHOICE.keep;
  if (choice === UNCENSORED_CHOICE.keep) return { ok: true, value: undefined };
  if (choice === UNCENSORED_CHOICE.true) return { ok: true, value: true };
  if (choice === UNCENSORED_CHOICE.false) return { ok: true, value: false };
  return { ok: false, error: "Choose one of the options" };
}

/** Collects every field's error rather than stopping at the first. */
class Collector {
  readonly errors: FieldErrors = {};
  take<T>(field: FieldId, result: Read<T> | Check<T>): T | undefined {
    if (result.ok) return result.value;
    this.errors[field] ??= result.error;
    return undefined;
  }
  get failed(): boolean {
    return Object.keys(this.errors).length > 0;
  }
}

export type RegisterForm =
  | { ok: true; input: RegisterInput; verify: boolean; keySource: "typed" | "env" }
  | { ok: false; errors: FieldErrors };

/** Reads and checks a register submission for the configured API form (SPEC §2, §3). */
export function readRegisterForm(values: unknown, ctx: ValidationContext): RegisterForm {
  const offered: readonly string[] = FORM_FIELDS[ctx.prefix].register;
  const c = new Collector();
  const text = (field: FieldId) => c.take(field, readText(values, field, "plain_text_input"));

  const groupRaw = text(FIELD.model_group_name);
  const group = groupRaw === undefined ? undefined : c.take(FIELD.model_group_name, checkGroupName(groupRaw));
  const modelRaw = text(FIELD.model_name);
  const model = modelRaw === undefined ? undefined : c.take(FIELD.model_name, checkModelName(modelRaw));

  let displayName: string | undefined;
  if (offered.includes(FIELD.display_name)) {
    const raw = text(FIELD.display_name);
    if (raw !== undefined) displayName = c.take(FIELD.display_name, checkDisplayName(raw));
  }

  const keyRaw = text(FIELD.api_key);
  const key = keyRaw === undefined ? undefined : c.take(FIELD.api_key, resolveApiKey(keyRaw, ctx.secrets));

  // /llm-models lets Convai default the base URL; /custom-llm requires it.
  const urlRaw = c.take(FIELD.base_url, readText(values, FIELD.base_url, "url_text_input"));
  let baseUrl: string | undefined;
  if (urlRaw !== undefined && (urlRaw.trim() !== "" || ctx.prefix === "/custom-llm")) {
    baseUrl = c.take(FIELD.base_url, checkBaseUrl(urlRaw, ctx.allowPrivateUrls));
  }

  const uncensored = c.take(FIELD.is_uncensored, readCheckbox(values, FIELD.is_uncensored));
  const verify = c.take(FIELD.verify, readCheckbox(values, FIELD.verify));

  if (c.failed || group === undefined || model === undefined || key === undefined) {
    return { ok: false, errors: c.errors };
  }
  const input: RegisterInput = {
    model_group_name: group,
    model_name: model,
    api_key: key.key,
    is_uncensored: uncensored ?? false,
    ...(baseUrl !== undefined ? { base_url: baseUrl } : {}),
    ...(displayName !== undefined ? { display_name: displayName } : {}),
  };
  return { ok: true, input, verify: verify ?? false, keySource: key.source };
}

export interface UpdateFields {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: boolean;
}
export type UpdateForm =
  | { ok: true; fields: UpdateFields; verify: boolean; keySource?: "typed" | "env" }
  | { ok: false; errors: FieldErrors };

/**
 * Reads an update submission. Only the fields the configured form offers are read; a blank text field
 * or the radio's "keep" leaves that field out of `fields`, which means "keep what Convai has".
 * `fields` may come back empty: the caller decides what "nothing to change" means.
 */
export function readUpdateForm(values: unknown, ctx: ValidationContext): UpdateForm {
  const offered: readonly string[] = FORM_FIELDS[ctx.prefix].update;
  const c = new Collector();
  const fields: UpdateFields = {};
  let keySource: "typed" | "env" | undefined;
  const blankOr = (field: FieldId, type: "plain_text_input" | "url_text_input"): string | undefined => {
    const raw = c.take(field, readText(values, field, type));
    return raw === undefined || raw.trim() === "" ? undefined : raw;
  };

  if (offered.includes(FIELD.model_name)) {
    const raw = blankOr(FIELD.model_name, "plain_text_input");
    if (raw !== undefined) {
      const v = c.take(FIELD.model_name, checkModelName(raw));
      if (v !== undefined) fields.model_name = v;
    }
  }
  if (offered.includes(FIELD.display_name)) {
    const raw = blankOr(FIELD.display_name, "plain_text_input");
    if (raw !== undefined) {
      const v = c.take(FIELD.display_name, checkDisplayName(raw));
      if (v !== undefined) fields.display_name = v;
    }
  }
  if (offered.includes(FIELD.base_url)) {
    const raw = blankOr(FIELD.base_url, "url_text_input");
    if (raw !== undefined) {
      const v = c.take(FIELD.base_url, checkBaseUrl(raw, ctx.allowPrivateUrls));
      if (v !== undefined) fields.base_url = v;
    }
  }
  if (offered.includes(FIELD.api_key)) {
    const raw = blankOr(FIELD.api_key, "plain_text_input");
    if (raw !== undefined) {
      const v = c.take(FIELD.api_key, resolveApiKey(raw, ctx.secrets));
      if (v !== undefined) {
        fields.api_key = v.key;
        keySource = v.source;
      }
    }
  }
  if (offered.includes(FIELD.is_uncensored)) {
    const v = c.take(FIELD.is_uncensored, readUncensoredChoice(values));
    if (v !== undefined) fields.is_uncensored = v;
  }
  const verify = c.take(FIELD.verify, readCheckbox(values, FIELD.verify));

  if (c.failed) return { ok: false, errors: c.errors };
  return { ok: true, fields, verify: verify ?? false, ...(keySource ? { keySource } : {}) };
}

/** The deregister confirmation: the typed name must equal the group exactly (after trimming). */
export function readDeregisterForm(
  values: unknown,
  group: string,
): { ok: true } | { ok: false; errors: FieldErrors } {
  const typed = readText(values, FIELD.confirm_group_name, "plain_text_input");
  if (!typed.ok) return { ok: false, errors: { [FIELD.confirm_group_name]: typed.error } };
  if (typed.value.trim() !== group) {
    return {
      ok: false,
      errors: { [FIELD.confirm_group_name]: "Type the group name exactly as shown above to confirm" },
    };
  }
  return { ok: true };
}
