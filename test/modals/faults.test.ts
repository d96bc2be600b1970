/**
 * Reliability rules (SPEC §6) against the REAL bot over HTTP: every fault the Convai sandbox can inject,
 * for register, update and deregister. Each case checks what the user is told (the ack, or the
 * views.update after the "working" view), how many mutation requests reached Convai (never a blind
 * re-send), what Convai holds afterwards, and that the bot keeps serving. Then SIGTERM with a change in
 * flight, and Slack's own failures.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Fault } from "../../src/convai/sandbox/index.js";
import { CALLBACK } from "../../src/slack/ids.js";
import { MANAGER, startTestBot, type TestBot } from "../helpers/bot.js";
import {
  input,
  type SlackHttpResponse,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";

const TIMEOUT_MS = 1000;
const BUDGET_MS = 300;
const GROUP = "fault-model";

type Op = "register" | "update" | "deregister";

function payloadFor(op: Op): object {
  const meta = JSON.stringify({ v: 1, origin: "command", ...(op === "register" ? {} : { group: GROUP }) });
  const common = { userId: MANAGER, privateMetadata: meta, viewId: "V0FAULT" };
  switch (op) {
    case "register":
      return viewSubmission({
        ...common,
        callbackId: CALLBACK.register,
        values: stateValues({
          model_group_name: input.text(GROUP),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("After"),
          api_key: input.text("sk-fault-0001"),
          base_url: input.url("https://llm.example.com/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      });
    case "update":
      return viewSubmission({
        ...common,
        callbackId: CALLBACK.update,
        values: stateValues({
          display_name: input.text("After"),
          base_url: input.url(null),
          api_key: input.text(null),
          is_uncensored: input.radio("keep"),
          verify: input.checkbox([]),
        }),
      });
    case "deregister":
      return viewSubmission({
        ...common,
        callbackId: CALLBACK.deregister,
        values: stateValues({ confirm_group_name: input.text(GROUP) }),
      });
  }
}

/** Did the change reach Convai's state? */
function applied(bot: TestBot, op: Op): boolean {
  const model = bot.sandbox.models().find((m) => m.model_group_name === GROUP);
  if (op === "deregister") return model === undefined;
  return model?.display_name === "After";
}

const SUCCESS_TITLE = {
  register: "Model registered",
  update: "Model updated",
  deregister: "Model deregistered",
};
const LOST_ANSWER = {
  register: "the list shows the model registered",
  update: "the list shows the update took effect",
  deregister: "the list shows the model deregistered",
};

/**
 * Sends a submission and returns what the user ends up seeing: the ack's view, or (after a "Working…"
 * view) the views.update that replaced it.
 */
async function submit(
  bot: TestBot,
  payload: object,
): Promise<{ ack: SlackHttpResponse; outcome: string; slow: boolean }> {
  const from = bot.fake.calls.length;
  const ack = await sendInteraction(bot.url, payload);
  expect(ack.status).toBe(200);
  if (!ack.text.includes("Working…")) return { ack, outcome: ack.text, slow: false };
  const update = await bot.fake.waitFor(
    "views.update",
    (c) => bot.fake.calls.indexOf(c) >= from && c.args.view_id === "V0FAULT",
    8000,
  );
  return { ack, outcome: JSON.stringify(update.args.view), slow: true };
}

let served = 0;
async function stillServing(bot: TestBot): Promise<void> {
  const help = await sendCommand(bot.url, { text: "help", responseUrl: bot.fake.responseUrl() });
  expect(help.status).toBe(200);
  expect(help.text).toContain("register");
  served += 1;
  const id = `after-${served}`;
  await sendCommand(bot.url, { text: "list", responseUrl: bot.fake.responseUrl(id) });
  const listed = await bot.fake.waitForResponse((r) => r.id === id);
  expect(listed.raw).not.toContain("Could not list");
}

/** Inside the back-off window: a list is answered at once with the rate-limit message, and not sent. */
async function heldBack(bot: TestBot): Promise<void> {
  const lists = () => bot.sandbox.requests.filter((r) => r.path.endsWith("/list")).length;
  const before = lists();
  served += 1;
  const id = `held-${served}`;
  await sendCommand(bot.url, { text: "list", responseUrl: bot.fake.responseUrl(id) });
  const listed = await bot.fake.waitForResponse((r) => r.id === id);
  expect(listed.raw).toMatch(/Could not list the custom LLMs\. Convai is rate limiting the bot/);
  expect(lists()).toBe(before);
}

