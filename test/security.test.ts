/**
 * Security rules (SPEC §5) against the REAL bot over HTTP: signed requests only, who may change models
 * on every surface, team allowlist, hostile input in every field, secrets that never leave, the audit
 * line, and malformed payloads. Assertions are on what the user sees (acks, views, response_url posts,
 * channel messages) and on what reached Convai (sandbox.requests).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { ProbeFn } from "../src/domain/outcome.js";
import { ACTION, CALLBACK, CHECKED_VALUE } from "../src/slack/ids.js";
import { escapeMrkdwn } from "../src/slack/text.js";
import {
  CONVAI_KEY,
  everythingSent,
  MANAGER,
  MEMBER,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "./helpers/bot.js";
import {
  appHomeOpened,
  blockAction,
  DEFAULTS,
  input,
  postSigned,
  type SignOpts,
  type SlackHttpResponse,
  sendCommand,
  sendEvent,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "./helpers/slack-requests.js";

// ---- harness -------------------------------------------------------------------------------------

let t: TestBot | undefined;
/** Every HTTP response the bot gave in the current test. */
let acks: SlackHttpResponse[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await t?.stop();
  t = undefined;
  acks = [];
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function boot(options: TestBotOptions = {}): Promise<TestBot> {
  t = await startTestBot(options);
  return t;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Follows a path of keys and indexes through parsed JSON. */
function dig(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === "number") current = Array.isArray(current) ? current[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

async function command(
  bot: TestBot,
  text: string,
  opts: { userId?: string; teamId?: string; enterpriseId?: string } = {},
  sign?: SignOpts,
) {
  const res = await sendCommand(bot.url, { text, responseUrl: bot.fake.responseUrl(), ...opts }, sign);
  acks.push(res);
  return res;
}

async function interact(bot: TestBot, payload: object, sign?: SignOpts) {
  const res = await sendInteraction(bot.url, payload, sign);
  acks.push(res);
  return res;
}

/**
 * Sends a submission and returns what the user ends up seeing: the ack's view, or (after a "Working…"
 * view) the views.update that replaced it. Machine load decides the path unless a test forces it.
 */
async function submit(
  bot: TestBot,
  payload: object,
): Promise<{ ack: SlackHttpResponse; outcome: string; slow: boolean }> {
  const from = bot.fake.calls.length;
  const ack = await interact(bot, payload);
  const viewId = String(dig(payload, "view", "id"));
  if (!ack.text.includes("Working…")) return { ack, outcome: ack.text, slow: false };
  const update = await bot.fake.waitFor(
    "views.update",
    (c) => bot.fake.calls.indexOf(c) >= from && c.args.view_id === viewId,
    8000,
  );
  return { ack, outcome: JSON.stringify(update.args.view), slow: true };
}

const META = JSON.stringify({ v: 1, origin: "command" });
const metaFor = (group: string) => JSON.stringify({ v: 1, group, origin: "command" });

interface RegisterFields {
  group: string;
  model?: string;
  display?: string;
  key?: string;
  url?: string;
  verify?: boolean;
  uncensored?: boolean;
}

function registerValues(f: RegisterFields) {
  return stateValues({
    model_group_name: input.text(f.group),
    model_name: input.text(f.model ?? "gpt-4o-mini"),
    display_name: input.text(f.display ?? null),
    api_key: input.text(f.key ?? "sk-model-plain-0001"),
    base_url: input.url(f.url ?? "https://llm.example.com/v1"),
    is_uncensored: input.checkbox(f.uncensored ? [CHECKED_VALUE] : []),
    verify: input.checkbox(f.verify ? [CHECKED_VALUE] : []),
  });
}

function registerPayload(
  f: RegisterFields & { userId?: string; teamId?: string; enterpriseId?: string; meta?: string },
) {
  return viewSubmission({
    callbackId: CALLBACK.register,
    userId: f.userId ?? MANAGER,
    ...(f.teamId ? { teamId: f.teamId } : {}),
    ...(f.enterpriseId ? { enterpriseId: f.enterpriseId } : {}),
    privateMetadata: f.meta ?? META,
    values: registerValues(f),
  });
}

interface UpdateFields {
  group: string;
  display?: string;
  url?: string;
  key?: string;
  uncensored?: "keep" | "true" | "false";
  verify?: boolean;
  userId?: string;
  meta?: string;
  viewId?: string;
}

function updatePayload(f: UpdateFields) {
  return viewSubmission({
    callbackId: CALLBACK.update,
    userId: f.userId ?? MANAGER,
    privateMetadata: f.meta ?? metaFor(f.group),
    ...(f.viewId ? { viewId: f.viewId } : {}),
    values: stateValues({
      display_name: input.text(f.display ?? null),
      base_url: input.url(f.url ?? null),
      api_key: input.text(f.key ?? null),
      is_uncensored: input.radio(f.uncensored ?? "keep"),
      verify: input.checkbox(f.verify ? [CHECKED_VALUE] : []),
    }),
  });
}

function deregisterPayload(group: string, opts: { userId?: string; meta?: string } = {}) {
  return viewSubmission({
    callbackId: CALLBACK.deregister,
    userId: opts.userId ?? MANAGER,
    privateMetadata: opts.meta ?? metaFor(group),
    values: stateValues({ confirm_group_name: input.text(group) }),
  });
}

const MUTATION = /\/(register|update|deregister)$/;
/** Requests that could change something at Convai. */
const mutations = (bot: TestBot) => bot.sandbox.requests.filter((r) => MUTATION.test(r.path));

async function seed(bot: TestBot, group: string, extra: { display_name?: string; base_url?: string } = {}) {
  await bot.sandbox.seed([
    { model_group_name: group, model_name: "seeded-model", api_key: "sk-seeded-0000", ...extra },
  ]);
}

/** Every mrkdwn text in a JSON value: `{type: "mrkdwn", text}` objects anywhere inside it. */
function mrkdwnIn(value: unknown, out: string[]): string[] {
  if (Array.isArray(value)) {
    for (const v of value) mrkdwnIn(v, out);
  } else if (isRecord(value)) {
    if (value.type === "mrkdwn" && typeof value.text === "string") out.push(value.text);
    for (const v of Object.values(value)) mrkdwnIn(v, out);
  }
  return out;
}

/** A message's own `text` is mrkdwn too (the notification fallback, respond() and command acks). */
function messageTexts(message: unknown): string[] {
  const out = mrkdwnIn(message, []);
  const text = dig(message, "text");
  if (typeof text === "string") out.push(text);
  return out;
}

interface Surface {
  where: string;
  text: string;
}

/** How far each source of outgoing text had got: pass it to everyMrkdwn to see only what came after. */
interface Mark {
  calls: number;
  responses: number;
  acks: number;
}
const markOf = (bot: TestBot): Mark => ({
  calls: bot.fake.calls.length,
  responses: bot.fake.responses.length,
  acks: acks.length,
});

/** Every mrkdwn text that left the bot (since `from`): Web API calls, response_url posts and HTTP acks. */
function everyMrkdwn(bot: TestBot, from: Mark = { calls: 0, responses: 0, acks: 0 }): Surface[] {
  const out: Surface[] = [];
  for (const call of bot.fake.calls.slice(from.calls)) {
    const texts = call.method.startsWith("chat.") ? messageTexts(call.args) : mrkdwnIn(call.args, []);
    for (const text of texts) out.push({ where: call.method, text });
  }
  for (const post of bot.fake.responses.slice(from.responses)) {
    for (const text of messageTexts(post.body)) out.push({ where: "response_url", text });
  }
  for (const ack of acks.slice(from.acks)) {
    for (const text of messageTexts(ack.json)) out.push({ where: "ack", text });
  }
  return out;
}

// ---- 1. signatures ---------------------------------------------------------------------------------

describe("Slack request signatures", () => {
  it("a bad signature or a timestamp over 5 minutes old gets 401 and touches nothing", async () => {
    const bot = await boot();
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    const forged: SignOpts[] = [{ secret: "not-the-signing-secret" }, { timestamp: stale }];
    for (const sign of forged) {
      const cmd = await command(bot, "register forged", { userId: MANAGER }, sign);
      expect(cmd.status).toBe(401);
      const sub = await interact(bot, registerPayload({ group: "forged" }), sign);
      expect(sub.status).toBe(401);
      const list = await command(bot, "list", {}, sign);
      expect(list.status).toBe(401);
    }
    // A missing signature header as well.
    const bare = await postSigned(
      bot.url,
      "command=%2Fconvai-llm&text=help",
      "application/x-www-form-urlencoded",
      {
        headers: { "X-Slack-Signature": "" },
      },
    );
    expect(bare.status).toBe(401);

    expect(bot.sandbox.requests).toHaveLength(0);
    expect(bot.fake.calls).toHaveLength(0);
    expect(bot.fake.responses).toHaveLength(0);
    expect(bot.sandbox.models()).toEqual([]);

    // The same requests, signed properly, do act: what the 401 prevented was real.
    expect((await command(bot, "register forged", { userId: MANAGER })).status).toBe(200);
    await bot.fake.waitFor("views.open");
    expect((await submit(bot, registerPayload({ group: "forged" }))).outcome).toContain("Model registered");
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["forged"]);
  });
});

// ---- 2. who may change models ------------------------------------------------------------------------

describe("only managers change models, on every surface", () => {
  it("a non-manager's register/update/deregister command gets an ephemeral refusal naming who grants access", async () => {
    const bot = await boot();
    await seed(bot, "live");
    for (const sub of ["register new-one", "update live", "deregister live"]) {
      const res = await command(bot, sub, { userId: MEMBER });
      expect(res.status).toBe(200);
      const reply = await bot.fake.waitForResponse((r) =>
        JSON.stringify(r.body).includes("Convai LLM managers"),
      );
      expect(reply.body.response_type).toBe("ephemeral");
      expect(String(reply.body.text)).toContain(`<@${MANAGER}>`);
      expect(String(reply.body.text)).toMatch(/Ask one of them for access/);
      bot.fake.responses.length = 0;
    }
    expect(bot.fake.callsTo("views.open")).toHaveLength(0);
    expect(bot.sandbox.requests).toHaveLength(0);

    // The same commands from a manager do open the modals.
    await command(bot, "deregister live", { userId: MANAGER });
    const opened = await bot.fake.waitFor("views.open");
    expect(dig(opened.args, "view", "callback_id")).toBe(CALLBACK.deregister);
  });

  it("a forged view submission from a non-manager changes nothing at Convai", async () => {
    const bot = await boot();
    await seed(bot, "live");
    const forged = [
      registerPayload({ group: "sneaky", userId: MEMBER }),
      updatePayload({ group: "live", display: "Pwned", key: "sk-attacker-0000", userId: MEMBER }),
      deregisterPayload("live", { userId: MEMBER }),
    ];
    for (const payload of forged) {
      const res = await interact(bot, payload);
      expect(res.status).toBe(200);
      expect(dig(res.json, "response_action")).toBe("update");
      const shown = JSON.stringify(dig(res.json, "view"));
      expect(shown).toContain("Not allowed");
      expect(shown).toContain("Only Convai LLM managers — <@U0MANAGER> —");
    }
    expect(bot.sandbox.requests).toHaveLength(0);
    expect(bot.sandbox.models()).toMatchObject([{ model_group_name: "live", display_name: "live" }]);
    expect(bot.sandbox.keyFingerprint("live")).toBe(fingerprint("sk-seeded-0000"));
    const refusals = bot.logLines().filter((l) => l.event === "refused" && l.userId === MEMBER);
    expect(refusals).toHaveLength(3);
  });

  it("a forged overflow 'deregister' from a member is refused; the same click from a manager opens the modal", async () => {
    const bot = await boot();
    await seed(bot, "live");
    const click = (userId: string, responseUrl: string) =>
      blockAction({
        actionId: ACTION.modelOverflow,
        blockId: "model:live",
        selectedOptionValue: "deregister",
        userId,
        responseUrl,
      });
    const res = await interact(bot, click(MEMBER, bot.fake.responseUrl("member")));
    expect(res.status).toBe(200);
    const refusal = await bot.fake.waitForResponse((r) => r.id === "member");
    expect(refusal.body).toMatchObject({ response_type: "ephemeral", replace_original: false });
    expect(String(refusal.body.text)).toContain(`<@${MANAGER}>`);
    expect(bot.fake.callsTo("views.open")).toHaveLength(0);

    // From the App Home (a view container) the refusal is a modal without a form.
    await interact(
      bot,
      blockAction({
        actionId: ACTION.modelOverflow,
        blockId: "model:live",
        selectedOptionValue: "update",
        userId: MEMBER,
        viewId: "V0HOME",
      }),
    );
    const modal = await bot.fake.waitFor("views.open");
    expect(JSON.stringify(modal.args.view)).toContain("Not allowed");
    expect(dig(modal.args, "view", "submit")).toBeUndefined();
    expect(bot.sandbox.requests).toHaveLength(0);

    bot.fake.calls.length = 0;
    await interact(bot, click(MANAGER, bot.fake.responseUrl("manager")));
    const opened = await bot.fake.waitFor("views.update", (c) =>
      JSON.stringify(c.args.view).includes("confirm_group_name"),
    );
    expect(dig(opened.args, "view", "callback_id")).toBe(CALLBACK.deregister);
    expect(mutations(bot)).toHaveLength(0);
    expect(bot.sandbox.models()).toHaveLength(1);
  });
});

// ---- 3. allowed teams --------------------------------------------------------------------------------

describe("CONVAI_ALLOWED_TEAMS", () => {
  it("refuses every request from a team outside the list, help and list included", async () => {
    const bot = await boot({ env: { CONVAI_ALLOWED_TEAMS: "T0ALLOWED,E0GRID" } });
    await seed(bot, "live");
    // DEFAULTS.teamId (T0TEST) is not listed.
    for (const text of ["help", "list", "register x"]) {
      const res = await command(bot, text, { userId: MANAGER });
      expect(res.status).toBe(200);
      expect(dig(res.json, "response_type")).toBe("ephemeral");
      expect(String(dig(res.json, "text"))).toMatch(/not allowed.*CONVAI_ALLOWED_TEAMS/);
    }
    const sub = await interact(bot, registerPayload({ group: "outsider" }));
    expect(JSON.stringify(dig(sub.json, "view"))).toContain("CONVAI_ALLOWED_TEAMS");
    const upd = await interact(bot, deregisterPayload("live"));
    expect(JSON.stringify(dig(upd.json, "view"))).toContain("CONVAI_ALLOWED_TEAMS");
    await interact(
      bot,
      blockAction({
        actionId: ACTION.modelOverflow,
        blockId: "model:live",
        selectedOptionValue: "deregister",
        userId: MANAGER,
        responseUrl: bot.fake.responseUrl("btn"),
      }),
    );
    const refused = await bot.fake.waitForResponse((r) => r.id === "btn");
    expect(String(refused.body.text)).toContain("CONVAI_ALLOWED_TEAMS");

    expect(bot.sandbox.requests).toHaveLength(0);
    expect(bot.fake.callsTo("views.open")).toHaveLength(0);
    expect(bot.fake.callsTo("users.info")).toHaveLength(0);
    expect(
      bot.logLines().filter((l) => String(l.msg).includes("outside CONVAI_ALLOWED_TEAMS")).length,
    ).toBeGreaterThanOrEqual(6);
  });

  it("serves a listed team, and any workspace of a listed Enterprise Grid org", async () => {
    const bot = await boot({ env: { CONVAI_ALLOWED_TEAMS: "T0ALLOWED,E0GRID" } });
    const help = await command(bot, "help", { teamId: "T0ALLOWED" });
    expect(String(dig(help.json, "text"))).toContain("register");

    const grid = { teamId: "T0WORKSPACE9", enterpriseId: "E0GRID" };
    const gridHelp = await command(bot, "help", grid);
    expect(String(dig(gridHelp.json, "text"))).toContain("register");
    const sub = await submit(bot, registerPayload({ group: "grid-model", ...grid }));
    expect(sub.outcome).toContain("Model registered");
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["grid-model"]);

    // Same enterprise id spelled as another org: refused.
    const other = await command(bot, "help", { teamId: "T0WORKSPACE9", enterpriseId: "E0OTHER" });
    expect(String(dig(other.json, "text"))).toContain("CONVAI_ALLOWED_TEAMS");
  });
});

describe("CONVAI_ALLOWED_TEAMS judges the acting user's own team (issue 16 item 7)", () => {
  it("a user of an excluded workspace acting in an allowed install is refused: no read, no change", async () => {
    const bot = await boot({ env: { CONVAI_ALLOWED_TEAMS: "T0ALLOWED,E0GRID" } });
    await seed(bot, "live");
    // Slack Connect: the request and the installation are T0ALLOWED's, the user is T0FOREIGN's.
    const foreign = (payload: object) => {
      const p = z.looseObject({ user: z.looseObject({}), view: z.looseObject({}).optional() }).parse(payload);
      return {
        ...p,
        user: { ...p.user, team_id: "T0FOREIGN" },
        ...(p.view ? { view: { ...p.view, app_installed_team_id: "T0ALLOWED" } } : {}),
        authorizations: [{ team_id: "T0ALLOWED", enterprise_id: "E0GRID", is_bot: true }],
      };
    };
    const sub = await interact(
      bot,
      foreign(registerPayload({ group: "outsider", teamId: "T0ALLOWED", enterpriseId: "E0GRID" })),
    );
    expect(JSON.stringify(dig(sub.json, "view"))).toContain("CONVAI_ALLOWED_TEAMS");
    await interact(
      bot,
      foreign(
        blockAction({
          actionId: ACTION.modelOverflow,
          blockId: "model:live",
          selectedOptionValue: "deregister",
          userId: MANAGER,
          teamId: "T0ALLOWED",
          enterpriseId: "E0GRID",
          responseUrl: bot.fake.responseUrl("foreign"),
        }),
      ),
    );
    const refused = await bot.fake.waitForResponse((r) => r.id === "foreign");
    expect(String(refused.body.text)).toContain("CONVAI_ALLOWED_TEAMS");
    expect(bot.sandbox.requests).toHaveLength(0);
    expect(bot.fake.callsTo("views.open")).toHaveLength(0);

    // The same user at home in the allowed workspace is served.
    const home = await submit(bot, registerPayload({ group: "insider", teamId: "T0ALLOWED" }));
    expect(home.outcome).toContain("Model registered");
  });
});

// ---- 4. user group and default admins, end to end -------------------------------------------------------

describe("manager policies end to end", () => {
  it("CONVAI_MANAGER_GROUP: members may, others are told which group grants access", async () => {
    const bot = await boot({ env: { CONVAI_MANAGERS: "", CONVAI_MANAGER_GROUP: "S0MGRS" } });
    bot.fake.usergroups.set("S0MGRS", ["U0GROUPIE"]);
    await command(bot, "register g1", { userId: "U0GROUPIE" });
    await bot.fake.waitFor("views.open");

    await command(bot, "register g1", { userId: MANAGER });
    const refusal = await bot.fake.waitForResponse();
    expect(String(refusal.body.text)).toContain("<!subteam^S0MGRS>");
    expect(bot.fake.callsTo("views.open")).toHaveLength(1);

    const sub = await interact(bot, registerPayload({ group: "g1", userId: MANAGER }));
    expect(JSON.stringify(sub.json)).toContain("Not allowed");
    const ok = await submit(bot, registerPayload({ group: "g1", userId: "U0GROUPIE" }));
    expect(ok.outcome).toContain("Model registered");
    expect(mutations(bot)).toHaveLength(1);
  });

  it("plan_upgrade_required: logged clearly, and the user is refused with a message", async () => {
    const bot = await boot({ env: { CONVAI_MANAGERS: "", CONVAI_MANAGER_GROUP: "S0MGRS" } });
    bot.fake.on("usergroups.users.list", () => ({ body: { ok: false, error: "plan_upgrade_required" } }));
    await command(bot, "register g1", { userId: "U0GROUPIE" });
    const refusal = await bot.fake.waitForResponse();
    expect(refusal.body.response_type).toBe("ephemeral");
    expect(String(refusal.body.text)).toMatch(/paid Slack plan.*manager settings/);
    expect(bot.fake.callsTo("views.open")).toHaveLength(0);
    const logged = bot.logLines().find((l) => l.error === "plan_upgrade_required");
    expect(logged).toMatchObject({ level: 50, usergroup: "S0MGRS" });
    expect(String(logged?.msg)).toContain("paid plan");

    const sub = await interact(bot, registerPayload({ group: "g1", userId: "U0GROUPIE" }));
    expect(JSON.stringify(sub.json)).toContain("paid Slack plan");
    expect(bot.sandbox.requests).toHaveLength(0);
  });

  it("with neither set, workspace admins and owners may (users.info), members may not", async () => {
    const bot = await boot({ env: { CONVAI_MANAGERS: "" } });
    bot.fake.users.set("U0OWNER", { is_owner: true });
    // DEFAULTS.userId is an admin in the harness; MANAGER and MEMBER are plain members there.
    await command(bot, "register a1", { userId: DEFAULTS.userId });
    await bot.fake.waitFor("views.open");
    await command(bot, "register a1", { userId: MEMBER });
    const refusal = await bot.fake.waitForResponse();
    expect(String(refusal.body.text)).toContain("workspace admins and owners");
    expect(bot.fake.callsTo("views.open")).toHaveLength(1);

    const denied = await interact(bot, registerPayload({ group: "a1", userId: MANAGER }));
    expect(JSON.stringify(denied.json)).toContain("workspace admins and owners");
    const owner = await submit(bot, registerPayload({ group: "a1", userId: "U0OWNER" }));
    expect(owner.outcome).toContain("Model registered");
    const asked = bot.fake.callsTo("users.info").map((c) => c.args.user);
    expect(new Set(asked)).toEqual(new Set([DEFAULTS.userId, MEMBER, MANAGER, "U0OWNER"]));
    expect(mutations(bot)).toHaveLength(1);
  });
});

// ---- 5. hostile strings everywhere ------------------------------------------------------------------------

const ATTACKS = ["<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>", "Q&amp;Q"];
/** What must never reach a mrkdwn text raw; `Q&amp;Q` raw means `&amp;` was not escaped. */
const FORBIDDEN = ["<!channel>", "<!here>", "<@U123>", "<https://evil.example", "<http", "Q&amp;Q"];
const NOTIFY = "C0NOTIFY";

const GROUP = `grp${ATTACKS.join("")}`;
const DISPLAY = `Disp ${ATTACKS.join(" ")}`;
const MODEL = `mdl/${ATTACKS.join(" ")}`;
const URL_1 =
  "https://llm.example.com/v1/<!channel>/<@U123>/<!here>?x=<https://evil.example|click>&y=Q&amp;Q";
const DISPLAY_2 = `Disp2 ${ATTACKS.join(" ")}`;
const URL_2 = "https://llm2.example.com/<!here>/<@U123>?q=Q&amp;Q";
/** How each attack string looks once escaped; at least one must appear on each surface. */
const ESCAPED_MARK = "Q&amp;amp;Q";

/** Control sequences the bot itself writes: mentions of configured users and the notify channel. */
const OWN_CONTROLS = new Set([`<@${MANAGER}>`, `<#${NOTIFY}>`]);
/** The App Home's "Updated <date>" line. */
const OWN_DATE = /^<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[\d: -]+UTC>$/;

function expectNoRawControls(surfaces: Surface[]) {
  expect(surfaces.length).toBeGreaterThan(0);
  for (const { where, text } of surfaces) {
    for (const bad of FORBIDDEN) {
      if (text.includes(bad)) throw new Error(`raw ${bad} in a mrkdwn text sent by ${where}: ${text}`);
    }
    for (const control of text.match(/<[^>]*>?/g) ?? []) {
      if (!OWN_CONTROLS.has(control) && !OWN_DATE.test(control))
        throw new Error(`unexpected control ${control} in a mrkdwn text sent by ${where}: ${text}`);
    }
  }
}

function attackProbe(delay: { ms: number }): ProbeFn {
  return async ({ baseUrl }) => {
    if (delay.ms > 0) await new Promise((resolve) => setTimeout(resolve, delay.ms));
    return {
      ok: true,
      steps: [
        {
          method: "GET",
          url: `${baseUrl}/models`,
          status: 200,
          latencyMs: 3,
          note: `note ${ATTACKS.join(" ")}`,
        },
      ],
      notes: [`the model list does not include "${MODEL}"`],
    };
  };
}

describe("hostile strings in every field", () => {
  it("reach lists, modals, outcomes, notifications and Convai errors only escaped", async () => {
    const delay = { ms: 0 };
    const bot = await boot({
      env: { CONVAI_NOTIFY_CHANNEL: NOTIFY },
      probe: attackProbe(delay),
      submitBudgetMs: 250,
    });
    const since = (from: Mark) => everyMrkdwn(bot, from);
    const hasMark = (s: Surface[]) => s.some((x) => x.text.includes(ESCAPED_MARK));

    // Register: outcome (probe notes included), notification in the channel.
    let mark = markOf(bot);
    const reg = await submit(
      bot,
      registerPayload({
        group: GROUP,
        model: MODEL,
        display: DISPLAY,
        url: URL_1,
        verify: true,
        key: `sk-${ATTACKS[0]}`,
      }),
    );
    expect(reg.outcome).toContain("Model registered");
    expect(bot.sandbox.models()).toMatchObject([
      // Saved in the parser's form, the URL the endpoint test called (issue 16 item 3).
      { model_group_name: GROUP, model_name: MODEL, display_name: DISPLAY, base_url: new URL(URL_1).href },
    ]);
    expect(reg.outcome).toContain(escapeMrkdwn("<https://evil.example|click>"));
    const note1 = await bot.fake.waitFor("chat.postMessage");
    expect(note1.args.channel).toBe(NOTIFY);
    expect(hasMark(messageTexts(note1.args).map((text) => ({ where: "notify", text })))).toBe(true);
    expect(hasMark(since(mark))).toBe(true);

    // List (with and without a hostile filter) and an unknown subcommand.
    mark = markOf(bot);
    await command(bot, "list", { userId: MANAGER });
    await bot.fake.waitForResponse((r) => JSON.stringify(r.body).includes("grp"));
    await command(bot, `list ${escapeMrkdwn("Q&amp;Q")}`);
    await bot.fake.waitForResponse((r) => r.raw.includes("matching"));
    const unknown = await command(bot, escapeMrkdwn("<!channel>"));
    expect(String(dig(unknown.json, "text"))).toContain("Unknown subcommand");
    expect(hasMark(since(mark))).toBe(true);

    // Update: the modal shows the model (escaped), the outcome shows before → after.
    mark = markOf(bot);
    await command(bot, `update ${escapeMrkdwn(GROUP)}`, { userId: MANAGER });
    const filled = await bot.fake.waitFor("views.update", (c) =>
      JSON.stringify(c.args.view).includes("Save changes"),
    );
    expect(hasMark(since(mark))).toBe(true);
    const meta = String(dig(filled.args, "view", "private_metadata"));
    expect(JSON.parse(meta)).toMatchObject({ group: GROUP });

    mark = markOf(bot);
    const upd = await submit(
      bot,
      updatePayload({
        group: GROUP,
        meta,
        display: DISPLAY_2,
        url: URL_2,
        verify: true,
        key: "sk-rotated-0002",
      }),
    );
    expect(upd.outcome).toContain("Model updated");
    expect(bot.sandbox.models()).toMatchObject([{ display_name: DISPLAY_2, base_url: new URL(URL_2).href }]);
    await bot.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("updated"));
    expect(hasMark(since(mark))).toBe(true);

    // The slow path for certain: working view, then views.update with the outcome.
    delay.ms = 800;
    mark = markOf(bot);
    const slow = await submit(
      bot,
      updatePayload({
        group: GROUP,
        meta,
        display: DISPLAY,
        url: URL_1,
        verify: true,
        key: "sk-rotated-0003",
      }),
    );
    expect(slow.slow).toBe(true);
    expect(slow.outcome).toContain("Model updated");
    expect(hasMark(since(mark))).toBe(true);
    delay.ms = 0;

    // Convai's own error messages: a refusal, and a conflict shown inline in the restored form.
    const convaiError = {
      status: "error",
      message: `Invalid field: ${ATTACKS.join(" ")}`,
      transactionID: `tx-${ATTACKS[2]}`,
    };
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "status", status: 400, body: convaiError } });
    mark = markOf(bot);
    const refused = await submit(bot, registerPayload({ group: "second", model: MODEL, display: "Other" }));
    expect(refused.outcome).toContain("Convai refused the request");
    expect(hasMark(since(mark))).toBe(true);

    delay.ms = 800;
    bot.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 409,
        body: { ...convaiError, message: `Display name already exists ${ATTACKS.join(" ")}` },
      },
    });
    mark = markOf(bot);
    const conflict = await submit(bot, registerPayload({ group: "third", display: "Third", verify: true }));
    expect(conflict.slow).toBe(true);
    expect(conflict.outcome).toContain("Display name already exists");
    expect(conflict.outcome).toContain(CALLBACK.register);
    expect(hasMark(since(mark))).toBe(true);
    delay.ms = 0;

    // Deregister: the confirmation modal and the outcome.
    mark = markOf(bot);
    await command(bot, `deregister ${escapeMrkdwn(GROUP)}`, { userId: MANAGER });
    await bot.fake.waitFor("views.update", (c) => JSON.stringify(c.args.view).includes("confirm_group_name"));
    expect(hasMark(since(mark))).toBe(true);
    const dereg = await submit(bot, deregisterPayload(GROUP, { meta }));
    expect(dereg.outcome).toContain("Model deregistered");
    expect(bot.sandbox.models()).toEqual([]);
    await bot.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("deregistered"));

    // The App Home, when Convai's list fails with a hostile message.
    bot.sandbox.inject({
      endpoint: "list",
      times: 3,
      fault: { kind: "status", status: 400, body: convaiError },
    });
    mark = markOf(bot);
    await sendEvent(bot.url, appHomeOpened({ userId: MANAGER }));
    await bot.fake.waitFor("views.publish", (c) => JSON.stringify(c.args.view).includes("could not load"));
    expect(hasMark(since(mark))).toBe(true);
    bot.sandbox.clearFaults();

    expectNoRawControls(everyMrkdwn(bot));
  });

  it("Convai's error message on list reaches the user escaped", async () => {
    const bot = await boot();
    bot.sandbox.inject({
      endpoint: "list",
      fault: {
        kind: "status",
        status: 400,
        body: { status: "error", message: `Bad ${ATTACKS.join(" ")}`, transactionID: "tx1" },
      },
    });
    await command(bot, "list");
    const reply = await bot.fake.waitForResponse();
    expect(String(reply.body.text)).toContain("Could not list");
    expect(String(reply.body.text)).toContain(ESCAPED_MARK);
    expectNoRawControls(everyMrkdwn(bot));
  });
});

