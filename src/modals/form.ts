import { z } from "zod";
import { type ApiPrefix, FORM_FIELDS, type RegisterInput } from "../convai/types.js";
import {
  type Check,
  checkBaseUrl,
  checkDisplayName,
  checkGroupName,
  checkModelName,
  resolveApiKey,
} from "../domain/fields.js";
import { CHECKED_VALUE, FIELD, type FieldId, UNCENSORED_CHOICE } from "../slack/ids.js";

export interface ValidationContext {
  prefix: ApiPrefix;
  allowPrivateUrls: boolean;
  /** CONVAI_SECRET_* variables: the only ones an `env:NAME` key may name. */
  secrets: ReadonlyMap<string, string>;
}
/** Errors keyed by block_id: the API fields plus the form's own (verify, confirm_group_name). */
export type FieldErrors = Partial<Record<FieldId, string>>;

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
  | { ok: true; input: RegisterInput; verify: boolean; keySource: "typed" | "env"; keyRef?: string }
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
  return {
    ok: true,
    input,
    verify: verify ?? false,
    keySource: key.source,
    ...(key.ref !== undefined ? { keyRef: key.ref } : {}),
  };
}

export interface UpdateFields {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: boolean;
}
export type UpdateForm =
  | { ok: true; fields: UpdateFields; verify: boolean; keySource?: "typed" | "env"; keyRef?: string }
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
  let keyRef: string | undefined;
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
        keyRef = v.ref;
      }
    }
  }
  if (offered.includes(FIELD.is_uncensored)) {
    const v = c.take(FIELD.is_uncensored, readUncensoredChoice(values));
    if (v !== undefined) fields.is_uncensored = v;
  }
  const verify = c.take(FIELD.verify, readCheckbox(values, FIELD.verify));

  if (c.failed) return { ok: false, errors: c.errors };
  return {
    ok: true,
    fields,
    verify: verify ?? false,
    ...(keySource ? { keySource } : {}),
    ...(keyRef ? { keyRef } : {}),
  };
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
