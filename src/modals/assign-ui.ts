/**
 * Block Kit for characters in modals (SPEC §10): the assign form and its options, the deregister form's
 * `move_to` select, and the per-character outcome of an assign or a move. Pure: data in, views out.
 */
import type {
  ContextBlock,
  InputBlock,
  KnownBlock,
  ModalView,
  MultiExternalSelect,
  MultiStaticSelect,
  PlainTextOption,
  SectionBlock,
  StaticSelect,
} from "@slack/types";
import type { ConvaiCharacter } from "../convai/types.js";
import { characterMatches, characterName } from "../domain/character-text.js";
import type { CharacterResult, MoveReport } from "../domain/characters.js";
import type { NotifyResult } from "../domain/outcome.js";
import { namesText, packLines, sandboxContextBlock } from "../slack/blocks.js";
import { CALLBACK, FIELD } from "../slack/ids.js";
import { codeSpan, escapeMrkdwn, LIMITS, mrkdwn, plainText, truncate } from "../slack/text.js";
import { notifySummary } from "./outcome-ui.js";

/** Options a static select holds; more characters than this get a type-ahead external select. */
export const STATIC_OPTIONS = 100;
/** Characters one assign may choose (a multi-select's max_selected_items). */
export const MAX_SELECTED = 100;
/** Type-ahead: characters typed before Slack asks the bot for options. */
export const MIN_QUERY_LENGTH = 1;
/** Lines per outcome category before "and N more", so an outcome view stays within 100 blocks. */
export const OUTCOME_LINES = 40;

export interface CharactersViewContext {
  sandbox: boolean;
}

const oneLine = (s: string) => s.replace(/[\r\n\u2028\u2029]+/g, " ");

function modal(
  ctx: CharactersViewContext,
  parts: { title: string; blocks: KnownBlock[]; submit?: string; metadata: string },
): ModalView {
  const blocks = ctx.sandbox ? [sandboxContextBlock(), ...parts.blocks] : parts.blocks;
  return {
    type: "modal",
    callback_id: CALLBACK.assign,
    title: plainText(parts.title, LIMITS.modalTitle),
    close: plainText(parts.submit ? "Cancel" : "Close", LIMITS.modalButton),
    ...(parts.submit ? { submit: plainText(parts.submit, LIMITS.modalButton) } : {}),
    private_metadata: parts.metadata,
    blocks: blocks.slice(0, LIMITS.viewBlocks),
  };
}

const section = (text: string): SectionBlock => ({ type: "section", text: mrkdwn(text) });
const context = (text: string): ContextBlock => ({ type: "context", elements: [mrkdwn(text)] });

/** "name — current model", at most 75 characters (plain text: nothing in it is parsed as a mention). */
export function characterOption(c: ConvaiCharacter, group: string): PlainTextOption {
  const model = c.model === group ? `${c.model} (already)` : (c.model ?? "no model");
  const modelText = truncate(oneLine(model), 30);
  const name = truncate(oneLine(characterName(c)), LIMITS.optionText - 3 - Array.from(modelText).length);
  return { text: plainText(`${name} — ${modelText}`, LIMITS.optionText), value: c.character_id };
}

/** Characters whose id fits an option value; the others cannot be offered by Slack. */
export function offerable(characters: readonly ConvaiCharacter[]): ConvaiCharacter[] {
  return characters.filter((c) => c.character_id.length <= LIMITS.optionValue);
}

/** Characters not yet on the group first, then by name. */
function ordered(characters: readonly ConvaiCharacter[], group: string): ConvaiCharacter[] {
  return [...characters].sort(
    (a, b) =>
      Number(a.model === group) - Number(b.model === group) ||
      characterName(a).localeCompare(characterName(b)) ||
      a.character_id.localeCompare(b.character_id),
  );
}

/** The type-ahead's answer: up to 100 characters whose name, id or model contains the query. */
export function assignOptions(
  characters: readonly ConvaiCharacter[],
  group: string,
  query: string,
): PlainTextOption[] {
  const matching = offerable(characters).filter((c) => characterMatches(c, query));
  return ordered(matching, group)
    .slice(0, STATIC_OPTIONS)
    .map((c) => characterOption(c, group));
}

export function assignLoadingModal(ctx: CharactersViewContext, group: string, metadata: string): ModalView {
  return modal(ctx, {
    title: "Assign characters",
    metadata,
    blocks: [
      section(`:hourglass_flowing_sand: Loading the characters and ${codeSpan(group, 200)} from Convai…`),
    ],
  });
}

/** A message in the assign modal's place (no submit): a group that is gone, Convai unavailable… */
export function assignMessageModal(
  ctx: CharactersViewContext,
  title: string,
  blocks: KnownBlock[],
  metadata: string,
): ModalView {
  return modal(ctx, { title, blocks, metadata });
}

/**
 * The assign form: block `characters`, a multi-select of "name — current model" options, static when
 * the account's characters fit one (100 options), else a type-ahead served by the options listener.
 */
