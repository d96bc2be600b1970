/**
 * Sandbox mode (SPEC §7) end to end: every message and view the bot sends says so in a context line, and the
 * sandbox's state survives a restart of the bot (same CONVAI_SANDBOX_FILE).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { CHECKED_VALUE } from "../src/slack/ids.js";
import {
  MANAGER,
  MEMBER,
  runCommand,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "./helpers/bot.js";
import {
  blockAction,
  input,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "./helpers/slack-requests.js";

const contextSchema = z.looseObject({
  type: z.literal("context"),
  elements: z.array(z.looseObject({ text: z.string().optional() })),
});
const withBlocks = z.looseObject({ blocks: z.array(z.unknown()) });

/** True when `surface` (a message or a view) has a context block saying it comes from the sandbox. */
function sandboxLine(surface: unknown): boolean {
  const parsed = withBlocks.safeParse(surface);
  if (!parsed.success) return false;
  return parsed.data.blocks.some((block) => {
    const context = contextSchema.safeParse(block);
    return context.success && context.data.elements.some((e) => /sandbox mode/i.test(e.text ?? ""));
  });
}

const ackSchema = z.looseObject({ response_action: z.string(), view: z.unknown().optional() });
const seeded = {
  model_group_name: "acme-mistral",
  model_name: "mistral-large",
  display_name: "Acme Mistral",
  base_url: "https://mistral.acme.example/v1",
  is_uncensored: false,
  api_key: "sk-seeded-SECRET-sbx",
};
const registerValues = (group: string) =>
  stateValues({
    model_group_name: input.text(group),
    model_name: input.text("llama-3.1-8b"),
    display_name: input.text(""),
    api_key: input.text("sk-model-SECRET-sbx"),
    base_url: input.url("https://llm.acme.example/v1"),
    is_uncensored: input.checkbox([]),
    verify: input.checkbox([]),
  });

