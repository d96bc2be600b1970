import type { KnownBlock, MessageMetadata } from "@slack/types";
import type { CharacterRecord } from "../domain/characters.js";
import type { ChangeRecord } from "../domain/outcome.js";
import { modelFacts, packLines, sandboxNote } from "../slack/blocks.js";
import { codeSpan, escapeMrkdwn, mrkdwn, shownValue, truncate } from "../slack/text.js";

const VERB = { register: "registered", update: "updated", deregister: "deregistered" } as const;
const EMOJI = { register: ":new:", update: ":pencil2:", deregister: ":wastebasket:" } as const;

/** The metadata event every change announcement carries; `/convai-llm history` reads it back (SPEC §13). */
export const CHANGE_EVENT_TYPE = "convai_llm_change";

/**
 * What a change announcement records for the history: the action, the group, the names of the fields
 * changed (comma-separated: Slack's payload types allow no array of strings), who, who approved, the
 * Convai transaction and the time. Never a value, so never a key.
 */
export interface ChangeEventPayload {
  action: "register" | "update" | "deregister" | "assign" | "move";
  group: string;
  fields: string;
  actor: string;
  approver?: string;
  transactionID?: string;
  /** ISO 8601. */
  at: string;
  /** assign and move: how many characters, and the group a move left. */
  characters?: number;
  from?: string;
}

export function changeMetadata(change: ChangeRecord | CharacterRecord, at: Date): MessageMetadata {
  const payload: ChangeEventPayload =
    "moves" in change
      ? {
          action: change.action,
          group: change.target,
          fields: "",
          actor: change.actor.userId,
          ...(change.approver ? { approver: change.approver.userId } : {}),
          at: at.toISOString(),
          characters: change.moves.length,
          ...(change.from !== undefined ? { from: change.from } : {}),
        }
      : {
          action: change.action,
          group: change.group,
          fields: change.changes.map((c) => c.field).join(","),
          actor: change.actor.userId,
          ...(change.approver ? { approver: change.approver.userId } : {}),
          ...(change.transactionID ? { transactionID: change.transactionID } : {}),
          at: at.toISOString(),
        };
  return { event_type: CHANGE_EVENT_TYPE, event_payload: { ...payload } };
}

/** The channel announcement of one change (SPEC §3): who, what, before → after; never a key. */
export function notificationMessage(
  change: ChangeRecord | CharacterRecord,
  opts: { sandbox: boolean },
): { text: string; blocks: KnownBlock[] } {
  return "moves" in change ? characterMessage(change, opts) : changeMessage(change, opts);
}

function changeMessage(
  change: ChangeRecord,
  opts: { sandbox: boolean },
): { text: string; blocks: KnownBlock[] } {
  const verb = VERB[change.action];
  const text = truncate(
    `Custom LLM ${escapeMrkdwn(change.group)} ${verb} by <@${change.actor.userId}>`,
    3000,
  );
  const blocks: KnownBlock[] = [
    {
      type: "section",
      text: mrkdwn(
        `${EMOJI[change.action]} Custom LLM ${codeSpan(change.group, 200)} *${verb}* by <@${change.actor.userId}>`,
      ),
    },
  ];
  if (change.approver)
    blocks.push({ type: "context", elements: [mrkdwn(`Approved by <@${change.approver.userId}>`)] });
  if (change.model) blocks.push(modelFacts(change.model, { omitGroup: true }));
  const changed = change.changes.filter((c) => change.action === "update" || c.field === "api_key");
  if (change.action === "update" && changed.length > 0) {
    const lines = changed.map((c) =>
      c.field === "api_key"
        ? "• `api_key`: rotated"
        : `• \`${c.field}\`: ${c.before !== undefined ? codeSpan(shownValue(c.field, c.before), 300) : "_(unset)_"} → ${codeSpan(shownValue(c.field, c.after), 300)}`,
    );
    blocks.push({ type: "section", text: mrkdwn(`*Changed*\n${lines.join("\n")}`) });
  }
  const context = [
    ...(change.transactionID ? [`Convai transaction \`${escapeMrkdwn(change.transactionID)}\``] : []),
    ...(opts.sandbox ? [sandboxNote] : []),
  ];
  if (context.length > 0) blocks.push({ type: "context", elements: context.map((t) => mrkdwn(t)) });
  return { text, blocks };
}

/** Character lines per announcement; the rest is counted, so the message stays within Slack's limits. */
export const NOTIFY_MAX_LINES = 40;

/** Characters moved between models: one line each, character → before → after (SPEC §10). */
export function characterMessage(
  record: CharacterRecord,
  opts: { sandbox: boolean },
): { text: string; blocks: KnownBlock[] } {
  const n = record.moves.length;
  const what = `${n} character${n === 1 ? "" : "s"}`;
  const head =
    record.action === "assign"
      ? `:busts_in_silhouette: ${what} *assigned* to ${codeSpan(record.target, 200)} by <@${record.actor.userId}>`
      : `:busts_in_silhouette: ${what} *moved* off ${codeSpan(record.from ?? "", 200)} to ${codeSpan(record.target, 200)} by <@${record.actor.userId}>, before deregistering it`;
  const shown = record.moves.slice(0, NOTIFY_MAX_LINES);
  const lines = shown.map(
    (m) =>
      `• ${escapeMrkdwn(truncate(m.name, 80))}: ${m.before !== undefined ? codeSpan(m.before, 100) : "_(no model)_"} → ${codeSpan(m.after, 100)}`,
  );
  if (n > shown.length) lines.push(`…and ${n - shown.length} more`);
  const blocks: KnownBlock[] = [{ type: "section", text: mrkdwn(head) }];
  if (record.approver)
    blocks.push({ type: "context", elements: [mrkdwn(`Approved by <@${record.approver.userId}>`)] });
  // 40 lines of at most ~300 characters fit in a few sections.
  blocks.push(...packLines(lines));
  if (opts.sandbox) blocks.push({ type: "context", elements: [mrkdwn(sandboxNote)] });
  const text = truncate(
    `${what} ${record.action === "assign" ? "assigned" : "moved"} to ${escapeMrkdwn(record.target)} by <@${record.actor.userId}>`,
    3000,
  );
  return { text, blocks };
}
