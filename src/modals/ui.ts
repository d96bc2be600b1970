import type {
  Checkboxes,
  ContextBlock,
  InputBlock,
  KnownBlock,
  ModalView,
  PlainTextInput,
  PlainTextOption,
  RadioButtons,
  SectionBlock,
  URLInput,
} from "@slack/types";
import { SECRET_ENV_PREFIX } from "../config.js";
import {
  type ApiPrefix,
  type ConvaiModel,
  DEFAULT_BASE_URL,
  FORM_FIELDS,
  type RegisterInput,
} from "../convai/types.js";
import { FIELD_LIMITS } from "../domain/fields.js";
import type { UpdateRequest } from "../domain/outcome.js";
import {
  modelFacts,
  SANDBOX_NOTICE,
  sandboxContextBlock,
  type Usage,
  uncensoredLabel,
  usageUnknownText,
  usedByLine,
} from "../slack/blocks.js";
import {
  CALLBACK,
  type CallbackId,
  CHECKED_VALUE,
  FIELD,
  type FieldId,
  UNCENSORED_CHOICE,
} from "../slack/ids.js";
import { charLength, codeSpan, escapeMrkdwn, LIMITS, mrkdwn, plainText, truncate } from "../slack/text.js";
import { deregisterCharacterBlocks, type GroupCharacters } from "./assign-ui.js";

export interface ViewContext {
  prefix: ApiPrefix;
  sandbox: boolean;
}
export interface RegisterPrefill {
  model_group_name?: string;
  model_name?: string;
  display_name?: string;
  base_url?: string;
  is_uncensored?: boolean;
  verify?: boolean;
}
export interface UpdatePrefill {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  is_uncensored?: "keep" | "true" | "false";
  verify?: boolean;
}
/**
 * Errors shown as a "⚠️ …" context block under their field. Used when a form is restored with
 * views.update: Slack shows `response_action: "errors"` only on a live submission.
 */
export type InlineErrors = Partial<Record<FieldId, string>>;

export { SANDBOX_NOTICE };

/** The context line every sandbox-mode view carries (SPEC §7). */
export function sandboxContext(ctx: ViewContext): ContextBlock | undefined {
  return ctx.sandbox ? sandboxContextBlock() : undefined;
}

// ---- shared pieces ------------------------------------------------------------------------------

interface ModalParts {
  callbackId: CallbackId;
  title: string;
  blocks: KnownBlock[];
  close: string;
  submit?: string;
  metadata?: string;
}

function modal(ctx: ViewContext, parts: ModalParts): ModalView {
  if (parts.metadata !== undefined && parts.metadata.length > LIMITS.privateMetadata) {
    // Cutting JSON would corrupt it; this is a caller bug (metadata.ts never produces it).
    throw new RangeError(`private_metadata is over ${LIMITS.privateMetadata} characters`);
  }
  const sandbox = sandboxContext(ctx);
  const blocks = (sandbox ? [sandbox, ...parts.blocks] : parts.blocks).slice(0, LIMITS.viewBlocks);
  return {
    type: "modal",
    callback_id: parts.callbackId,
    title: plainText(parts.title, LIMITS.modalTitle),
    close: plainText(parts.close, LIMITS.modalButton),
    ...(parts.submit !== undefined ? { submit: plainText(parts.submit, LIMITS.modalButton) } : {}),
    ...(parts.metadata !== undefined && parts.metadata !== "" ? { private_metadata: parts.metadata } : {}),
    blocks,
  };
}

const section = (text: string): SectionBlock => ({ type: "section", text: mrkdwn(text) });
const context = (text: string): ContextBlock => ({ type: "context", elements: [mrkdwn(text)] });
/** A field error as a context line; error texts are ours but may quote user input, so they are escaped. */
const errorLine = (error: string): ContextBlock => context(`⚠️ ${escapeMrkdwn(truncate(error, 500))}`);

/** A prefilled value is only offered when it fits the field; otherwise the field starts empty. */
function fits(value: string | undefined, max: number): value is string {
  return value !== undefined && value.trim() !== "" && charLength(value) <= max;
}

function input(
  field: FieldId,
  label: string,
  element: InputBlock["element"],
  opts: { optional: boolean; hint?: string },
): InputBlock {
  return {
    type: "input",
    block_id: field,
    label: plainText(label, LIMITS.inputLabel),
    element,
    optional: opts.optional,
    ...(opts.hint ? { hint: plainText(opts.hint, LIMITS.inputHint) } : {}),
  };
}

