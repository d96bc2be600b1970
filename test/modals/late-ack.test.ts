/**
 * Issue 16 item 2 against the REAL bot over HTTP: when the permission check (users.info, the admin
 * lookup) eats Slack's 3-second window, no Convai mutation starts, and the user still learns that
 * nothing changed although the ack comes too late.
 */
import { afterEach, expect, it } from "vitest";
import { CALLBACK } from "../../src/slack/ids.js";
import { startTestBot, type TestBot } from "../helpers/bot.js";
import { DEFAULTS, input, sendInteraction, stateValues, viewSubmission } from "../helpers/slack-requests.js";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it("users.info slower than 3 s: no register reaches Convai, and views.update says nothing changed", async () => {
  // No CONVAI_MANAGERS: managers are the workspace admins, so every submission asks users.info.
  // Slack's answer arrives after 3.3 s (as after a retry in production), within the client's timeout.
  t = await startTestBot({ env: { CONVAI_MANAGERS: "" }, slackTimeoutMs: 10_000 });
  const b = t;
  b.fake.on("users.info", () => ({ delayMs: 3300 }));
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      userId: DEFAULTS.userId,
      callbackId: CALLBACK.register,
      privateMetadata: JSON.stringify({ v: 1, origin: "command" }),
      viewId: "V0LATE",
      values: stateValues({
        model_group_name: input.text("late-model"),
        model_name: input.text("gpt-4o-mini"),
        display_name: input.text("Late"),
        api_key: input.text("sk-late-0001"),
        base_url: input.url("https://llm.example.com/v1"),
        is_uncensored: input.checkbox([]),
        verify: input.checkbox([]),
      }),
    }),
  );
  // Bolt answered on its own at 3 s; the bot's own ack came too late.
  expect(res.json).toBeUndefined();
  const update = await b.fake.waitFor("views.update", (c) => c.args.view_id === "V0LATE", 5000);
  expect(JSON.stringify(update.args.view)).toContain("Nothing was changed");
  expect(b.sandbox.requests.filter((r) => !r.path.endsWith("/list"))).toHaveLength(0);
  expect(b.sandbox.models()).toHaveLength(0);
});
