import type { KnownBlock } from "@slack/types";
import type { FieldChange } from "../domain/outcome.js";
import { withSandbox } from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { codeSpan, escapeMrkdwn, mrkdwn, truncate } from "../slack/text.js";

/** The approval request message (SPEC §13) and what it becomes once decided: pure builders, no I/O. */

export type RequestAction = "register" | "update" | "deregister";

export interface RequestSummary {
  action: RequestAction;
  group: string;
  requester: string;
  /** Before → after as people see it; an api_key is only ever "new key supplied". */
  changes: FieldChange[];
  expiresAt: number;
}

const VERB = { register: "register", update: "update", deregister: "deregister" } as const;

/** A date Slack renders in each reader's time zone, with an ISO fallback. */
export function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${iso}>`;
}

export function changeLines(changes: readonly FieldChange[]): string[] {
  return changes.map((c) =>
    c.field === "api_key"
      ? "• `api_key`: new key supplied"
      : `• \`${c.field}\`: ${c.before !== undefined ? codeSpan(c.before, 300) : "_(unset)_"} → ${codeSpan(c.after, 300)}`,
  );
}

function headline(s: RequestSummary): string {
  return `${VERB[s.action]} of custom LLM ${codeSpan(s.group, 200)} requested by <@${s.requester}>`;
}

function body(s: RequestSummary): KnownBlock[] {
  const blocks: KnownBlock[] = [
    { type: "section", text: mrkdwn(`:raised_hand: *Approval needed*: ${headline(s)}`) },
  ];
  const lines =
    s.action === "deregister"
      ? [`• ${codeSpan(s.group, 200)} is removed from Convai`]
      : changeLines(s.changes);
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
        `:hourglass_flowing_sand: Nothing was changed yet: your ${VERB[s.action]} of ${codeSpan(s.group, 200)} awaits another manager's approval${link ? ` (<${link}|see the request>)` : ""}. It expires ${slackDate(s.expiresAt)}.`,
      ),
    },
    ...(s.changes.length > 0
      ? [{ type: "section" as const, text: mrkdwn(truncate(changeLines(s.changes).join("\n"), 3000)) }]
      : []),
  ];
}