function textElement(field: FieldId, max: number, initial?: string, placeholder?: string): PlainTextInput {
  return {
    type: "plain_text_input",
    action_id: field,
    // Slack accepts max_length up to 3000; longer fields (the 4096-character key) rely on validation.
    ...(max <= LIMITS.plainTextInputMaxLength ? { max_length: max } : {}),
    ...(fits(initial, max) ? { initial_value: initial } : {}),
    ...(placeholder ? { placeholder: plainText(placeholder, LIMITS.placeholder) } : {}),
  };
}

function urlElement(initial?: string): URLInput {
  // url_text_input has no max_length: validation enforces the 2048 limit.
  return {
    type: "url_text_input",
    action_id: FIELD.base_url,
    ...(fits(initial, FIELD_LIMITS.base_url) ? { initial_value: initial } : {}),
    placeholder: plainText("https://llm.example.com/v1", LIMITS.placeholder),
  };
}

function option(text: string, value: string, description?: string): PlainTextOption {
  return {
    text: plainText(text, LIMITS.optionText),
    value,
    ...(description ? { description: plainText(description, LIMITS.optionDescription) } : {}),
  };
}

function checkbox(field: FieldId, opt: PlainTextOption, checked: boolean): Checkboxes {
  return {
    type: "checkboxes",
    action_id: field,
    options: [opt],
    ...(checked ? { initial_options: [opt] } : {}),
  };
}

/** The api_key input takes no value parameter at all: a key is never sent back to Slack (SPEC §5). */
function apiKeyInput(update: boolean): InputBlock {
  const hint =
    `The key goes to Convai and is never shown again. You may enter env:${SECRET_ENV_PREFIX}NAME ` +
    "to use a key from the bot's environment instead of typing it here." +
    (update ? " Leave it empty to keep the current key." : "");
  return input(
    FIELD.api_key,
    update ? "New API key" : "API key",
    textElement(
      FIELD.api_key,
      FIELD_LIMITS.api_key,
      undefined,
      update ? "Leave empty to keep the current key" : "sk-…",
    ),
    { optional: update, hint },
  );
}

function verifyInput(checked: boolean): InputBlock {
  const opt = option(
    "Test the endpoint before saving",
    CHECKED_VALUE,
    "Sends one short request with this key and model first",
  );
  // Optional: Slack would otherwise insist on a ticked box.
  return input(FIELD.verify, "Endpoint test", checkbox(FIELD.verify, opt, checked), { optional: true });
}

/** Adds each input followed by its inline error; errors for fields this view lacks go up top. */
function withErrors(
  inputs: InputBlock[],
  errors: InlineErrors | undefined,
): { top: KnownBlock[]; body: KnownBlock[] } {
  const byField = new Map<string, string>();
  for (const [field, error] of Object.entries(errors ?? {})) if (error) byField.set(field, error);
  const shown = new Set(inputs.map((b) => b.block_id));
  const top: KnownBlock[] = [];
  for (const [field, error] of byField) if (!shown.has(field)) top.push(errorLine(error));
  const body: KnownBlock[] = [];
  for (const block of inputs) {
    body.push(block);
    const error = block.block_id === undefined ? undefined : byField.get(block.block_id);
    if (error) body.push(errorLine(error));
  }
  return { top: top.slice(0, 5), body };
}

const loading = (group: string) =>
  section(`:hourglass_flowing_sand: Loading ${codeSpan(group, 200)} from Convai…`);

// ---- register -----------------------------------------------------------------------------------