// ---- 6. limits and control characters ------------------------------------------------------------------

describe("oversized and control-character input", () => {
  it("each is a field error and nothing is sent to Convai", async () => {
    const bot = await boot();
    const cases: Array<{ field: string; fields: RegisterFields }> = [
      { field: "model_group_name", fields: { group: "g".repeat(129) } },
      { field: "model_group_name", fields: { group: "bell\u0007group" } },
      { field: "model_group_name", fields: { group: "zero\u200Bwidth" } },
      { field: "model_group_name", fields: { group: "two words" } },
      { field: "model_name", fields: { group: "ok", model: "m".repeat(257) } },
      { field: "model_name", fields: { group: "ok", model: "line\nbreak" } },
      { field: "display_name", fields: { group: "ok", display: "d".repeat(129) } },
      { field: "display_name", fields: { group: "ok", display: "evil\u202Egnp.exe" } },
      { field: "display_name", fields: { group: "ok", display: "nul\u0000byte" } },
      { field: "api_key", fields: { group: "ok", key: `sk-${"k".repeat(4094)}` } },
      { field: "api_key", fields: { group: "ok", key: "sk-with space" } },
      { field: "api_key", fields: { group: "ok", key: "sk-tab\there" } },
      { field: "api_key", fields: { group: "ok", key: "env:HOME" } },
      { field: "api_key", fields: { group: "ok", key: "env:CONVAI_SECRET_UNSET" } },
      { field: "base_url", fields: { group: "ok", url: `https://llm.example.com/${"p".repeat(2030)}` } },
      { field: "base_url", fields: { group: "ok", url: "https://llm.example.com/v1\t" + "x" } },
      { field: "base_url", fields: { group: "ok", url: "https://llm.example.com/\u0000v1" } },
    ];
    for (const { field, fields } of cases) {
      const res = await interact(bot, registerPayload(fields));
      expect(dig(res.json, "response_action"), `${field}: ${JSON.stringify(fields).slice(0, 80)}`).toBe(
        "errors",
      );
      expect(typeof dig(res.json, "errors", field)).toBe("string");
    }
    // Update forms are held to the same limits.
    await seed(bot, "live");
    for (const fields of [
      { display: "d".repeat(129) },
      { key: "sk-two words" },
      { url: "https://h.example.com/\u0007" },
    ]) {
      const res = await interact(bot, updatePayload({ group: "live", ...fields }));
      expect(dig(res.json, "response_action")).toBe("errors");
    }
    expect(bot.sandbox.requests).toHaveLength(0);

    // At the limits exactly, the same form is accepted.
    const ok = await submit(
      bot,
      registerPayload({ group: "g".repeat(128), model: "m".repeat(256), display: "d".repeat(128) }),
    );
    expect(ok.outcome).toContain("Model registered");
  });
});

