/**
 * Approvals for the character changes (SPEC §13 with §10): an assign, and a deregister that moves the
 * group's characters first, become requests; an approval re-plans against Convai, applies only what was
 * approved, and names the approver. The real bot over HTTP, the fake Slack and the sandbox over real HTTP.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Fault, SandboxEndpoint } from "../../src/convai/sandbox/index.js";
import {
  channelMessages,
  latestRequest,
  press as pressRequest,
  requestState,
  storedRequest,
} from "../helpers/approvals.js";
import { everythingSent, MANAGER, MEMBER, startTestBot, type TestBot } from "../helpers/bot.js";
import {
  input,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";
import { type Ack, ackSchema } from "../helpers/views.js";

const GROUP = "acme-llm";
const OTHER = "backup-llm";
const NOTIFY = "C0NOTIFY";
const SECOND = "U0SECOND";
const MODEL_KEYS = ["sk-model-SECRET-char-1", "sk-model-SECRET-char-2"];

const FOUR = [
  { character_id: "c-1", character_name: "Amara", model: "gpt-4o" },
  { character_id: "c-2", character_name: "Bruno", model: "gpt-4o-mini" },
  { character_id: "c-3", character_name: "Chen", model: GROUP },
  { character_id: "c-4", character_name: "Dana", model: GROUP },
];

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function bot(characters = FOUR): Promise<TestBot> {
  t = await startTestBot({
    env: {
      CONVAI_MANAGERS: `${MANAGER},${SECOND}`,
      CONVAI_NOTIFY_CHANNEL: NOTIFY,
      CONVAI_REQUIRE_APPROVAL: "true",
      CONVAI_APPROVAL_SECRET: "approval-secret-for-characters-0123456789",
    },
  });
  t.fake.users.set(SECOND, { name: "second" });
  await t.sandbox.seed([
    { model_group_name: GROUP, model_name: "llama-3.1-70b", api_key: MODEL_KEYS[0] ?? "" },
    { model_group_name: OTHER, model_name: "mistral-large", api_key: MODEL_KEYS[1] ?? "" },
  ]);
  await t.sandbox.seedCharacters(characters);
  return t;
}

const multi = (ids: string[]) => ({
  type: "multi_static_select",
  selected_options: ids.map((v) => ({ text: { type: "plain_text", text: v }, value: v })),
});
const single = (value: string) => ({
  type: "static_select",
  selected_option: { text: { type: "plain_text", text: value }, value },
});

async function submit(b: TestBot, callbackId: string, values: Record<string, object>): Promise<Ack> {
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      callbackId,
      values: stateValues(values),
      privateMetadata: JSON.stringify({ v: 1, origin: "command", group: GROUP }),
      userId: MANAGER,
      viewId: "VSUB",
    }),
  );
  expect(res.status).toBe(200);
  return ackSchema.parse(res.json);
}

const assign = (b: TestBot, ids: string[]) => submit(b, "convai_llm_assign", { characters: multi(ids) });
const deregister = (b: TestBot, moveTo?: string) =>
  submit(b, "convai_llm_deregister", {
    confirm_group_name: input.text(GROUP),
    ...(moveTo !== undefined ? { move_to: single(moveTo) } : {}),
  });

const press = (
  b: TestBot,
  ts: string,
  requestId: string,
  opts: { userId?: string; decision?: "approve" | "reject" } = {},
) => pressRequest(b, NOTIFY, ts, requestId, { userId: SECOND, ...opts });

/** Convai calls that change something (every list read filtered out). */
const mutations = (b: TestBot) => b.sandbox.requests.filter((r) => !/\/list$/.test(r.path));
const updates = (b: TestBot) => b.sandbox.requests.filter((r) => r.path === "/character/update");
const modelOf = (b: TestBot, id: string) => b.sandbox.characters().find((c) => c.character_id === id)?.model;
const groups = (b: TestBot) => b.sandbox.models().map((m) => m.model_group_name);
const blocksAt = (b: TestBot, ts: string) => JSON.stringify(storedRequest(b, NOTIFY, ts).blocks);
/** The change announcements (not the request messages), oldest first. */
const announcements = (b: TestBot) =>
  channelMessages(b, NOTIFY).filter(
    (m) => (m.metadata as { event_type?: string } | undefined)?.event_type === "convai_llm_change",
  );
