/**
 * Socket Mode end to end (issue 8): the real bot (createApp with SLACK_APP_TOKEN) over a real WebSocket to the
 * fake Socket Mode server, the fake Slack Web API for apps.connections.open and every other call, and the Convai
 * sandbox over real HTTP. Nothing is module-mocked.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { LogLevel, type Logger as SlackLogger } from "@slack/bolt";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { ACTION, CALLBACK } from "../../../src/slack/ids.js";
import { createSocketConnection } from "../../../src/slack/socket-mode/supervisor.js";
import { MANAGER } from "../../helpers/bot.js";
import type { Ack } from "../../helpers/fake-socket-mode.js";
import {
  appHomeOpened,
  blockAction,
  commandPayload,
  input,
  stateValues,
  type ViewSubmissionOpts,
  viewSubmission,
} from "../../helpers/slack-requests.js";
import { APP_TOKEN, type SocketBot, startSocketBot } from "../../helpers/socket-bot.js";

const NOTIFY_CHANNEL = "C0NOTIFY";
const MODEL_KEY = "sk-model-SOCKET-SECRET-5678";
const ACK_BUDGET_MS = 3_000;

let t: SocketBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The ack's payload as an object (the client always sends one). */
function payloadOf(ack: Ack): Record<string, unknown> {
  if (!isRecord(ack.payload)) throw new Error(`ack payload is not an object: ${JSON.stringify(ack.payload)}`);
  return ack.payload;
}

function registerSubmission(overrides: Partial<ViewSubmissionOpts> = {}, group = "sock-turbo"): object {
  return viewSubmission({
    callbackId: CALLBACK.register,
    userId: MANAGER,
    privateMetadata: JSON.stringify({ v: 1, origin: "command" }),
    values: stateValues({
      model_group_name: input.text(group),
      model_name: input.text("gpt-4o-mini"),
      display_name: input.text(`Turbo ${group}`),
      api_key: input.text(MODEL_KEY),
      base_url: input.url("https://api.openai.com/v1"),
      is_uncensored: input.checkbox([]),
      verify: input.checkbox([]),
    }),
    ...overrides,
  });
}

function registerCalls(bot: SocketBot) {
  return bot.sandbox.requests.filter((r) => r.method === "POST" && r.path.endsWith("/register"));
}

/** Sends an envelope and checks the ack: within Slack's 3 s, exactly one, with the envelope's own id. */
async function sendTimed(bot: SocketBot, send: () => Promise<Ack>): Promise<Ack> {
  const before = bot.sm.acks.length;
  const started = Date.now();
  const ack = await send();
  expect(ack.at - started).toBeLessThan(ACK_BUDGET_MS);
  const mine = bot.sm.acks.slice(before).filter((a) => a.envelope_id === ack.envelope_id);
  expect(mine).toHaveLength(1);
  return ack;
}

async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = portOf(server.address());
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function portOf(address: AddressInfo | string | null): number {
  if (address === null || typeof address === "string") throw new Error("expected a TCP address");
  return address.port;
}

function captureLogger(): SlackLogger & { lines: string[] } {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (...msg: unknown[]) => {
      lines.push(`${level} ${msg.map(String).join(" ")}`);
    };
  return {
    lines,
    debug: push("debug"),
    info: push("info"),
    warn: push("warn"),
    error: push("error"),
    setLevel: () => undefined,
    getLevel: () => LogLevel.DEBUG,
    setName: () => undefined,
  };
}

