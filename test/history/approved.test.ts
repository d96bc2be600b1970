/**
 * History and approvals together (SPEC §13): an approved change is announced with its approver in the
 * metadata, `/convai-llm history` shows who asked and who approved, and the request message (whose
 * metadata once held the sealed change) is never listed as a change.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { everythingSent, MANAGER, MEMBER, startTestBot, type TestBot } from "../helpers/bot.js";
import {
  blockAction,
  input,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";

const SECOND = "U0SECOND";
const NOTIFY = "C0NOTIFY";
const KEY = "sk-model-HISTORY-APPROVED-77aa";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it("an approved register: announced with the approver, listed once with both people, never the key", async () => {
  const b = await startTestBot({
    env: {
      CONVAI_MANAGERS: `${MANAGER},${SECOND}`,
      CONVAI_NOTIFY_CHANNEL: NOTIFY,
      CONVAI_REQUIRE_APPROVAL: "true",
      CONVAI_APPROVAL_SECRET: "approval-secret-for-history-0123456789abcdef",
    },
  });
  t = b;
  await sendInteraction(
    b.url,
    viewSubmission({
      callbackId: "convai_llm_register",
      values: stateValues({
        model_group_name: input.text("acme-llama"),
        model_name: input.text("llama-3"),
        display_name: input.text("Acme Llama"),
        api_key: input.text(KEY),
        base_url: input.url("https://llm.acme.example/v1"),
        is_uncensored: input.checkbox([]),
        verify: input.checkbox([]),
      }),
      privateMetadata: JSON.stringify({ v: 1, origin: "command", channelId: "C0CHAN" }),
      userId: MANAGER,
    }),
  );
  const request = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
  const requestMeta = z
    .object({ event_payload: z.looseObject({ request_id: z.string() }) })
    .parse(request.args.metadata);
  const requestTs = b.fake.messages.get(NOTIFY)?.at(-1)?.ts ?? "";
  await sendInteraction(
    b.url,
    blockAction({
      actionId: "convai_approval_approve",
      blockId: "convai_approval",
      value: requestMeta.event_payload.request_id,
      userId: SECOND,
      channelId: NOTIFY,
      messageTs: requestTs,
      triggerId: "trig-history",
    }),
  );
  const announcement = await b.fake.waitFor(
    "chat.postMessage",
    (c) => c.args.channel === NOTIFY && String(c.args.text).includes("registered"),
    8000,
  );
  expect(announcement.args.metadata).toMatchObject({
    event_type: "convai_llm_change",
    event_payload: { action: "register", group: "acme-llama", actor: MANAGER, approver: SECOND },
  });
  expect(JSON.stringify(announcement.args.blocks)).toContain(`Approved by <@${SECOND}>`);

  const res = await sendCommand(b.url, {
    text: "history",
    userId: MEMBER,
    responseUrl: b.fake.responseUrl("h"),
  });
  expect(res.status).toBe(200);
  const reply = JSON.stringify((await b.fake.waitForResponse((r) => r.id === "h", 5000)).body);
  const lines = reply.split(/\\n|"/).filter((l) => l.startsWith("• "));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`\`acme-llama\` registered by <@${MANAGER}>, approved by <@${SECOND}>`);
  expect(everythingSent(b)).not.toContain(KEY);
});
