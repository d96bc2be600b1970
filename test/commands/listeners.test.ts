/**
 * Every row of the SPEC §3 command table end to end: signed slash commands over real HTTP to the real bot,
 * ephemeral answers in the ack body or through response_url, modals through the fake Slack Web API, and the
 * Convai sandbox behind it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  MANAGER,
  MEMBER,
  runCommand,
  startTestBot,
  type TestBot,
  type TestBotOptions,
} from "../helpers/bot.js";

const messageSchema = z.looseObject({
  response_type: z.literal("ephemeral"),
  text: z.string(),
  blocks: z.array(
    z.looseObject({ type: z.string(), block_id: z.string().optional(), accessory: z.unknown().optional() }),
  ),
});
type Message = z.infer<typeof messageSchema>;
const viewSchema = z.looseObject({
  callback_id: z.string(),
  title: z.looseObject({ text: z.string() }),
  private_metadata: z.string().optional(),
  submit: z.unknown().optional(),
  blocks: z.array(
    z.looseObject({
      type: z.string(),
      block_id: z.string().optional(),
      element: z.looseObject({ type: z.string(), initial_value: z.string().optional() }).optional(),
    }),
  ),
});
type View = z.infer<typeof viewSchema>;

const inputIds = (view: View) =>
  view.blocks.flatMap((b) => (b.type === "input" && b.block_id !== undefined ? [b.block_id] : []));
const initial = (view: View, id: string) =>
  view.blocks.find((b) => b.block_id === id)?.element?.initial_value;
const all = (value: unknown) => JSON.stringify(value);
const modelRows = (m: Message) => m.blocks.filter((b) => b.block_id?.startsWith("model:"));
const SUBCOMMANDS = ["list", "register", "update", "deregister", "help"];

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});
async function bot(options: TestBotOptions = {}): Promise<TestBot> {
  t = await startTestBot(options);
  return t;
}

async function command(b: TestBot, text: string, userId: string = MANAGER) {
  const sent = await runCommand(b, text, userId);
  return {
    res: sent.res,
    /** Replies already posted when the ack arrived: the ack must not wait for them. */
    repliesAtAck: sent.repliesAtAck,
    /** The ephemeral message in the ack body. */
    acked: () => messageSchema.parse(sent.res.json),
    /** The ephemeral message posted to response_url after the ack. */
    reply: async () => messageSchema.parse((await sent.reply()).body),
  };
}

const model = (group: string, extra: Record<string, unknown> = {}) => ({
  model_group_name: group,
  model_name: `${group}-model`,
  display_name: `${group} display`,
  base_url: `https://${group}.example.com/v1`,
  is_uncensored: false,
  api_key: `sk-${group}-SECRET`,
  ...extra,
});

describe("help and unknown input", () => {
  it.each(["", "   ", "help", "  HELP  ", "?"])(
    "%j → ephemeral usage in the ack, nothing else",
    async (text) => {
      const b = await bot();
      const { acked } = await command(b, text, MEMBER);
      const msg = acked();
      for (const sub of SUBCOMMANDS) expect(msg.text).toContain(sub);
      for (const sub of SUBCOMMANDS) expect(all(msg.blocks)).toContain(sub);
      expect(b.sandbox.requests).toEqual([]);
      expect(b.fake.calls).toEqual([]);
      expect(all(msg)).not.toContain("Sandbox mode");
    },
  );

  it("an unknown subcommand → says so, suggests the nearest one, and shows usage", async () => {
    const b = await bot();
    const msg = (await command(b, "regster my-group", MEMBER)).acked();
    expect(msg.text).toMatch(/unknown subcommand/i);
    expect(msg.text).toContain("`regster`");
    expect(msg.text).toContain("Did you mean `register`?");
    for (const sub of SUBCOMMANDS) expect(all(msg.blocks)).toContain(sub);
    expect(b.sandbox.requests).toEqual([]);
  });

  it("an unknown subcommand with no near match → usage without a guess; user text is escaped", async () => {
    const b = await bot();
    const msg = (await command(b, "<!channel>", MEMBER)).acked();
    expect(msg.text).toMatch(/unknown subcommand/i);
    expect(msg.text).not.toContain("Did you mean");
    expect(all(msg)).not.toContain("<!channel>");
    expect(all(msg)).toContain("&lt;!channel&gt;");
  });

  it.each(["update", "deregister", "UPDATE  "])(
    "%j without a group → says which argument is missing",
    async (text) => {
      const b = await bot();
      const msg = (await command(b, text)).acked();
      expect(msg.text).toContain(`${text.trim().toLowerCase()} `);
      expect(msg.text).toMatch(/group/);
      expect(msg.text).toContain("list");
      expect(b.fake.callsTo("views.open")).toEqual([]);
      expect(b.sandbox.requests).toEqual([]);
    },
  );
});

