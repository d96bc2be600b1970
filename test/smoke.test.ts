import { afterEach, describe, expect, it } from "vitest";
import { CHECKED_VALUE } from "../src/slack/ids.js";
import { MANAGER, startTestBot, type TestBot } from "./helpers/bot.js";
import {
  input,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "./helpers/slack-requests.js";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe("smoke", () => {
  it("help, list, register end to end", async () => {
    t = await startTestBot();
    const help = await sendCommand(t.url, { text: "help", responseUrl: t.fake.responseUrl() });
    expect(help.status).toBe(200);
    expect(help.text).toContain("register");

    const reg = await sendCommand(t.url, {
      text: "register my-turbo",
      userId: MANAGER,
      responseUrl: t.fake.responseUrl(),
    });
    expect(reg.status).toBe(200);
    const opened = await t.fake.waitFor("views.open");
    expect(JSON.stringify(opened.args.view)).toContain("my-turbo");

    const sub = await sendInteraction(
      t.url,
      viewSubmission({
        callbackId: "convai_llm_register",
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, origin: "command" }),
        values: stateValues({
          model_group_name: input.text("my-turbo"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("Turbo"),
          api_key: input.text("sk-model-SECRET-1234"),
          base_url: input.url("https://api.openai.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    expect(sub.status).toBe(200);
    console.log(sub.text.slice(0, 2000));
    expect(t.sandbox.models().map((m) => m.model_group_name)).toEqual(["my-turbo"]);

    const list = await sendCommand(t.url, { text: "list", responseUrl: t.fake.responseUrl() });
    expect(list.status).toBe(200);
    const posted = await t.fake.waitForResponse();
    expect(JSON.stringify(posted.body)).toContain("my-turbo");
    void CHECKED_VALUE;
  });
});