const fault = (
  b: TestBot,
  endpoint: SandboxEndpoint,
  f: Fault,
  more: { after?: number; times?: number } = {},
) => b.sandbox.inject({ endpoint, fault: f, ...more });

/** Submits, checks the requester sees "awaits approval", returns the request message. */
async function requested(b: TestBot, submitted: Promise<Ack>) {
  const ack = await submitted;
  expect(JSON.stringify(ack.view)).toContain("awaits another manager");
  await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
  return latestRequest(b, NOTIFY);
}

describe("assign under approval", () => {
  it("posts a request naming each character before → after; nothing reaches Convai until approved", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1", "c-2", "c-3"]));
    const shown = JSON.stringify(stored.blocks);
    expect(shown).toContain("assignment of 2 characters to custom LLM `acme-llm`");
    expect(shown).toContain("Amara: `gpt-4o` → `acme-llm`");
    expect(shown).toContain("Bruno: `gpt-4o-mini` → `acme-llm`");
    // Chen is already there: the request does not pretend to move him.
    expect(shown).not.toContain("Chen");
    expect(meta.state).toBe("pending");
    expect(updates(b)).toEqual([]);
    expect(modelOf(b, "c-1")).toBe("gpt-4o");
  });

  it("approved by another manager: the characters move, the request and the announcement name the approver", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1", "c-2"]));
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toBe("Applied: 2 characters moved to `acme-llm`.");
    expect(updates(b).map((r) => r.body)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ charID: "c-1" }),
        expect.objectContaining({ charID: "c-2" }),
      ]),
    );
    expect(updates(b)).toHaveLength(2);
    expect([modelOf(b, "c-1"), modelOf(b, "c-2")]).toEqual([GROUP, GROUP]);
    expect(requestState(b, NOTIFY, stored.ts)).toMatchObject({ state: "approved", decided_by: SECOND });
    expect(requestState(b, NOTIFY, stored.ts).sealed).toBeUndefined();
    expect(blocksAt(b, stored.ts)).toContain(`Approved by <@${SECOND}>. Applied: 2 characters moved`);
    const note = announcements(b).at(-1);
    expect(JSON.stringify(note?.blocks)).toContain(`Approved by <@${SECOND}>`);
    expect(note?.metadata).toMatchObject({
      event_payload: { action: "assign", group: GROUP, actor: MANAGER, approver: SECOND, characters: 2 },
    });
    // A second press meets the decided request: nothing more is sent.
    expect(await press(b, stored.ts, meta.request_id, { userId: MANAGER })).toContain(
      `already approved by <@${SECOND}>`,
    );
    expect(updates(b)).toHaveLength(2);
    for (const key of MODEL_KEYS) expect(everythingSent(b)).not.toContain(key);
  });

  it("the approver's App Home is republished after the apply, with the characters now on the model", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    expect(b.fake.callsTo("views.publish")).toEqual([]);
    await press(b, stored.ts, meta.request_id);
    const home = await b.fake.waitFor(
      "views.publish",
      (c) => c.args.user_id === SECOND && JSON.stringify(c.args.view).includes("Amara"),
      8000,
    );
    expect(JSON.stringify(home.args.view)).toContain("Used by 3 characters");
  });

  it("the requester, a non-manager and a Reject send nothing to Convai", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    expect(await press(b, stored.ts, meta.request_id, { userId: MANAGER })).toContain(
      "another manager must approve",
    );
    expect(await press(b, stored.ts, meta.request_id, { userId: MEMBER })).toMatch(/^Only a manager/);
    expect(await press(b, stored.ts, meta.request_id, { decision: "reject" })).toBe(
      "Rejected: nothing was sent to Convai.",
    );
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("rejected");
    expect(updates(b)).toEqual([]);
    expect(modelOf(b, "c-1")).toBe("gpt-4o");
  });

  it("a character moved elsewhere since the request: not applied, nothing sent, the request says so", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1", "c-2"]));
    await b.sandbox.seedCharacters([{ character_id: "c-2", character_name: "Bruno", model: OTHER }]);
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toBe(
      "Not applied: a character moved to another model since the request: Bruno (now on backup-llm). Ask the requester to submit it again.",
    );
    expect(updates(b)).toEqual([]);
    expect(modelOf(b, "c-1")).toBe("gpt-4o");
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("failed");
    expect(blocksAt(b, stored.ts)).toContain("Not applied: a character moved");
  });

  it("every character already on the model (applied elsewhere): reported as already applied, nothing sent", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    await b.sandbox.seedCharacters([{ character_id: "c-1", character_name: "Amara", model: GROUP }]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Already applied: Convai already holds this change.",
    );
    expect(updates(b)).toEqual([]);
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("approved");
  });

  it("the model deregistered since the request: not applied", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    await b.sandbox.reset();
    await b.sandbox.seedCharacters(FOUR);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: acme-llm is no longer registered. Ask the requester to submit it again.",
    );
    expect(updates(b)).toEqual([]);
  });

  it("one update fails during the approved assign: partly applied, each character's fate told", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1", "c-2"]));
    fault(b, "character-update", { kind: "status", status: 500, body: { ERROR: "boom" } }, { after: 1 });
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(/^Partly applied: 1 of 2 characters moved to `acme-llm`; (Amara|Bruno) \(/);
    expect(updates(b)).toHaveLength(2);
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("failed");
    expect(blocksAt(b, stored.ts)).toContain(":warning: Approved by");
  });
});

