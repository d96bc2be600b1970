import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import { CHANGE_EVENT_TYPE, type ChangeEventPayload } from "../notify/ui.js";
import { slackErrorCode } from "../slack/authz.js";
import { escapeMrkdwn } from "../slack/text.js";

/**
 * `/convai-llm history` reads the change announcements back from CONVAI_NOTIFY_CHANNEL (SPEC §13): Slack is
 * the store. Newest first, a bounded number of pages, so one command costs at most a few Web API calls.
 */

/** conversations.history page size: Slack recommends at most 200 per page. */
export const HISTORY_PAGE_SIZE = 200;
/** Pages read at most: the latest 1,000 messages of the channel. */
export const HISTORY_MAX_PAGES = 5;
/** Changes shown at most; the reply stays far below Slack's 50 blocks. */
export const HISTORY_MAX_ENTRIES = 20;

export interface HistoryEntry extends ChangeEventPayload {
  /** The announcement's ts, so a reply can link it. */
  ts: string;
}

export type HistoryResult =
  | {
      ok: true;
      entries: HistoryEntry[];
      /** Messages read; `exhausted` when the channel has no older ones. */
      scanned: number;
      exhausted: boolean;
    }
  | { ok: false; code: string; message: string };

// Read leniently: an announcement from an older version, or another app's event, is skipped, not fatal.
const payloadSchema = z.object({
  action: z.enum(["register", "update", "deregister", "assign", "move"]),
  group: z.string().min(1).max(500),
  fields: z.string().max(500).catch(""),
  actor: z.string().min(1).max(50),
  approver: z.string().max(50).optional().catch(undefined),
  transactionID: z.string().max(200).optional().catch(undefined),
  at: z.string().max(40),
  characters: z.number().int().min(0).optional().catch(undefined),
  from: z.string().max(500).optional().catch(undefined),
});
const messageSchema = z.object({
  ts: z.string(),
  metadata: z.object({ event_type: z.literal(CHANGE_EVENT_TYPE), event_payload: payloadSchema }),
});
const pageSchema = z.object({
  messages: z.array(z.unknown()).default([]),
  has_more: z.boolean().optional(),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

export async function readHistory(
  client: WebClient,
  channel: string | undefined,
  opts: { group?: string | undefined; max?: number } = {},
): Promise<HistoryResult> {
  if (!channel) {
    return {
      ok: false,
      code: "no_channel",
      message:
        "There is no change history: CONVAI_NOTIFY_CHANNEL is not set, so changes are not announced anywhere. An admin can set it to a channel the bot is in.",
    };
  }
  const max = opts.max ?? HISTORY_MAX_ENTRIES;
  const group = opts.group?.toLowerCase();
  const entries: HistoryEntry[] = [];
  let cursor: string | undefined;
  let scanned = 0;
  for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
    let raw: unknown;
    try {
      raw = await client.conversations.history({
        channel,
        limit: HISTORY_PAGE_SIZE,
        include_all_metadata: true,
        ...(cursor ? { cursor } : {}),
      });
    } catch (error) {
      const code = slackErrorCode(error);
      return { ok: false, code, message: readFailure(code, channel) };
    }
    const parsed = pageSchema.safeParse(raw);
    if (!parsed.success) return { ok: false, code: "malformed", message: readFailure("malformed", channel) };
    scanned += parsed.data.messages.length;
    for (const m of parsed.data.messages) {
      const change = messageSchema.safeParse(m);
      if (!change.success) continue;
      const payload = change.data.metadata.event_payload;
      if (
        group !== undefined &&
        payload.group.toLowerCase() !== group &&
        payload.from?.toLowerCase() !== group
      )
        continue;
      entries.push(toEntry(payload, change.data.ts));
      if (entries.length >= max) return { ok: true, entries, scanned, exhausted: false };
    }
    cursor = parsed.data.response_metadata?.next_cursor;
    if (!parsed.data.has_more || !cursor) return { ok: true, entries, scanned, exhausted: true };
  }
  return { ok: true, entries, scanned, exhausted: false };
}

function toEntry(p: z.infer<typeof payloadSchema>, ts: string): HistoryEntry {
  return {
    ts,
    action: p.action,
    group: p.group,
    fields: p.fields,
    actor: p.actor,
    at: p.at,
    ...(p.approver !== undefined ? { approver: p.approver } : {}),
    ...(p.transactionID !== undefined ? { transactionID: p.transactionID } : {}),
    ...(p.characters !== undefined ? { characters: p.characters } : {}),
    ...(p.from !== undefined ? { from: p.from } : {}),
  };
}

/** What the user reads (mrkdwn) when the channel cannot be read, with what an admin should do. */
export function readFailure(code: string, channel: string): string {
  switch (code) {
    case "not_in_channel":
      return `The bot cannot read the change channel <#${channel}>: it is not a member. Invite it there (\`/invite @bot\`).`;
    case "channel_not_found":
      return `The change channel ${escapeMrkdwn(channel)} (CONVAI_NOTIFY_CHANNEL) was not found, or it is private and the bot is not in it. An admin should check the channel ID and invite the bot.`;
    case "missing_scope":
      return "The bot may not read channel history: an admin needs to add the channels:history and groups:history scopes (see manifest.yml) and reinstall the app.";
    case "ratelimited":
      return "Slack is rate limiting the bot; try again in a minute.";
    default:
      return `The change channel could not be read (Slack said ${escapeMrkdwn(code)}). Try again in a minute.`;
  }
}