export function assignModal(
  ctx: CharactersViewContext,
  group: string,
  characters: readonly ConvaiCharacter[],
  metadata: string,
  error?: string,
): ModalView {
  if (characters.length === 0) {
    return modal(ctx, {
      title: "Assign characters",
      metadata,
      blocks: [section("This Convai account has no characters yet, so there is nothing to assign.")],
    });
  }
  const offered = offerable(characters);
  const on = characters.filter((c) => c.model === group).map(characterName);
  const placeholder = plainText("Choose characters", LIMITS.placeholder);
  const element: MultiStaticSelect | MultiExternalSelect =
    offered.length <= STATIC_OPTIONS
      ? {
          type: "multi_static_select",
          action_id: FIELD.characters,
          placeholder,
          max_selected_items: MAX_SELECTED,
          options: ordered(offered, group).map((c) => characterOption(c, group)),
        }
      : {
          type: "multi_external_select",
          action_id: FIELD.characters,
          placeholder: plainText("Type part of a name or model", LIMITS.placeholder),
          min_query_length: MIN_QUERY_LENGTH,
          max_selected_items: MAX_SELECTED,
        };
  const input: InputBlock = {
    type: "input",
    block_id: FIELD.characters,
    label: plainText(`Characters to put on ${group}`, LIMITS.inputLabel),
    element,
    optional: false,
    hint: plainText(
      offered.length <= STATIC_OPTIONS
        ? "Each shows its current model. A character already on this model is left as it is."
        : `${characters.length} characters: type part of a name or model to find them.`,
      LIMITS.inputHint,
    ),
  };
  const blocks: KnownBlock[] = [
    section(
      `Put characters on the custom LLM ${codeSpan(group, 200)}. Each one answers through it as soon as it is moved.`,
    ),
    context(
      on.length === 0
        ? "No character uses it yet."
        : `:busts_in_silhouette: Now used by ${on.length} character${on.length === 1 ? "" : "s"}: ${namesText(on)}`,
    ),
    input,
  ];
  if (error) blocks.push(context(`⚠️ ${escapeMrkdwn(truncate(error, 500))}`));
  if (offered.length < characters.length) {
    blocks.push(
      context(
        `${characters.length - offered.length} character(s) have an id longer than Slack's option limit and are not offered here.`,
      ),
    );
  }
  return modal(ctx, { title: "Assign characters", submit: "Assign", metadata, blocks });
}

// ---- the deregister form's move_to --------------------------------------------------------------

export interface MoveTargets {
  /** The other custom LLMs (the group being deregistered is left out by the caller). */
  custom: readonly string[];
  builtIn: readonly string[];
}

/** The `move_to` select: the other custom LLMs, then Convai's built-in models; 100 options at most. */
export function moveToSelect(targets: MoveTargets): StaticSelect {
  const fits = (v: string) => v.length > 0 && v.length <= LIMITS.optionValue;
  const builtIn = targets.builtIn.filter(fits).slice(0, STATIC_OPTIONS);
  const custom = [...targets.custom]
    .filter(fits)
    .sort((a, b) => a.localeCompare(b))
    .slice(0, STATIC_OPTIONS - builtIn.length);
  const opt = (v: string): PlainTextOption => ({ text: plainText(v, LIMITS.optionText), value: v });
  const groups = [
    ...(custom.length > 0 ? [{ label: plainText("Your custom LLMs", 75), options: custom.map(opt) }] : []),
    ...(builtIn.length > 0
      ? [{ label: plainText("Convai built-in models", 75), options: builtIn.map(opt) }]
      : []),
  ];
  return {
    type: "static_select",
    action_id: FIELD.move_to,
    placeholder: plainText("Choose a model", LIMITS.placeholder),
    option_groups: groups,
  };
}

/** What the deregister form knows of the group's characters when it opens. */
export type GroupCharacters =
  | { kind: "known"; names: readonly string[]; targets: MoveTargets }
  | { kind: "unknown"; reason: string; targets: MoveTargets };

/** The deregister form's character blocks: who uses the group and, when anyone does, where they go. */
export function deregisterCharacterBlocks(group: string, chars: GroupCharacters): KnownBlock[] {
  const input = (optional: boolean, hint: string): InputBlock => ({
    type: "input",
    block_id: FIELD.move_to,
    label: plainText("Move its characters to", LIMITS.inputLabel),
    element: moveToSelect(chars.targets),
    optional,
    hint: plainText(hint, LIMITS.inputHint),
  });
  if (chars.kind === "unknown") {
    return [
      context(
        `:grey_question: Which characters use ${codeSpan(group, 200)} could not be read: ${escapeMrkdwn(truncate(chars.reason, 500))} The bot checks again on submission and deregisters nothing if any character uses it and no model is chosen below.`,
      ),
      input(true, "Needed only if characters use this model: they are moved there before the deregister."),
    ];
  }
  if (chars.names.length === 0) return [section(":white_check_mark: No character uses it.")];
  const n = chars.names.length;
  const shown = chars.names.slice(0, 30).map((name) => escapeMrkdwn(truncate(oneLine(name), 60)));
  return [
    section(
      `:busts_in_silhouette: *${n} character${n === 1 ? " uses" : "s use"} it:* ${shown.join(", ")}${n > shown.length ? ` and ${n - shown.length} more` : ""}`,
    ),
    input(
      false,
      "Every one of them is moved there first; the model is deregistered only when all of them moved.",
    ),
  ];
}

