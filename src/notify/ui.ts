import type { KnownBlock } from "@slack/types";
import type { ChangeRecord } from "../domain/outcome.js";
import { modelFacts, sandboxNote } from "../slack/blocks.js";
import { codeSpan, escapeMrkdwn, mrkdwn, truncate } from "../slack/text.js";

const VERB = { register: "registered", update: "updated", deregister: "deregistered" } as const;
const EMOJI = { register: ":new:", update: ":pencil2:", deregister: ":wastebasket:" } as const;

/** The channel announcement of one change (SPEC §3): who, what, before → after; never a key. */
export function notificationMessage(
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
  if (change.model) blocks.push(modelFacts(change.model, { omitGroup: true }));
  const changed = change.changes.filter((c) => change.action === "update" || c.field === "api_key");
  if (change.action === "update" && changed.length > 0) {
    const lines = changed.map((c) =>
      c.field === "api_key"
        ? "• `api_key`: rotated"
        : `• \`${c.field}\`: ${c.before !== undefined ? codeSpan(c.before, 300) : "_(unset)_"} → ${codeSpan(c.after, 300)}`,
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
