/**
 * With approvals on, a deregister request for a model that characters still use is refused on move_to
 * (moving them is not a request kind yet), so an approval never leaves characters on a deregistered model.
 */
import { afterEach, expect, it } from "vitest";
import { MANAGER, startTestBot, type TestBot } from "../helpers/bot.js";
import { input, sendInteraction, viewSubmission } from "../helpers/slack-requests.js";
import { ackSchema } from "../helpers/views.js";

const NOTIFY = "C0NOTIFY";
const GROUP = "acme-llm";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function deregister(b: TestBot, moveTo: string | null) {
  const values: Record<string, Record<string, unknown>> = {
    confirm_group_name: { confirm_group_name: input.text(GROUP) },
    ...(moveTo !== null
      ? {
          move_to: {
            move_to: {
              type: "static_select",
              selected_option: { text: { type: "plain_text", text: moveTo }, value: moveTo },
            },
          },
        }
      : {}),
  };
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      callbackId: "convai_llm_deregister",
      values,
      privateMetadata: JSON.stringify({ v: 1, origin: "command", group: GROUP }),
      userId: MANAGER,
      viewId: "VSUB",
    }),
  );
  expect(res.status).toBe(200);
  return ackSchema.parse(res.json);
}

async function bot(characters: Array<{ character_id: string; character_name: string; model: string }>) {
  t = await startTestBot({
    env: {
      CONVAI_NOTIFY_CHANNEL: NOTIFY,
      CONVAI_REQUIRE_APPROVAL: "true",
      CONVAI_APPROVAL_SECRET: "approval-secret-for-deregister-0123456789",
    },
  });
  await t.sandbox.seed([
    { model_group_name: GROUP, model_name: "llama-3.1-70b", api_key: "sk-model-SECRET-1" },
    { model_group_name: "other-llm", model_name: "mistral-large", api_key: "sk-model-SECRET-2" },
  ]);
  await t.sandbox.seedCharacters(characters);
  return t;
}

it("characters on the model: refused on move_to, no request posted, nothing sent to Convai", async () => {
  const b = await bot([
    { character_id: "c-1", character_name: "Amara", model: GROUP },
    { character_id: "c-2", character_name: "Bruno", model: GROUP },
    { character_id: "c-3", character_name: "Chen", model: "gpt-4o" },
  ]);
  const ack = await deregister(b, "other-llm");
  const shown = JSON.stringify(ack);
  expect(shown).toContain("2 characters use acme-llm. With approvals on, move them first");
  expect(b.fake.callsTo("chat.postMessage")).toEqual([]);
  expect(b.sandbox.requests.filter((r) => !/\/list|characters/.test(r.path))).toEqual([]);
  expect(b.sandbox.characters().filter((c) => c.model === GROUP)).toHaveLength(2);
  expect(b.sandbox.models().map((m) => m.model_group_name)).toContain(GROUP);
});

it("no character on the model: the deregister request is posted as before", async () => {
  const b = await bot([{ character_id: "c-3", character_name: "Chen", model: "gpt-4o" }]);
  const ack = await deregister(b, null);
  expect(JSON.stringify(ack.view)).toContain("Awaiting approval");
  const post = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
  expect(post.args.metadata).toMatchObject({ event_type: "convai_llm_request" });
  expect(b.sandbox.models().map((m) => m.model_group_name)).toContain(GROUP);
});
