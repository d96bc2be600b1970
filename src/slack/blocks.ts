import type { ContextBlock, KnownBlock, SectionBlock } from "@slack/types";
import type { ConvaiModel } from "../convai/types.js";
import { ACTION, MODEL_BLOCK_PREFIX } from "./ids.js";
import {
  codeSpan,
  cutGraphemes,
  escapeMrkdwn,
  formatDate,
  hostOf,
  LIMITS,
  mrkdwn,
  plainText,
  shownUrl,
  truncate,
} from "./text.js";

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
    `*Base URL*\n${model.base_url !== undefined ? codeSpan(shownUrl(model.base_url), 500) : "_(not reported)_"}`,
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

/**
 * Which characters use each model, as one surface render read it: names by model code or group, or the
 * reason the character list could not be read (the models are shown anyway).
 */
export type Usage =
  | { kind: "known"; byModel: ReadonlyMap<string, readonly string[]> }
  | { kind: "unknown"; reason: string };

/** Names shown before "and N more". */
export const USED_BY_NAMES = 2;

/** "Rafael", "Rafael and Steven", "Rafael, Steven and Amara", "Rafael, Steven and 12 more"; escaped. */
export function namesText(names: readonly string[], few: number = USED_BY_NAMES): string {
  const cut = (n: string) => escapeMrkdwn(truncate(n.replace(/[\r\n\u2028\u2029]+/g, " "), 40));
  if (names.length <= few + 1) {
    const all = names.map(cut);
    return all.length <= 1 ? (all[0] ?? "") : `${all.slice(0, -1).join(", ")} and ${all[all.length - 1]}`;
  }
  return `${names.slice(0, few).map(cut).join(", ")} and ${names.length - few} more`;
}

/** The "used by" line of one custom LLM; undefined when usage is unknown (said once per surface). */
export function usedByLine(group: string, usage: Usage | undefined): string | undefined {
  if (usage?.kind !== "known") return undefined;
  const names = usage.byModel.get(group) ?? [];
  if (names.length === 0) return "_No character uses it._";
  const count = `${names.length} character${names.length === 1 ? "" : "s"}`;
  return `:busts_in_silhouette: Used by ${count}: ${namesText(names)}`;
}

/** Said once per surface when the character list could not be read. */
export function usageUnknownText(usage: Usage | undefined): string | undefined {
  if (usage?.kind !== "unknown") return undefined;
  return `:grey_question: Which characters use each model could not be read: ${escapeMrkdwn(truncate(usage.reason, 500))}`;
}

/** One line per model for lists: group, display name, model, host, uncensored, created. */
export function modelRow(model: ConvaiModel, usage?: Usage): string {
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
  const used = usedByLine(model.model_group_name, usage);
  return `*${escapeMrkdwn(truncate(model.model_group_name, 128))}*${display}\n${facts.join(" · ")}${used ? `\n${used}` : ""}`;
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

/**
 * Model rows with unique block_ids: Slack refuses a whole message or view with a duplicate, and Convai's
 * list may repeat a group or hold two groups alike in their first 249 characters. A row whose id is
 * taken gets `<fallbackPrefix><index>` and no actions (its group cannot be read back from the id).
 */
export function modelRowSections(
  models: readonly ConvaiModel[],
  withActions: boolean,
  usage: Usage | undefined,
  fallbackPrefix: string,
): SectionBlock[] {
  const seen = new Set<string>();
  return models.map((model, index) => {
    const section = modelRowSection(model, withActions, usage);
    const id = section.block_id ?? "";
    if (seen.has(id) || id.length === 0) {
      const { accessory: _accessory, ...rest } = section;
      return { ...rest, block_id: `${fallbackPrefix}${index}` };
    }
    seen.add(id);
    return section;
  });
}

export function modelRowSection(model: ConvaiModel, withActions: boolean, usage?: Usage): SectionBlock {
  const section: SectionBlock = {
    type: "section",
    // Cut by code point (Slack counts characters), so the id never ends in half a surrogate pair.
    block_id: cutGraphemes(`${MODEL_BLOCK_PREFIX}${model.model_group_name}`, 255),
    text: mrkdwn(modelRow(model, usage)),
  };
  if (withActions && `${MODEL_BLOCK_PREFIX}${model.model_group_name}`.length <= 255) {
    section.accessory = {
      type: "overflow",
      action_id: ACTION.modelOverflow,
      options: [
        { text: plainText("Edit", 75), value: "update" },
        { text: plainText("Assign characters", 75), value: "assign" },
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

/** Lines joined into sections of at most 3000 characters each. */
export function packLines(lines: readonly string[], max: number = LIMITS.sectionText): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  let chunk = "";
  for (const line of lines) {
    const cut = truncate(line, max);
    if (chunk !== "" && chunk.length + 1 + cut.length > max) {
      blocks.push({ type: "section", text: mrkdwn(chunk) });
      chunk = "";
    }
    chunk = chunk === "" ? cut : `${chunk}\n${cut}`;
  }
  if (chunk !== "") blocks.push({ type: "section", text: mrkdwn(chunk) });
  return blocks;
}

export interface PageInfo {
  /** 1-based, within [1, pages]. */
  page: number;
  pages: number;
  start: number;
  end: number;
}

/** Which slice of `total` items a page shows; any requested page (NaN, 0, past the end) is clamped into range. */
export function pageSlice(total: number, requested: number, size: number): PageInfo {
  const pages = Math.max(1, Math.ceil(total / size));
  const wanted = Number.isFinite(requested) ? Math.trunc(requested) : 1;
  const page = Math.min(Math.max(1, wanted), pages);
  const start = (page - 1) * size;
  return { page, pages, start, end: Math.min(total, start + size) };
}
