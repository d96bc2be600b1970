/**
 * Builders for what Slack sends TO the app, and signed HTTP senders that deliver them over real HTTP (undici).
 *
 * Shapes follow Slack's documented payloads (slash command form fields, `view_submission`, `block_actions`,
 * `event_callback`) and Bolt's `SlashCommand` / `ViewSubmitAction` / `BlockAction` types. The same payload
 * builders are reused by the fake Socket Mode server, so HTTP and Socket Mode tests feed identical bodies.
 */
import { createHmac, randomUUID } from "node:crypto";
import { request } from "undici";

export const SIGNING_SECRET = "test-signing-secret-0123456789";

export const DEFAULTS = {
  userId: "U0USER",
  teamId: "T0TEST",
  channelId: "C0CHAN",
  appId: "A0TEST",
  botId: "BBOT",
  botUserId: "UBOT",
  command: "/convai-llm",
  /** The deprecated verification token Slack still sends; never a real credential. */
  verificationToken: "deprecated-verification-token",
} as const;

const FORM = "application/x-www-form-urlencoded";

export interface SignOpts {
  secret?: string;
  /** Unix seconds; defaults to now. Use an old value to test the 5-minute staleness rule. */
  timestamp?: number;
  /** Extra headers, e.g. `{ "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout" }`. */
  headers?: Record<string, string>;
}

/** Slack's v0 request signature: `v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{body}`). */
export function signedHeaders(
  body: string,
  opts: { secret?: string; timestamp?: number; contentType?: string } = {},
): Record<string, string> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", opts.secret ?? SIGNING_SECRET)
    .update(`v0:${timestamp}:${body}`)
    .digest("hex");
  return {
    "Content-Type": opts.contentType ?? FORM,
    "X-Slack-Request-Timestamp": String(timestamp),
    "X-Slack-Signature": `v0=${signature}`,
  };
}

export interface SlackHttpResponse {
  status: number;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json?: unknown;
  headers: Record<string, string | string[] | undefined>;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
    throw new Error(`slack-requests: refusing to send a test request to a non-loopback host (${host})`);
  }
}

/** POSTs a signed body to the app's Slack endpoint (real HTTP). */
export async function postSigned(
  appUrl: string,
  body: string,
  contentType: string,
  sign: SignOpts = {},
): Promise<SlackHttpResponse> {
  assertLoopback(appUrl);
  const headers = { ...signedHeaders(body, { ...sign, contentType }), ...sign.headers };
  const res = await request(appUrl, { method: "POST", headers, body });
  const text = await res.body.text();
  let json: unknown;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.statusCode, text, json, headers: res.headers };
}

let triggerSeq = 0;
function triggerId(): string {
  triggerSeq += 1;
  return `${Date.now()}.${triggerSeq}.${randomUUID().replaceAll("-", "")}`;
}

function actionTs(): string {
  return (Date.now() / 1000).toFixed(6);
}

// ---------------------------------------------------------------------------------------------------------------
// Slash commands
// ---------------------------------------------------------------------------------------------------------------

export interface CommandOpts {
  text: string;
  /** Default U0USER. */
  userId?: string;
  /** Default T0TEST. */
  teamId?: string;
  enterpriseId?: string;
  /** Default C0CHAN. */
  channelId?: string;
  responseUrl: string;
  triggerId?: string;
  /** Default "/convai-llm". */
  command?: string;
}

/** The slash command body Slack posts (all values are strings, as on the wire). */
export function commandPayload(opts: CommandOpts): Record<string, string> {
  const fields: Record<string, string> = {
    token: DEFAULTS.verificationToken,
    team_id: opts.teamId ?? DEFAULTS.teamId,
    team_domain: "test",
    channel_id: opts.channelId ?? DEFAULTS.channelId,
    channel_name: "general",
    user_id: opts.userId ?? DEFAULTS.userId,
    user_name: "test.user",
    command: opts.command ?? DEFAULTS.command,
    text: opts.text,
    api_app_id: DEFAULTS.appId,
    is_enterprise_install: "false",
    response_url: opts.responseUrl,
    trigger_id: opts.triggerId ?? triggerId(),
  };
  if (opts.enterpriseId !== undefined) {
    fields.enterprise_id = opts.enterpriseId;
    fields.enterprise_name = "Test Enterprise";
  }
  return fields;
}

export function sendCommand(appUrl: string, opts: CommandOpts, sign?: SignOpts): Promise<SlackHttpResponse> {
  return postSigned(appUrl, new URLSearchParams(commandPayload(opts)).toString(), FORM, sign);
}

// ---------------------------------------------------------------------------------------------------------------
// Interactivity
// ---------------------------------------------------------------------------------------------------------------