const running: TestBot[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function bot(options: TestBotOptions = {}): Promise<TestBot> {
  const b = await startTestBot({ sandboxMode: true, ...options });
  running.push(b);
  return b;
}

async function command(b: TestBot, text: string, userId: string = MANAGER) {
  const sent = await runCommand(b, text, userId);
  return { ack: sent.res.json, reply: async () => (await sent.reply()).body };
}

async function submit(
  b: TestBot,
  callbackId: string,
  values: Record<string, Record<string, unknown>>,
  group?: string,
) {
  const privateMetadata = JSON.stringify({ v: 1, origin: "command", ...(group ? { group } : {}) });
  const res = await sendInteraction(
    b.url,
    viewSubmission({ callbackId, values, privateMetadata, userId: MANAGER, viewId: "VSUB" }),
  );
  return ackSchema.parse(res.json);
}

describe("sandbox mode: every message carries the context line", () => {
  it.each(["help", "", "frobnicate", "update", "deregister"])("the ack to %j", async (text) => {
    const b = await bot();
    const { ack } = await command(b, text);
    expect(sandboxLine(ack)).toBe(true);
  });

  it("list replies: with models, empty, and a refusal", async () => {
    const b = await bot();
    expect(sandboxLine(await (await command(b, "list")).reply())).toBe(true);
    await b.sandbox.seed([seeded]);
    expect(sandboxLine(await (await command(b, "list mistral")).reply())).toBe(true);
    expect(sandboxLine(await (await command(b, "list nothing")).reply())).toBe(true);
    expect(sandboxLine(await (await command(b, "register", MEMBER)).reply())).toBe(true);
  });

  it("the channel notification", async () => {
    const b = await bot({ env: { CONVAI_NOTIFY_CHANNEL: "C0NOTIFY" } });
    await submit(b, "convai_llm_register", registerValues("acme-llama"));
    const post = await b.fake.waitFor("chat.postMessage");
    expect(sandboxLine(post.args)).toBe(true);
  });

  // Regression: the CONVAI_ALLOWED_TEAMS refusal used to ack with `text` only, without the sandbox line.
  it("the refusal for a workspace outside CONVAI_ALLOWED_TEAMS", async () => {
    const b = await bot({ env: { CONVAI_ALLOWED_TEAMS: "T0OTHER" } });
    const { ack } = await command(b, "help");
    expect(JSON.stringify(ack)).toMatch(/not allowed/i);
    expect(sandboxLine(ack)).toBe(true);
  });

  // Regression: a refused list-row action used to be answered with `text` only, without the sandbox line.
  it("the refusal of a list row's Edit action for a non-manager", async () => {
    const b = await bot();
    const res = await sendInteraction(
      b.url,
      blockAction({
        actionId: "convai_model_overflow",
        blockId: "model:acme-mistral",
        selectedOptionValue: "update",
        userId: MEMBER,
        responseUrl: b.fake.responseUrl("sbx-action"),
      }),
    );
    expect(res.status).toBe(200);
    const reply = await b.fake.waitForResponse((r) => r.id === "sbx-action");
    expect(JSON.stringify(reply.body)).toMatch(/only .* can change/i);
    expect(sandboxLine(reply.body)).toBe(true);
  });
});

describe("sandbox mode: every view carries the context line", () => {
  it("register: the form, the outcome", async () => {
    const b = await bot();
    await command(b, "register acme-llama");
    expect(sandboxLine((await b.fake.waitFor("views.open")).args.view)).toBe(true);
    const ack = await submit(b, "convai_llm_register", registerValues("acme-llama"));
    expect(ack.response_action).toBe("update");
    expect(sandboxLine(ack.view)).toBe(true);
  });

  it("update: loading, form, nothing-changed, and the not-found view", async () => {
    const b = await bot();
    await b.sandbox.seed([seeded]);
    await command(b, "update acme-mistral");
    expect(sandboxLine((await b.fake.waitFor("views.open")).args.view)).toBe(true);
    expect(sandboxLine((await b.fake.waitFor("views.update")).args.view)).toBe(true);
    const ack = await submit(
      b,
      "convai_llm_update",
      stateValues({
        display_name: input.text(""),
        base_url: input.url(""),
        api_key: input.text(""),
        is_uncensored: input.radio("keep"),
        verify: input.checkbox([CHECKED_VALUE]),
      }),
      "acme-mistral",
    );
    expect(ack.response_action).toBe("push");
    expect(sandboxLine(ack.view)).toBe(true);
    await command(b, "update nope");
    const notFound = await b.fake.waitFor("views.update", (c) =>
      JSON.stringify(c.args.view).includes("nope"),
    );
    expect(sandboxLine(notFound.args.view)).toBe(true);
  });

  it("deregister: loading, confirmation, outcome", async () => {
    const b = await bot();
    await b.sandbox.seed([seeded]);
    await command(b, "deregister acme-mistral");
    expect(sandboxLine((await b.fake.waitFor("views.open")).args.view)).toBe(true);
    expect(sandboxLine((await b.fake.waitFor("views.update")).args.view)).toBe(true);
    const ack = await submit(
      b,
      "convai_llm_deregister",
      stateValues({ confirm_group_name: input.text("acme-mistral") }),
      "acme-mistral",
    );
    expect(sandboxLine(ack.view)).toBe(true);
  });

  it("the working view and the outcome after it, and the not-allowed view", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 700 } });
    const ack = await submit(b, "convai_llm_register", registerValues("acme-llama"));
    expect(JSON.stringify(ack.view)).toContain("Working");
    expect(sandboxLine(ack.view)).toBe(true);
    const outcome = await b.fake.waitFor("views.update", (c) => c.args.view_id === "VSUB", 5000);
    expect(sandboxLine(outcome.args.view)).toBe(true);

    const refused = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: "convai_llm_register",
        values: registerValues("other"),
        privateMetadata: JSON.stringify({ v: 1 }),
        userId: MEMBER,
      }),
    );
    const refusedAck = ackSchema.parse(refused.json);
    expect(JSON.stringify(refusedAck.view)).toContain("Not allowed");
    expect(sandboxLine(refusedAck.view)).toBe(true);
  });

  it("outside sandbox mode there is no such line", async () => {
    const b = await bot({ sandboxMode: false });
    expect(sandboxLine((await command(b, "help")).ack)).toBe(false);
    await command(b, "register");
    expect(sandboxLine((await b.fake.waitFor("views.open")).args.view)).toBe(false);
  });
});

describe("sandbox mode: state survives a restart", () => {
  it("a model registered before the restart is still listed after it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "convai-sbx-restart-"));
    dirs.push(dir);
    const sandboxFile = join(dir, "state.json");

    const first = await bot({ sandboxFile });
    const ack = await submit(first, "convai_llm_register", registerValues("survivor"));
    expect(ack.response_action).toBe("update");
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const second = await bot({ sandboxFile });
    expect(second.sandbox.models().map((m) => m.model_group_name)).toEqual(["survivor"]);
    const reply = await (await command(second, "list")).reply();
    expect(JSON.stringify(reply)).toContain("survivor");
    expect(JSON.stringify(reply)).toContain("llama-3.1-8b");
    expect(sandboxLine(reply)).toBe(true);
  });
});