describe("deregister with moves under approval", () => {
  it("characters on the model and no move_to: a field error, no request, nothing sent", async () => {
    const b = await bot();
    const ack = await deregister(b);
    expect(ack.response_action).toBe("errors");
    expect(JSON.stringify(ack)).toContain(
      "2 characters use acme-llm: choose the model to move them to first.",
    );
    expect(channelMessages(b, NOTIFY)).toEqual([]);
    expect(mutations(b)).toEqual([]);
  });

  it("requested with move_to, approved: the characters move first, then the model goes; both announced with the approver", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    const shown = JSON.stringify(stored.blocks);
    expect(shown).toContain("`acme-llm` is removed from Convai, after its 2 characters move");
    expect(shown).toContain("Chen: `acme-llm` → `backup-llm`");
    expect(shown).toContain("Dana: `acme-llm` → `backup-llm`");
    expect(mutations(b)).toEqual([]);

    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(/^Applied.*\. 2 characters moved to `backup-llm`\.$/);
    expect([modelOf(b, "c-3"), modelOf(b, "c-4")]).toEqual([OTHER, OTHER]);
    expect(groups(b)).toEqual([OTHER]);
    const paths = mutations(b).map((r) => r.path);
    expect(paths.filter((p) => p === "/character/update")).toHaveLength(2);
    expect(paths.at(-1)).toMatch(/deregister$/);
    const payloads = announcements(b).map((m) => (m.metadata as { event_payload: unknown }).event_payload);
    expect(payloads).toEqual([
      expect.objectContaining({ action: "move", group: OTHER, from: GROUP, approver: SECOND, characters: 2 }),
      expect.objectContaining({ action: "deregister", group: GROUP, actor: MANAGER, approver: SECOND }),
    ]);
    for (const key of MODEL_KEYS) expect(everythingSent(b)).not.toContain(key);
  });

  it("history lists the approved move and deregister, with who asked and who approved", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    await press(b, stored.ts, meta.request_id);
    await sendCommand(b.url, {
      text: `history ${GROUP}`,
      userId: MEMBER,
      responseUrl: b.fake.responseUrl("h"),
    });
    const reply = JSON.stringify((await b.fake.waitForResponse((r) => r.id === "h", 5000)).body);
    const lines = reply.split(/\\n|"/).filter((l) => l.startsWith("• "));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`\`acme-llm\` deregistered by <@${MANAGER}>, approved by <@${SECOND}>`);
    expect(lines[1]).toContain(
      `2 characters moved to \`backup-llm\` (off \`acme-llm\`) by <@${MANAGER}>, approved by <@${SECOND}>`,
    );
  });

  it("a character put on the model after the request: not applied, nobody moved, the model stays", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    await b.sandbox.seedCharacters([{ character_id: "c-9", character_name: "Ines", model: GROUP }]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: the characters using acme-llm changed since the request (2 then, 3 now), so deregistering it could leave a character without a model. Ask the requester to submit it again.",
    );
    expect(mutations(b)).toEqual([]);
    expect(groups(b)).toContain(GROUP);
    expect(modelOf(b, "c-3")).toBe(GROUP);
  });

  it("no character when requested, one since: not applied", async () => {
    const b = await bot(FOUR.slice(0, 2));
    const { stored, meta } = await requested(b, deregister(b));
    await b.sandbox.seedCharacters([{ character_id: "c-9", character_name: "Ines", model: GROUP }]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: characters started using acme-llm since the request, so deregistering it would leave them without a model. Ask the requester to submit it again.",
    );
    expect(mutations(b)).toEqual([]);
    expect(groups(b)).toContain(GROUP);
  });

  it("the move target deregistered since the request: not applied, nobody moved", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    await b.sandbox.reset();
    await b.sandbox.seed([
      { model_group_name: GROUP, model_name: "llama-3.1-70b", api_key: "sk-x-123456789" },
    ]);
    await b.sandbox.seedCharacters(FOUR);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: backup-llm, where the characters were to move, is no longer registered. Ask the requester to submit it again.",
    );
    expect(mutations(b)).toEqual([]);
  });

  it("the characters moved away meanwhile: the model is deregistered, no character update sent", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    await b.sandbox.seedCharacters([
      { character_id: "c-3", character_name: "Chen", model: "gpt-4o" },
      { character_id: "c-4", character_name: "Dana", model: "gpt-4o" },
    ]);
    expect(await press(b, stored.ts, meta.request_id)).toMatch(/^Applied/);
    expect(updates(b)).toEqual([]);
    expect(groups(b)).toEqual([OTHER]);
  });

  it("a move fails during the approved deregister: the model stays, the request says who did not move", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    fault(b, "character-update", { kind: "status", status: 500, body: { ERROR: "boom" } }, { after: 1 });
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(
      /^Not deregistered: not every character moved, so acme-llm stays registered\. 1 of 2 characters moved to `backup-llm`; (Chen|Dana) \(not moved/,
    );
    expect(groups(b)).toContain(GROUP);
    expect(mutations(b).some((r) => r.path.endsWith("deregister"))).toBe(false);
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("failed");
  });
});