describe("base URLs Convai's servers could never reach", () => {
  it("loopback, private, link-local, metadata and plain http are field errors", async () => {
    // The new base URL's host is resolved even when the endpoint is not tested (issue 16 item 3).
    const bot = await boot({
      env: { CONVAI_ALLOW_PRIVATE_URLS: "false" },
      lookup: async () => [{ address: "203.0.114.10", family: 4 }],
    });
    const refused = [
      "https://127.0.0.1/v1",
      "https://localhost/v1",
      "https://localhost.:8443/v1",
      "https://10.0.0.1/v1",
      "https://192.168.1.20/v1",
      "https://172.16.0.5/v1",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/v1",
      "https://[::ffff:127.0.0.1]/v1",
      "https://[fd00::1]/v1",
      "https://0x7f000001/v1",
      "https://2130706433/v1",
      "https://0.0.0.0/v1",
      "https://internal-llm/v1",
      "http://llm.example.com/v1",
      "https://user:pass@llm.example.com/v1",
      "https://llm.example.com/v1#frag",
      "ftp://llm.example.com/v1",
      "javascript:alert(1)",
    ];
    for (const url of refused) {
      const res = await interact(bot, registerPayload({ group: "g1", url }));
      expect(dig(res.json, "response_action"), url).toBe("errors");
      expect(typeof dig(res.json, "errors", "base_url"), url).toBe("string");
      const upd = await interact(bot, updatePayload({ group: "g1", url }));
      expect(dig(upd.json, "errors", "base_url"), url).toBeTypeOf("string");
    }
    expect(bot.sandbox.requests).toHaveLength(0);

    const ok = await submit(bot, registerPayload({ group: "g1", url: "https://llm.example.com/v1" }));
    expect(ok.outcome).toContain("Model registered");
  });
});

