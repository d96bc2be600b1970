import type { ActionsBlock, Button, ContextBlock, HomeView, KnownBlock, SectionBlock } from "@slack/types";
import type { ApiPrefix, ConvaiModel } from "../convai/types.js";
import {
  filterModels,
  modelRowSections,
  type PageInfo,
  pageSlice,
  sandboxContextBlock,
  type Usage,
  usageUnknownText,
} from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { codeSpan, escapeMrkdwn, LIMITS, mrkdwn, plainText, slackDate, truncate } from "../slack/text.js";

/**
 * The App Home tab, built as a pure function of what the bot knows at publish time. Slack allows 100
 * blocks in a Home view; the chrome around the model rows takes at most HOME_CHROME_BLOCKS of them.
 */
export const HOME_PAGE_SIZE = 50;
/** header, mode context, buttons, read-only note, divider, count line, usage note, paging buttons, updated line. */
export const HOME_CHROME_BLOCKS = 9;
/** Page numbers a button may carry; anything larger is forged or stale and is clamped anyway. */
export const MAX_PAGE = 99_999;

/** Action ids must be unique within their block, so Previous and Next carry a suffix; one listener matches both. */
export const PAGE_ACTION_IDS = { prev: `${ACTION.homePage}:prev`, next: `${ACTION.homePage}:next` } as const;
export const PAGE_ACTION_PATTERN = new RegExp(`^${ACTION.homePage}(?::(?:prev|next))?$`);

export type HomeAccess =
  | { canManage: true }
  /** `problem`: why the permission check itself failed (a Slack error), shown beside the policy. */
  | { canManage: false; policy: string; problem?: string | undefined };

export type HomeState =
  | { kind: "loading" }
  | { kind: "loaded"; models: readonly ConvaiModel[] }
  | { kind: "failed"; message: string };

export interface HomeInput {
  sandbox: boolean;
  /** Host of CONVAI_API_URL, shown when not in sandbox mode. */
  convaiHost: string;
  prefix: ApiPrefix;
  /** The slash command, for the empty state's hint. */
  command: string;
  access: HomeAccess;
  /** The page asked for (1-based); clamped to the pages that exist. */
  page: number;
  state: HomeState;
  /** Which characters use each model (one character list read per render); absent: not shown. */
  usage?: Usage | undefined;
  now: Date;
}

/** Which slice of `total` models a Home page shows; any requested page is clamped into range. */
export function pageOf(total: number, requested: number, size: number = HOME_PAGE_SIZE): PageInfo {
  return pageSlice(total, requested, size);
}

const HEADER = "Convai custom LLMs";

function requestedPage(page: number): number {
  return Number.isFinite(page) ? Math.min(MAX_PAGE, Math.max(1, Math.trunc(page))) : 1;
}

function button(
  text: string,
  actionId: string,
  value: string,
  style?: "primary" | "danger",
  accessibilityLabel?: string,
): Button {
  return {
    type: "button",
    text: plainText(text, 75),
    action_id: actionId,
    value: truncate(value, 2000),
    ...(style ? { style } : {}),
    ...(accessibilityLabel ? { accessibility_label: truncate(accessibilityLabel, 75) } : {}),
  };
}

function modeContext(input: HomeInput): ContextBlock {
  if (input.sandbox) return sandboxContextBlock();
  return {
    type: "context",
    elements: [
      mrkdwn(
        `:satellite_antenna: Live Convai at ${codeSpan(input.convaiHost, 200)} (${codeSpan(input.prefix, 50)} API). Changes here change what your characters use.`,
      ),
    ],
  };
}

function toolbar(input: HomeInput, page: number): ActionsBlock {
  const elements: Button[] = [];
  if (input.access.canManage)
    elements.push(button("Register a model", ACTION.openRegister, "register", "primary"));
  elements.push(button("Refresh", ACTION.homeRefresh, String(page)));
  return { type: "actions", block_id: "home_toolbar", elements };
}