describe("Socket Mode: serving the flows over a real WebSocket", () => {
  it("connects with the app token through SLACK_API_URL and answers `list` (ack in time, right envelope)", async () => {
    t = await startSocketBot();
    await t.sandbox.seed([
      { model_group_name: "seeded-one", model_name: "llama-3", api_key: "k-seeded-0001" },
    ]);
    const open = await t.fake.waitFor("apps.connections.open");
    expect(open.token).toBe(APP_TOKEN);
    expect(t.sm.connections).toBe(1);

    const bot = t;
    const responseUrl = bot.fake.responseUrl("list1");
    const ack = await sendTimed(bot, () => bot.sm.sendCommand({ text: "list", responseUrl }));
    expect(ack.payload).toEqual({});
    const reply = await bot.fake.waitForResponse((r) => r.id === "list1");
    expect(reply.body.response_type).toBe("ephemeral");
    expect(JSON.stringify(reply.body)).toContain("seeded-one");
    expect(bot.sandbox.requests.filter((r) => r.path === "/llm-models/list")).toHaveLength(1);
    // Identity known at start-up: Bolt never calls auth.test per request.
    expect(bot.fake.callsTo("auth.test")).toHaveLength(0);
  });

  it("runs a full register: command opens the modal, the submission registers once and notifies the channel", async () => {
    t = await startSocketBot({ env: { CONVAI_NOTIFY_CHANNEL: NOTIFY_CHANNEL } });
    const bot = t;
    const cmdAck = await sendTimed(bot, () =>
      bot.sm.sendCommand({
        text: "register sock-turbo",
        userId: MANAGER,
        responseUrl: bot.fake.responseUrl(),
      }),
    );
    expect(cmdAck.payload).toEqual({});
    const opened = await bot.fake.waitFor("views.open");
    expect(isRecord(opened.args.view) && opened.args.view.callback_id).toBe(CALLBACK.register);
    const metadata = isRecord(opened.args.view) ? opened.args.view.private_metadata : undefined;
    expect(typeof metadata).toBe("string");

    const ack = await sendTimed(bot, () =>
      bot.sm.sendInteractive(
        registerSubmission(typeof metadata === "string" ? { privateMetadata: metadata } : {}),
      ),
    );
    const payload = payloadOf(ack);
    expect(payload.response_action).toBe("update");
    expect(JSON.stringify(payload.view)).toContain("sock-turbo");

    expect(registerCalls(bot)).toHaveLength(1);
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["sock-turbo"]);
    const note = await bot.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY_CHANNEL);
    expect(String(note.args.text)).toContain("sock-turbo");
    expect(JSON.stringify(note.args)).toContain(`<@${MANAGER}>`);
    expect(bot.fake.callsTo("chat.postMessage")).toHaveLength(1);

    // At LOG_LEVEL=debug the Socket Mode client logs whole envelopes: the key typed into the form must not leak.
    const everything = [...bot.logs, ...bot.sm.rawLog, ...bot.fake.rawLog].join("\n");
    expect(everything).not.toContain(MODEL_KEY);
    expect(bot.logs.join("\n")).not.toContain(APP_TOKEN);
    expect(bot.logs.join("\n")).not.toMatch(/ticket=(?!\[redacted\])/);
  });

  it("returns field errors in the envelope ack (response_action: errors), and Convai is not called", async () => {
    t = await startSocketBot();
    const bot = t;
    const ack = await sendTimed(bot, () => bot.sm.sendInteractive(registerSubmission({}, "has space")));
    const payload = payloadOf(ack);
    expect(payload.response_action).toBe("errors");
    expect(isRecord(payload.errors) && Object.keys(payload.errors)).toEqual(["model_group_name"]);
    expect(registerCalls(bot)).toHaveLength(0);

    // A Convai 409 (duplicate group) comes back the same way, on its field.
    await bot.sandbox.seed([{ model_group_name: "taken", model_name: "m", api_key: "k-taken-0001" }]);
    const dup = payloadOf(
      await sendTimed(bot, () => bot.sm.sendInteractive(registerSubmission({}, "taken"))),
    );
    expect(dup.response_action).toBe("errors");
    expect(isRecord(dup.errors) && Object.keys(dup.errors)).toContain("model_group_name");
  });
});

describe("Socket Mode: buttons and events", () => {
  it("serves a button click (block_actions) and app_home_opened (events_api)", async () => {
    t = await startSocketBot();
    const bot = t;
    const click = await sendTimed(bot, () =>
      bot.sm.sendInteractive(
        blockAction({ actionId: ACTION.openRegister, userId: MANAGER, viewId: "VHOME" }),
      ),
    );
    expect(click.payload).toEqual({});
    const opened = await bot.fake.waitFor("views.open");
    expect(isRecord(opened.args.view) && opened.args.view.callback_id).toBe(CALLBACK.register);

    const event = await sendTimed(bot, () => bot.sm.sendEvent(appHomeOpened({ userId: MANAGER })));
    expect(event.payload).toEqual({});
    const published = await bot.fake.waitFor("views.publish", (c) => c.args.user_id === MANAGER, 5_000);
    expect(isRecord(published.args.view) && published.args.view.type).toBe("home");
  });
});