describe("a request left applying by a replica that stopped", () => {
  /** Rewrites the stored request as a replica that died mid-apply leaves it. */
  function leaveApplying(b: TestBot, ts: string, applyingAt: number | undefined, applyingUntil?: number) {
    const stored = storedRequest(b, NOTIFY, ts);
    const meta = stored.metadata as { event_type: string; event_payload: Record<string, unknown> };
    stored.metadata = {
      ...meta,
      event_payload: {
        ...meta.event_payload,
        state: "applying",
        decided_by: MANAGER,
        ...(applyingAt !== undefined ? { applying_at: applyingAt } : {}),
        ...(applyingUntil !== undefined ? { applying_until: applyingUntil } : {}),
      },
    };
  }

  it("still within its bound: a press is answered from the message and nothing is sent", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    // Started an hour ago, but a large change's bound (applying_until) is still ahead: not taken over.
    leaveApplying(b, stored.ts, Date.now() - 60 * 60_000, Date.now() + 60_000);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      `This request is being applied by <@${MANAGER}>. Nothing more was done.`,
    );
    leaveApplying(b, stored.ts, Date.now());
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      `This request is being applied by <@${MANAGER}>. Nothing more was done.`,
    );
    // Marked by a version that kept no time: never taken over before the request expires.
    leaveApplying(b, stored.ts, undefined);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      `This request is being applied by <@${MANAGER}>. Nothing more was done.`,
    );
    expect(updates(b)).toEqual([]);
  });

  it("long ago: Reject is refused; Approve re-checks Convai and finishes it", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1", "c-2"]));
    leaveApplying(b, stored.ts, Date.now() - 60 * 60_000);
    // The dead replica had moved Amara already.
    await b.sandbox.seedCharacters([{ character_id: "c-1", character_name: "Amara", model: GROUP }]);
    expect(await press(b, stored.ts, meta.request_id, { decision: "reject" })).toContain(
      "did not finish (the replica applying it stopped), so part of it may be in place and it cannot be rejected",
    );
    expect(await press(b, stored.ts, meta.request_id)).toBe("Applied: 1 character moved to `acme-llm`.");
    expect(updates(b).map((r) => (r.body as { charID?: string }).charID)).toEqual(["c-2"]);
    expect(requestState(b, NOTIFY, stored.ts)).toMatchObject({ state: "approved", decided_by: SECOND });
    expect(b.logLines().some((l) => String(l.msg).startsWith("Taking over an approval request"))).toBe(true);
  });

  it("long ago and already complete: reported as already applied", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    leaveApplying(b, stored.ts, Date.now() - 60 * 60_000);
    await b.sandbox.reset();
    await b.sandbox.seed([
      { model_group_name: OTHER, model_name: "mistral-large", api_key: "sk-y-123456789" },
    ]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Already applied: Convai already holds this change.",
    );
    expect(mutations(b)).toEqual([]);
  });

  it("long ago, a deregister whose replica had moved one of two characters: finished, the model goes", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    leaveApplying(b, stored.ts, Date.now() - 60 * 60_000);
    await b.sandbox.seedCharacters([{ character_id: "c-3", character_name: "Chen", model: OTHER }]);
    expect(await press(b, stored.ts, meta.request_id)).toMatch(
      /^Applied.*\. 1 character moved to `backup-llm`\.$/,
    );
    expect(updates(b).map((r) => (r.body as { charID?: string }).charID)).toEqual(["c-4"]);
    expect(modelOf(b, "c-4")).toBe(OTHER);
    expect(groups(b)).toEqual([OTHER]);
  });
});