describe("list", () => {
  // Issue 16 item 6: Convai data that would give two rows the same block_id (Slack refuses the message).
  it("a group repeated in Convai's answer, or two groups alike in their first 249 characters, give unique block_ids", async () => {
    const b = await bot();
    const long = "g".repeat(248);
    const models = [model("twin"), model("twin"), model(`${long}😀a`), model(`${long}😀b`)];
    b.sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 200, body: { status: "success", models } },
    });
    const msg = await (await command(b, "list", MEMBER)).reply();
    const ids = msg.blocks.map((blk) => blk.block_id).filter((id) => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    expect(all(msg.blocks)).toContain("twin display");
    // No id ends in half a surrogate pair.
    for (const id of ids)
      expect(id).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(ids.filter((id) => id.startsWith("list_row_"))).toHaveLength(2);
  });

  it("acks at once, then one ephemeral row per model sorted by group, after one Convai call", async () => {
    const b = await bot();
    await b.sandbox.seed([
      model("zeta", { is_uncensored: true }),
      model("alpha"),
      model("mid", { display_name: "Mid <!channel> & co" }),
    ]);
    b.sandbox.inject({ endpoint: "list", fault: { kind: "delay", ms: 600 } });
    const { res, repliesAtAck, reply } = await command(b, "list", MEMBER);
    expect(res.text).toBe("");
    // Ordering, not timing: the ack came back before the (delayed) Convai answer produced the reply.
    expect(repliesAtAck).toBe(0);
    const msg = await reply();
    expect(msg.text).toContain("3 custom LLMs");
    const rows = modelRows(msg);
    expect(rows.map((r) => r.block_id)).toEqual(["model:alpha", "model:mid", "model:zeta"]);
    const zeta = all(rows[2]);
    expect(zeta).toContain("zeta-model");
    expect(zeta).toContain("zeta display");
    expect(zeta).toContain("zeta.example.com");
    expect(zeta).toMatch(/uncensored/);
    expect(zeta).toMatch(/created \d{4}-\d{2}-\d{2}/);
    // Display names are escaped: <!channel> pings nobody.
    expect(all(msg)).not.toContain("<!channel>");
    expect(all(rows[1])).toContain("Mid &lt;!channel&gt; &amp; co");
    // One model list and one character list read (for the "used by" lines).
    expect(b.sandbox.requests.map((r) => r.path).sort()).toEqual(["/character/list", "/llm-models/list"]);
    expect(JSON.stringify(msg)).not.toContain("-SECRET");
    // A member gets no Edit/Deregister menu.
    expect(rows.every((r) => r.accessory === undefined)).toBe(true);
  });

  it("a manager's rows carry the Edit/Deregister menu", async () => {
    const b = await bot();
    await b.sandbox.seed([model("alpha")]);
    const msg = await (await command(b, "list")).reply();
    expect(all(modelRows(msg)[0]?.accessory)).toContain("convai_model_overflow");
  });

  it("a filter matches part of the group, model or display name, case-insensitively", async () => {
    const b = await bot();
    await b.sandbox.seed([
      model("acme-llama"),
      model("beta", { model_name: "Llama-3.1-8B" }),
      model("gamma", { display_name: "Big LLAMA" }),
      model("delta"),
    ]);
    const msg = await (await command(b, "LIST llama", MEMBER)).reply();
    expect(modelRows(msg).map((r) => r.block_id)).toEqual(["model:acme-llama", "model:beta", "model:gamma"]);
    expect(msg.text).toContain("3 custom LLMs matching `llama`");
  });

  it("a filter that matches nothing says so and how many are registered", async () => {
    const b = await bot();
    await b.sandbox.seed([model("alpha")]);
    const msg = await (await command(b, "list nothing-like-this", MEMBER)).reply();
    expect(modelRows(msg)).toEqual([]);
    expect(msg.text).toContain("nothing-like-this");
    expect(msg.text).toContain("1 registered");
  });

  it("the empty state says how to register", async () => {
    const b = await bot();
    const msg = await (await command(b, "list", MEMBER)).reply();
    expect(msg.text).toMatch(/no custom llms are registered/i);
    expect(msg.text).toContain("/convai-llm register");
  });

  it("more models than fit → the first page, the count and the `list <filter>` hint, ≤ 50 blocks", async () => {
    const b = await bot();
    await b.sandbox.seed(Array.from({ length: 75 }, (_, i) => model(`m${String(i).padStart(3, "0")}`)));
    const msg = await (await command(b, "list", MEMBER)).reply();
    expect(msg.blocks.length).toBeLessThanOrEqual(50);
    const rows = modelRows(msg);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(75);
    expect(rows[0]?.block_id).toBe("model:m000");
    expect(msg.text).toContain("75 custom LLMs");
    expect(all(msg.blocks)).toContain(`Showing the first ${rows.length} of 75`);
    expect(all(msg.blocks)).toMatch(/list (&lt;|<)filter(&gt;|>)/);
    expect(msg.text.length).toBeLessThanOrEqual(3000);
  });

  it("a Convai failure is said plainly with what to do", async () => {
    const b = await bot();
    b.sandbox.inject({
      endpoint: "list",
      times: 5,
      fault: {
        kind: "status",
        status: 500,
        body: { status: "error", message: "Internal error", transactionID: "tx-list-500" },
      },
    });
    const msg = await (await command(b, "list", MEMBER)).reply();
    expect(msg.text).toMatch(/could not list/i);
    expect(msg.text).toContain("tx-list-500");
  });
});

