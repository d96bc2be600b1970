import type { KnownBlock } from "@slack/types";
import type { CharacterResult, MoveReport } from "../domain/characters.js";
import type { FieldChange } from "../domain/outcome.js";
import { withSandbox } from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { codeSpan, escapeMrkdwn, mrkdwn, shownValue, slackDate, truncate } from "../slack/text.js";

/** The approval request message (SPEC §13) and what it becomes once decided: pure builders, no I/O. */

export type RequestAction = "register" | "update" | "deregister" | "assign";

/** Characters a request moves: the first few by name (what the message shows), and how many in all. */
export interface RequestMoves {
  total: number;
  shown: Array<{ name: string; before?: string; after: string }>;
}

export interface RequestSummary {
  action: RequestAction;
  group: string;
  requester: string;
  /** Before → after as people see it; an api_key is only ever "new key supplied". */
  changes: FieldChange[];
  /** assign, and a deregister that moves the group's characters first. */
  moves?: RequestMoves;
  expiresAt: number;
}

/** Character lines a request message names; the rest are counted (the sealed change holds them all). */
export const REQUEST_MOVE_LINES = 20;

/** "register of `g`", "assignment of 3 characters to `g`": what was asked, as a phrase. */
function what(s: Pick<RequestSummary, "action" | "group" | "moves">): string {
  const group = codeSpan(s.group, 200);
  if (s.action !== "assign") return `${s.action} of custom LLM ${group}`;
  const n = s.moves?.total ?? 0;
  return `assignment of ${n} character${n === 1 ? "" : "s"} to custom LLM ${group}`;
}

/**
 * Changes as a request may show and keep them in clear: a base URL without its query (it may hold a key),
 * as in every other message. Applied once when the request is made, so the metadata never holds it either.
 */
export function shownChanges(changes: readonly FieldChange[]): FieldChange[] {
  return changes.map((c) => ({
    field: c.field,
    after: shownValue(c.field, c.after),
    ...(c.before !== undefined ? { before: shownValue(c.field, c.before) } : {}),
  }));
}

function changeLines(changes: readonly FieldChange[]): string[] {
  return changes.map((c) =>
    c.field === "api_key"
      ? "• `api_key`: new key supplied"
      : `• \`${c.field}\`: ${c.before !== undefined ? codeSpan(c.before, 300) : "_(unset)_"} → ${codeSpan(c.after, 300)}`,
  );
}

function headline(s: RequestSummary): string {
  return `${what(s)} requested by <@${s.requester}>`;
}

function moveLines(moves: RequestMoves): string[] {
  const lines = moves.shown.map(
    (m) =>
      `• ${escapeMrkdwn(truncate(m.name, 80))}: ${m.before !== undefined ? codeSpan(m.before, 100) : "_(no model)_"} → ${codeSpan(m.after, 100)}`,
  );
  if (moves.total > moves.shown.length) lines.push(`…and ${moves.total - moves.shown.length} more`);
  return lines;
}

function changeText(s: RequestSummary): string[] {
  switch (s.action) {
    case "register":
    case "update":
      return changeLines(s.changes);
    case "assign":
      return s.moves ? moveLines(s.moves) : [];
    case "deregister": {
      const gone = `• ${codeSpan(s.group, 200)} is removed from Convai`;
      if (!s.moves || s.moves.total === 0) return [gone];
      const n = s.moves.total;
      return [
        `${gone}, after its ${n} character${n === 1 ? "" : "s"} move${n === 1 ? "s" : ""} (if one does not, nothing is removed):`,
        ...moveLines(s.moves),
      ];
    }
  }
}

function body(s: RequestSummary): KnownBlock[] {
  const blocks: KnownBlock[] = [
    { type: "section", text: mrkdwn(`:raised_hand: *Approval needed*: ${headline(s)}`) },
  ];
  const lines = changeText(s);
  if (lines.length > 0) blocks.push({ type: "section", text: mrkdwn(truncate(lines.join("\n"), 3000)) });
  return blocks;
}

/** The pending request: the change, the requester, the expiry, Approve and Reject. */
export function requestMessage(
  s: RequestSummary,
  requestId: string,
  opts: { sandbox: boolean },
): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [
    ...body(s),
    {
      type: "context",
      elements: [
        mrkdwn(
          `Another manager must approve. Expires ${slackDate(s.expiresAt)}. Request \`${escapeMrkdwn(requestId)}\``,
        ),
      ],
    },
    {
      type: "actions",
      block_id: ACTION.approvalBlock,
      elements: [
        {
          type: "button",
          action_id: ACTION.approve,
          text: { type: "plain_text", text: "Approve" },
          style: "primary",
          value: requestId,
        },
        {
          type: "button",
          action_id: ACTION.reject,
          text: { type: "plain_text", text: "Reject" },
          style: "danger",
          value: requestId,
        },
      ],
    },
  ];
  return {
    text: truncate(`Approval needed: ${headline(s)}`, 3000),
    blocks: withSandbox(blocks, opts.sandbox),
  };
}

/** The request once decided: the same change, then the outcome; the buttons are gone. */
export function decidedMessage(
  s: RequestSummary,
  outcome: { emoji: string; text: string },
  opts: { sandbox: boolean },
): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [
    ...body(s).map((b, i) =>
      i === 0 ? ({ type: "section", text: mrkdwn(`:ballot_box_with_check: ${headline(s)}`) } as const) : b,
    ),
    { type: "section", text: mrkdwn(truncate(`${outcome.emoji} ${outcome.text}`, 3000)) },
  ];
  return {
    text: truncate(`${headline(s)}: ${outcome.text}`, 3000),
    blocks: withSandbox(blocks, opts.sandbox),
  };
}

/** What the requester's modal says: it awaits approval, with a link to the request. */
export function awaitingBlocks(s: RequestSummary, link: string | undefined): KnownBlock[] {
  return [
    {
      type: "section",
      text: mrkdwn(
        `:hourglass_flowing_sand: Nothing was changed yet: your ${what(s)} awaits another manager's approval${link ? ` (<${link}|see the request>)` : ""}. It expires ${slackDate(s.expiresAt)}.`,
      ),
    },
    ...(changeText(s).length > 0
      ? [{ type: "section" as const, text: mrkdwn(truncate(changeText(s).join("\n"), 3000)) }]
      : []),
  ];
}

/** Characters' fates after an approved assign or move, in a few lines for the request message. */
export function movesOutcome(report: MoveReport): { complete: boolean; text: string } {
  const count = (status: CharacterResult["status"]) => report.results.filter((r) => r.status === status);
  const moved = count("moved");
  const missed = [...count("failed"), ...count("unknown")];
  const target = codeSpan(report.target, 200);
  const plural = (n: number) => `${n} character${n === 1 ? "" : "s"}`;
  if (missed.length === 0) {
    return {
      complete: !report.rereadError,
      text: `${plural(moved.length)} moved to ${target}.${report.rereadError ? " The character list could not be re-read to confirm it." : ""}`,
    };
  }
  const named = missed
    .slice(0, 10)
    .map(
      (r) =>
        `${escapeMrkdwn(truncate(r.name, 80))} (${r.status === "unknown" ? "not confirmed" : "not moved"}: ${escapeMrkdwn(truncate("reason" in r ? r.reason : "", 200))})`,
    );
  const more = missed.length > named.length ? ` and ${missed.length - named.length} more` : "";
  return {
    complete: false,
    text: `${moved.length} of ${plural(moved.length + missed.length)} moved to ${target}; ${named.join("; ")}${more}.`,
  };
}
