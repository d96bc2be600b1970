/**
 * Four-eyes approval end to end (SPEC §13): the real bot on its HTTP receiver, the fake Slack (which keeps
 * the channel's messages and their metadata) and the Convai sandbox over real HTTP.
 */
import { afterEach, describe, expect, it } from "vitest";
import { charactersDigest, createSealer, type PendingChange } from "../../src/approvals/seal.js";
import { CHECKED_VALUE } from "../../src/slack/ids.js";
import { press as pressRequest, requestMeta } from "../helpers/approvals.js";
import {
  everythingSent,
  MANAGER,
  MEMBER,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "../helpers/bot.js";
import { input, sendInteraction, stateValues, viewSubmission } from "../helpers/slack-requests.js";
import { ackSchema } from "../helpers/views.js";

const SECOND = "U0SECOND";
const NOTIFY = "C0NOTIFY";
const SECRET = "approval-secret-for-tests-0123456789abcdef";
const MODEL_KEY = "sk-model-APPROVAL-SECRET-5e1f";
const META = JSON.stringify({ v: 1, origin: "command", channelId: "C0CHAN" });

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function bot(
  env: Record<string, string> = {},
  options: Pick<TestBotOptions, "lookup"> = {},
): Promise<TestBot> {
  t = await startTestBot({
    ...options,
    env: {
      CONVAI_MANAGERS: `${MANAGER},${SECOND}`,
      CONVAI_NOTIFY_CHANNEL: NOTIFY,
      CONVAI_REQUIRE_APPROVAL: "true",
      CONVAI_APPROVAL_SECRET: SECRET,
      ...env,
    },
  });
  t.fake.users.set(SECOND, { name: "second" });
  return t;
}

const mutations = (b: TestBot) => b.sandbox.requests.filter((r) => !r.path.endsWith("/list"));
const notifyMessages = (b: TestBot) => b.fake.messages.get(NOTIFY) ?? [];

function registerValues(group = "acme-llama", verify = false, baseUrl = "https://llm.acme.example/v1") {
  return stateValues({
    model_group_name: input.text(group),
    model_name: input.text("llama-3"),
    display_name: input.text("Acme Llama"),
    api_key: input.text(MODEL_KEY),
    base_url: input.url(baseUrl),
    is_uncensored: input.checkbox([]),
    verify: input.checkbox(verify ? [CHECKED_VALUE] : []),
  });
}

/** Submits a register as MANAGER and returns the request message the bot posted. */
async function requestRegister(b: TestBot, group = "acme-llama", baseUrl?: string) {
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      callbackId: "convai_llm_register",
      values: registerValues(group, false, baseUrl),
      privateMetadata: META,
      userId: MANAGER,
    }),
  );
  expect(res.status).toBe(200);
  const ack = ackSchema.parse(res.json);
  const post = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
  const stored = notifyMessages(b).at(-1);
  if (!stored) throw new Error("no request message stored");
  const meta = requestMeta.parse(stored.metadata).event_payload;
  return { ack, post, stored, meta };
}

/** A press as SECOND unless told otherwise, on a request in NOTIFY. */
const press = (
  b: TestBot,
  ts: string,
  requestId: string,
  opts: { userId?: string; teamId?: string; decision?: "approve" | "reject" } = {},
) => pressRequest(b, NOTIFY, ts, requestId, { userId: SECOND, ...opts });

const stateOf = (b: TestBot, ts: string) =>
  requestMeta.parse(notifyMessages(b).find((m) => m.ts === ts)?.metadata).event_payload;
const blocksOf = (b: TestBot, ts: string) =>
  JSON.stringify(notifyMessages(b).find((m) => m.ts === ts)?.blocks);