describe("Socket Mode: health and reconnects", () => {
  it("/healthz is 200 while connected, 503 after the socket drops, 200 again after the reconnect", async () => {
    t = await startSocketBot();
    const bot = t;
    const up = await bot.health();
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toEqual({ ok: true });

    // The next apps.connections.open answers slowly, so the disconnected window is long enough to observe.
    bot.fake.on("apps.connections.open", () => ({ delayMs: 400 }));
    bot.sm.dropAll();
    await bot.waitForHealth((s) => s !== 200, 1_000);
    const down = await bot.health();
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ ok: false, reason: "socket disconnected" });
    expect(bot.bot.healthy).toBe(false);
    await bot.waitForHealth((s) => s === 200, 5_000);
    expect(bot.sm.connections).toBe(2);

    // Unhindered, a reconnect is measured from the drop to the new socket and to /healthz 200.
    bot.fake.reset();
    const dropped = Date.now();
    bot.sm.dropAll();
    await bot.sm.waitForConnection(3, 5_000);
    const socketBack = Date.now() - dropped;
    await bot.waitForHealth((s) => s === 200, 5_000);
    const healthBack = Date.now() - dropped;
    console.info(
      `[socket-mode] abrupt drop → new socket after ${socketBack} ms, /healthz 200 again after ${healthBack} ms`,
    );
    expect(healthBack).toBeLessThan(3_000);
    expect(bot.fake.callsTo("apps.connections.open")).toHaveLength(1);
    expect(bot.logs.join("\n")).toMatch(/Socket Mode reconnected to Slack after \d+ ms/);

    // The new connection serves requests.
    const ack = await sendTimed(bot, () =>
      bot.sm.sendCommand({ text: "help", responseUrl: bot.fake.responseUrl() }),
    );
    expect(JSON.stringify(ack.payload)).toContain("register");
  });

  it("keeps trying when a reconnect attempt fails (Slack refuses once), without crashing", async () => {
    t = await startSocketBot();
    const bot = t;
    let refusals = 0;
    bot.fake.on("apps.connections.open", () => {
      if (refusals > 0) return undefined;
      refusals += 1;
      return { body: { ok: false, error: "invalid_auth" } };
    });
    bot.sm.dropAll();
    await bot.sm.waitForConnection(2, 5_000);
    await bot.waitForHealth((s) => s === 200, 2_000);
    // Start-up, the refused attempt, the successful one.
    expect(bot.fake.callsTo("apps.connections.open")).toHaveLength(3);
    expect(bot.logs.join("\n")).toMatch(/reconnect attempt 1 failed.*invalid_auth/);
    const ack = await sendTimed(bot, () =>
      bot.sm.sendCommand({ text: "help", responseUrl: bot.fake.responseUrl() }),
    );
    expect(JSON.stringify(ack.payload)).toContain("register");
  });

  it("reconnects after a `disconnect` message and serves the next request on the new connection", async () => {
    t = await startSocketBot();
    const bot = t;
    const started = Date.now();
    bot.sm.disconnect("refresh_requested");
    await bot.sm.waitForConnection(2, 5_000);
    await until(() => bot.sm.openSockets === 1, "the old socket to close");
    console.info(`[socket-mode] \`disconnect\` message → new connection in ${Date.now() - started} ms`);
    expect(bot.fake.callsTo("apps.connections.open")).toHaveLength(2);
    expect((await bot.health()).status).toBe(200);

    await bot.sandbox.seed([{ model_group_name: "after-refresh", model_name: "m", api_key: "k-refresh-01" }]);
    const responseUrl = bot.fake.responseUrl("after");
    const ack = await sendTimed(bot, () => bot.sm.sendCommand({ text: "list", responseUrl }));
    expect(ack.payload).toEqual({});
    const reply = await bot.fake.waitForResponse((r) => r.id === "after");
    expect(JSON.stringify(reply.body)).toContain("after-refresh");
    expect(bot.sm.connections).toBe(2);
  });

  it("does not lose an acknowledged submission when the socket drops while Convai is working", async () => {
    t = await startSocketBot({ submitBudgetMs: 300, env: { CONVAI_NOTIFY_CHANNEL: NOTIFY_CHANNEL } });
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_000 } });
    const ack = await sendTimed(bot, () => bot.sm.sendInteractive(registerSubmission()));
    // Acknowledged with the "working" view; the outcome must come later through views.update.
    expect(payloadOf(ack).response_action).toBe("update");
    expect(bot.fake.callsTo("views.update")).toHaveLength(0);

    bot.sm.dropAll();
    const update = await bot.fake.waitFor("views.update", undefined, 5_000);
    expect(JSON.stringify(update.args.view)).toContain("sock-turbo");
    expect(update.args.view_id).toBe("V0VIEW");
    expect(registerCalls(bot)).toHaveLength(1);
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["sock-turbo"]);
    await bot.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY_CHANNEL);
    await bot.sm.waitForConnection(2, 5_000);
  });
});

