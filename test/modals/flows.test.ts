/**
 * Every modal path of SPEC §3 end to end: the real bot on its HTTP receiver, the fake Slack Web API and the
 * Convai sandbox over real HTTP, for both API path prefixes. Assertions are on what the user sees (ack bodies,
 * views.open / views.update contents, field errors by block_id) and on what reached Convai (path, body).
 */

import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { ApiPrefix } from "../../src/convai/types.js";
import type { ProbeFn } from "../../src/domain/outcome.js";
import { CHECKED_VALUE } from "../../src/slack/ids.js";
import {
  everythingSent,
  MANAGER,
  MEMBER,
  runCommand,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "../helpers/bot.js";
import {
  appHomeOpened,
  input,
  sendEvent,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";
import { type Ack, ackSchema, type View, viewSchema } from "../helpers/views.js";

// ---- helpers (kept local: test files may not share modules with each other) ---------------------------------

const SUBMITTED_VIEW_ID = "VSUBMITTED";
const LOADING_VIEW_ID = "VLOADING";
const MODEL_KEY = "sk-model-SECRET-77af01";
const NEW_KEY = "sk-model-ROTATED-9c3e";
const CALLBACKS = {
  register: "convai_llm_register",
  update: "convai_llm_update",
  deregister: "convai_llm_deregister",
} as const;

const parseView = (raw: unknown): View => viewSchema.parse(raw);
const inputIds = (view: View): string[] =>
  view.blocks.flatMap((b) => (b.type === "input" && b.block_id !== undefined ? [b.block_id] : []));
const sorted = (ids: readonly string[]) => [...ids].sort();
const field = (view: View, id: string) => {
  const block = view.blocks.find((b) => b.type === "input" && b.block_id === id);
  if (!block?.element) throw new Error(`no input ${id} in view ${view.callback_id}`);
  return block.element;
};
const textOf = (view: View): string => JSON.stringify(view.blocks);

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function bot(options: TestBotOptions = {}): Promise<TestBot> {
  t = await startTestBot(options);
  return t;
}

const command = runCommand;

/** Opens a modal through the slash command as a user would, and returns the view the user ends up seeing. */
async function openModal(
  bot: TestBot,
  text: string,
): Promise<{ opened: View; view: View; convaiCallsAtOpen: number }> {
  let convaiCallsAtOpen = -1;
  bot.fake.on("views.open", () => {
    convaiCallsAtOpen = bot.sandbox.requests.length;
    return { body: { ok: true, view: { id: LOADING_VIEW_ID, hash: "h1" } } };
  });
  const before = bot.fake.callsTo("views.open").length;
  await command(bot, text);
  const openCall = await bot.fake.waitFor("views.open", () => bot.fake.callsTo("views.open").length > before);
  const opened = parseView(openCall.args.view);
  if (opened.submit !== undefined) return { opened, view: opened, convaiCallsAtOpen };
  // A loading view: the real form arrives with views.update on the id views.open returned.
  const update = await bot.fake.waitFor("views.update", (c) => c.args.view_id === LOADING_VIEW_ID);
  return { opened, view: parseView(update.args.view), convaiCallsAtOpen };
}

async function submit(
  bot: TestBot,
  callbackId: string,
  values: Record<string, Record<string, unknown>>,
  privateMetadata: string,
  userId: string = MANAGER,
): Promise<Ack> {
  const res = await sendInteraction(
    bot.url,
    viewSubmission({ callbackId, values, privateMetadata, userId, viewId: SUBMITTED_VIEW_ID }),
  );
  expect(res.status).toBe(200);
  return ackSchema.parse(res.json);
}

/** The view the bot sent with views.update to the submitted modal (the outcome after a "working" view). */
async function followUp(bot: TestBot): Promise<View> {
  const call = await bot.fake.waitFor("views.update", (c) => c.args.view_id === SUBMITTED_VIEW_ID, 5000);
  return parseView(call.args.view);
}

const changeRequests = (bot: TestBot) => bot.sandbox.requests.filter((r) => !r.path.endsWith("/list"));

interface RegisterFields {
  model_group_name?: string;
  model_name?: string;
  display_name?: string;
  api_key?: string;
  base_url?: string;
  uncensored?: boolean;
  verify?: boolean;
}

/** view.state.values of a register submission, with only the blocks the prefix's form has. */
function registerValues(prefix: ApiPrefix, f: RegisterFields = {}) {
  return stateValues({
    model_group_name: input.text(f.model_group_name ?? "acme-llama"),
    model_name: input.text(f.model_name ?? "meta-llama/Llama-3.1-70B-Instruct"),
    ...(prefix === "/llm-models" ? { display_name: input.text(f.display_name ?? "Acme Llama") } : {}),
    api_key: input.text(f.api_key ?? MODEL_KEY),
    base_url: input.url(f.base_url ?? "https://llm.acme.example/v1"),
    is_uncensored: input.checkbox(f.uncensored ? [CHECKED_VALUE] : []),
    verify: input.checkbox(f.verify ? [CHECKED_VALUE] : []),
  });
}

interface UpdateFields {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: "keep" | "true" | "false";
  verify?: boolean;
}

/** An update submission; blank text fields mean "keep". */
function updateValues(prefix: ApiPrefix, f: UpdateFields = {}) {
  return stateValues({
    ...(prefix === "/custom-llm"
      ? { model_name: input.text(f.model_name ?? "") }
      : { display_name: input.text(f.display_name ?? "") }),
    base_url: input.url(f.base_url ?? ""),
    api_key: input.text(f.api_key ?? ""),
    is_uncensored: input.radio(f.is_uncensored ?? "keep"),
    verify: input.checkbox(f.verify ? [CHECKED_VALUE] : []),
  });
}

const REGISTER_META = JSON.stringify({ v: 1, origin: "command", channelId: "C0CHAN" });

const seeded = {
  model_group_name: "acme-mistral",
  model_name: "mistral-large",
  display_name: "Acme Mistral",
  base_url: "https://mistral.acme.example/v1",
  is_uncensored: false,
  api_key: "sk-seeded-SECRET-0001",
};

const FORMS = {
  "/llm-models": {
    register: [
      "model_group_name",
      "model_name",
      "display_name",
      "api_key",
      "base_url",
      "is_uncensored",
      "verify",
    ],
    update: ["display_name", "base_url", "api_key", "is_uncensored", "verify"],
  },
  "/custom-llm": {
    register: ["model_group_name", "model_name", "api_key", "base_url", "is_uncensored", "verify"],
    update: ["model_name", "base_url", "api_key", "is_uncensored", "verify"],
  },
} as const;

const PREFIXES: ApiPrefix[] = ["/llm-models", "/custom-llm"];

// ---- register -------------------------------------------------------------------------------------------------

describe.each(PREFIXES)("register modal with %s", (prefix) => {
  it("offers exactly the SPEC's block_ids, the group prefilled, and opens before any Convai call", async () => {
    const b = await bot({ prefix });
    const { view, convaiCallsAtOpen } = await openModal(b, "register acme-llama");
    expect(convaiCallsAtOpen).toBe(0);
    expect(b.sandbox.requests).toHaveLength(0);
    expect(view.callback_id).toBe(CALLBACKS.register);
    expect(sorted(inputIds(view))).toEqual(sorted(FORMS[prefix].register));
    expect(field(view, "model_group_name").initial_value).toBe("acme-llama");
    expect(field(view, "base_url").type).toBe("url_text_input");
    expect(field(view, "is_uncensored").type).toBe("checkboxes");
    expect(field(view, "verify").type).toBe("checkboxes");
    expect(field(view, "verify").initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
    expect(field(view, "api_key").initial_value).toBeUndefined();
    for (const id of inputIds(view)) expect(field(view, id).action_id).toBe(id);
  });

  it("registers a valid model: Convai gets the right body and the outcome view shows what Convai holds", async () => {
    const b = await bot({ prefix });
    const { view } = await openModal(b, "register");
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues(prefix, { uncensored: true }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("update");
    const outcome = parseView(ack.view);
    expect(outcome.callback_id).toBe(CALLBACKS.register);
    expect(outcome.title.text).toBe("Model registered");
    const shown = textOf(outcome);
    expect(shown).toContain("acme-llama");
    expect(shown).toContain("meta-llama/Llama-3.1-70B-Instruct");
    expect(shown).toContain("https://llm.acme.example/v1");
    // The seed's list form does not report the flag, and the outcome says so rather than guessing.
    expect(shown).toMatch(
      prefix === "/llm-models" ? /Uncensored\*\\nyes/ : /Uncensored\*\\n[^"]*not reported/,
    );
    if (prefix === "/llm-models") expect(shown).toContain("Acme Llama");
    expect(shown).toMatch(/Convai transaction `[0-9a-f-]{36}`/);
    expect(JSON.stringify(ack)).not.toContain(MODEL_KEY);

    const changes = changeRequests(b);
    expect(changes.map((r) => r.path)).toEqual([`${prefix}/register`]);
    expect(changes[0]?.body).toEqual({
      model_group_name: "acme-llama",
      model_name: "meta-llama/Llama-3.1-70B-Instruct",
      api_key: MODEL_KEY,
      base_url: "https://llm.acme.example/v1",
      is_uncensored: true,
      ...(prefix === "/llm-models" ? { display_name: "Acme Llama" } : {}),
    });
    // The outcome is re-read from list after the change.
    const last = b.sandbox.requests.at(-1);
    expect(last?.path).toBe(`${prefix}/list`);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-llama"]);
    expect(everythingSent(b)).not.toContain(MODEL_KEY);
  });

  const fieldErrors: Array<[string, RegisterFields, string]> = [
    ["a group name with a space", { model_group_name: "acme llama" }, "model_group_name"],
    ["a model name over 256 characters", { model_name: "m".repeat(257) }, "model_name"],
    ["a base URL that is not http(s)", { base_url: "ftp://llm.acme.example/v1" }, "base_url"],
    ["a base URL with user:password", { base_url: "https://u:p@llm.acme.example/v1" }, "base_url"],
    ["an env: key reference that is not set", { api_key: "env:CONVAI_SECRET_NOPE" }, "api_key"],
    ["an env: key reference outside CONVAI_SECRET_", { api_key: "env:HOME" }, "api_key"],
  ];
  it.each(fieldErrors)(
    "%s → response_action errors on its block_id, nothing sent to Convai",
    async (_, f, id) => {
      const b = await bot({ prefix });
      const ack = await submit(b, CALLBACKS.register, registerValues(prefix, f), REGISTER_META);
      expect(ack.response_action).toBe("errors");
      expect(Object.keys(ack.errors ?? {})).toEqual([id]);
      expect(ack.errors?.[id]).toMatch(/\S/);
      expect(b.sandbox.requests).toHaveLength(0);
    },
  );

  it("reports every bad field at once", async () => {
    const b = await bot({ prefix });
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues(prefix, {
        model_group_name: "bad group",
        model_name: "m".repeat(300),
        base_url: "not a url",
        api_key: "env:CONVAI_SECRET_MISSING",
      }),
      REGISTER_META,
    );
    expect(ack.response_action).toBe("errors");
    expect(sorted(Object.keys(ack.errors ?? {}))).toEqual(
      sorted(["model_group_name", "model_name", "base_url", "api_key"]),
    );
    expect(b.sandbox.requests).toHaveLength(0);
  });

  it("accepts env:CONVAI_SECRET_* and sends the variable's value, never quoting it back", async () => {
    const secret = "sk-from-ENV-4242";
    const b = await bot({
      prefix,
      env: { CONVAI_SECRET_ACME: secret, CONVAI_SECRET_ACME_HOSTS: "*.acme.example" },
    });
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues(prefix, { api_key: "env:CONVAI_SECRET_ACME" }),
      REGISTER_META,
    );
    expect(ack.response_action).toBe("update");
    const body = z.looseObject({ api_key: z.string() }).parse(changeRequests(b)[0]?.body);
    expect(body.api_key).toBe(secret);
    expect(everythingSent(b)).not.toContain(secret);
  });

  // Issue 16 item 1: a CONVAI_SECRET_* value goes only to the hosts its _HOSTS list names.
  it.each([
    ["a host the list does not name", "https://attacker.example/v1", /may not be sent to attacker\.example/],
    ["a look-alike suffix", "https://evilacme.example/v1", /may not be sent to evilacme\.example/],
  ])("env: secret with %s → error on api_key, no endpoint test, no Convai call", async (_, url, message) => {
    const secret = "sk-from-ENV-4242";
    let probed = 0;
    const probe: ProbeFn = async () => {
      probed += 1;
      return { ok: true, steps: [], notes: [] };
    };
    const b = await bot({
      prefix,
      probe,
      env: { CONVAI_SECRET_ACME: secret, CONVAI_SECRET_ACME_HOSTS: "*.acme.example" },
    });
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues(prefix, { api_key: "env:CONVAI_SECRET_ACME", base_url: url, verify: true }),
      REGISTER_META,
    );
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["api_key"]);
    expect(ack.errors?.api_key).toMatch(message);
    expect(ack.errors?.api_key).toContain("CONVAI_SECRET_ACME_HOSTS");
    expect(probed).toBe(0);
    expect(b.sandbox.requests).toHaveLength(0);
    expect(everythingSent(b)).not.toContain(secret);
  });

  it("env: secret without a host list → refused, the error names the variable to set", async () => {
    const b = await bot({ prefix, env: { CONVAI_SECRET_ACME: "sk-from-ENV-4242" } });
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues(prefix, { api_key: "env:CONVAI_SECRET_ACME" }),
      REGISTER_META,
    );
    expect(ack.response_action).toBe("errors");
    expect(ack.errors?.api_key).toMatch(/set CONVAI_SECRET_ACME_HOSTS/);
    expect(b.sandbox.requests).toHaveLength(0);
  });

  it("409 duplicate group name → error on model_group_name", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([{ ...seeded, model_group_name: "acme-llama" }]);
    const ack = await submit(b, CALLBACKS.register, registerValues(prefix), REGISTER_META);
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["model_group_name"]);
    expect(ack.errors?.model_group_name).toMatch(/already exists/i);
    expect(b.sandbox.models().find((m) => m.model_group_name === "acme-llama")?.model_name).toBe(
      seeded.model_name,
    );
  });

  it("an endpoint test that fails on the key → error on api_key, Convai never called", async () => {
    const probe: ProbeFn = async (req) => ({
      ok: false,
      field: "api_key",
      message: "The endpoint refused the key (401)",
      steps: [{ method: "POST", url: `${req.baseUrl}/chat/completions`, status: 401, latencyMs: 12 }],
    });
    const b = await bot({ prefix, probe });
    const ack = await submit(b, CALLBACKS.register, registerValues(prefix, { verify: true }), REGISTER_META);
    expect(ack.response_action).toBe("errors");
    expect(ack.errors?.api_key).toContain("refused the key");
    expect(b.sandbox.requests).toHaveLength(0);
  });

  it("refuses a submission from a non-manager without calling Convai", async () => {
    const b = await bot({ prefix });
    const ack = await submit(b, CALLBACKS.register, registerValues(prefix), REGISTER_META, MEMBER);
    expect(ack.response_action).toBe("update");
    expect(parseView(ack.view).title.text).toBe("Not allowed");
    expect(b.sandbox.requests).toHaveLength(0);
  });
});

