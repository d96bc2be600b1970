/** Assign over Socket Mode (SPEC §10): the real bot over a real WebSocket to the fake Socket Mode server. */
import { afterEach, describe, expect, it } from "vitest";
import { MANAGER } from "../helpers/bot.js";
import { input, stateValues, viewSubmission } from "../helpers/slack-requests.js";
import { type SocketBot, startSocketBot } from "../helpers/socket-bot.js";

const GROUP = "sock-llm";
const NOTIFY = "C0NOTIFY";

let t: SocketBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe("Socket Mode: assign", () => {
  it("the command opens the form before any Convai call; the submission moves the characters and announces", async () => {
    t = await startSocketBot({ env: { CONVAI_NOTIFY_CHANNEL: NOTIFY } });
    const bot = t;
    await bot.sandbox.seed([{ model_group_name: GROUP, model_name: "m", api_key: "sk-model-SOCK-1" }]);
    await bot.sandbox.seedCharacters([
      { character_id: "s-1", character_name: "Rafael", model: "gpt-4o" },
      { character_id: "s-2", character_name: "Steven", model: "gpt-4o-mini" },
    ]);
    let convaiAtOpen = -1;
    bot.fake.on("views.open", () => {
      convaiAtOpen = bot.sandbox.requests.length;
      return { body: { ok: true, view: { id: "VSOCK", hash: "h" } } };
    });
    const cmd = await bot.sm.sendCommand({
      text: `assign ${GROUP}`,
      userId: MANAGER,
      responseUrl: bot.fake.responseUrl(),
    });
    expect(cmd.payload).toEqual({});
    const opened = await bot.fake.waitFor("views.open");
    expect(convaiAtOpen).toBe(0);
    expect(JSON.stringify(opened.args.view)).toContain("convai_llm_assign");
    const filled = await bot.fake.waitFor("views.update", (c) => c.args.view_id === "VSOCK");
    expect(JSON.stringify(filled.args.view)).toContain("Rafael — gpt-4o");

    const ack = await bot.sm.sendInteractive(
      viewSubmission({
        callbackId: "convai_llm_assign",
        userId: MANAGER,
        privateMetadata: JSON.stringify({ v: 1, group: GROUP, origin: "command" }),
        values: stateValues({
          characters: {
            type: "multi_static_select",
            selected_options: ["s-1", "s-2"].map((v) => ({
              text: { type: "plain_text", text: v },
              value: v,
            })),
          },
          unused: input.text(null),
        }),
      }),
    );
    const payload = JSON.stringify(ack.payload);
    expect(payload).toContain('"response_action":"update"');
    expect(payload).toContain("Characters assigned");
    expect(bot.sandbox.characters().map((c) => c.model)).toEqual([GROUP, GROUP]);
    const updates = bot.sandbox.requests.filter((r) => r.path === "/character/update");
    expect(updates.map((r) => r.body)).toEqual(
      expect.arrayContaining([
        { charID: "s-1", model_group_name: GROUP },
        { charID: "s-2", model_group_name: GROUP },
      ]),
    );
    const note = await bot.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
    expect(JSON.stringify(note.args.blocks)).toContain("Rafael: `gpt-4o` → `sock-llm`");
  });
});