// ---- outcome ------------------------------------------------------------------------------------

function names(results: readonly CharacterResult[], line: (r: CharacterResult) => string): string[] {
  const lines = results.slice(0, OUTCOME_LINES).map(line);
  if (results.length > OUTCOME_LINES) lines.push(`…and ${results.length - OUTCOME_LINES} more`);
  return lines;
}

const who = (r: CharacterResult) => `*${escapeMrkdwn(truncate(oneLine(r.name), 80))}*`;
const was = (r: CharacterResult) => (r.before !== undefined ? codeSpan(r.before, 100) : "_(no model)_");

/** Each character's outcome: moved, already there, not moved (with the reason), unknown. */
export function moveReportBlocks(report: MoveReport): KnownBlock[] {
  const by = (status: CharacterResult["status"]) => report.results.filter((r) => r.status === status);
  const target = codeSpan(report.target, 200);
  const blocks: KnownBlock[] = [];
  const moved = by("moved");
  const already = by("already");
  const failed = by("failed");
  const unknown = by("unknown");
  const reason = (r: CharacterResult) =>
    r.status === "failed" || r.status === "unknown" ? escapeMrkdwn(truncate(r.reason, 600)) : "";
  if (moved.length > 0) {
    blocks.push(
      ...packLines([
        `:white_check_mark: *Moved to ${target}* (${moved.length}):`,
        ...names(moved, (r) => `• ${who(r)}: ${was(r)} → ${target}`),
      ]),
    );
  }
  if (failed.length > 0) {
    blocks.push(
      ...packLines([
        `:x: *Not moved* (${failed.length}):`,
        ...names(failed, (r) => `• ${who(r)} stays on ${was(r)}: ${reason(r)}`),
      ]),
    );
  }
  if (unknown.length > 0) {
    blocks.push(
      ...packLines([
        `:grey_question: *Not confirmed* (${unknown.length}), check with \`characters\` before trying again:`,
        ...names(unknown, (r) => `• ${who(r)} (was on ${was(r)}): ${reason(r)}`),
      ]),
    );
  }
  if (already.length > 0) {
    blocks.push(
      ...packLines([
        `:information_source: *Already on ${target}*, nothing sent (${already.length}):`,
        ...names(already, (r) => `• ${who(r)}`),
      ]),
    );
  }
  if (report.rereadError) {
    blocks.push(
      context(
        `:warning: The character list could not be re-read afterwards: ${escapeMrkdwn(truncate(report.rereadError, 500))}`,
      ),
    );
  }
  return blocks;
}

/** The assign outcome view's title and blocks. */
export function assignOutcomeBlocks(
  group: string,
  report: MoveReport,
  notify: NotifyResult,
  notifyChannel: string | undefined,
): { title: string; blocks: KnownBlock[] } {
  const bad = report.results.filter((r) => r.status === "failed" || r.status === "unknown").length;
  const moved = report.results.filter((r) => r.status === "moved").length;
  const title = bad === 0 ? "Characters assigned" : moved > 0 ? "Partly assigned" : "Not assigned";
  const blocks: KnownBlock[] = [
    section(
      bad === 0
        ? `:white_check_mark: The characters are on ${codeSpan(group, 200)}, as the re-read character list shows:`
        : `:warning: Not every character could be put on ${codeSpan(group, 200)}. Each one's outcome, from the re-read character list:`,
    ),
    ...moveReportBlocks(report),
  ];
  const notified = notifySummary(notify, notifyChannel);
  if (notified) blocks.push(section(notified));
  return { title, blocks: blocks.slice(0, LIMITS.viewBlocks - 1) };
}

/** The deregister that did not happen because some character did not move. */
export function keptBlocks(
  group: string,
  moves: MoveReport,
  notify: NotifyResult,
  notifyChannel: string | undefined,
): { title: string; blocks: KnownBlock[] } {
  const why = moves.rereadError
    ? "the character list could not be re-read to confirm that no character is left on it"
    : moves.leftOn && moves.results.every((r) => r.status === "moved" || r.status === "already")
      ? `characters were put on it meanwhile: ${namesText(moves.leftOn)}; open the form again to move them too`
      : "not every character on it could be moved";
  const blocks: KnownBlock[] = [
    section(
      `:no_entry: ${codeSpan(group, 200)} was *not deregistered*: ${why}. Nothing more was sent; the characters below that moved stay on ${codeSpan(moves.target, 200)}.`,
    ),
    ...moveReportBlocks(moves),
  ];
  const notified = notifySummary(notify, notifyChannel);
  if (notified) blocks.push(section(notified));
  return { title: "Not deregistered", blocks: blocks.slice(0, LIMITS.viewBlocks - 1) };
}