interface Case {
  name: string;
  fault: Fault;
  /** What the user must be told. */
  says: RegExp;
  /** Did Convai end up changed? */
  changed: boolean;
  /** Mutation requests Convai received (a 429 that fits the deadline is retried once). */
  sent: number;
  /** The outcome must arrive through the working view and views.update. */
  slow?: boolean;
  transactionID?: string;
  /**
   * The 429 opens this replica's shared back-off window past the deadline (SPEC §12): the case runs on
   * a bot of its own, and afterwards a list is refused at once with the rate-limit message, unsent.
   */
  window?: true;
}

const CASES: Case[] = [
  {
    name: "500 with Convai's error body",
    fault: {
      kind: "status",
      status: 500,
      body: { status: "error", message: "Database exploded", transactionID: "tx-500-abc" },
    },
    says: /internal error \(Database exploded\), and the list shows nothing changed: it is safe to try again/,
    changed: false,
    sent: 1,
    transactionID: "tx-500-abc",
  },
  {
    name: "502 with an HTML page",
    fault: { kind: "status", status: 502, rawBody: "<html><body><h1>502 Bad Gateway</h1></body></html>" },
    says: /internal error \(HTTP 502: 502 Bad Gateway\).*nothing changed: it is safe to try again/,
    changed: false,
    sent: 1,
  },
  {
    name: "hang past the deadline, nothing applied",
    fault: { kind: "hang" },
    says: /did not answer in time, and the list shows nothing changed: it is safe to try again/,
    changed: false,
    sent: 1,
    slow: true,
  },
  {
    name: "connection reset, nothing applied",
    fault: { kind: "reset" },
    says: /connection to Convai broke, and the list shows nothing changed: it is safe to try again/,
    changed: false,
    sent: 1,
  },
  {
    name: "malformed body",
    fault: { kind: "malformed" },
    says: /answer could not be read, and the list shows nothing changed: it is safe to try again/,
    changed: false,
    sent: 1,
  },
  {
    name: "429 with a Retry-After beyond the deadline",
    fault: {
      kind: "status",
      status: 429,
      headers: { "Retry-After": "30" },
      body: { status: "error", message: "Too many requests", transactionID: "tx-429" },
    },
    says: /rate limiting the bot; it asked to wait 30 s\. Try again in a minute/,
    changed: false,
    sent: 1,
    transactionID: "tx-429",
    window: true,
  },
  {
    name: "429 without Retry-After",
    fault: { kind: "status", status: 429, body: { status: "error", message: "Slow down" } },
    says: /rate limiting the bot\. Try again in a minute/,
    changed: false,
    sent: 1,
    window: true,
  },
  {
    name: "429 with a Retry-After that fits the deadline: retried once",
    fault: {
      kind: "status",
      status: 429,
      headers: { "Retry-After": "0.1" },
      body: { status: "error", message: "x" },
    },
    says: /is (registered|updated|deregistered)/,
    changed: true,
    sent: 2,
  },
  {
    name: "applied, then hang past the deadline",
    fault: { kind: "apply-then-hang" },
    says: /Convai's answer was lost, but/,
    changed: true,
    sent: 1,
    slow: true,
  },
  {
    name: "applied, then connection reset",
    fault: { kind: "apply-then-reset" },
    says: /Convai's answer was lost, but/,
    changed: true,
    sent: 1,
  },
  {
    name: "400 refusal",
    fault: {
      kind: "status",
      status: 400,
      body: { status: "error", message: "Invalid field: x", transactionID: "tx-400" },
    },
    says: /Convai refused the request: Invalid field: x/,
    changed: false,
    sent: 1,
    transactionID: "tx-400",
  },
  {
    name: "401 (the bot's key)",
    fault: { kind: "status", status: 401, body: { ERROR: "Invalid API key" } },
    says: /refused the bot's API key: Invalid API key.*CONVAI_API_KEY/,
    changed: false,
    sent: 1,
  },
];

