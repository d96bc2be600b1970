/**
 * Proves the test harness against the REAL Slack SDKs: @slack/web-api's WebClient, Bolt's HTTPReceiver and
 * Bolt's SocketModeReceiver (@slack/socket-mode over a real WebSocket). Nothing here is module-mocked.
 */
import type { AddressInfo } from "node:net";
import { App, type Logger, LogLevel, SocketModeReceiver } from "@slack/bolt";
import type { ModalView } from "@slack/types";
import { ErrorCode, WebClient } from "@slack/web-api";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeSlack, startFakeSlack } from "./helpers/fake-slack.js";
import { type FakeSocketMode, startFakeSocketMode } from "./helpers/fake-socket-mode.js";
import {
  appHomeOpened,
  blockAction,
  input,
  SIGNING_SECRET,
  sendCommand,
  sendEvent,
  sendInteraction,
  signedHeaders,
  stateValues,
  viewSubmission,
} from "./helpers/slack-requests.js";

const BOT_TOKEN = "xoxb-test-bot-token";
const APP_TOKEN = "xapp-1-test";

/** A Bolt/socket-mode logger that keeps errors for assertions instead of printing expected noise. */
function quietLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  let level = LogLevel.ERROR;
  return {
    errors,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (...msg: unknown[]) => {
      errors.push(msg.map(String).join(" "));
    },
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorCode(error: unknown): unknown {
  return isRecord(error) ? error.code : undefined;
}

describe("fake Slack Web API driven by the real WebClient", () => {
  let fake: FakeSlack;
  let client: WebClient;

  beforeAll(async () => {
    fake = await startFakeSlack();
    client = new WebClient(BOT_TOKEN, {
      slackApiUrl: fake.apiUrl,
      retryConfig: { retries: 0 },
      logLevel: LogLevel.ERROR,
    });
  });
  beforeEach(() => fake.reset());
  afterAll(() => fake.close());

  it("records views.open and chat.postMessage with nested JSON decoded", async () => {
    const view: ModalView = {
      type: "modal",
      callback_id: "cb",
      title: { type: "plain_text", text: "Title" },
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "*hi*" } }],
      private_metadata: JSON.stringify({ a: 1 }),
    };
    const opened = await client.views.open({ trigger_id: "t.1", view });
    expect(opened.view?.id).toMatch(/^V\d+$/);
    expect(opened.view?.callback_id).toBe("cb");

    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "[not json] {x}" } }];
    const posted = await client.chat.postMessage({ channel: "C1", text: "{looks like json}", blocks });
    expect(posted.channel).toBe("C1");
    expect(posted.ts).toMatch(/^\d+\.\d{6}$/);

    const [openCall] = fake.callsTo("views.open");
    expect(openCall?.args.view).toEqual(view);
    expect(openCall?.args.trigger_id).toBe("t.1");
    expect(openCall?.token).toBe(BOT_TOKEN);
    expect(openCall?.headers["content-type"]).toBe("application/x-www-form-urlencoded");

    const post = await fake.waitFor("chat.postMessage", (c) => c.args.channel === "C1");
    expect(post.args.blocks).toEqual(blocks);
    expect(post.args.text).toBe("{looks like json}");
    expect(fake.rawLog.some((entry) => entry.includes(`Bearer ${BOT_TOKEN}`))).toBe(true);
    expect(fake.calls.map((c) => c.method)).toEqual(["views.open", "chat.postMessage"]);

    // JSON bodies (what Slack also accepts) decode the same way.
    const res = await request(`${fake.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: "Bearer xoxb-json" },
      body: JSON.stringify({ channel: "C2", blocks }),
    });
    expect(await res.body.json()).toMatchObject({ ok: true, channel: "C2" });
    const jsonCall = await fake.waitFor("chat.postMessage", (c) => c.args.channel === "C2");
    expect(jsonCall.args.blocks).toEqual(blocks);
    expect(jsonCall.token).toBe("xoxb-json");
  });

  it("keeps a view id stable across views.update and serves users / usergroups / auth.test", async () => {
    const updated = await client.views.update({
      view_id: "V777",
      view: { type: "modal", title: { type: "plain_text", text: "x" }, blocks: [] },
    });
    expect(updated.view?.id).toBe("V777");
    expect(updated.view?.hash).toMatch(/^h\d+$/);

    fake.users.set("UADMIN", { is_admin: true, name: "admin" });
    const info = await client.users.info({ user: "UADMIN" });
    expect(info.user?.is_admin).toBe(true);
    await expect(client.users.info({ user: "UNOPE" })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: "user_not_found" },
    });

    fake.usergroups.set("S1", ["U1", "U2"]);
    expect((await client.usergroups.users.list({ usergroup: "S1" })).users).toEqual(["U1", "U2"]);
    await expect(client.usergroups.users.list({ usergroup: "S404" })).rejects.toMatchObject({
      data: { error: "no_such_subteam" },
    });

    const auth = await client.auth.test();
    expect(auth).toMatchObject({ ok: true, team_id: "T0TEST", user_id: "UBOT", bot_id: "BBOT" });
    expect(fake.callsTo("auth.test")).toHaveLength(1);
    await expect(client.apiCall("nope.nothing")).rejects.toMatchObject({ data: { error: "unknown_method" } });
    await expect(client.apps.connections.open({})).rejects.toMatchObject({ data: { error: "invalid_auth" } });
  });

  it("lets a test override methods with platform errors, HTTP errors and delays", async () => {
    fake.on("chat.postMessage", () => ({ body: { ok: false, error: "not_in_channel" } }));
    fake.on("views.update", () => ({ status: 500 }));
    fake.on("chat.postEphemeral", () => ({ delayMs: 50 }));

    await expect(client.chat.postMessage({ channel: "C1", text: "x" })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: "not_in_channel" },
    });
    const httpError: unknown = await client.views
      .update({
        view_id: "V1",
        view: { type: "modal", title: { type: "plain_text", text: "x" }, blocks: [] },
      })
      .catch((e: unknown) => e);
    expect(errorCode(httpError)).toBe(ErrorCode.HTTPError);
    expect(httpError).toMatchObject({ statusCode: 500 });

    const started = Date.now();
    const eph = await client.chat.postEphemeral({ channel: "C1", user: "U1", text: "x" });
    expect(eph.message_ts).toBeTruthy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("waitFor resolves on a future call and rejects listing the calls seen", async () => {
    const pending = fake.waitFor("chat.update", (c) => c.args.ts === "1.2", 2_000);
    await client.chat.update({ channel: "C1", ts: "1.2", text: "new" });
    expect((await pending).args.text).toBe("new");

    await expect(fake.waitFor("views.publish", undefined, 50)).rejects.toThrow(
      /views\.publish.*chat\.update/s,
    );
    await expect(fake.waitForResponse(undefined, 50)).rejects.toThrow(/response_url/);
  });
});

describe("real Bolt App over HTTP (HTTPReceiver)", () => {
  let fake: FakeSlack;
  let app: App;
  let appUrl: string;

  beforeAll(async () => {
    fake = await startFakeSlack();
    app = new App({
      signingSecret: SIGNING_SECRET,
      token: BOT_TOKEN,
      botId: "BBOT",
      botUserId: "UBOT",
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    app.command("/convai-llm", async ({ ack, respond, command }) => {
      await ack();
      await respond({ response_type: "ephemeral", text: `you said: ${command.text}` });
    });
    app.view("convai_llm_register", async ({ ack, view }) => {
      const name = view.state.values.model_name?.model_name?.value;
      if (name === "bad") {
        await ack({ response_action: "errors", errors: { model_name: "Invalid name" } });
        return;
      }
      await ack();
    });
    app.action("convai_open_register", async ({ ack, client, body }) => {
      await ack();
      if (body.type !== "block_actions") return;
      await client.views.open({
        trigger_id: body.trigger_id,
        view: {
          type: "modal",
          callback_id: "convai_llm_register",
          title: { type: "plain_text", text: "R" },
          blocks: [],
        },
      });
    });
    app.event("app_home_opened", async ({ event, client }) => {
      await client.views.publish({ user_id: event.user, view: { type: "home", blocks: [] } });
    });
    // Bolt on port 0: app.start() passes listen options to HTTPReceiver.start(), which resolves with the http.Server.
    const server = await app.start({ port: 0, host: "127.0.0.1" });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("unexpected Bolt server address");
    appUrl = `http://127.0.0.1:${(address satisfies AddressInfo).port}/slack/events`;
  });
  beforeEach(() => fake.reset());
  afterAll(async () => {
    await app.stop();
    await fake.close();
  });

  it("acks a signed slash command and respond() reaches the fake response_url", async () => {
    const responseUrl = fake.responseUrl("cmd1");
    const res = await sendCommand(appUrl, { text: "help me", responseUrl });
    expect(res.status).toBe(200);
    expect(res.text).toBe("");

    const post = await fake.waitForResponse((r) => r.id === "cmd1");
    expect(post.body).toEqual({ response_type: "ephemeral", text: "you said: help me" });
    // token + botId + botUserId given: Bolt never calls auth.test.
    expect(fake.callsTo("auth.test")).toHaveLength(0);
  });

  it("rejects a bad signature and a stale timestamp with 401", async () => {
    const responseUrl = fake.responseUrl();
    expect((await sendCommand(appUrl, { text: "x", responseUrl }, { secret: "wrong-secret" })).status).toBe(
      401,
    );
    const stale = Math.floor(Date.now() / 1000) - 10 * 60;
    expect((await sendCommand(appUrl, { text: "x", responseUrl }, { timestamp: stale })).status).toBe(401);
    expect(fake.responses).toHaveLength(0);
  });

  it("returns response_action errors in the HTTP body of a view_submission", async () => {
    const payload = viewSubmission({
      callbackId: "convai_llm_register",
      values: stateValues({ model_name: input.text("bad"), verify: input.checkbox(["yes"]) }),
    });
    const res = await sendInteraction(appUrl, payload);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ response_action: "errors", errors: { model_name: "Invalid name" } });

    const ok = await sendInteraction(
      appUrl,
      viewSubmission({
        callbackId: "convai_llm_register",
        values: stateValues({ model_name: input.text("good") }),
      }),
    );
    expect(ok.status).toBe(200);
    expect(ok.text).toBe("");
  });

  it("routes block actions and app_home_opened events to the listener client (which adds team_id)", async () => {
    const click = await sendInteraction(
      appUrl,
      blockAction({ actionId: "convai_open_register", viewId: "VHOME" }),
    );
    expect(click.status).toBe(200);
    const open = await fake.waitFor("views.open");
    expect(open.args).toMatchObject({ team_id: "T0TEST", view: { callback_id: "convai_llm_register" } });
    expect(open.token).toBe(BOT_TOKEN);

    const ev = await sendEvent(appUrl, appHomeOpened({ userId: "U42" }));
    expect(ev.status).toBe(200);
    const publish = await fake.waitFor("views.publish", (c) => c.args.user_id === "U42");
    expect(publish.args.view).toEqual({ type: "home", blocks: [] });
  });

  it("signedHeaders produces Slack's exact content type and v0 signature", () => {
    const headers = signedHeaders("a=b", { timestamp: 1_700_000_000 });
    expect(headers["Content-Type"]).toBe("application/x-www-form-urlencoded");
    expect(headers["X-Slack-Request-Timestamp"]).toBe("1700000000");
    expect(headers["X-Slack-Signature"]).toMatch(/^v0=[0-9a-f]{64}$/);
  });
});