/** Posts an interaction payload as Slack does: form body `payload=<url-encoded JSON>`. */
export function sendInteraction(
  appUrl: string,
  payload: object,
  sign?: SignOpts,
): Promise<SlackHttpResponse> {
  return postSigned(appUrl, new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), FORM, sign);
}

function teamObject(teamId: string, enterpriseId: string | undefined): Record<string, string> {
  return enterpriseId === undefined
    ? { id: teamId, domain: "test" }
    : { id: teamId, domain: "test", enterprise_id: enterpriseId, enterprise_name: "Test Enterprise" };
}

function enterpriseObject(enterpriseId: string | undefined): { id: string; name: string } | null {
  return enterpriseId === undefined ? null : { id: enterpriseId, name: "Test Enterprise" };
}

function userObject(userId: string, teamId: string): Record<string, string> {
  return { id: userId, username: "test.user", name: "test.user", team_id: teamId };
}

function viewOutput(opts: {
  id: string;
  type: "modal" | "home";
  callbackId: string;
  teamId: string;
  values: Record<string, Record<string, unknown>>;
  privateMetadata: string;
  hash: string;
  blocks: unknown[];
}): Record<string, unknown> {
  return {
    id: opts.id,
    team_id: opts.teamId,
    type: opts.type,
    blocks: opts.blocks,
    private_metadata: opts.privateMetadata,
    callback_id: opts.callbackId,
    state: { values: opts.values },
    hash: opts.hash,
    title: { type: "plain_text", text: "Convai LLM", emoji: true },
    clear_on_close: false,
    notify_on_close: false,
    close: opts.type === "modal" ? { type: "plain_text", text: "Cancel", emoji: true } : null,
    submit: opts.type === "modal" ? { type: "plain_text", text: "Submit", emoji: true } : null,
    previous_view_id: null,
    root_view_id: opts.id,
    app_id: DEFAULTS.appId,
    external_id: "",
    app_installed_team_id: opts.teamId,
    bot_id: DEFAULTS.botId,
  };
}

export interface ViewSubmissionOpts {
  callbackId: string;
  values: Record<string, Record<string, unknown>>;
  privateMetadata?: string;
  userId?: string;
  teamId?: string;
  enterpriseId?: string;
  /** Default "V0VIEW". */
  viewId?: string;
  /** Default "h0". */
  hash?: string;
  triggerId?: string;
  /** The blocks of the submitted view (default []); Slack echoes the view's blocks. */
  blocks?: unknown[];
}

/** A realistic `view_submission` payload (send it with `sendInteraction` or the Socket Mode `sendInteractive`). */
export function viewSubmission(opts: ViewSubmissionOpts): object {
  const teamId = opts.teamId ?? DEFAULTS.teamId;
  return {
    type: "view_submission",
    team: teamObject(teamId, opts.enterpriseId),
    user: userObject(opts.userId ?? DEFAULTS.userId, teamId),
    api_app_id: DEFAULTS.appId,
    token: DEFAULTS.verificationToken,
    trigger_id: opts.triggerId ?? triggerId(),
    view: viewOutput({
      id: opts.viewId ?? "V0VIEW",
      type: "modal",
      callbackId: opts.callbackId,
      teamId,
      values: opts.values,
      privateMetadata: opts.privateMetadata ?? "",
      hash: opts.hash ?? "h0",
      blocks: opts.blocks ?? [],
    }),
    response_urls: [],
    is_enterprise_install: false,
    enterprise: enterpriseObject(opts.enterpriseId),
  };
}

export interface BlockActionOpts {
  actionId: string;
  /** Default: the actionId. */
  blockId?: string;
  /** Button value. */
  value?: string;
  /** When set, the action is an `overflow` with this selected option value (instead of a button). */
  selectedOptionValue?: string;
  userId?: string;
  teamId?: string;
  enterpriseId?: string;
  triggerId?: string;
  /** Default: "view" when viewId is given, else "message". */
  container?: "view" | "message";
  viewId?: string;
  /** For a view container: "home" (App Home, default when no callback id is given) or "modal". */
  viewType?: "modal" | "home";
  viewCallbackId?: string;
  /** Included only when given (real message payloads carry one: pass `fake.responseUrl()` to use `respond()`). */
  responseUrl?: string;
  channelId?: string;
  messageTs?: string;
  privateMetadata?: string;
}