describe("approval requests", () => {
  it("posts a request instead of registering, tells the requester with a link, and never shows the key", async () => {
    const b = await bot();
    const { ack, post, meta } = await requestRegister(b);
    expect(ack.response_action).toBe("update");
    const shown = JSON.stringify(ack.view);
    expect(shown).toContain("awaits another manager");
    expect(shown).toContain(`https://test.slack.com/archives/${NOTIFY}/p`);
    expect(mutations(b)).toHaveLength(0);
    const blocks = JSON.stringify(post.args.blocks);
    expect(blocks).toContain("new key supplied");
    expect(blocks).toContain(`<@${MANAGER}>`);
    expect(blocks).toContain("convai_approval_approve");
    expect(meta.state).toBe("pending");
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
  });

  it("applies once on another manager's approval, updates the message, and answers a second press", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(/^Applied/);
    const sent = mutations(b);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.path).toBe("/llm-models/register");
    expect(sent[0]?.body).toMatchObject({
      model_group_name: "acme-llama",
      model_name: "llama-3",
      api_key: MODEL_KEY,
    });
    const state = stateOf(b, stored.ts);
    expect(state).toMatchObject({ state: "approved", decided_by: SECOND });
    expect(state.sealed).toBeUndefined();
    expect(blocksOf(b, stored.ts)).toContain(`Approved by <@${SECOND}>`);
    expect(blocksOf(b, stored.ts)).not.toContain("convai_approval_approve");
    // The ordinary notification went out too.
    expect(notifyMessages(b).some((m) => m.text.includes("registered"))).toBe(true);

    // Read from the message's state before anything else, so even the requester gets this answer.
    const again = await press(b, stored.ts, meta.request_id, { userId: MANAGER });
    expect(again).toContain(`already approved by <@${SECOND}>`);
    expect(mutations(b)).toHaveLength(1);
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
  });

  it("refuses the requester, a non-manager and another workspace, sending nothing", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    expect(await press(b, stored.ts, meta.request_id, { userId: MANAGER })).toContain(
      "another manager must approve",
    );
    expect(await press(b, stored.ts, meta.request_id, { userId: MEMBER })).toMatch(/^Only a manager/);
    expect(await press(b, stored.ts, meta.request_id, { teamId: "T0OTHER" })).toContain("another workspace");
    expect(mutations(b)).toHaveLength(0);
    expect(stateOf(b, stored.ts).state).toBe("pending");
  });

  it("refuses a tampered payload and a payload from another request, and says so in the message", async () => {
    const b = await bot();
    const first = await requestRegister(b, "acme-one");
    const second = await requestRegister(b, "acme-two");
    const sealed = first.meta.sealed ?? "";
    const flipped = `${sealed.slice(0, 30)}${sealed[30] === "A" ? "B" : "A"}${sealed.slice(31)}`;
    const edit = (ts: string, s: string) => {
      const m = notifyMessages(b).find((x) => x.ts === ts);
      const parsed = requestMeta.parse(m?.metadata);
      if (m) m.metadata = { ...parsed, event_payload: { ...parsed.event_payload, sealed: s } };
    };
    edit(first.stored.ts, flipped);
    expect(await press(b, first.stored.ts, first.meta.request_id)).toContain("cannot be read");
    edit(second.stored.ts, sealed);
    expect(await press(b, second.stored.ts, second.meta.request_id)).toContain("cannot be read");
    expect(mutations(b)).toHaveLength(0);
    expect(stateOf(b, first.stored.ts).state).toBe("unreadable");
    expect(blocksOf(b, second.stored.ts)).toContain("CONVAI_APPROVAL_SECRET changed");
  });

  it("shows an update as before → after from Convai's list, and applies it on approval", async () => {
    const b = await bot();
    await b.sandbox.seed([
      {
        model_group_name: "acme-llama",
        model_name: "llama-3",
        display_name: "Old",
        base_url: "https://x.example/v1",
        is_uncensored: false,
        api_key: "k-old",
      },
    ]);
    const res = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: "convai_llm_update",
        values: stateValues({
          display_name: input.text("New"),
          base_url: input.url(""),
          api_key: input.text(MODEL_KEY),
          is_uncensored: input.radio("keep"),
          verify: input.checkbox([]),
        }),
        privateMetadata: JSON.stringify({ v: 1, group: "acme-llama" }),
        userId: MANAGER,
      }),
    );
    expect(res.status).toBe(200);
    const post = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
    const blocks = JSON.stringify(post.args.blocks);
    expect(blocks).toContain("`Old` → `New`");
    expect(blocks).toContain("`api_key`: new key supplied");
    const stored = notifyMessages(b).at(-1);
    const meta = requestMeta.parse(stored?.metadata).event_payload;
    expect(await press(b, stored?.ts ?? "", meta.request_id)).toMatch(/^Applied/);
    expect(mutations(b).map((r) => [r.path, r.body])).toEqual([
      ["/llm-models/update", { model_group_name: "acme-llama", display_name: "New", api_key: MODEL_KEY }],
    ]);
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
  });

  it("refuses a press whose button names another request", async () => {
    const b = await bot();
    const { stored } = await requestRegister(b);
    expect(await press(b, stored.ts, "not-this-request")).toContain("not an approval request");
    expect(mutations(b)).toHaveLength(0);
  });

  it("answers an expired request, and one sealed under an older secret, without crashing", async () => {
    const b = await bot();
    const change: PendingChange = {
      kind: "deregister",
      requester: { userId: MANAGER, teamId: "T0TEST" },
      group: "acme-old",
      before: { model_name: "m" },
      characters: charactersDigest([]),
    };
    const plant = (envelope: { id: string; expiresAt: number; sealed: string }, ts: string) => {
      b.fake.messages.set(NOTIFY, [
        ...notifyMessages(b),
        {
          ts,
          text: "request",
          metadata: {
            event_type: "convai_llm_request",
            event_payload: {
              request_id: envelope.id,
              expires_at: envelope.expiresAt,
              sealed: envelope.sealed,
              state: "pending",
              action: "deregister",
              group: "acme-old",
              requester: MANAGER,
            },
          },
        },
      ]);
    };
    const old = createSealer(SECRET, 60_000).seal(change, Date.now() - 120_000);
    plant(old, "1600000000.000100");
    expect(await press(b, "1600000000.000100", old.id)).toContain("expired");
    expect(stateOf(b, "1600000000.000100").state).toBe("expired");
    const rotated = createSealer(`${SECRET}-before-rotation`, 60_000).seal(change);
    plant(rotated, "1600000000.000200");
    expect(await press(b, "1600000000.000200", rotated.id)).toContain("CONVAI_APPROVAL_SECRET changed");
    expect(mutations(b)).toHaveLength(0);
  });

  it("rejects: the message says so and nothing reaches Convai", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    expect(await press(b, stored.ts, meta.request_id, { decision: "reject" })).toContain("Rejected");
    expect(stateOf(b, stored.ts)).toMatchObject({ state: "rejected", decided_by: SECOND });
    expect(blocksOf(b, stored.ts)).toContain(`Rejected by <@${SECOND}>`);
    expect(await press(b, stored.ts, meta.request_id)).toContain(`already rejected by <@${SECOND}>`);
    expect(mutations(b)).toHaveLength(0);
  });

  it("tells the truth when Convai refuses the approved change", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    b.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 422, body: { error: "model_name is not supported" } },
    });
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(/^Not applied/);
    expect(mutations(b)).toHaveLength(1);
    expect(stateOf(b, stored.ts).state).toBe("failed");
    expect(blocksOf(b, stored.ts)).toContain("Not applied");
  });

  it("reports a change already in place (the race between replicas) as already applied", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    await b.sandbox.seed([
      {
        model_group_name: "acme-llama",
        model_name: "llama-3",
        display_name: "Acme Llama",
        base_url: "https://llm.acme.example/v1",
        is_uncensored: false,
        api_key: MODEL_KEY,
      },
    ]);
    expect(await press(b, stored.ts, meta.request_id)).toContain("Already applied");
    expect(mutations(b)).toHaveLength(0);
  });

  it("reports a register that meets another replica's (409) as already applied, never as a failure", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    b.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 409, body: { error: "model_group_name acme-llama already exists" } },
    });
    expect(await press(b, stored.ts, meta.request_id)).toContain("Already applied");
    expect(mutations(b)).toHaveLength(1);
    expect(stateOf(b, stored.ts)).toMatchObject({ state: "approved", decided_by: SECOND });
  });

  it("answers a second press while the first is being applied, and applies once", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 600 } });
    const first = press(b, stored.ts, meta.request_id);
    await b.fake.waitFor("chat.update", (c) => JSON.stringify(c.args.metadata).includes('"applying"'));
    const second = await press(b, stored.ts, meta.request_id, { userId: MANAGER });
    expect(second).toContain(`is being applied by <@${SECOND}>`);
    expect(await first).toMatch(/^Applied/);
    expect(mutations(b)).toHaveLength(1);
  });

  it("says when the model changed since the request, and applies nothing", async () => {
    const b = await bot();
    await b.sandbox.seed([
      {
        model_group_name: "acme-llama",
        model_name: "other-model",
        base_url: "https://x.example/v1",
        is_uncensored: false,
        api_key: "k",
      },
    ]);
    const res = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: "convai_llm_deregister",
        values: stateValues({ confirm_group_name: input.text("acme-llama") }),
        privateMetadata: JSON.stringify({ v: 1, group: "acme-llama" }),
        userId: MANAGER,
      }),
    );
    expect(res.status).toBe(200);
    await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY);
    const stored = notifyMessages(b).at(-1);
    const meta = requestMeta.parse(stored?.metadata).event_payload;
    await b.sandbox.seed([
      {
        model_group_name: "acme-llama",
        model_name: "changed-model",
        base_url: "https://x.example/v1",
        is_uncensored: false,
        api_key: "k",
      },
    ]);
    expect(await press(b, stored?.ts ?? "", meta.request_id)).toContain("changed since the request");
    expect(mutations(b)).toHaveLength(0);
  });

  it("keeps the change when Slack cannot update the request message, and tells the approver", async () => {
    const b = await bot();
    const { stored, meta } = await requestRegister(b);
    b.fake.on("chat.update", (args) => {
      const state = requestMeta.safeParse(args.metadata);
      return state.success && state.data.event_payload.state !== "applying"
        ? { body: { ok: false, error: "internal_error" } }
        : undefined;
    });
    const answer = await press(b, stored.ts, meta.request_id);
    expect(answer).toMatch(/^Applied/);
    expect(answer).toContain("could not be updated, but the outcome above stands");
    expect(mutations(b)).toHaveLength(1);
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
  });
});

