import type { KnownBlock } from "@slack/types";
import type { ConvaiModel } from "../convai/types.js";
import { filterModels, modelRowSection, plainMessage, type Reply, withSandbox } from "../slack/blocks.js";
import { codeSpan, escapeMrkdwn, mrkdwn, truncate } from "../slack/text.js";
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
    `\`${command} deregister <group>\`: remove a model (managers)`,
    `\`${command} help\`: this message`,
  ].map(escapeMrkdwn);
}

export function helpMessage(ctx: MessageContext): Reply {
  const text = `Custom LLM commands:\n${usageLines(ctx.command).join("\n")}`;
  return {
    text: truncate(text, 3000),
    blocks: withSandbox(
      [
        {
          type: "section",
          text: mrkdwn("*Convai custom LLMs*: route your characters through your own models."),
        },
        {
          type: "section",
          text: mrkdwn(
            usageLines(ctx.command)
              .map((l) => `• ${l}`)
              .join("\n"),
          ),
        },
      ],
      ctx.sandbox,
    ),
  };
}

export function unknownMessage(ctx: MessageContext, input: string, suggestion?: Subcommand): Reply {
  const head = `Unknown subcommand ${codeSpan(input, 100)}.${suggestion ? ` Did you mean \`${suggestion}\`?` : ""}`;
  return {
    text: truncate(`${head}\n${usageLines(ctx.command).join("\n")}`, 3000),
    blocks: withSandbox(
      [
        { type: "section", text: mrkdwn(head) },
        {
          type: "section",
          text: mrkdwn(
            usageLines(ctx.command)
              .map((l) => `• ${l}`)
              .join("\n"),
          ),
        },
      ],
      ctx.sandbox,
    ),
  };
}

export function missingGroupMessage(ctx: MessageContext, sub: "update" | "deregister"): Reply {
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
  opts: { filter?: string; canManage: boolean },
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
  blocks.push(...page.map((m) => modelRowSection(m, opts.canManage)));
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