describe("Socket Mode: a refresh (`disconnect` message) loses nothing (issue 12 item 6)", () => {
  /** When connection `n` was sent hello / closed, per the fake server. */
  function at(bot: SocketBot, connection: number, kind: "hello" | "close"): number | undefined {
    return bot.sm.history.find((e) => e.connection === connection && e.kind === kind)?.at;
  }

  it("a submission waiting 1 s at Convai when `disconnect` arrives: one ack, on the old live socket, outcome delivered", async () => {
    t = await startSocketBot({ submitBudgetMs: 300, env: { CONVAI_NOTIFY_CHANNEL: NOTIFY_CHANNEL } });
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_000 } });
    // The new connection is slow to come up, so the submission's ack falls due before it is there.
    bot.fake.on("apps.connections.open", () => ({ delayMs: 800 }));
    const before = bot.sm.acks.length;
    const submitted = bot.sm.sendInteractive(registerSubmission());
    await until(() => registerCalls(bot).length === 1, "the register call to reach Convai");
    const asked = Date.now();
    bot.sm.disconnect("refresh_requested");

    const ack = await submitted;
    // The "working" view, acknowledged on the socket the envelope came on, which is still open...
    expect(payloadOf(ack).response_action).toBe("update");
    expect(ack.connection).toBe(1);
    expect(at(bot, 1, "close")).toBeUndefined();
    // ...and serving meanwhile: /healthz never drops for a routine refresh.
    expect((await bot.health()).status).toBe(200);

    await bot.sm.waitForConnection(2, 5_000);
    await until(() => at(bot, 1, "close") !== undefined, "the old socket to close");
    const newUp = at(bot, 2, "hello") ?? 0;
    const oldClosed = at(bot, 1, "close") ?? 0;
    expect(oldClosed).toBeGreaterThanOrEqual(newUp);
    expect(bot.sm.acks.slice(before).filter((a) => a.envelope_id === ack.envelope_id)).toHaveLength(1);
    expect(bot.sm.acks.slice(before)).toHaveLength(1);

    // The outcome reaches the user through the Web API, and Convai saw the change once.
    const update = await bot.fake.waitFor("views.update", undefined, 5_000);
    expect(JSON.stringify(update.args.view)).toContain("sock-turbo");
    expect(update.args.view_id).toBe("V0VIEW");
    expect(registerCalls(bot)).toHaveLength(1);
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["sock-turbo"]);
    await bot.fake.waitFor("chat.postMessage", (c) => c.args.channel === NOTIFY_CHANNEL);
    expect(bot.fake.callsTo("apps.connections.open")).toHaveLength(2);
    console.info(
      `[socket-mode] refresh with a slow new connection: new socket up ${newUp - asked} ms after \`disconnect\`, ` +
        `old socket closed ${oldClosed - newUp} ms after that; ack at ${ack.at - asked} ms on connection ${ack.connection}`,
    );
  });

  it("an ack due after the new socket is up still goes on the old one, which closes once it is sent", async () => {
    t = await startSocketBot();
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_000 } });
    const submitted = bot.sm.sendInteractive(registerSubmission());
    await until(() => registerCalls(bot).length === 1, "the register call to reach Convai");
    const asked = Date.now();
    bot.sm.disconnect("refresh_requested");
    await bot.sm.waitForConnection(2, 5_000);
    const newUp = at(bot, 2, "hello") ?? 0;
    expect(at(bot, 1, "close")).toBeUndefined();

    // Within the submit budget the outcome itself goes back in the ack, on the socket it came on.
    const ack = await submitted;
    expect(ack.connection).toBe(1);
    expect(payloadOf(ack).response_action).toBe("update");
    expect(JSON.stringify(payloadOf(ack).view)).toContain("sock-turbo");
    await until(() => at(bot, 1, "close") !== undefined, "the old socket to close");
    const oldClosed = at(bot, 1, "close") ?? 0;
    expect(oldClosed).toBeGreaterThanOrEqual(ack.at);
    expect(bot.sm.openSockets).toBe(1);
    expect(bot.sm.acks.filter((a) => a.envelope_id === ack.envelope_id)).toHaveLength(1);

    // New requests go to the new socket and are answered there.
    const help = await sendTimed(bot, () =>
      bot.sm.sendCommand({ text: "help", responseUrl: bot.fake.responseUrl() }),
    );
    expect(help.connection).toBe(2);
    expect(JSON.stringify(help.payload)).toContain("register");
    console.info(
      `[socket-mode] refresh: new socket up ${newUp - asked} ms after \`disconnect\`; old socket kept ` +
        `${oldClosed - newUp} ms for its pending ack (sent ${ack.at - asked} ms after \`disconnect\`)`,
    );
  });
  it("a replaced connection whose ack never comes is closed after retireTimeoutMs, and says so", async () => {
    t = await startSocketBot({ start: false });
    const bot = t;
    const logger = captureLogger();
    // No Bolt app behind this receiver: an envelope is dispatched and never acknowledged.
    const connection = createSocketConnection({
      appToken: APP_TOKEN,
      clientOptions: { slackApiUrl: bot.fake.apiUrl, retryConfig: { retries: 0 } },
      logger,
      retireTimeoutMs: 300,
    });
    try {
      await connection.start();
      const unanswered = bot.sm
        .send("slash_commands", commandPayload({ text: "list", responseUrl: bot.fake.responseUrl() }), 3_000)
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
      bot.sm.disconnect("refresh_requested");
      await bot.sm.waitForConnection(2, 5_000);
      await until(() => at(bot, 1, "close") !== undefined, "the old socket to close");
      const kept = (at(bot, 1, "close") ?? 0) - (at(bot, 2, "hello") ?? 0);
      expect(kept).toBeGreaterThanOrEqual(250);
      expect(kept).toBeLessThan(2_000);
      expect(connection.connected).toBe(true);
      expect(logger.lines.join("\n")).toMatch(
        /Closing the replaced Socket Mode connection with 1 envelope\(s\) not yet acknowledged after 300 ms/,
      );
      await unanswered;
    } finally {
      await connection.close();
    }
  });

  it("an ack due after its socket dropped goes on the new socket, once, and the outcome is in it", async () => {
    t = await startSocketBot();
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_000 } });
    const submitted = bot.sm.sendInteractive(registerSubmission());
    await until(() => registerCalls(bot).length === 1, "the register call to reach Convai");
    bot.sm.dropAll();
    await bot.sm.waitForConnection(2, 5_000);
    const ack = await submitted;
    expect(ack.connection).toBe(2);
    expect(JSON.stringify(payloadOf(ack).view)).toContain("sock-turbo");
    expect(bot.sm.acks.filter((a) => a.envelope_id === ack.envelope_id)).toHaveLength(1);
    expect(registerCalls(bot)).toHaveLength(1);
  });
});