describe("a request checks, shows and seals the change as a direct change would", () => {
  it("a pasted endpoint suffix is dropped once: the request shows and Convai gets the same base URL", async () => {
    const b = await bot();
    // Normalising twice would also drop "/models", the next known suffix.
    const { stored, meta } = await requestRegister(
      b,
      "acme-llama",
      "https://llm.acme.example/v1/models/chat/completions",
    );
    expect(JSON.stringify(stored.blocks)).toContain("https://llm.acme.example/v1/models`");
    await press(b, stored.ts, meta.request_id);
    const sent = mutations(b).find((r) => r.path.endsWith("/register"));
    expect(sent?.body).toMatchObject({ base_url: "https://llm.acme.example/v1/models" });
  });

  it("a base URL's query string is shown as ?… in the request and kept out of its clear metadata", async () => {
    const b = await bot();
    const query = "api-version=2024-06-01&sig=QUERY-SECRET-9f8e";
    const { stored, meta } = await requestRegister(b, "acme-llama", `https://llm.acme.example/v1?${query}`);
    expect(JSON.stringify(stored.blocks)).toContain("https://llm.acme.example/v1?…");
    const clear = JSON.stringify({ ...meta, sealed: undefined });
    expect(clear).not.toContain("QUERY-SECRET");
    expect(JSON.stringify(stored.blocks)).not.toContain("QUERY-SECRET");
    await press(b, stored.ts, meta.request_id);
    // The full URL still goes to Convai, where it is used.
    expect(mutations(b).find((r) => r.path.endsWith("/register"))?.body).toMatchObject({
      base_url: `https://llm.acme.example/v1?${query}`,
    });
  });

  it("a host resolving to a private address, endpoint test unchecked: refused on base_url, no request", async () => {
    const lookup = async () => [{ address: "10.1.2.3", family: 4 as const }];
    const b = await bot({ CONVAI_ALLOW_PRIVATE_URLS: "false" }, { lookup });
    const res = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: "convai_llm_register",
        values: registerValues("acme-llama", false, "https://llm.acme.example/v1"),
        privateMetadata: META,
        userId: MANAGER,
      }),
    );
    const ack = ackSchema.parse(res.json);
    expect(ack.response_action).toBe("errors");
    expect(ack.errors).toEqual({
      base_url:
        "llm.acme.example resolves to 10.1.2.3; Convai's servers cannot reach private, loopback or link-local addresses",
    });
    expect(notifyMessages(b)).toEqual([]);
    expect(mutations(b)).toEqual([]);
  });
});