function readOnlyNote(access: Extract<HomeAccess, { canManage: false }>): ContextBlock {
  // The policy is built from validated config ids (<@U…>, <!subteam^S…>); mentions in a Home view ping nobody.
  const problem = access.problem ? ` ${escapeMrkdwn(truncate(access.problem, 500))}` : "";
  return {
    type: "context",
    elements: [
      mrkdwn(
        `:lock: Read-only. Only ${access.policy} can register, edit or deregister models; ask one of them for access.${problem}`,
      ),
    ],
  };
}

function updatedLine(now: Date): ContextBlock {
  const fallback = `${now.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  return { type: "context", elements: [mrkdwn(`Updated ${slackDate(now.getTime(), fallback)}.`)] };
}

/** Model rows, with block_ids made unique (Slack refuses a view with duplicates; long groups are cut to 255). */
function rows(
  models: readonly ConvaiModel[],
  withActions: boolean,
  usage: Usage | undefined,
): SectionBlock[] {
  return modelRowSections(models, withActions, usage, "home_row_");
}

function pager(info: PageInfo): ActionsBlock | undefined {
  if (info.pages <= 1) return undefined;
  const elements: Button[] = [];
  if (info.page > 1)
    elements.push(
      button("◀ Previous", PAGE_ACTION_IDS.prev, String(info.page - 1), undefined, "Previous page"),
    );
  if (info.page < info.pages)
    elements.push(button("Next ▶", PAGE_ACTION_IDS.next, String(info.page + 1), undefined, "Next page"));
  return { type: "actions", block_id: "home_pager", elements };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The Home tab for one user. Every Convai-supplied string is escaped; every Block Kit limit is respected. */
export function homeView(input: HomeInput): { view: HomeView; page: PageInfo } {
  const blocks: KnownBlock[] = [{ type: "header", text: plainText(HEADER, LIMITS.headerText) }];
  blocks.push(modeContext(input));
  const state = input.state;
  const models = state.kind === "loaded" ? filterModels(state.models) : [];
  const info = pageOf(models.length, input.page);
  // Until the list is known, keep the page that was asked for, so Refresh and Try again return to it.
  const current = state.kind === "loaded" ? info.page : requestedPage(input.page);
  blocks.push(toolbar(input, current));
  if (!input.access.canManage) blocks.push(readOnlyNote(input.access));
  blocks.push({ type: "divider" });

  if (state.kind === "loading") {
    blocks.push({
      type: "section",
      text: mrkdwn(":hourglass_flowing_sand: Loading the models from Convai…"),
    });
  } else if (state.kind === "failed") {
    blocks.push({
      type: "section",
      text: mrkdwn(
        `:warning: *The bot could not load the models from Convai.*\n${escapeMrkdwn(truncate(state.message, 2000))}`,
      ),
    });
    blocks.push({
      type: "actions",
      block_id: "home_retry",
      elements: [button("Try again", ACTION.homeRefresh, String(current), "primary")],
    });
  } else if (models.length === 0) {
    const command = escapeMrkdwn(input.command);
    blocks.push({
      type: "section",
      text: mrkdwn(
        input.access.canManage
          ? `*No custom LLMs are registered yet.*\nRegister one with *Register a model* above, or \`${command} register\` in any channel.`
          : `*No custom LLMs are registered yet.*\nA manager can register one with \`${command} register\`.`,
      ),
    });
  } else {
    const count = plural(models.length, "custom LLM");
    blocks.push({
      type: "context",
      elements: [
        mrkdwn(
          info.pages > 1
            ? `*Page ${info.page} of ${info.pages}* · ${count} · showing ${info.start + 1}–${info.end}, sorted by group`
            : `*${count}*, sorted by group`,
        ),
      ],
    });
    const unknown = usageUnknownText(input.usage);
    if (unknown) blocks.push({ type: "context", elements: [mrkdwn(unknown)] });
    blocks.push(...rows(models.slice(info.start, info.end), input.access.canManage, input.usage));
    const paging = pager(info);
    if (paging) blocks.push(paging);
  }
  blocks.push(updatedLine(input.now));

  return {
    view: {
      type: "home",
      callback_id: "convai_llm_home",
      // Remembered by Slack, so re-opening the tab returns to the same page; no state in the bot.
      private_metadata: String(current),
      // Defensive: the chrome is counted above, so this never cuts in practice.
      blocks: blocks.slice(0, LIMITS.viewBlocks),
    },
    page: info,
  };
}