// Long on purpose: one input block per field, in the order the form shows them; split up, the form
// would be scattered over helpers that each build one block.
export function registerModal(
  ctx: ViewContext,
  prefill: RegisterPrefill = {},
  inlineErrors?: InlineErrors,
  metadata?: string,
): ModalView {
  const offered: readonly string[] = FORM_FIELDS[ctx.prefix].register;
  const baseUrlOptional = ctx.prefix === "/llm-models";
  const inputs: InputBlock[] = [
    input(
      FIELD.model_group_name,
      "Group name",
      textElement(
        FIELD.model_group_name,
        FIELD_LIMITS.model_group_name,
        prefill.model_group_name,
        "my-llama-70b",
      ),
      {
        optional: false,
        hint: `Identifies the model in Convai: ${FIELD_LIMITS.model_group_name} characters at most, no spaces. It can't be changed later.`,
      },
    ),
  ];
  if (offered.includes(FIELD.display_name)) {
    inputs.push(
      input(
        FIELD.display_name,
        "Display name",
        textElement(FIELD.display_name, FIELD_LIMITS.display_name, prefill.display_name),
        {
          optional: true,
          hint: "The name shown in Convai, unique in your account. Leave empty to use the group name.",
        },
      ),
    );
  }
  inputs.push(
    input(
      FIELD.model_name,
      "Model name",
      textElement(
        FIELD.model_name,
        FIELD_LIMITS.model_name,
        prefill.model_name,
        "meta-llama/Llama-3.1-70B-Instruct",
      ),
      { optional: false, hint: "The model name your endpoint expects in its requests." },
    ),
    input(FIELD.base_url, "Base URL", urlElement(prefill.base_url), {
      optional: baseUrlOptional,
      hint:
        "Your OpenAI-compatible endpoint. It must be https and reachable from the internet: Convai's servers call it." +
        (baseUrlOptional ? ` Leave empty for Convai's default, ${DEFAULT_BASE_URL}.` : ""),
    }),
    apiKeyInput(false),
    input(
      FIELD.is_uncensored,
      "Content",
      checkbox(
        FIELD.is_uncensored,
        option("Uncensored model", CHECKED_VALUE, "Tell Convai the model's replies are not filtered"),
        prefill.is_uncensored === true,
      ),
      { optional: true },
    ),
    verifyInput(prefill.verify !== false),
  );
  const { top, body } = withErrors(inputs, inlineErrors);
  return modal(ctx, {
    callbackId: CALLBACK.register,
    title: "Register a model",
    submit: "Register",
    close: "Cancel",
    ...(metadata !== undefined ? { metadata } : {}),
    blocks: [
      section(
        "Register an OpenAI-compatible endpoint (vLLM, SGLang, Azure OpenAI, a LiteLLM gateway…) " +
          "so Convai characters can use it.",
      ),
      ...top,
      ...body,
    ],
  });
}

// ---- update -------------------------------------------------------------------------------------

export function updateLoadingModal(ctx: ViewContext, group: string, metadata: string): ModalView {
  return modal(ctx, {
    callbackId: CALLBACK.update,
    title: "Update a model",
    close: "Cancel",
    metadata,
    blocks: [loading(group)],
  });
}

// Long for the same reason as registerModal: the form's blocks in display order.
export function updateModal(
  ctx: ViewContext,
  model: ConvaiModel,
  metadata: string,
  prefill?: UpdatePrefill,
  inlineErrors?: InlineErrors,
  usage?: Usage,
): ModalView {
  const offered: readonly string[] = FORM_FIELDS[ctx.prefix].update;
  // Restoring a submitted form shows what the user typed; a fresh form shows what Convai holds.
  const p: UpdatePrefill = prefill ?? {
    ...(model.model_name ? { model_name: model.model_name } : {}),
    ...(model.display_name ? { display_name: model.display_name } : {}),
    ...(model.base_url ? { base_url: model.base_url } : {}),
  };
  const inputs: InputBlock[] = [];
  if (offered.includes(FIELD.model_name)) {
    inputs.push(
      input(
        FIELD.model_name,
        "Model name",
        textElement(FIELD.model_name, FIELD_LIMITS.model_name, p.model_name),
        {
          optional: true,
          hint: "The model name your endpoint expects. Leave empty to keep the current one.",
        },
      ),
    );
  }
  if (offered.includes(FIELD.display_name)) {
    inputs.push(
      input(
        FIELD.display_name,
        "Display name",
        textElement(FIELD.display_name, FIELD_LIMITS.display_name, p.display_name),
        { optional: true, hint: "Unique in your account. Leave empty to keep the current one." },
      ),
    );
  }
  if (offered.includes(FIELD.base_url)) {
    inputs.push(
      input(FIELD.base_url, "Base URL", urlElement(p.base_url), {
        optional: true,
        hint: "Must be https and reachable from the internet. Leave empty to keep the current one.",
      }),
    );
  }
  if (offered.includes(FIELD.api_key)) inputs.push(apiKeyInput(true));
  if (offered.includes(FIELD.is_uncensored)) {
    const keep = option(
      `Keep the current setting (uncensored: ${uncensoredLabel(model.is_uncensored)})`,
      UNCENSORED_CHOICE.keep,
    );
    const yes = option("Uncensored", UNCENSORED_CHOICE.true, "The model's replies are not filtered");
    const no = option("Not uncensored", UNCENSORED_CHOICE.false);
    const initial = p.is_uncensored === "true" ? yes : p.is_uncensored === "false" ? no : keep;
    const radio: RadioButtons = {
      type: "radio_buttons",
      action_id: FIELD.is_uncensored,
      options: [keep, yes, no],
      initial_option: initial,
    };
    inputs.push(input(FIELD.is_uncensored, "Uncensored", radio, { optional: false }));
  }
  inputs.push(verifyInput(p.verify !== false));
  const { top, body } = withErrors(inputs, inlineErrors);
  return modal(ctx, {
    callbackId: CALLBACK.update,
    title: "Update a model",
    submit: "Save changes",
    close: "Cancel",
    metadata,
    blocks: [
      modelFacts(model),
      ...usageContext(model.model_group_name, usage),
      context("The group name can't be changed. Change only what should change; the rest stays as it is."),
      ...top,
      ...body,
    ],
  });
}