describe("what an approval re-checks besides the characters", () => {
  it("an assign whose model was re-registered with another model since the request: not applied", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, assign(b, ["c-1"]));
    await b.sandbox.seed([{ model_group_name: GROUP, model_name: "other-model", api_key: "sk-z-123456789" }]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: acme-llm changed since the request (its model or endpoint). Ask the requester to submit it again.",
    );
    expect(updates(b)).toEqual([]);
  });

  it("a move target changed since the request: not applied, nobody moved", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    await b.sandbox.seed([
      { model_group_name: OTHER, model_name: "mistral-small", api_key: "sk-w-123456789" },
    ]);
    expect(await press(b, stored.ts, meta.request_id)).toBe(
      "Not applied: backup-llm, where the characters were to move, changed since the request. Ask the requester to submit it again.",
    );
    expect(mutations(b)).toEqual([]);
  });

  it("the deregister refused after the moves and the list unreadable: never reported as already applied", async () => {
    const b = await bot();
    const { stored, meta } = await requested(b, deregister(b, OTHER));
    fault(b, "deregister", { kind: "status", status: 400, body: { ERROR: "refused for the test" } });
    // The approval reads the model list 3 times before the deregister (re-check, plan, the deregister's
    // own read); the 4th read, "is it gone already?", fails (with the client's own re-tries of a read).
    fault(b, "list", { kind: "status", status: 500, body: { ERROR: "down" } }, { after: 3, times: 5 });
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toBe(
      "The characters moved, but the deregister did not go through, so acme-llm stays registered: Convai refused the request: refused for the test. 2 characters moved to `backup-llm`.",
    );
    expect(groups(b)).toContain(GROUP);
    expect(requestState(b, NOTIFY, stored.ts).state).toBe("failed");
  });
});