describe("real Bolt App in Socket Mode", () => {
  let fake: FakeSlack;
  let sm: FakeSocketMode;
  let app: App | undefined;

  beforeEach(async () => {
    fake = await startFakeSlack();
    sm = await startFakeSocketMode();
    fake.socketUrl = sm.url;
  });
  afterEach(async () => {
    if (app !== undefined) await app.stop();
    app = undefined;
    await sm.waitForNoSockets(2_000).catch(() => undefined);
    await sm.close();
    await fake.close();
  });

  function registerListeners(target: App): void {
    target.command("/convai-llm", async ({ ack, command }) => {
      await ack({ text: `ok: ${command.text}` });
    });
    target.view("convai_llm_register", async ({ ack }) => {
      await ack({ response_action: "errors", errors: { model_name: "nope" } });
    });
  }

  it("connects via apps.connections.open on the fake and acks envelopes with the same envelope_id", async () => {
    app = new App({
      socketMode: true,
      appToken: APP_TOKEN,
      token: BOT_TOKEN,
      botId: "BBOT",
      botUserId: "UBOT",
      logLevel: LogLevel.ERROR,
      // App passes its clientOptions to the SocketModeReceiver (installerOptions.clientOptions), so this one
      // slackApiUrl also routes apps.connections.open to the fake.
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    registerListeners(app);
    await app.start(); // resolves once the fake has sent `hello`
    await sm.waitForConnection(1);

    const open = await fake.waitFor("apps.connections.open");
    expect(open.token).toBe(APP_TOKEN);
    expect(fake.callsTo("auth.test")).toHaveLength(0);

    const ack = await sm.sendCommand({ text: "list", responseUrl: fake.responseUrl() });
    expect(ack.payload).toEqual({ text: "ok: list" });
    expect(sm.acks.map((a) => a.envelope_id)).toContain(ack.envelope_id);

    const viewAck = await sm.sendInteractive(
      viewSubmission({
        callbackId: "convai_llm_register",
        values: stateValues({ model_name: input.text("x") }),
      }),
    );
    expect(viewAck.payload).toEqual({ response_action: "errors", errors: { model_name: "nope" } });

    const eventAck = await sm.sendEvent(appHomeOpened({}));
    expect(eventAck.payload).toEqual({});
    expect(sm.connections).toBe(1);
  });

  it("reconnects after a disconnect message (custom SocketModeReceiver with a short clientPingTimeout)", async () => {
    // The reconnect delay is clientPingTimeout × consecutive failures (default 5000 ms), and App does not expose
    // clientPingTimeout — so pass a SocketModeReceiver. A custom receiver does NOT get App's clientOptions:
    // point apps.connections.open at the fake through installerOptions.clientOptions.
    const logger = quietLogger();
    const receiver = new SocketModeReceiver({
      appToken: APP_TOKEN,
      logger,
      clientPingTimeout: 300,
      installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } } },
    });
    app = new App({
      receiver,
      socketMode: true,
      token: BOT_TOKEN,
      botId: "BBOT",
      botUserId: "UBOT",
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    registerListeners(app);
    await app.start();
    await sm.waitForConnection(1);

    sm.disconnect("refresh_requested");
    await sm.waitForConnection(2, 3_000);
    expect(fake.callsTo("apps.connections.open")).toHaveLength(2);
    const ack = await sm.sendCommand({ text: "after", responseUrl: fake.responseUrl() });
    expect(ack.payload).toEqual({ text: "ok: after" });

    sm.dropAll(); // abrupt: the client logs a WebSocket error, then reconnects
    await sm.waitForConnection(3, 3_000);
    expect(logger.errors.join("\n")).toMatch(/WebSocket error/);
    expect((await sm.sendCommand({ text: "again", responseUrl: fake.responseUrl() })).payload).toEqual({
      text: "ok: again",
    });
  });
});