describe.each(["register", "update", "deregister"] as const)("Convai faults on %s", (op) => {
  let shared: TestBot;
  beforeAll(async () => {
    shared = await startTestBot({ timeoutMs: TIMEOUT_MS, submitBudgetMs: BUDGET_MS });
  });
  afterAll(() => shared.stop());
  afterEach(() => shared.sandbox.clearFaults());

  it.each(CASES)("$name", async (c) => {
    const bot = c.window ? await startTestBot({ timeoutMs: TIMEOUT_MS, submitBudgetMs: BUDGET_MS }) : shared;
    try {
      await runCase(bot, c);
    } finally {
      if (c.window) await bot.stop();
    }
  });

  async function runCase(bot: TestBot, c: Case): Promise<void> {
    await bot.sandbox.reset();
    if (op !== "register") {
      await bot.sandbox.seed([
        {
          model_group_name: GROUP,
          model_name: "gpt-4o-mini",
          display_name: "Before",
          api_key: "sk-fault-0000",
        },
      ]);
    }
    const path = `/llm-models/${op}`;
    const before = bot.sandbox.requests.length;
    const audits = () => bot.logLines().filter((l) => l.event === "audit");
    const auditedBefore = audits().length;
    bot.sandbox.inject({ endpoint: op, fault: c.fault });

    const { outcome, slow } = await submit(bot, payloadFor(op));

    expect(outcome).toMatch(c.says);
    if (c.changed) {
      expect(outcome).toContain(SUCCESS_TITLE[op]);
      if (c.fault.kind.startsWith("apply-then")) expect(outcome).toContain(LOST_ANSWER[op]);
    } else {
      expect(outcome).not.toContain(SUCCESS_TITLE[op]);
    }
    if (c.slow) expect(slow).toBe(true);
    if (c.transactionID) expect(outcome).toContain(`Convai transaction \`${c.transactionID}\``);
    const sent = bot.sandbox.requests.slice(before).filter((r) => r.path === path);
    expect(sent).toHaveLength(c.sent);
    expect(applied(bot, op)).toBe(c.changed);

    // Exactly one audit line, saying what happened.
    const audit = audits();
    expect(audit).toHaveLength(auditedBefore + 1);
    expect(audit.at(-1)).toMatchObject({
      action: op,
      group: GROUP,
      outcome: c.changed ? "succeeded" : expect.stringMatching(/^failed/),
    });

    if (c.window) await heldBack(bot);
    else await stillServing(bot);
  }
});

describe("an update whose effect the list cannot show", () => {
  it("a key-only rotation that times out is reported as unknown, never as done or as nothing changed", async () => {
    const bot = await startTestBot({ timeoutMs: TIMEOUT_MS, submitBudgetMs: BUDGET_MS });
    try {
      await bot.sandbox.seed([
        { model_group_name: GROUP, model_name: "m", display_name: "Before", api_key: "sk-old-0000" },
      ]);
      bot.sandbox.inject({ endpoint: "update", fault: { kind: "apply-then-hang" } });
      const payload = viewSubmission({
        callbackId: CALLBACK.update,
        userId: MANAGER,
        viewId: "V0FAULT",
        privateMetadata: JSON.stringify({ v: 1, group: GROUP }),
        values: stateValues({
          display_name: input.text("Before"),
          base_url: input.url(null),
          api_key: input.text("sk-new-0001"),
          is_uncensored: input.radio("keep"),
          verify: input.checkbox([]),
        }),
      });
      const { outcome } = await submit(bot, payload);
      expect(outcome).toMatch(
        /cannot show whether the update took effect.*Submitting the same update again is safe/,
      );
      expect(outcome).not.toMatch(/nothing changed|Model updated/);
    } finally {
      await bot.stop();
    }
  });

  it("with /custom-llm, whose list has no is_uncensored, a lost answer is unknown, not 'it took effect'", async () => {
    const bot = await startTestBot({
      timeoutMs: TIMEOUT_MS,
      submitBudgetMs: BUDGET_MS,
      prefix: "/custom-llm",
    });
    try {
      await bot.sandbox.seed([{ model_group_name: GROUP, model_name: "m", api_key: "sk-old-0000" }]);
      // Nothing is applied: a bot that judged from absent fields would claim success.
      bot.sandbox.inject({ endpoint: "update", fault: { kind: "hang" } });
      const payload = viewSubmission({
        callbackId: CALLBACK.update,
        userId: MANAGER,
        viewId: "V0FAULT",
        privateMetadata: JSON.stringify({ v: 1, group: GROUP }),
        values: stateValues({
          model_name: input.text("m"),
          base_url: input.url(null),
          api_key: input.text(null),
          is_uncensored: input.radio("true"),
          verify: input.checkbox([]),
        }),
      });
      const { outcome } = await submit(bot, payload);
      expect(outcome).toMatch(/cannot show whether the update took effect/);
      expect(outcome).not.toContain("Model updated");
      expect(bot.sandbox.requests.filter((r) => r.path === "/custom-llm/update")).toHaveLength(1);
    } finally {
      await bot.stop();
    }
  });
});