describe("register: duplicate display name", () => {
  it("/llm-models: 409 duplicate display name → error on display_name", async () => {
    const b = await bot({ prefix: "/llm-models" });
    await b.sandbox.seed([{ ...seeded, display_name: "Acme Llama" }]);
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues("/llm-models", { display_name: "acme llama" }),
      REGISTER_META,
    );
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["display_name"]);
    expect(ack.errors?.display_name).toMatch(/display name/i);
  });

  // /custom-llm has no display_name block; Convai defaults the display name to the group, so a 409 "Display
  // name already exists" must land on a block the form has. Slack rejects errors for missing blocks.
  it("/custom-llm: a display-name 409 lands on a block the form has (model_group_name)", async () => {
    const b = await bot({ prefix: "/custom-llm" });
    await b.sandbox.seed([{ ...seeded, display_name: "acme-llama" }]);
    const { view } = await openModal(b, "register");
    const ack = await submit(
      b,
      CALLBACKS.register,
      registerValues("/custom-llm"),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("errors");
    const keys = Object.keys(ack.errors ?? {});
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(inputIds(view)).toContain(key);
  });
});

// ---- update -----------------------------------------------------------------------------------------------------

describe.each(PREFIXES)("update modal with %s", (prefix) => {
  const custom = prefix === "/custom-llm";

  it("opens a loading view before any Convai call, then fills it from list; api_key empty", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { opened, view, convaiCallsAtOpen } = await openModal(b, "update acme-mistral");
    expect(convaiCallsAtOpen).toBe(0);
    expect(opened.callback_id).toBe(CALLBACKS.update);
    expect(inputIds(opened)).toEqual([]);
    expect(textOf(opened)).toContain("Loading");
    // Filled in place: views.update targets the id views.open returned.
    expect(b.fake.callsTo("views.update").map((c) => c.args.view_id)).toEqual([LOADING_VIEW_ID]);
    expect(b.sandbox.requests.map((r) => r.path).sort()).toEqual(["/character/list", `${prefix}/list`]);

    expect(view.callback_id).toBe(CALLBACKS.update);
    expect(sorted(inputIds(view))).toEqual(sorted(FORMS[prefix].update));
    expect(field(view, "base_url").type).toBe("url_text_input");
    expect(field(view, "base_url").initial_value).toBe(seeded.base_url);
    if (custom) expect(field(view, "model_name").initial_value).toBe(seeded.model_name);
    else expect(field(view, "display_name").initial_value).toBe(seeded.display_name);
    expect(field(view, "api_key").initial_value).toBeUndefined();
    const radio = field(view, "is_uncensored");
    expect(radio.type).toBe("radio_buttons");
    expect(radio.initial_option?.value).toBe("keep");
    expect(field(view, "verify").initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
    // The group is fixed: shown and kept in private_metadata, not an input.
    expect(textOf(view)).toContain("acme-mistral");
    expect(JSON.parse(view.private_metadata ?? "{}")).toMatchObject({ v: 1, group: "acme-mistral" });
    // The model is shown; with /llm-models it is not editable.
    expect(textOf(view)).toContain(seeded.model_name);
    expect(JSON.stringify(view)).not.toContain(seeded.api_key);
  });

  it("update with an env: secret and no new base URL: the model's current host must be listed", async () => {
    const b = await bot({
      prefix,
      env: { CONVAI_SECRET_ACME: "sk-from-ENV-4242", CONVAI_SECRET_ACME_HOSTS: "llm.acme.example" },
    });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    const before = b.sandbox.requests.length;
    const refused = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { api_key: "env:CONVAI_SECRET_ACME" }),
      view.private_metadata ?? "",
    );
    expect(refused.response_action).toBe("errors");
    expect(refused.errors?.api_key).toMatch(/may not be sent to mistral\.acme\.example/);
    expect(changeRequests(b)).toHaveLength(0);
    // With a listed new base URL typed, the same secret goes through.
    const ok = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { api_key: "env:CONVAI_SECRET_ACME", base_url: "https://llm.acme.example/v1" }),
      view.private_metadata ?? "",
    );
    expect(ok.response_action).toBe("update");
    expect(changeRequests(b).map((r) => r.path)).toEqual([`${prefix}/update`]);
    expect(b.sandbox.requests.length).toBeGreaterThan(before);
  });

  it("a blank api_key keeps the key and only changed fields are sent", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const fingerprint = b.sandbox.keyFingerprint("acme-mistral");
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, {
        // The unchanged prefilled value comes back as typed; only the base URL differs.
        ...(custom ? { model_name: seeded.model_name } : { display_name: seeded.display_name }),
        base_url: "https://mistral2.acme.example/v1",
      }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("update");
    const outcome = parseView(ack.view);
    expect(outcome.title.text).toBe("Model updated");
    const shown = textOf(outcome);
    expect(shown).toContain("https://mistral2.acme.example/v1");
    expect(shown).toContain("`https://mistral.acme.example/v1` → `https://mistral2.acme.example/v1`");
    expect(shown).not.toContain("rotated");

    const changes = changeRequests(b);
    expect(changes.map((r) => r.path)).toEqual([`${prefix}/update`]);
    expect(changes[0]?.body).toEqual({
      model_group_name: "acme-mistral",
      base_url: "https://mistral2.acme.example/v1",
    });
    expect(b.sandbox.keyFingerprint("acme-mistral")).toBe(fingerprint);
    expect(b.sandbox.models()[0]?.base_url).toBe("https://mistral2.acme.example/v1");
  });

  it("a new api_key is sent and reported as rotated, never shown", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const fingerprint = b.sandbox.keyFingerprint("acme-mistral");
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, {
        ...(custom ? { model_name: "mistral-large-2" } : { display_name: "Acme Mistral 2" }),
        api_key: NEW_KEY,
        is_uncensored: "true",
      }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("update");
    const shown = textOf(parseView(ack.view));
    expect(shown).toContain("`api_key`: rotated");
    expect(shown).toContain(custom ? "`mistral-large-2`" : "`Acme Mistral 2`");
    expect(changeRequests(b)[0]?.body).toEqual({
      model_group_name: "acme-mistral",
      ...(custom ? { model_name: "mistral-large-2" } : { display_name: "Acme Mistral 2" }),
      api_key: NEW_KEY,
      is_uncensored: true,
    });
    expect(b.sandbox.keyFingerprint("acme-mistral")).not.toBe(fingerprint);
    expect(everythingSent(b)).not.toContain(NEW_KEY);
  });

  it("an update that changes nothing is told so and sends nothing", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, {
        ...(custom ? { model_name: seeded.model_name } : { display_name: seeded.display_name }),
        base_url: seeded.base_url,
        // /custom-llm's list does not report the flag, so only "keep" can mean "no change" there.
        is_uncensored: custom ? "keep" : "false",
      }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("push");
    expect(textOf(parseView(ack.view))).toContain("Nothing to update");
    expect(changeRequests(b)).toEqual([]);
  });

  it("a model deregistered meanwhile → said clearly, nothing sent", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    await b.sandbox.reset();
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { base_url: "https://mistral2.acme.example/v1" }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("push");
    const shown = textOf(parseView(ack.view));
    expect(shown).toContain("acme-mistral");
    expect(shown).toMatch(/not registered|no custom llm/i);
    expect(changeRequests(b)).toEqual([]);
  });

  it("Convai answering the update with 404 → said clearly with the transaction ID", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    b.sandbox.inject({
      endpoint: "update",
      fault: {
        kind: "status",
        status: 404,
        body: { status: "error", message: "Model 'acme-mistral' not found", transactionID: "tx-404-abc" },
      },
    });
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { base_url: "https://mistral2.acme.example/v1" }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("push");
    const shown = textOf(parseView(ack.view));
    expect(shown).toContain("not found");
    expect(shown).toContain("tx-404-abc");
  });

  it("an invalid base URL → error on base_url, nothing sent", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    const before = b.sandbox.requests.length;
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { base_url: "mistral.acme.example" }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["base_url"]);
    expect(b.sandbox.requests).toHaveLength(before);
  });

  // With /llm-models the update form has no model_name block, so an endpoint test that blames the model name
  // must not come back as `errors.model_name` (Slack rejects errors naming a missing block).
  it("an endpoint test failure never names a block the form lacks", async () => {
    const probe: ProbeFn = async () => ({
      ok: false,
      field: "model_name",
      message: "The endpoint does not serve this model (404)",
      steps: [],
    });
    const b = await bot({ prefix, probe });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues(prefix, { api_key: NEW_KEY, verify: true }),
      view.private_metadata ?? "",
    );
    expect(changeRequests(b)).toEqual([]);
    if (ack.response_action === "errors") {
      for (const key of Object.keys(ack.errors ?? {})) expect(inputIds(view)).toContain(key);
    } else {
      expect(textOf(parseView(ack.view))).toContain("does not serve this model");
    }
  });
});