/** A realistic `block_actions` payload for one button (or overflow menu) click. */
export function blockAction(opts: BlockActionOpts): object {
  const teamId = opts.teamId ?? DEFAULTS.teamId;
  const container = opts.container ?? (opts.viewId !== undefined ? "view" : "message");
  const blockId = opts.blockId ?? opts.actionId;
  const ts = actionTs();
  const action =
    opts.selectedOptionValue !== undefined
      ? {
          type: "overflow",
          action_id: opts.actionId,
          block_id: blockId,
          selected_option: {
            text: { type: "plain_text", text: opts.selectedOptionValue, emoji: true },
            value: opts.selectedOptionValue,
          },
          action_ts: ts,
        }
      : {
          type: "button",
          action_id: opts.actionId,
          block_id: blockId,
          text: { type: "plain_text", text: "Button", emoji: true },
          ...(opts.value === undefined ? {} : { value: opts.value }),
          action_ts: ts,
        };
  const base: Record<string, unknown> = {
    type: "block_actions",
    user: userObject(opts.userId ?? DEFAULTS.userId, teamId),
    api_app_id: DEFAULTS.appId,
    token: DEFAULTS.verificationToken,
    trigger_id: opts.triggerId ?? triggerId(),
    team: teamObject(teamId, opts.enterpriseId),
    enterprise: enterpriseObject(opts.enterpriseId),
    is_enterprise_install: false,
    actions: [action],
  };
  if (container === "view") {
    const viewId = opts.viewId ?? "V0VIEW";
    const viewType = opts.viewType ?? (opts.viewCallbackId === undefined ? "home" : "modal");
    base.container = { type: "view", view_id: viewId };
    base.view = viewOutput({
      id: viewId,
      type: viewType,
      callbackId: opts.viewCallbackId ?? "",
      teamId,
      values: {},
      privateMetadata: opts.privateMetadata ?? "",
      hash: "h0",
      blocks: [],
    });
    base.state = { values: {} };
    if (opts.responseUrl !== undefined) base.response_url = opts.responseUrl;
  } else {
    const channelId = opts.channelId ?? DEFAULTS.channelId;
    const messageTs = opts.messageTs ?? "1700000000.000100";
    base.container = { type: "message", message_ts: messageTs, channel_id: channelId, is_ephemeral: false };
    base.channel = { id: channelId, name: "general" };
    base.message = {
      type: "message",
      user: DEFAULTS.botUserId,
      bot_id: DEFAULTS.botId,
      ts: messageTs,
      text: "",
      blocks: [],
    };
    base.state = { values: {} };
    if (opts.responseUrl !== undefined) base.response_url = opts.responseUrl;
  }
  return base;
}

// ---------------------------------------------------------------------------------------------------------------
// Events API
// ---------------------------------------------------------------------------------------------------------------

/** The inner `app_home_opened` event (wrap it with `sendEvent` / `eventCallback`). */
export function appHomeOpened(
  opts: { userId?: string; teamId?: string; tab?: "home" | "messages" } = {},
): object {
  return {
    type: "app_home_opened",
    user: opts.userId ?? DEFAULTS.userId,
    channel: "D0HOME",
    tab: opts.tab ?? "home",
    event_ts: actionTs(),
  };
}

/** The `event_callback` envelope Slack posts around an event. */
export function eventCallback(event: object, opts: { teamId?: string; enterpriseId?: string } = {}): object {
  const teamId = opts.teamId ?? DEFAULTS.teamId;
  return {
    token: DEFAULTS.verificationToken,
    team_id: teamId,
    ...(opts.enterpriseId === undefined ? {} : { enterprise_id: opts.enterpriseId }),
    api_app_id: DEFAULTS.appId,
    event,
    type: "event_callback",
    event_id: `Ev${randomUUID().replaceAll("-", "").slice(0, 10).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: opts.enterpriseId ?? null,
        team_id: teamId,
        user_id: DEFAULTS.botUserId,
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${randomUUID()}`,
  };
}

export function sendEvent(
  appUrl: string,
  event: object,
  opts?: { teamId?: string; enterpriseId?: string },
  sign?: SignOpts,
): Promise<SlackHttpResponse> {
  return postSigned(appUrl, JSON.stringify(eventCallback(event, opts)), "application/json", sign);
}

// ---------------------------------------------------------------------------------------------------------------
// view.state.values builders
// ---------------------------------------------------------------------------------------------------------------

export const input = {
  text: (value: string | null) => ({ type: "plain_text_input", value }),
  url: (value: string | null) => ({ type: "url_text_input", value }),
  checkbox: (checkedValues: string[]) => ({
    type: "checkboxes",
    selected_options: checkedValues.map((v) => ({ text: { type: "plain_text", text: v }, value: v })),
  }),
  radio: (value: string | null) => ({
    type: "radio_buttons",
    selected_option: value === null ? null : { text: { type: "plain_text", text: value }, value },
  }),
};

/** `view.state.values` where each field's block_id === action_id === its key. */
export function stateValues(fields: Record<string, object>): Record<string, Record<string, unknown>> {
  const values: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(fields)) values[key] = { [key]: value };
  return values;
}
