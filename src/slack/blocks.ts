import type { ContextBlock, KnownBlock, SectionBlock } from "@slack/types";
import type { ConvaiModel } from "../convai/types.js";
import { ACTION, MODEL_BLOCK_PREFIX } from "./ids.js";
import { codeSpan, escapeMrkdwn, formatDate, hostOf, LIMITS, mrkdwn, plainText, truncate } from "./text.js";

/** The context line every sandbox-mode message and view carries (SPEC §7). */
export const SANDBOX_NOTICE = "Sandbox mode: changes go to the bot's embedded Convai emulator, not Convai.";
export const sandboxNote = `:test_tube: ${SANDBOX_NOTICE}`;

export function sandboxContextBlock(): ContextBlock {
  return { type: "context", elements: [mrkdwn(sandboxNote)] };
}

/** A model's fields as a section with two-column fields; every Convai-supplied string escaped. */
export function modelFacts(model: ConvaiModel, opts: { omitGroup?: boolean } = {}): SectionBlock {
  const fields = [
    ...(opts.omitGroup ? [] : [`*Group*\n${codeSpan(model.model_group_name, 200)}`]),
    `*Model*\n${codeSpan(model.model_name, 300)}`,
    `*Display name*\n${model.display_name !== undefined ? escapeMrkdwn(truncate(model.display_name, 300)) : "_(not reported)_"}`,
    `*Base URL*\n${model.base_url !== undefined ? codeSpan(model.base_url, 500) : "_(not reported)_"}`,
    `*Uncensored*\n${uncensoredLabel(model.is_uncensored)}`,
    ...(model.category ? [`*Category*\n${escapeMrkdwn(truncate(model.category, 100))}`] : []),
    ...(model.created_at ? [`*Registered*\n${escapeMrkdwn(formatDate(model.created_at))}`] : []),
  ];
  return {
    type: "section",
    fields: fields.slice(0, LIMITS.sectionFields).map((f) => mrkdwn(f, LIMITS.sectionFieldText)),
  };
}

export function uncensoredLabel(v: boolean | undefined): string {
  return v === undefined ? "not reported" : v ? "yes" : "no";
}

/** One line per model for lists: group, display name, model, host, uncensored, created. */
export function modelRow(model: ConvaiModel): string {
  const display =
    model.display_name !== undefined && model.display_name !== model.model_group_name
      ? ` · ${escapeMrkdwn(truncate(model.display_name, 128))}`
      : "";
  const facts = [
    codeSpan(model.model_name, 200),
    model.base_url !== undefined ? escapeMrkdwn(truncate(hostOf(model.base_url), 200)) : undefined,
    model.is_uncensored ? ":warning: uncensored" : model.is_uncensored === false ? "censored" : undefined,
    model.created_at ? `created ${escapeMrkdwn(formatDate(model.created_at))}` : undefined,
  ].filter((x) => x !== undefined);
  return `*${escapeMrkdwn(truncate(model.model_group_name, 128))}*${display}\n${facts.join(" · ")}`;
}

export function withSandbox(blocks: KnownBlock[], sandbox: boolean): KnownBlock[] {
  return sandbox ? [...blocks, sandboxContextBlock()] : blocks;
}

/** A message: the blocks and the plain-text fallback Slack shows in notifications. */
export interface Reply {
  text: string;
  blocks: KnownBlock[];
}

/** One line of the bot's own mrkdwn as a message (with the sandbox line when it applies). */
export function plainMessage(ctx: { sandbox: boolean }, text: string): Reply {
  return {
    text: truncate(text, 3000),
    blocks: withSandbox([{ type: "section", text: mrkdwn(text) }], ctx.sandbox),
  };
}

export function modelRowSection(model: ConvaiModel, withActions: boolean): SectionBlock {
  const section: SectionBlock = {
    type: "section",
    block_id: `${MODEL_BLOCK_PREFIX}${model.model_group_name}`.slice(0, 255),
    text: mrkdwn(modelRow(model)),
  };
  if (withActions && `${MODEL_BLOCK_PREFIX}${model.model_group_name}`.length <= 255) {
    section.accessory = {
      type: "overflow",
      action_id: ACTION.modelOverflow,
      options: [
        { text: plainText("Edit", 75), value: "update" },
        { text: plainText("Deregister", 75), value: "deregister" },
      ],
    };
  }
  return section;
}

export function filterModels(models: readonly ConvaiModel[], filter?: string): ConvaiModel[] {
  const sorted = [...models].sort((a, b) => a.model_group_name.localeCompare(b.model_group_name));
  if (!filter) return sorted;
  const needle = filter.toLowerCase();
  return sorted.filter((m) =>
    [m.model_group_name, m.model_name, m.display_name ?? ""].some((s) => s.toLowerCase().includes(needle)),
  );
}