describe("update: duplicate display name", () => {
  it("/llm-models: 409 duplicate display name → error on display_name", async () => {
    const b = await bot({ prefix: "/llm-models" });
    await b.sandbox.seed([
      seeded,
      { ...seeded, model_group_name: "other", display_name: "Other Model", api_key: "sk-other-SECRET" },
    ]);
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues("/llm-models", { display_name: "Other Model" }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["display_name"]);
  });
});

// ---- deregister -------------------------------------------------------------------------------------------------

describe.each(PREFIXES)("deregister modal with %s", (prefix) => {
  it("shows the model, says no character uses it, asks for the group name", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { opened, view, convaiCallsAtOpen } = await openModal(b, "deregister acme-mistral");
    expect(convaiCallsAtOpen).toBe(0);
    expect(opened.callback_id).toBe(CALLBACKS.deregister);
    expect(view.callback_id).toBe(CALLBACKS.deregister);
    expect(inputIds(view)).toEqual(["confirm_group_name"]);
    expect(field(view, "confirm_group_name").initial_value).toBeUndefined();
    const shown = textOf(view);
    expect(shown).toContain("acme-mistral");
    expect(shown).toContain(seeded.model_name);
    expect(shown).toContain("No character uses it.");
  });

  it("a wrong confirmation → error on confirm_group_name, nothing deregistered", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "deregister acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.deregister,
      stateValues({ confirm_group_name: input.text("acme-mistra") }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("errors");
    expect(Object.keys(ack.errors ?? {})).toEqual(["confirm_group_name"]);
    expect(changeRequests(b)).toEqual([]);
    expect(b.sandbox.models()).toHaveLength(1);
  });

  it("the right confirmation deregisters and says what it means", async () => {
    const b = await bot({ prefix });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "deregister acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.deregister,
      stateValues({ confirm_group_name: input.text("  acme-mistral ") }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("update");
    const outcome = parseView(ack.view);
    expect(outcome.title.text).toBe("Model deregistered");
    expect(textOf(outcome)).toContain("deregistered");
    expect(changeRequests(b).map((r) => [r.path, r.body])).toEqual([
      [`${prefix}/deregister`, { model_group_name: "acme-mistral" }],
    ]);
    expect(b.sandbox.models()).toEqual([]);
  });
});

