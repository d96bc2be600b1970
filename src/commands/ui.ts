import type { ActionsBlock, Button, KnownBlock } from "@slack/types";
import type { ConvaiCharacter, ConvaiModel } from "../convai/types.js";
import { characterMatches } from "../domain/character-text.js";
import {
  filterModels,
  modelRowSections,
  packLines,
  pageSlice,
  plainMessage,
  type Reply,
  type Usage,
  usageUnknownText,
  withSandbox,
} from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { codeSpan, escapeMrkdwn, LIMITS, mrkdwn, plainText, truncate } from "../slack/text.js";
import type { Subcommand } from "./parse.js";

export interface MessageContext {
  sandbox: boolean;
  command: string;
}

/** Models per list message: one section each, leaving room for the header, paging and context blocks. */
export const LIST_PAGE_SIZE = 40;

export function usageLines(command: string): string[] {
  return [
    `\`${command} list [filter]\`: the registered custom LLMs (filter: part of a group, model or display name)`,
    `\`${command} register [group]\`: register a model (managers)`,
    `\`${command} update <group>\`: change a model's fields or rotate its key (managers)`,
    `\`${command} deregister <group>\`: remove a model, moving its characters to another model first (managers)`,
    `\`${command} characters [filter]\`: the characters and the model each one uses (filter: part of a name or model)`,
    `\`${command} assign <group>\`: put characters on a custom LLM (managers)`,
    `\`${command} history [group]\`: the latest changes, who made them and when`,
    `\`${command} help\`: this message`,
  ].map(escapeMrkdwn);
}

/** A head line, then the usage as a bulleted section: the shape of help and of "unknown subcommand". */
function usageReply(ctx: MessageContext, head: string, textHead: string): Reply {
  const lines = usageLines(ctx.command);
  return {
    text: truncate(`${textHead}\n${lines.join("\n")}`, 3000),
    blocks: withSandbox(
      [
        { type: "section", text: mrkdwn(head) },
        { type: "section", text: mrkdwn(lines.map((l) => `• ${l}`).join("\n")) },
      ],
      ctx.sandbox,
    ),
  };
}

export function helpMessage(ctx: MessageContext): Reply {
  return usageReply(
    ctx,
    "*Convai custom LLMs*: route your characters through your own models.",
    "Custom LLM commands:",
  );
}

export function unknownMessage(ctx: MessageContext, input: string, suggestion?: Subcommand): Reply {
  const head = `Unknown subcommand ${codeSpan(input, 100)}.${suggestion ? ` Did you mean \`${suggestion}\`?` : ""}`;
  return usageReply(ctx, head, head);
}

export function missingGroupMessage(ctx: MessageContext, sub: "update" | "deregister" | "assign"): Reply {
  const text = `Say which model: \`${escapeMrkdwn(`${ctx.command} ${sub} <group>`)}\`. \`${escapeMrkdwn(ctx.command)} list\` shows the groups.`;
  return { text, blocks: withSandbox([{ type: "section", text: mrkdwn(text) }], ctx.sandbox) };
}

/**
 * The list reply. Rows are sections rather than a table block: a table cannot carry the per-model
 * Edit/Deregister menu that managers get, and sections render on every Slack client.
 */
export function listMessage(
  ctx: MessageContext,
  models: readonly ConvaiModel[],
  opts: { filter?: string; canManage: boolean; usage?: Usage },
): Reply {
  const shown = filterModels(models, opts.filter);
  const filterText = opts.filter ? ` matching ${codeSpan(opts.filter, 100)}` : "";
  if (shown.length === 0) {
    const text =
      models.length === 0
        ? `No custom LLMs are registered yet. Register one with \`${escapeMrkdwn(ctx.command)} register\`.`
        : `No custom LLMs${filterText} (${models.length} registered). Try another filter or \`${escapeMrkdwn(ctx.command)} list\`.`;
    return plainMessage(ctx, text);
  }
  const page = shown.slice(0, LIST_PAGE_SIZE);
  const count = `${shown.length} custom LLM${shown.length === 1 ? "" : "s"}${filterText}`; // filterText is escaped
  const blocks: KnownBlock[] = [{ type: "section", text: mrkdwn(`*${count}*`) }];
  const unknown = usageUnknownText(opts.usage);
  if (unknown) blocks.push({ type: "context", elements: [mrkdwn(unknown)] });
  blocks.push(...modelRowSections(page, opts.canManage, opts.usage, "list_row_"));
  if (shown.length > page.length) {
    blocks.push({
      type: "context",
      elements: [
        mrkdwn(
          `Showing the first ${page.length} of ${shown.length}. Narrow it with \`${escapeMrkdwn(`${ctx.command} list <filter>`)}\` (part of a group, model or display name).`,
        ),
      ],
    });
  }
  const lines = page.map((m) => escapeMrkdwn(`${m.model_group_name} (${m.model_name})`));
  return {
    text: truncate(`${count}: ${lines.join(", ")}`, 3000),
    blocks: withSandbox(blocks, ctx.sandbox),
  };
}