describe("register / update / deregister open modals", () => {
  it("register <group> → the register modal with the group prefilled, before any Convai call", async () => {
    const b = await bot();
    let convaiCalls = -1;
    b.fake.on("views.open", () => {
      convaiCalls = b.sandbox.requests.length;
      return undefined;
    });
    const { res } = await command(b, "Register  acme-llama  ");
    expect(res.text).toBe("");
    const view = viewSchema.parse((await b.fake.waitFor("views.open")).args.view);
    expect(convaiCalls).toBe(0);
    expect(view.callback_id).toBe("convai_llm_register");
    expect(initial(view, "model_group_name")).toBe("acme-llama");
    expect(b.sandbox.requests).toEqual([]);
    expect(b.fake.responses).toEqual([]);
  });

  it("a slow permission check does not hold views.open past the trigger's 3 s: the form opens, then follows it", async () => {
    const b = await bot({ env: { CONVAI_MANAGERS: "", CONVAI_MANAGER_GROUP: "S0MGRS" } });
    b.fake.usergroups.set("S0MGRS", [MANAGER]);
    // Slack's user-group read takes 2.5 s: waiting for it would leave the trigger_id ~0.5 s.
    let answeredAt = Number.POSITIVE_INFINITY;
    b.fake.on("usergroups.users.list", () => {
      answeredAt = Date.now() + 2500;
      return { delayMs: 2500 };
    });
    let openedAt = Number.POSITIVE_INFINITY;
    b.fake.on("views.open", () => {
      openedAt = Date.now();
      return undefined;
    });
    await command(b, "register acme-llama", MEMBER);
    await b.fake.waitFor("views.open", undefined, 5000);
    const update = await b.fake.waitFor("views.update", undefined, 8000);
    const refused = viewSchema.parse(update.args.view);
    expect(refused.title.text).toBe("Not allowed");
    expect(JSON.stringify(refused.blocks)).toContain("<!subteam^S0MGRS>");
    // The form opened before Slack answered the check, and turned into the refusal after.
    expect(openedAt).toBeLessThan(answeredAt);
    expect(b.sandbox.requests).toEqual([]);
  });

  it("a slow permission check that allows: the form opens early and stays", async () => {
    const b = await bot({ env: { CONVAI_MANAGERS: "", CONVAI_MANAGER_GROUP: "S0MGRS" } });
    b.fake.usergroups.set("S0MGRS", [MANAGER]);
    let answeredAt = Number.POSITIVE_INFINITY;
    b.fake.on("usergroups.users.list", () => {
      answeredAt = Date.now() + 1500;
      return { delayMs: 1500 };
    });
    let openedAt = Number.POSITIVE_INFINITY;
    b.fake.on("views.open", () => {
      openedAt = Date.now();
      return undefined;
    });
    await command(b, "register acme-llama");
    const view = viewSchema.parse((await b.fake.waitFor("views.open", undefined, 5000)).args.view);
    expect(view.callback_id).toBe("convai_llm_register");
    expect(openedAt).toBeLessThan(answeredAt);
    await new Promise((resolve) => setTimeout(resolve, 1800));
    expect(b.fake.callsTo("usergroups.users.list")).toHaveLength(1);
    expect(b.fake.callsTo("views.update")).toEqual([]);
  });

  it("register without a group → an empty register modal", async () => {
    const b = await bot();
    await command(b, "register");
    const view = viewSchema.parse((await b.fake.waitFor("views.open")).args.view);
    expect(view.callback_id).toBe("convai_llm_register");
    expect(initial(view, "model_group_name")).toBeUndefined();
  });

  it("the command is acked even when views.open is slow (nothing runs before ack)", async () => {
    const b = await bot();
    // views.open is held until the test releases it, so the ack cannot have waited for it.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    b.fake.on("views.open", async () => {
      await gate;
      return {};
    });
    const { res } = await command(b, "register");
    expect(res.text).toBe("");
    release();
    await b.fake.waitFor("views.open");
    expect(b.fake.callsTo("auth.test")).toEqual([]);
  });

  it("update <group> → loading view at once, then the update form prefilled from list", async () => {
    const b = await bot();
    await b.sandbox.seed([model("acme-llama")]);
    let convaiCalls = -1;
    b.fake.on("views.open", () => {
      convaiCalls = b.sandbox.requests.length;
      return { body: { ok: true, view: { id: "VLOAD1", hash: "h1" } } };
    });
    await command(b, "update acme-llama");
    const loading = viewSchema.parse((await b.fake.waitFor("views.open")).args.view);
    expect(convaiCalls).toBe(0);
    expect(loading.callback_id).toBe("convai_llm_update");
    expect(loading.submit).toBeUndefined();
    expect(all(loading.blocks)).toMatch(/Loading `acme-llama`/);
    const filled = await b.fake.waitFor("views.update");
    expect(filled.args.view_id).toBe("VLOAD1");
    const view = viewSchema.parse(filled.args.view);
    expect(view.callback_id).toBe("convai_llm_update");
    expect(initial(view, "display_name")).toBe("acme-llama display");
    expect(initial(view, "base_url")).toBe("https://acme-llama.example.com/v1");
    expect(initial(view, "api_key")).toBeUndefined();
    expect(all(view)).toContain("acme-llama-model");
    expect(all(view)).not.toContain("-SECRET");
    expect(b.sandbox.requests.map((r) => r.path).sort()).toEqual(["/character/list", "/llm-models/list"]);
  });

  it("update of an unknown group → said plainly in the modal", async () => {
    const b = await bot();
    await b.sandbox.seed([model("acme-llama")]);
    await command(b, "update nope");
    const view = viewSchema.parse((await b.fake.waitFor("views.update")).args.view);
    expect(view.title.text).toBe("Unknown model");
    expect(view.submit).toBeUndefined();
    expect(all(view.blocks)).toContain("No custom LLM named nope is registered");
    expect(inputIds(view)).toEqual([]);
  });

  it("deregister <group> → the model, the warning, and confirm_group_name", async () => {
    const b = await bot();
    await b.sandbox.seed([model("acme-llama")]);
    await command(b, "deregister acme-llama");
    const loading = viewSchema.parse((await b.fake.waitFor("views.open")).args.view);
    expect(loading.callback_id).toBe("convai_llm_deregister");
    const view = viewSchema.parse((await b.fake.waitFor("views.update")).args.view);
    expect(view.callback_id).toBe("convai_llm_deregister");
    expect(inputIds(view)).toEqual(["confirm_group_name"]);
    expect(all(view.blocks)).toContain("acme-llama-model");
    expect(all(view.blocks)).toContain("No character uses it.");
    expect(JSON.parse(view.private_metadata ?? "{}")).toMatchObject({ group: "acme-llama" });
  });

  it.each(["register", "update acme-llama", "deregister acme-llama"])(
    "%s from a non-manager → refused in an ephemeral reply; no modal, no Convai call",
    async (text) => {
      const b = await bot();
      const msg = await (await command(b, text, MEMBER)).reply();
      expect(msg.text).toMatch(/only .* can change custom llms/i);
      expect(b.fake.callsTo("views.open")).toEqual([]);
      expect(b.sandbox.requests).toEqual([]);
    },
  );

  it("an invalid group on update → said in an ephemeral reply, no modal", async () => {
    const b = await bot();
    const msg = await (await command(b, `update ${"g".repeat(200)}`)).reply();
    expect(msg.text).toMatch(/not a valid group name/i);
    expect(b.fake.callsTo("views.open")).toEqual([]);
  });

  it("an expired trigger → the user is told to run the command again", async () => {
    const b = await bot();
    b.fake.on("views.open", () => ({ body: { ok: false, error: "expired_trigger_id" } }));
    const msg = await (await command(b, "register")).reply();
    expect(msg.text).toContain("expired_trigger_id");
    expect(msg.text).toMatch(/run the command again/i);
  });
});