// ---- Convai slower than Slack's window ----------------------------------------------------------------------------

describe("slower than the 3-second window", () => {
  it("register: ack is the working view, then views.update shows the outcome", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 800 } });
    const ack = await submit(b, CALLBACKS.register, registerValues("/llm-models"), REGISTER_META);
    // The ack is the working view, so it did not wait for Convai's delayed answer.
    expect(ack.response_action).toBe("update");
    const working = parseView(ack.view);
    expect(working.callback_id).toBe(CALLBACKS.register);
    expect(textOf(working)).toContain("Working");
    expect(working.submit).toBeUndefined();

    const outcome = await followUp(b);
    expect(outcome.title.text).toBe("Model registered");
    expect(textOf(outcome)).toContain("acme-llama");
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-llama"]);
  });

  it("register: when the modal was closed meanwhile, the outcome arrives as a direct message", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    b.fake.on("views.update", () => ({ body: { ok: false, error: "not_found" } }));
    b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 800 } });
    const ack = await submit(b, CALLBACKS.register, registerValues("/llm-models"), REGISTER_META);
    expect(textOf(parseView(ack.view))).toContain("Working");
    const dm = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === MANAGER, 5000);
    expect(String(dm.args.text)).toContain("model registered");
    expect(JSON.stringify(dm.args.blocks)).toContain("acme-llama");
    expect(JSON.stringify(dm.args)).not.toContain(MODEL_KEY);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-llama"]);
  });

  it.each(PREFIXES)(
    "register with %s: a 409 after the working view restores the form as typed, except api_key",
    async (prefix) => {
      const b = await bot({ prefix, submitBudgetMs: 300 });
      await b.sandbox.seed([{ ...seeded, model_group_name: "acme-llama" }]);
      b.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 800 } });
      const ack = await submit(
        b,
        CALLBACKS.register,
        registerValues(prefix, { uncensored: true }),
        REGISTER_META,
      );
      expect(textOf(parseView(ack.view))).toContain("Working");

      const form = await followUp(b);
      expect(form.callback_id).toBe(CALLBACKS.register);
      expect(sorted(inputIds(form))).toEqual(sorted(FORMS[prefix].register));
      expect(form.private_metadata).toBe(REGISTER_META);
      expect(field(form, "model_group_name").initial_value).toBe("acme-llama");
      expect(field(form, "model_name").initial_value).toBe("meta-llama/Llama-3.1-70B-Instruct");
      expect(field(form, "base_url").initial_value).toBe("https://llm.acme.example/v1");
      expect(field(form, "is_uncensored").initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
      if (prefix === "/llm-models") expect(field(form, "display_name").initial_value).toBe("Acme Llama");
      expect(field(form, "api_key").initial_value).toBeUndefined();
      // The error sits right under its field.
      const index = form.blocks.findIndex((blk) => blk.block_id === "model_group_name");
      const under = form.blocks[index + 1];
      expect(under?.type).toBe("context");
      expect(JSON.stringify(under)).toMatch(/already exists/i);
      expect(everythingSent(b)).not.toContain(MODEL_KEY);
    },
  );

  it("update: a duplicate display name after the working view shows the error under display_name", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    await b.sandbox.seed([
      seeded,
      { ...seeded, model_group_name: "other", display_name: "Other Model", api_key: "sk-other-SECRET" },
    ]);
    const { view } = await openModal(b, "update acme-mistral");
    b.sandbox.inject({ endpoint: "update", fault: { kind: "delay", ms: 800 } });
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues("/llm-models", {
        display_name: "Other Model",
        base_url: "https://mistral2.acme.example/v1",
        api_key: NEW_KEY,
      }),
      view.private_metadata ?? "",
    );
    expect(textOf(parseView(ack.view))).toContain("Working");
    const form = await followUp(b);
    expect(form.callback_id).toBe(CALLBACKS.update);
    expect(field(form, "display_name").initial_value).toBe("Other Model");
    expect(field(form, "base_url").initial_value).toBe("https://mistral2.acme.example/v1");
    expect(field(form, "api_key").initial_value).toBeUndefined();
    const index = form.blocks.findIndex((blk) => blk.block_id === "display_name");
    expect(form.blocks[index + 1]?.type).toBe("context");
    expect(JSON.stringify(form.blocks[index + 1])).toMatch(/display name/i);
    expect(everythingSent(b)).not.toContain(NEW_KEY);
  });

  // When the form cannot be rebuilt (the re-read fails), the fallback view must still carry the field error,
  // or the user never learns what was wrong.
  it("update: a field error after the working view is still explained when the form cannot be rebuilt", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    await b.sandbox.seed([
      seeded,
      { ...seeded, model_group_name: "other", display_name: "Other Model", api_key: "sk-other-SECRET" },
    ]);
    const { view } = await openModal(b, "update acme-mistral");
    b.sandbox.inject({ endpoint: "update", fault: { kind: "delay", ms: 800 } });
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues("/llm-models", { display_name: "Other Model" }),
      view.private_metadata ?? "",
    );
    expect(textOf(parseView(ack.view))).toContain("Working");
    // Convai's list breaks while the update is still running: the form cannot be rebuilt.
    b.sandbox.inject({
      endpoint: "list",
      times: 10,
      fault: { kind: "status", status: 500, body: { status: "error", message: "Internal error" } },
    });
    const shown = textOf(await followUp(b));
    expect(shown).toMatch(/nothing was saved/i);
    expect(shown).toMatch(/display name/i);
  });

  it("deregister: working view, then the outcome", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    await b.sandbox.seed([seeded]);
    const { view } = await openModal(b, "deregister acme-mistral");
    b.sandbox.inject({ endpoint: "deregister", fault: { kind: "delay", ms: 800 } });
    const ack = await submit(
      b,
      CALLBACKS.deregister,
      stateValues({ confirm_group_name: input.text("acme-mistral") }),
      view.private_metadata ?? "",
    );
    expect(textOf(parseView(ack.view))).toContain("Working");
    const outcome = await followUp(b);
    expect(outcome.title.text).toBe("Model deregistered");
    expect(b.sandbox.models()).toEqual([]);
  });
});