// ---- characters ---------------------------------------------------------------------------------

/** Characters per `characters` reply page: at most ~450 characters a line, so a page stays far below Slack's sizes. */
export const CHARACTERS_PAGE_SIZE = 50;
/** Characters of a filter a paging button carries (its value may hold 2000). */
export const MAX_FILTER = 200;

/** Which model names are custom LLMs, as the same reply read them; unknown when the model list failed. */
export type CustomGroups =
  | { kind: "known"; groups: ReadonlySet<string> }
  | { kind: "unknown"; reason: string };

export interface CharactersPage {
  page: number;
  filter?: string | undefined;
}

/** Name, then id: the order a reply lists characters in. */
function byName(a: ConvaiCharacter, b: ConvaiCharacter): number {
  return (
    (a.character_name ?? a.character_id).localeCompare(b.character_name ?? b.character_id) ||
    a.character_id.localeCompare(b.character_id)
  );
}

/** Characters whose name, id or model contains the filter (case-insensitive), sorted by name. */
export function filterCharacters(characters: readonly ConvaiCharacter[], filter?: string): ConvaiCharacter[] {
  const sorted = [...characters].sort(byName);
  return filter ? sorted.filter((c) => characterMatches(c, filter)) : sorted;
}

/** One character's line: name, then its model, a custom LLM marked as such; every string escaped and cut. */
export function characterLine(c: ConvaiCharacter, custom: CustomGroups): string {
  const name = escapeMrkdwn(
    truncate((c.character_name ?? c.character_id).replace(/[\r\n\u2028\u2029]+/g, " "), 80),
  );
  if (c.model === undefined) return `• *${name}* — _(no model reported)_`;
  const mark = custom.kind === "known" && custom.groups.has(c.model) ? " · :gear: custom LLM" : "";
  return `• *${name}* — ${codeSpan(c.model, 100)}${mark}`;
}

function pageButton(text: string, id: string, value: CharactersPage): Button {
  return {
    type: "button",
    text: plainText(text, 75),
    action_id: id,
    value: JSON.stringify({
      p: value.page,
      ...(value.filter ? { f: truncate(value.filter, MAX_FILTER) } : {}),
    }),
  };
}

/**
 * The `characters` reply: one page of characters with their model, a pager when there are more. Block
 * count: header, note, at most ~16 sections of lines, pager, sandbox line; far below Slack's 50.
 */
export function charactersMessage(
  ctx: MessageContext,
  characters: readonly ConvaiCharacter[],
  custom: CustomGroups,
  request: CharactersPage,
): Reply {
  const filter = request.filter?.trim() ? truncate(request.filter.trim(), MAX_FILTER) : undefined;
  const shown = filterCharacters(characters, filter);
  const filterText = filter ? ` matching ${codeSpan(filter, 100)}` : "";
  if (shown.length === 0) {
    return plainMessage(
      ctx,
      characters.length === 0
        ? "This Convai account has no characters yet."
        : `No characters${filterText} (${characters.length} in the account). Try another filter or \`${escapeMrkdwn(ctx.command)} characters\`.`,
    );
  }
  const { page, pages, start, end } = pageSlice(shown.length, request.page, CHARACTERS_PAGE_SIZE);
  const slice = shown.slice(start, end);
  const count = `${shown.length} character${shown.length === 1 ? "" : "s"}${filterText}`;
  const where = pages > 1 ? ` · page ${page} of ${pages}, ${start + 1}–${start + slice.length}` : "";
  const blocks: KnownBlock[] = [{ type: "section", text: mrkdwn(`*${count}*${where}, sorted by name`) }];
  if (custom.kind === "unknown") {
    blocks.push({
      type: "context",
      elements: [
        mrkdwn(
          `:grey_question: The custom LLMs could not be read, so none is marked: ${escapeMrkdwn(truncate(custom.reason, 500))}`,
        ),
      ],
    });
  }
  blocks.push(...packLines(slice.map((c) => characterLine(c, custom))));
  if (pages > 1) {
    const elements: Button[] = [];
    if (page > 1)
      elements.push(pageButton("◀ Previous", `${ACTION.charactersPage}:prev`, { page: page - 1, filter }));
    if (page < pages)
      elements.push(pageButton("Next ▶", `${ACTION.charactersPage}:next`, { page: page + 1, filter }));
    const pager: ActionsBlock = { type: "actions", block_id: "characters_pager", elements };
    blocks.push(pager);
  }
  const names = slice.slice(0, 20).map((c) => escapeMrkdwn(truncate(c.character_name ?? c.character_id, 80)));
  return {
    text: truncate(`${count}: ${names.join(", ")}${slice.length > 20 ? "…" : ""}`, 3000),
    blocks: withSandbox(blocks.slice(0, LIMITS.messageBlocks - 1), ctx.sandbox),
  };
}