describe("env: keys under approval (SPEC §5)", () => {
  const values = (base: string) =>
    stateValues({
      model_group_name: input.text("env-llama"),
      model_name: input.text("llama-3"),
      display_name: input.text("Env Llama"),
      api_key: input.text("env:CONVAI_SECRET_GATEWAY"),
      base_url: input.url(base),
      is_uncensored: input.checkbox([]),
      verify: input.checkbox([]),
    });
  const submit = async (b: TestBot, base: string) => {
    const res = await sendInteraction(
      b.url,
      viewSubmission({
        callbackId: "convai_llm_register",
        values: values(base),
        privateMetadata: META,
        userId: MANAGER,
      }),
    );
    expect(res.status).toBe(200);
    return ackSchema.parse(res.json);
  };
  const ENV = {
    CONVAI_SECRET_GATEWAY: "sk-gateway-APPROVAL-77aa",
    CONVAI_SECRET_GATEWAY_HOSTS: "llm.acme.example",
  };

  it("a secret sent to a host its list does not name is refused on api_key: no request posted", async () => {
    const b = await bot(ENV);
    const ack = await submit(b, "https://attacker.example/v1");
    expect(ack.response_action).toBe("errors");
    expect(JSON.stringify(ack)).toContain("CONVAI_SECRET_GATEWAY");
    expect(notifyMessages(b)).toHaveLength(0);
    expect(mutations(b)).toHaveLength(0);
  });

  it("a listed host is requested, the seal carries the reference, and the approved change is applied", async () => {
    const b = await bot(ENV);
    const { meta, stored } = await submit(b, "https://llm.acme.example/v1").then(async () => {
      const last = notifyMessages(b).at(-1);
      if (!last) throw new Error("no request message");
      return { meta: requestMeta.parse(last.metadata).event_payload, stored: last };
    });
    await press(b, stored.ts, meta.request_id);
    await b.fake.waitFor("chat.update", (c) => JSON.stringify(c.args).includes("env-llama"));
    expect(mutations(b).map((r) => r.path)).toEqual(["/llm-models/register"]);
    // The secret's value reached Convai and nothing else.
    expect(JSON.stringify(everythingSent(b))).not.toContain(ENV.CONVAI_SECRET_GATEWAY);
  });
});