describe("Socket Mode: shutdown", () => {
  it("stop() with a submission in flight: takes nothing new, delivers the outcome, closes the socket, resolves", async () => {
    t = await startSocketBot({ submitBudgetMs: 800 });
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1_500 } });
    const submitted = bot.sm.sendInteractive(registerSubmission());
    await until(() => registerCalls(bot).length === 1, "the register call to reach Convai");

    let stoppedAt = 0;
    const stopping = bot.bot.stop().then(() => {
      stoppedAt = Date.now();
    });
    expect(bot.bot.healthy).toBe(false);
    // A request arriving after shutdown began is not taken (never acknowledged, never dispatched).
    const late = bot.sm.send(
      "slash_commands",
      commandPayload({ text: "list", responseUrl: bot.fake.responseUrl("late") }),
      600,
    );
    await expect(late).rejects.toThrow(/no ack|no open socket/);

    // The in-flight submission is acknowledged on the still-open socket ("working" view)...
    const ack = await submitted;
    expect(payloadOf(ack).response_action).toBe("update");
    // ...then the socket closes at once (Slack can route to other connections), while Convai is still working...
    await bot.sm.waitForNoSockets(500);
    expect(bot.fake.callsTo("views.update")).toHaveLength(0);
    expect(stoppedAt).toBe(0);
    // ...and the outcome still reaches the user.
    const update = await bot.fake.waitFor("views.update", undefined, 5_000);
    expect(JSON.stringify(update.args.view)).toContain("sock-turbo");
    await stopping;
    expect(stoppedAt).toBeGreaterThanOrEqual(update.at);
    expect(bot.sandbox.models().map((m) => m.model_group_name)).toEqual(["sock-turbo"]);
    expect(bot.fake.responses.filter((r) => r.id === "late")).toHaveLength(0);
    expect(bot.sm.connections).toBe(1);
  });

  it("stop() while a quick submission is in flight: the outcome goes back in the ack, then stop resolves", async () => {
    t = await startSocketBot();
    const bot = t;
    bot.sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 400 } });
    const submitted = bot.sm.sendInteractive(registerSubmission());
    await until(() => registerCalls(bot).length === 1, "the register call to reach Convai");
    const started = Date.now();
    await bot.bot.stop();
    const stoppedAt = Date.now();
    const ack = await submitted;
    expect(payloadOf(ack).response_action).toBe("update");
    expect(JSON.stringify(payloadOf(ack).view)).toContain("sock-turbo");
    expect(ack.at).toBeLessThanOrEqual(stoppedAt);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(bot.sm.openSockets).toBe(0);
  });
});