/** The "used by" line of a model's form, or why it is unknown; nothing when usage was not read. */
function usageContext(group: string, usage: Usage | undefined): ContextBlock[] {
  const line = usedByLine(group, usage) ?? usageUnknownText(usage);
  return line ? [context(line)] : [];
}

// ---- deregister ---------------------------------------------------------------------------------

export function deregisterLoadingModal(ctx: ViewContext, group: string, metadata: string): ModalView {
  return modal(ctx, {
    callbackId: CALLBACK.deregister,
    title: "Deregister a model",
    close: "Cancel",
    metadata,
    blocks: [loading(group)],
  });
}

export function deregisterModal(
  ctx: ViewContext,
  model: ConvaiModel,
  metadata: string,
  inlineErrors?: InlineErrors,
  characters?: GroupCharacters,
): ModalView {
  const group = model.model_group_name;
  const confirm = input(
    FIELD.confirm_group_name,
    "Type the group name to confirm",
    // Never shorter than the group itself, so any existing group can be typed.
    textElement(
      FIELD.confirm_group_name,
      Math.min(Math.max(FIELD_LIMITS.model_group_name, charLength(group)), LIMITS.plainTextInputMaxLength),
      undefined,
      group,
    ),
    { optional: false, hint: `Type ${truncate(group, 200)} exactly.` },
  );
  // The move_to select sits with the character blocks, so its error goes right under it.
  const { [FIELD.move_to]: moveError, ...others } = inlineErrors ?? {};
  const { top, body } = withErrors([confirm], others);
  const characterBlocks = characters ? deregisterCharacterBlocks(group, characters) : undefined;
  return modal(ctx, {
    callbackId: CALLBACK.deregister,
    title: "Deregister a model",
    submit: "Deregister",
    close: "Cancel",
    metadata,
    blocks: [
      section("This removes the model from Convai:"),
      modelFacts(model),
      ...(characterBlocks
        ? [...characterBlocks, ...(moveError ? [errorLine(moveError)] : [])]
        : [
            section(
              "*⚠️ Characters that use this model will stop answering until they are switched to another model.*",
            ),
          ]),
      section("This can't be undone: registering it again needs the endpoint's API key."),
      ...top,
      ...body,
    ],
  });
}

// ---- progress and outcome -----------------------------------------------------------------------

/**
 * Shown while the Convai call outlives Slack's 3-second window. `text` is mrkdwn the caller built,
 * with user input already escaped (escapeMrkdwn, codeSpan).
 */
export function workingModal(
  ctx: ViewContext,
  callbackId: CallbackId,
  title: string,
  text: string,
): ModalView {
  return modal(ctx, {
    callbackId,
    title,
    close: "Close",
    blocks: [
      section(`:hourglass_flowing_sand: *Working…*\n${text}`),
      context(
        "This usually takes a few seconds and the result appears here. Closing this window doesn't cancel it.",
      ),
    ],
  });
}

/** Outcome and error views. `blocks` are the caller's, with user input already escaped. */
export function messageModal(
  ctx: ViewContext,
  callbackId: CallbackId,
  title: string,
  blocks: KnownBlock[],
): ModalView {
  return modal(ctx, { callbackId, title, close: "Done", blocks });
}

/** The register form's values to rebuild it with (never the key: it is typed again). */
export function registerPrefill(input: RegisterInput, verify: boolean): RegisterPrefill {
  return {
    model_group_name: input.model_group_name,
    model_name: input.model_name,
    ...(input.display_name !== undefined ? { display_name: input.display_name } : {}),
    ...(input.base_url !== undefined ? { base_url: input.base_url } : {}),
    is_uncensored: input.is_uncensored,
    verify,
  };
}

/** The update form's values to rebuild it with (never the key: it is typed again). */
export function updatePrefill(fields: UpdateRequest, verify: boolean): UpdatePrefill {
  return {
    ...(fields.model_name !== undefined ? { model_name: fields.model_name } : {}),
    ...(fields.display_name !== undefined ? { display_name: fields.display_name } : {}),
    ...(fields.base_url !== undefined ? { base_url: fields.base_url } : {}),
    ...(fields.is_uncensored !== undefined ? { is_uncensored: fields.is_uncensored ? "true" : "false" } : {}),
    verify,
  };
}