// ---- 7. secrets ------------------------------------------------------------------------------------------

const MODEL_KEY = "sk-model-ZEBRA-9999";
const ENV_KEY = "sk-env-OKAPI-7777";
const SECRETS = [MODEL_KEY, ENV_KEY, CONVAI_KEY, "ZEBRA-9999", "OKAPI-7777", "TESTSECRET"];

function fingerprint(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16);
}

interface FakeModel {
  url: string;
  /** Authorization headers received. */
  auth: string[];
  mode: { refuse: boolean; delayMs: number };
}

/** An OpenAI-compatible endpoint for the real endpoint test; a refusal echoes the key back, as some do. */
async function startFakeModel(): Promise<FakeModel> {
  const auth: string[] = [];
  const mode = { refuse: false, delayMs: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const header = req.headers.authorization ?? "";
      auth.push(header);
      const answer = () => {
        res.setHeader("content-type", "application/json");
        if (mode.refuse) {
          res
            .writeHead(401)
            .end(JSON.stringify({ error: { message: `Incorrect API key provided: ${header}` } }));
        } else if (req.url?.endsWith("/models")) {
          res.end(JSON.stringify({ data: [{ id: "gpt-test" }] }));
        } else {
          res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: "p" } }] }));
        }
      };
      if (mode.delayMs > 0) setTimeout(answer, mode.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address: AddressInfo | string | null = server.address();
  if (address === null || typeof address === "string") throw new Error("fake model: no port");
  const { port } = address;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}/v1`, auth, mode };
}

describe("secrets never leave", () => {
  it("register, update and deregister with distinctive keys: no key in any byte sent to Slack, any response or any log line", async () => {
    const endpoint = await startFakeModel();
    const bot = await boot({
      env: { CONVAI_SECRET_X: ENV_KEY, CONVAI_SECRET_X_HOSTS: "127.0.0.1", CONVAI_NOTIFY_CHANNEL: NOTIFY },
      submitBudgetMs: 500,
    });

    // The form says where the key goes.
    await command(bot, "register secret-model", { userId: MANAGER });
    const form = await bot.fake.waitFor("views.open");
    expect(JSON.stringify(form.args.view)).toContain("never shown again");

    // 1. The endpoint refuses the key and echoes it back: a field error without the key.
    endpoint.mode.refuse = true;
    const fields = {
      group: "secret-model",
      model: "gpt-test",
      display: "Secret",
      key: MODEL_KEY,
      url: endpoint.url,
      verify: true,
    };
    const refused = await submit(bot, registerPayload(fields));
    expect(refused.outcome).toContain("refused the key");
    expect(endpoint.auth).toContain(`Bearer ${MODEL_KEY}`);

    // 2. Convai echoing the keys in an error message.
    endpoint.mode.refuse = false;
    bot.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 400,
        body: {
          status: "error",
          message: `bad key ${MODEL_KEY} for account ${CONVAI_KEY}`,
          transactionID: "tx-echo",
        },
      },
    });
    const echoed = await submit(bot, registerPayload(fields));
    expect(echoed.outcome).toContain("[redacted]");

    // 3. Registered for real (endpoint tested with the key).
    const reg = await submit(bot, registerPayload(fields));
    expect(reg.outcome).toContain("Model registered");
    expect(bot.sandbox.keyFingerprint("secret-model")).toBe(fingerprint(MODEL_KEY));

    // 4. Update rotating to env:CONVAI_SECRET_X, slow enough for the working view and views.update.
    endpoint.mode.delayMs = 600;
    const upd = await submit(
      bot,
      updatePayload({ group: "secret-model", key: "env:CONVAI_SECRET_X", display: "Secret 2", verify: true }),
    );
    expect(upd.slow).toBe(true);
    expect(upd.outcome).toContain("Model updated");
    expect(endpoint.auth).toContain(`Bearer ${ENV_KEY}`);
    expect(bot.sandbox.keyFingerprint("secret-model")).toBe(fingerprint(ENV_KEY));

    // 5. A slow failed endpoint test restores the form: everything but the key.
    endpoint.mode.refuse = true;
    const again = await submit(
      bot,
      updatePayload({ group: "secret-model", key: MODEL_KEY, display: "Secret 3", verify: true }),
    );
    expect(again.slow).toBe(true);
    expect(again.outcome).toContain("entered again");
    expect(again.outcome).toContain("Secret 3");
    endpoint.mode.refuse = false;
    endpoint.mode.delayMs = 0;

    // 6. List and deregister.
    await command(bot, "list", { userId: MANAGER });
    await bot.fake.waitForResponse((r) => r.raw.includes("secret-model"));
    const dereg = await submit(bot, deregisterPayload("secret-model"));
    expect(dereg.outcome).toContain("Model deregistered");
    await bot.fake.waitFor("chat.postMessage", (c) => String(c.args.text).includes("deregistered"));

    // Convai did get the keys (so the scan below is meaningful)...
    const atConvai = bot.sandbox.requests.map((r) => r.rawBody).join("\n");
    expect(atConvai).toContain(MODEL_KEY);
    expect(atConvai).toContain(ENV_KEY);
    // ...and nothing else did.
    const sent = [everythingSent(bot), ...acks.map((a) => `${JSON.stringify(a.headers)}\n${a.text}`)].join(
      "\n",
    );
    expect(sent.length).toBeGreaterThan(10_000);
    for (const secret of SECRETS) expect(sent, `leaked ${secret}`).not.toContain(secret);
    // private_metadata in particular.
    for (const call of bot.fake.calls) {
      const meta = dig(call.args, "view", "private_metadata");
      if (typeof meta === "string") for (const secret of SECRETS) expect(meta).not.toContain(secret);
    }
  });
});

// ---- 8. audit ----------------------------------------------------------------------------------------------

describe("audit trail", () => {
  it("one line per change attempt: action, actor, team, group, field names, outcome, transactionID, duration; never a key", async () => {
    const bot = await boot();
    const transactionOf = (res: { outcome: string }) => /Convai transaction `([^`]+)`/.exec(res.outcome)?.[1];

    const reg = await submit(bot, registerPayload({ group: "aud", display: "Aud", key: MODEL_KEY }));
    const upd = await submit(
      bot,
      updatePayload({ group: "aud", display: "Aud 2", key: "sk-rotated-AUDIT-1" }),
    );
    bot.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 409,
        body: { status: "error", message: "Model group name already exists", transactionID: "tx-conflict" },
      },
    });
    await submit(bot, registerPayload({ group: "aud", key: MODEL_KEY }));
    const dereg = await submit(bot, deregisterPayload("aud"));
    // A refused attempt by a non-manager never reaches the service: logged as refused, not as a change.
    await interact(bot, deregisterPayload("aud", { userId: MEMBER }));

    const audit = bot.logLines().filter((l) => l.event === "audit");
    expect(audit.map((l) => [l.action, l.outcome])).toEqual([
      ["register", "succeeded"],
      ["update", "succeeded"],
      ["register", "failed: conflict"],
      ["deregister", "succeeded"],
    ]);
    for (const line of audit) {
      expect(line).toMatchObject({ level: 30, actor: MANAGER, team: DEFAULTS.teamId, group: "aud" });
      expect(Array.isArray(line.fields)).toBe(true);
      expect(line.durationMs).toBeTypeOf("number");
      expect(Number(line.durationMs)).toBeGreaterThanOrEqual(0);
      const text = JSON.stringify(line);
      for (const secret of [MODEL_KEY, "sk-rotated-AUDIT-1", CONVAI_KEY]) expect(text).not.toContain(secret);
    }
    const [a0, a1, a2, a3] = audit;
    expect(a0?.fields).toEqual(["model_name", "display_name", "base_url", "is_uncensored", "api_key"]);
    expect(a1?.fields).toEqual(["display_name", "api_key"]);
    expect(a3?.fields).toEqual([]);
    // The transactionID is the one the user was shown.
    expect(a0?.transactionID).toBe(transactionOf(reg));
    expect(a1?.transactionID).toBe(transactionOf(upd));
    expect(a2?.transactionID).toBe("tx-conflict");
    expect(a3?.transactionID).toBe(transactionOf(dereg));
    expect(a0?.transactionID).toBeTypeOf("string");
  });
});