describe("Socket Mode: start-up fails fast with a message that says what to fix", () => {
  it("apps.connections.open → invalid_auth: start() rejects at once, naming SLACK_APP_TOKEN", async () => {
    t = await startSocketBot({ socketUrl: null, start: false });
    const started = Date.now();
    const error: unknown = await t.bot.start().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(Error);
    const message = error instanceof Error ? error.message : "";
    expect(message).toMatch(/SLACK_APP_TOKEN/);
    expect(message).toMatch(/invalid_auth/);
    expect(message).toMatch(/connections:write/);
    expect(message).not.toContain(APP_TOKEN);
    expect(t.fake.callsTo("apps.connections.open")).toHaveLength(1);
    expect(t.sm.connections).toBe(0);
  });

  it("apps.connections.open → not_allowed_token_type: rejects at once instead of retrying forever", async () => {
    t = await startSocketBot({ start: false });
    t.fake.on("apps.connections.open", () => ({ body: { ok: false, error: "not_allowed_token_type" } }));
    const started = Date.now();
    await expect(t.bot.start()).rejects.toThrow(/SLACK_APP_TOKEN.*not_allowed_token_type/s);
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(t.fake.callsTo("apps.connections.open")).toHaveLength(1);
  });

  it("a refused WebSocket: rejects at once, saying outbound WebSocket must be allowed or HTTP mode used", async () => {
    const port = await closedPort();
    t = await startSocketBot({ socketUrl: `ws://127.0.0.1:${port}/link`, start: false });
    const started = Date.now();
    const error: unknown = await t.bot.start().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    const message = error instanceof Error ? error.message : String(error);
    expect(message).toMatch(/WebSocket/);
    expect(message).toMatch(/HTTP mode/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(t.fake.callsTo("apps.connections.open")).toHaveLength(1);
  });

  it("apps.connections.open slower than the bound: start() rejects in time and no socket opens afterwards", async () => {
    t = await startSocketBot({ start: false });
    const bot = t;
    bot.fake.on("apps.connections.open", () => ({ delayMs: 600 }));
    const connection = createSocketConnection({
      appToken: APP_TOKEN,
      clientOptions: { slackApiUrl: bot.fake.apiUrl, retryConfig: { retries: 0 } },
      logger: captureLogger(),
      startTimeoutMs: 200,
    });
    try {
      const started = Date.now();
      await expect(connection.start()).rejects.toThrow(/within 200 ms/);
      expect(Date.now() - started).toBeLessThan(1_000);
      // The URL arrives after the bound: the late attempt is abandoned instead of connecting behind our back.
      await bot.fake.waitFor("apps.connections.open");
      await new Promise((resolve) => setTimeout(resolve, 900));
      expect(bot.sm.openSockets).toBe(0);
      expect(connection.connected).toBe(false);
    } finally {
      await connection.close();
    }
  });

  it("a WebSocket that never says hello: start() rejects within its bound and the socket is closed", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const port = portOf(wss.address());
    let open = 0;
    wss.on("connection", (ws) => {
      open += 1;
      ws.on("close", () => {
        open -= 1;
      });
    });
    t = await startSocketBot({ socketUrl: `ws://127.0.0.1:${port}/link`, start: false });
    const logger = captureLogger();
    const connection = createSocketConnection({
      appToken: APP_TOKEN,
      clientOptions: { slackApiUrl: t.fake.apiUrl, retryConfig: { retries: 0 } },
      logger,
      startTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      await expect(connection.start()).rejects.toThrow(/within 300 ms/);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(280);
      expect(took).toBeLessThan(1_500);
      expect(connection.connected).toBe(false);
      await until(() => open === 0, "the abandoned socket to close");
    } finally {
      await connection.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
