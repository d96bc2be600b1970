/**
 * Approval requests as the tests see them: the request message's metadata read back from the fake Slack
 * channel, and an Approve or Reject press sent as a signed block action with the presser's answer returned.
 */
import { expect } from "vitest";
import { z } from "zod";
import type { TestBot } from "./bot.js";
import { blockAction, sendInteraction } from "./slack-requests.js";

export const requestMeta = z.object({
  event_type: z.literal("convai_llm_request"),
  event_payload: z.looseObject({
    request_id: z.string(),
    expires_at: z.number(),
    sealed: z.string().optional(),
    state: z.string(),
    applying_at: z.number().optional(),
    decided_by: z.string().optional(),
  }),
});

export const channelMessages = (b: TestBot, channel: string) => b.fake.messages.get(channel) ?? [];

/** The request message at `ts`, as the channel holds it now. */
export function storedRequest(b: TestBot, channel: string, ts: string) {
  const stored = channelMessages(b, channel).find((m) => m.ts === ts);
  if (!stored) throw new Error(`no message ${ts} in ${channel}`);
  return stored;
}

export const requestState = (b: TestBot, channel: string, ts: string) =>
  requestMeta.parse(storedRequest(b, channel, ts).metadata).event_payload;

/** The newest request message in the channel, with its metadata parsed. */
export function latestRequest(b: TestBot, channel: string) {
  const stored = channelMessages(b, channel)
    .filter((m) => requestMeta.safeParse(m.metadata).success)
    .at(-1);
  if (!stored) throw new Error("no request message stored");
  return { stored, meta: requestMeta.parse(stored.metadata).event_payload };
}

let pressSeq = 0;

/** Presses Approve (or Reject) on a request message; resolves with the ephemeral answer to the presser. */
export async function press(
  b: TestBot,
  channel: string,
  ts: string,
  requestId: string,
  opts: { userId: string; teamId?: string; decision?: "approve" | "reject" },
): Promise<string> {
  pressSeq += 1;
  const userId = opts.userId;
  const before = b.fake.callsTo("chat.postEphemeral").length;
  const res = await sendInteraction(
    b.url,
    blockAction({
      actionId: opts.decision === "reject" ? "convai_approval_reject" : "convai_approval_approve",
      blockId: "convai_approval",
      value: requestId,
      userId,
      ...(opts.teamId ? { teamId: opts.teamId } : {}),
      channelId: channel,
      messageTs: ts,
      triggerId: `trig${pressSeq}`,
    }),
  );
  expect(res.status).toBe(200);
  // The answer to this press: the first ephemeral to this user after it (presses may overlap).
  const mine = () =>
    b.fake
      .callsTo("chat.postEphemeral")
      .slice(before)
      .find((c) => c.args.user === userId);
  await b.fake.waitFor("chat.postEphemeral", () => mine() !== undefined, 8000);
  return String(mine()?.args.text);
}