// ---- 9. malformed payloads ---------------------------------------------------------------------------------

describe("malformed payloads", () => {
  it("are refused with a warning; the process keeps serving", async () => {
    const bot = await boot();
    await seed(bot, "live");
    /** Warnings (or worse) whose message contains `text`. */
    const warnings = (text: string) =>
      bot.logLines().filter((l) => Number(l.level) >= 40 && String(l.msg).includes(text)).length;
    const form = "application/x-www-form-urlencoded";
    // Sent alongside the rest: an unknown callback_id (answered at once), a body Bolt cannot classify
    // (nobody acks it: Bolt answers 404 after its 3-second wait) and a submission without state.
    const unknownCallback = sendInteraction(
      bot.url,
      viewSubmission({ callbackId: "evil_callback", userId: MANAGER, values: {} }),
    );
    const unclassified = postSigned(bot.url, "nothing=here", form);
    const withoutState = sendInteraction(bot.url, {
      ...viewSubmission({
        callbackId: CALLBACK.update,
        userId: MANAGER,
        values: {},
        privateMetadata: metaFor("live"),
      }),
      view: { id: "V1", callback_id: CALLBACK.update, private_metadata: metaFor("live") },
    });

    const MALFORMED = "Malformed request body";
    const UNHANDLED = "An unhandled error occurred";
    const IGNORED = "Ignored a button action";
    const FORGED = "forged or unreadable private_metadata";
    const cases: Array<{ name: string; logs: string; send: () => Promise<SlackHttpResponse> }> = [
      {
        name: "payload not JSON",
        logs: MALFORMED,
        send: () => postSigned(bot.url, "payload=%7Bnot-json", form),
      },
      {
        name: "body not JSON",
        logs: MALFORMED,
        send: () => postSigned(bot.url, "{oops", "application/json"),
      },
      {
        name: "view_submission without user or view",
        logs: UNHANDLED,
        send: () => sendInteraction(bot.url, { type: "view_submission", team: { id: DEFAULTS.teamId } }),
      },
      {
        name: "block action with a malformed overflow",
        logs: IGNORED,
        send: () =>
          sendInteraction(
            bot.url,
            blockAction({
              actionId: ACTION.modelOverflow,
              blockId: "not-a-model-row",
              selectedOptionValue: "deregister",
              userId: MANAGER,
            }),
          ),
      },
      {
        name: "overflow with an unknown choice",
        logs: IGNORED,
        send: () =>
          sendInteraction(
            bot.url,
            blockAction({
              actionId: ACTION.modelOverflow,
              blockId: "model:live",
              selectedOptionValue: "drop-table",
              userId: MANAGER,
            }),
          ),
      },
    ];
    const forgedMeta = [
      "not json",
      JSON.stringify({ v: 1, group: "live", api_key: "sk-smuggled" }),
      JSON.stringify({ v: 2, group: "live" }),
      JSON.stringify({ v: 1, group: "has space" }),
      JSON.stringify({ v: 1, group: "live", channelId: "<!channel>" }),
      JSON.stringify({ v: 1, group: "live", pad: "x".repeat(3100) }),
      `{"v":1,"group":"live"}${" ".repeat(3000)}`,
      "",
    ];
    for (const meta of forgedMeta) {
      cases.push({
        name: `update with private_metadata ${meta.slice(0, 40)}`,
        logs: FORGED,
        send: () =>
          sendInteraction(
            bot.url,
            updatePayload({ group: "live", meta, display: "Changed", key: "sk-x-0000" }),
          ),
      });
      cases.push({
        name: `deregister with private_metadata ${meta.slice(0, 40)}`,
        logs: FORGED,
        send: () => sendInteraction(bot.url, deregisterPayload("live", { meta })),
      });
    }

    for (const c of cases) {
      const before = warnings(c.logs);
      const res = await c.send();
      expect(res.status, c.name).toBeLessThan(501);
      await waitUntil(() => warnings(c.logs) > before, c.name);
      // Still serving after each one.
      const help = await command(bot, "help");
      expect(help.status, c.name).toBe(200);
      expect(String(dig(help.json, "text")), c.name).toContain("register");
    }
    expect(warnings(FORGED)).toBe(forgedMeta.length * 2);

    // An unknown callback_id is answered at once and logged, not left to Bolt's 3 s timeout.
    expect((await unknownCallback).status).toBe(200);
    expect(warnings("Ignored a view submission with an unknown callback_id")).toBe(1);
    expect((await unclassified).status).toBe(404);
    expect(warnings("not acknowledged within 3 seconds")).toBeGreaterThanOrEqual(1);
    // A submission without state is answered with field errors, not a thrown listener.
    const stateless = await withoutState;
    expect(stateless.status).toBe(200);
    expect(dig(stateless.json, "response_action")).toBe("errors");
    expect(mutations(bot)).toHaveLength(0);
    expect(bot.sandbox.models()).toMatchObject([{ model_group_name: "live", display_name: "live" }]);
    const list = await command(bot, "list");
    expect(list.status).toBe(200);
    await bot.fake.waitForResponse((r) => r.raw.includes("live"));
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