describe("SIGTERM", () => {
  it("stop() with a register in flight: the register completes, the user sees it, then stop resolves", async () => {
    const t = await startTestBot({ timeoutMs: 3000, submitBudgetMs: BUDGET_MS });
    try {
      t.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 800 } });
      const ack = await sendInteraction(t.url, payloadFor("register"));
      expect(ack.text).toContain("Working…");
      expect(t.bot.inFlight).toBe(1);

      let stopped = false;
      const stopping = t.bot.stop().then(() => {
        stopped = true;
      });
      // New requests are not taken while draining (the listener is closed, or answers 503).
      const late = await sendCommand(t.url, { text: "help", responseUrl: t.fake.responseUrl() }).then(
        (r) => r.status,
        () => "refused",
      );
      expect(late).not.toBe(200);
      expect(t.bot.healthy).toBe(false);
      expect(stopped).toBe(false);

      await stopping;
      expect(t.sandbox.models().map((m) => m.model_group_name)).toEqual([GROUP]);
      const shown = t.fake.callsTo("views.update").find((c) => c.args.view_id === "V0FAULT");
      expect(JSON.stringify(shown?.args.view)).toContain("Model registered");
      expect(t.bot.inFlight).toBe(0);
      expect(t.logLines().some((l) => l.event === "audit" && l.outcome === "succeeded")).toBe(true);
    } finally {
      await t.stop();
    }
  });

  it("the drain is bounded: a hung change does not hold stop() past drainMs", async () => {
    const t = await startTestBot({ timeoutMs: 10_000, submitBudgetMs: BUDGET_MS, drainMs: 300 });
    try {
      t.sandbox.inject({ endpoint: "register", fault: { kind: "hang" } });
      const ack = await sendInteraction(t.url, payloadFor("register"));
      expect(ack.text).toContain("Working…");
      const started = Date.now();
      await t.bot.stop();
      // drainMs plus the Convai pool's one-second grace; the hung call's own deadline is 10 s.
      expect(Date.now() - started).toBeLessThan(4000);
      expect(t.logLines().some((l) => String(l.msg).includes("still in flight"))).toBe(true);
    } finally {
      await t.stop();
    }
  });
});

describe("Slack faults", () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it("the channel notification fails: the change stands and the user is told, with Slack's error", async () => {
    bot = await startTestBot({ env: { CONVAI_NOTIFY_CHANNEL: "C0NOTIFY" } });
    bot.fake.on("chat.postMessage", () => ({ body: { ok: false, error: "not_in_channel" } }));
    const { outcome } = await submit(bot, payloadFor("register"));
    expect(outcome).toContain("Model registered");
    expect(outcome).toMatch(
      /The change stands, but the announcement in <#C0NOTIFY> failed \(Slack said `not_in_channel`\)/,
    );
    expect(applied(bot, "register")).toBe(true);
    const logged = bot.logLines().find((l) => l.error === "not_in_channel");
    expect(logged).toMatchObject({ level: 50, channel: "C0NOTIFY", action: "register", group: GROUP });
  });

  it("views.update fails after the working view: logged with context, the outcome sent as a DM; still serving", async () => {
    bot = await startTestBot({ submitBudgetMs: BUDGET_MS });
    bot.fake.on("views.update", () => ({ body: { ok: false, error: "not_found" } }));
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 600 } });
    const ack = await sendInteraction(bot.url, payloadFor("register"));
    expect(ack.text).toContain("Working…");
    await bot.fake.waitFor("views.update");
    const current = bot;
    await waitUntil(() =>
      current.logLines().some((l) => l.error === "not_found" && l.outcome === "succeeded"),
    );
    const line = bot.logLines().find((l) => l.error === "not_found");
    expect(line).toMatchObject({ level: 40, userId: MANAGER, modal: "register" });
    // The modal is gone, so the outcome goes to the user's DM with the bot.
    const dm = await bot.fake.waitFor("chat.postMessage", (c) => c.args.channel === MANAGER);
    expect(String(dm.args.text)).toContain("registered");
    expect(applied(bot, "register")).toBe(true);
    await stillServing(bot);
  });

  it("respond() fails: logged with context, still serving", async () => {
    bot = await startTestBot();
    bot.fake.onResponse(() => ({ status: 404, body: "no_such_response_url" }));
    await sendCommand(bot.url, { text: "list", responseUrl: bot.fake.responseUrl() });
    const current = bot;
    await waitUntil(() =>
      current.logLines().some((l) => String(l.msg).includes("Could not reply through response_url")),
    );
    const line = bot.logLines().find((l) => String(l.msg).includes("Could not reply through response_url"));
    expect(line).toMatchObject({ level: 50, command: "list" });
    bot.fake.onResponse(() => undefined);
    await stillServing(bot);
  });

  it("views.open fails: the user is told through respond(), with Slack's error", async () => {
    bot = await startTestBot();
    bot.fake.on("views.open", () => ({ body: { ok: false, error: "expired_trigger_id" } }));
    await sendCommand(bot.url, { text: "register x", userId: MANAGER, responseUrl: bot.fake.responseUrl() });
    const told = await bot.fake.waitForResponse();
    expect(String(told.body.text)).toContain("expired_trigger_id");
    expect(bot.sandbox.requests).toHaveLength(0);
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