// Issue 16 item 4: a base URL's query string (it may carry a key) is never shown in Slack.
describe("a base URL's query string is shown as ?…", () => {
  it("in the outcome, the notification's facts and before → after, the list and the Home", async () => {
    const OLD_Q = "OLDQUERY-secret-1";
    const NEW_Q = "NEWQUERY-secret-2";
    const b = await bot({ env: { CONVAI_NOTIFY_CHANNEL: "C0NOTIFY" } });
    await b.sandbox.seed([
      { ...seeded, base_url: `https://mistral.acme.example/v1?api-version=1&key=${OLD_Q}` },
    ]);
    const { view } = await openModal(b, "update acme-mistral");
    const ack = await submit(
      b,
      CALLBACKS.update,
      updateValues("/llm-models", { base_url: `https://mistral.acme.example/v2?key=${NEW_Q}` }),
      view.private_metadata ?? "",
    );
    expect(ack.response_action).toBe("update");
    // Sent in full to Convai, where it is used.
    expect(JSON.stringify(changeRequests(b)[0]?.body)).toContain(NEW_Q);
    const outcome = textOf(parseView(ack.view));
    expect(outcome).toContain("`https://mistral.acme.example/v1?…` → `https://mistral.acme.example/v2?…`");
    const notice = await b.fake.waitFor("chat.postMessage", (c) => c.args.channel === "C0NOTIFY");
    expect(JSON.stringify(notice.args)).toContain("https://mistral.acme.example/v2?…");
    const { reply } = await command(b, "list");
    const listed = await reply();
    await sendEvent(b.url, appHomeOpened({ userId: MANAGER }));
    const home = await b.fake.waitFor("views.publish", (c) =>
      JSON.stringify(c.args).includes("acme-mistral"),
    );
    for (const shown of [
      outcome,
      JSON.stringify(notice.args),
      JSON.stringify(listed),
      JSON.stringify(home.args),
    ]) {
      expect(shown).not.toContain(OLD_Q);
      expect(shown).not.toContain(NEW_Q);
    }
  });
});
