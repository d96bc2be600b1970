import type { KnownBlock } from "@slack/types";
import { packLines, plainMessage, type Reply, withSandbox } from "../slack/blocks.js";
import { codeSpan, escapeMrkdwn, LIMITS, mrkdwn, slackDate, truncate } from "../slack/text.js";
import type { HistoryEntry, HistoryResult } from "./read.js";

/** The `history` reply (SPEC §13): one line per change, newest first; pure, no I/O. */

const VERB = {
  register: "registered",
  update: "updated",
  deregister: "deregistered",
  assign: "characters assigned to",
  move: "characters moved to",
} as const;

/** A date Slack renders in each reader's time zone, with the ISO text as the fallback. */
function when(at: string): string {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) return escapeMrkdwn(truncate(at, 40));
  return slackDate(ms);
}

export function historyLine(e: HistoryEntry): string {
  const what =
    e.action === "assign" || e.action === "move"
      ? `${e.characters ?? 0} ${VERB[e.action]} ${codeSpan(e.group, 100)}${e.from ? ` (off ${codeSpan(e.from, 100)})` : ""}`
      : `${codeSpan(e.group, 100)} ${VERB[e.action]}`;
  const fields =
    e.action === "update" && e.fields !== ""
      ? `: ${e.fields
          .split(",")
          .map((f) => codeSpan(f, 40))
          .join(", ")}`
      : "";
  const approved = e.approver ? `, approved by <@${escapeMrkdwn(e.approver)}>` : "";
  const tx = e.transactionID ? ` · tx ${codeSpan(e.transactionID, 80)}` : "";
  return `• ${when(e.at)}: ${what}${fields} by <@${escapeMrkdwn(e.actor)}>${approved}${tx}`;
}

export function historyMessage(
  ctx: { sandbox: boolean },
  result: HistoryResult,
  opts: { group?: string | undefined; channel?: string | undefined },
): Reply {
  // The bot's own wording, with a channel mention; the Slack error code in it is escaped where it is made.
  if (!result.ok) return plainMessage(ctx, `:warning: ${result.message}`);
  const scope = opts.group ? ` of ${codeSpan(opts.group, 100)}` : "";
  const where = opts.channel ? ` in <#${opts.channel}>` : "";
  if (result.entries.length === 0) {
    const depth = result.exhausted ? "" : ` (the latest ${result.scanned} messages were read)`;
    return plainMessage(ctx, `No changes${scope} recorded${where}${depth}.`);
  }
  const head: KnownBlock = {
    type: "section",
    text: mrkdwn(`:scroll: *Latest changes${scope}*${where}, newest first`),
  };
  const body = packLines(result.entries.map(historyLine)).slice(0, LIMITS.messageBlocks - 3);
  const blocks: KnownBlock[] = [head, ...body];
  if (!result.exhausted) {
    blocks.push({
      type: "context",
      elements: [
        mrkdwn(`Read the latest ${result.scanned} messages of the channel; older changes are not shown.`),
      ],
    });
  }
  const text = truncate(
    `Latest changes${opts.group ? ` of ${opts.group}` : ""}: ${result.entries.length}`,
    3000,
  );
  return { text, blocks: withSandbox(blocks, ctx.sandbox) };
}
