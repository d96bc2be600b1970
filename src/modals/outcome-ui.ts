import type { KnownBlock } from "@slack/types";
import type { ChangeOutcome, NotifyResult, ProbeReport } from "../domain/outcome.js";
import { modelFacts } from "../slack/blocks.js";
import { codeSpan, escapeMrkdwn, mrkdwn, shownValue, truncate } from "../slack/text.js";

type Success = Extract<ChangeOutcome, { ok: true }>;

const TITLES = {
  register: "Model registered",
  update: "Model updated",
  deregister: "Model deregistered",
} as const;

/** What the endpoint test did, in one short paragraph: URLs, statuses, latency; never the key. */
export function probeSummary(report: ProbeReport): string {
  if (!report.tested) return `:grey_question: ${escapeMrkdwn(report.reason)}`;
  const steps = report.result.steps.map(
    (s) =>
      `• ${s.method} ${codeSpan(s.url, 300)} → ${s.status ?? "no answer"} (${Math.round(s.latencyMs)} ms)${s.note ? `: ${escapeMrkdwn(truncate(s.note, 200))}` : ""}`,
  );
  const head = report.result.ok
    ? ":white_check_mark: *Endpoint tested*"
    : `:x: *Endpoint test failed*: ${escapeMrkdwn(truncate(report.result.message, 500))}`;
  const notes = report.result.ok ? report.result.notes.map((n) => `_${escapeMrkdwn(truncate(n, 300))}_`) : [];
  return [head, ...steps, ...notes].join("\n");
}

export function notifySummary(result: NotifyResult, channel: string | undefined): string | undefined {
  if (result.posted === "disabled") return undefined;
  if (result.posted) return `:mega: Announced in <#${channel ?? ""}>.`;
  return `:warning: The change stands, but the announcement in <#${channel ?? ""}> failed (Slack said \`${escapeMrkdwn(result.error)}\`). Invite the bot to that channel (\`/invite\`) or ask an admin to fix CONVAI_NOTIFY_CHANNEL.`;
}

/** The outcome of a successful change: what Convai now holds, re-read after the change. */
export function successBlocks(
  outcome: Success,
  opts: { notifyChannel?: string | undefined },
): {
  title: string;
  blocks: KnownBlock[];
} {
  const group = codeSpan(outcome.group, 200);
  const blocks: KnownBlock[] = [];
  if (outcome.action === "deregister") {
    blocks.push({
      type: "section",
      text: mrkdwn(
        `:wastebasket: ${group} is deregistered. Characters that used it no longer answer through it.`,
      ),
    });
  } else {
    blocks.push({
      type: "section",
      text: mrkdwn(
        outcome.action === "register"
          ? `:white_check_mark: ${group} is registered. This is what Convai now holds:`
          : `:white_check_mark: ${group} is updated. This is what Convai now holds:`,
      ),
    });
    if (outcome.model) blocks.push(modelFacts(outcome.model));
    const rotated = outcome.changes.some((c) => c.field === "api_key");
    if (outcome.action === "update") {
      const lines = outcome.changes.map((c) =>
        c.field === "api_key"
          ? "• `api_key`: rotated"
          : `• \`${c.field}\`: ${c.before !== undefined ? codeSpan(shownValue(c.field, c.before), 200) : "_(unset)_"} → ${codeSpan(shownValue(c.field, c.after), 200)}`,
      );
      blocks.push({ type: "section", text: mrkdwn(`*Changed*\n${lines.join("\n")}`) });
    } else if (rotated) {
      blocks.push({
        type: "context",
        elements: [mrkdwn("The key was sent to Convai and is never shown again.")],
      });
    }
  }
  const warnings: string[] = [];
  if (outcome.notTaken.length > 0) {
    warnings.push(
      `:warning: Convai does not show these requested fields as changed: ${outcome.notTaken.map((f) => `\`${escapeMrkdwn(f)}\``).join(", ")}. Check with list, and contact Convai support with the transaction ID if it persists.`,
    );
  }
  if (outcome.recovered) warnings.push(`:information_source: ${escapeMrkdwn(outcome.recovered)}`);
  if (outcome.rereadError) {
    warnings.push(
      `:warning: The change was accepted, but re-reading the list failed: ${escapeMrkdwn(outcome.rereadError)}`,
    );
  }
  const notified = notifySummary(outcome.notify, opts.notifyChannel);
  if (notified) warnings.push(notified);
  if (warnings.length > 0) blocks.push({ type: "section", text: mrkdwn(warnings.join("\n")) });
  if (outcome.action !== "deregister")
    blocks.push({ type: "section", text: mrkdwn(probeSummary(outcome.probe)) });
  if (outcome.transactionID) {
    blocks.push({
      type: "context",
      elements: [mrkdwn(`Convai transaction \`${escapeMrkdwn(outcome.transactionID)}\``)],
    });
  }
  return { title: TITLES[outcome.action], blocks };
}

/**
 * A refusal whose text the bot wrote itself (authz messages: validated user and group IDs), so its
 * mentions render instead of being escaped into literal text.
 */
export function refusalBlocks(trustedMrkdwn: string): KnownBlock[] {
  return [{ type: "section", text: mrkdwn(`:no_entry: ${trustedMrkdwn}`) }];
}

/** A failure that changed nothing (or could not be confirmed), said plainly, with the transaction ID. */
export function failureBlocks(message: string, transactionID?: string): KnownBlock[] {
  const blocks: KnownBlock[] = [
    { type: "section", text: mrkdwn(`:x: ${escapeMrkdwn(truncate(message, 2000))}`) },
  ];
  if (transactionID) {
    blocks.push({
      type: "context",
      elements: [mrkdwn(`Convai transaction \`${escapeMrkdwn(transactionID)}\``)],
    });
  }
  return blocks;
}
