/**
 * A fake Slack Web API: a real HTTP server on 127.0.0.1 (ephemeral port) that records every call the bot makes
 * and answers with realistic defaults. Point `@slack/web-api` / Bolt at it with `slackApiUrl: fake.apiUrl`.
 *
 * It also serves `response_url`s (see `responseUrl()`), so `respond()` from Bolt lands here too.
 *
 * Request decoding mirrors what `@slack/web-api` sends: `application/x-www-form-urlencoded` where every
 * non-scalar argument (view, blocks, …) is a JSON string, JSON bodies, and multipart (file uploads). Nested JSON
 * is decoded back into objects in `args`; scalars stay strings exactly as they travel on the wire (`"true"`, `"5"`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  at: number;
  /** The token the call was made with: `Authorization: Bearer …`, else a `token` argument. */
  token: string | undefined;
}

export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
  raw: string;
  at: number;
}

export interface HandlerResult {
  status?: number;
  /** Response body; objects are sent as JSON. Omitted → the method's default answer (so a handler may only delay). */
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
}

export type MethodHandler = (
  args: Record<string, unknown>,
  call: SlackCall,
) => HandlerResult | undefined | Promise<HandlerResult | undefined>;

export type ResponseUrlHandler = (
  post: ResponseUrlPost,
) => HandlerResult | undefined | Promise<HandlerResult | undefined>;

export interface FakeUser {
  is_admin?: boolean;
  is_owner?: boolean;
  is_primary_owner?: boolean;
  deleted?: boolean;
  team_id?: string;
  name?: string;
}

export interface FakeSlack {
  /** e.g. "http://127.0.0.1:PORT/api/" — pass as SLACK_API_URL / clientOptions.slackApiUrl. */
  readonly apiUrl: string;
  /** A response_url on this server; POSTs to it are recorded in `responses`. */
  responseUrl(id?: string): string;
  /** Every Web API call, in arrival order. */
  readonly calls: SlackCall[];
  /** Every response_url post, in arrival order. */
  readonly responses: ResponseUrlPost[];
  /** Every request received (request line, headers and body as text) — for secret scanning. */
  readonly rawLog: string[];
  callsTo(method: string): SlackCall[];
  /** Resolves with the first existing or future matching call; rejects after `timeoutMs` listing the calls seen. */
  waitFor(method: string, predicate?: (c: SlackCall) => boolean, timeoutMs?: number): Promise<SlackCall>;
  waitForResponse(predicate?: (r: ResponseUrlPost) => boolean, timeoutMs?: number): Promise<ResponseUrlPost>;
  /** Override one method (replaces any previous override for it). */
  on(method: string, handler: MethodHandler): void;
  /** Override how response_url posts are answered (default 200 `{"ok":true}`), e.g. `{ status: 404 }`. */
  onResponse(handler: ResponseUrlHandler): void;
  users: Map<string, FakeUser>;
  /** usergroups.users.list; an unknown id → {ok:false,error:"no_such_subteam"}. */
  usergroups: Map<string, string[]>;
  /**
   * Messages per channel, oldest first: chat.postMessage appends, chat.update replaces text, blocks and
   * metadata, conversations.history reads them back newest first with cursors (metadata only with
   * include_all_metadata). Tests may push messages directly.
   */
  messages: Map<string, StoredMessage[]>;
  /** Channels the bot is not in: posting, updating and reading there answer not_in_channel. */
  notIn: Set<string>;
  /** When set, apps.connections.open answers {ok:true,url:socketUrl}; otherwise invalid_auth. */
  socketUrl?: string;
  /** Clears recorded calls/responses/rawLog and handlers; keeps users, usergroups and socketUrl. */
  reset(): void;
  close(): Promise<void>;
}

export interface StoredMessage {
  ts: string;
  text: string;
  user?: string;
  bot_id?: string;
  blocks?: unknown;
  metadata?: unknown;
}

const DEFAULT_WAIT_MS = 3_000;
/** conversations.history's largest page (Slack documents limit up to 999; 100 is its default). */
const HISTORY_MAX_LIMIT = 999;
/** Form fields that are always plain strings, even when they happen to look like JSON. */
const STRING_ONLY_FIELDS = new Set([
  "text",
  "markdown_text",
  "username",
  "icon_emoji",
  "icon_url",
  "ts",
  "channel",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function decodeFormValue(key: string, value: string): unknown {
  if (STRING_ONLY_FIELDS.has(key)) return value;
  const first = value.trimStart()[0];
  if (first !== "{" && first !== "[") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function contentTypeOf(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

async function parseBody(req: IncomingMessage, raw: Buffer): Promise<Record<string, unknown>> {
  const type = contentTypeOf(req);
  const text = raw.toString("utf8");
  const args: Record<string, unknown> = {};
  const query = new URL(req.url ?? "/", "http://127.0.0.1").searchParams;
  for (const [key, value] of query) args[key] = decodeFormValue(key, value);
  if (text.length === 0) return args;
  if (type === "application/json") {
    try {
      const parsed: unknown = JSON.parse(text);
      if (isRecord(parsed)) Object.assign(args, parsed);
      else args._body = parsed;
    } catch {
      args._body = text;
    }
    return args;
  }
  if (type === "multipart/form-data") {
    const contentType = req.headers["content-type"] ?? "";
    const form = await new Response(new Uint8Array(raw), {
      headers: { "content-type": contentType },
    }).formData();
    for (const [key, value] of form) {
      args[key] =
        typeof value === "string"
          ? decodeFormValue(key, value)
          : { filename: value.name, size: value.size, type: value.type };
    }
    return args;
  }
  // application/x-www-form-urlencoded (what @slack/web-api sends) and anything else form-like.
  for (const [key, value] of new URLSearchParams(text)) args[key] = decodeFormValue(key, value);
  return args;
}

function headersAsText(req: IncomingMessage): string {
  const lines: string[] = [`${req.method ?? "?"} ${req.url ?? ""} HTTP/${req.httpVersion}`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  return lines.join("\n");
}

function tokenOf(req: IncomingMessage, args: Record<string, unknown>): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === "string" && auth.startsWith("Bearer ")) return auth.slice("Bearer ".length);
  return typeof args.token === "string" ? args.token : undefined;
}

function describeCall(c: SlackCall): string {
  const json = JSON.stringify(c.args);
  return `${c.method}(${json.length > 200 ? `${json.slice(0, 200)}…` : json})`;
}

interface Waiter<T> {
  match: (item: T) => boolean;
  resolve: (item: T) => void;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const responses: ResponseUrlPost[] = [];
  const rawLog: string[] = [];
  const handlers = new Map<string, MethodHandler>();
  let responseHandler: ResponseUrlHandler | undefined;
  const callWaiters = new Set<Waiter<SlackCall>>();
  const responseWaiters = new Set<Waiter<ResponseUrlPost>>();
  const timers = new Set<NodeJS.Timeout>();
  const users = new Map<string, FakeUser>();
  const usergroups = new Map<string, string[]>();
  const messages = new Map<string, StoredMessage[]>();
  const notIn = new Set<string>();
  let seq = 0;
  let responseSeq = 0;
  let closed = false;
  let baseUrl = "";

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const nextTs = (): string => {
    seq += 1;
    return `${1_700_000_000 + seq}.${String(seq * 100).padStart(6, "0")}`;
  };

  const viewResult = (args: Record<string, unknown>, id: string): Record<string, unknown> => {
    seq += 1;
    const input = isRecord(args.view) ? args.view : {};
    return {
      ok: true,
      view: {
        team_id: "T0TEST",
        callback_id: "",
        private_metadata: "",
        external_id: "",
        state: { values: {} },
        previous_view_id: null,
        root_view_id: id,
        app_id: "A0TEST",
        app_installed_team_id: "T0TEST",
        bot_id: "BBOT",
        clear_on_close: false,
        notify_on_close: false,
        close: null,
        submit: null,
        ...input,
        id,
        hash: `h${seq}`,
      },
    };
  };

  const defaultAnswer = (method: string, args: Record<string, unknown>): unknown => {
    switch (method) {
      case "api.test":
        return { ok: true, args };
      case "auth.test":
        return {
          ok: true,
          url: "https://test.slack.com/",
          team: "Test",
          user: "bot",
          team_id: "T0TEST",
          user_id: "UBOT",
          bot_id: "BBOT",
          is_enterprise_install: false,
        };
      case "views.open":
      case "views.push":
      case "views.publish":
        return viewResult(args, `V${seq + 1}`);
      case "views.update": {
        const id = typeof args.view_id === "string" && args.view_id !== "" ? args.view_id : `V${seq + 1}`;
        return viewResult(args, id);
      }
      case "chat.postMessage": {
        const channel = String(args.channel ?? "");
        if (notIn.has(channel)) return { ok: false, error: "not_in_channel" };
        const ts = nextTs();
        const stored: StoredMessage = {
          ts,
          text: String(args.text ?? ""),
          user: "UBOT",
          bot_id: "BBOT",
          ...(args.blocks === undefined ? {} : { blocks: args.blocks }),
          ...(isRecord(args.metadata) ? { metadata: args.metadata } : {}),
        };
        messages.set(channel, [...(messages.get(channel) ?? []), stored]);
        return {
          ok: true,
          channel: args.channel,
          ts,
          message: {
            type: "message",
            user: "UBOT",
            bot_id: "BBOT",
            ts,
            text: args.text ?? "",
            ...(args.blocks === undefined ? {} : { blocks: args.blocks }),
          },
        };
      }
      case "chat.postEphemeral":
        return { ok: true, message_ts: nextTs() };
      case "chat.update": {
        const channel = String(args.channel ?? "");
        if (notIn.has(channel)) return { ok: false, error: "not_in_channel" };
        // A message this fake never stored is answered as before (ok), so older tests keep working.
        const found = messages.get(channel)?.find((m) => m.ts === args.ts);
        if (found) {
          found.text = String(args.text ?? found.text);
          if (args.blocks !== undefined) found.blocks = args.blocks;
          if (isRecord(args.metadata)) found.metadata = args.metadata;
        }
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text ?? "" };
      }
      case "chat.getPermalink": {
        const channel = String(args.channel ?? "");
        if (!messages.get(channel)?.some((m) => m.ts === args.message_ts))
          return { ok: false, error: "message_not_found" };
        return {
          ok: true,
          channel,
          permalink: `https://test.slack.com/archives/${channel}/p${String(args.message_ts).replace(".", "")}`,
        };
      }
      case "conversations.history":
        return history(args);
      case "chat.delete":
        return { ok: true, channel: args.channel, ts: args.ts };
      case "users.info": {
        const id = typeof args.user === "string" ? args.user : "";
        const user = users.get(id);
        if (user === undefined) return { ok: false, error: "user_not_found" };
        return {
          ok: true,
          user: {
            id,
            team_id: user.team_id ?? "T0TEST",
            name: user.name ?? id.toLowerCase(),
            deleted: user.deleted ?? false,
            is_admin: user.is_admin ?? false,
            is_owner: user.is_owner ?? false,
            is_primary_owner: user.is_primary_owner ?? false,
            is_bot: false,
            is_app_user: false,
          },
        };
      }
      case "usergroups.users.list": {
        const id = typeof args.usergroup === "string" ? args.usergroup : "";
        const members = usergroups.get(id);
        return members === undefined
          ? { ok: false, error: "no_such_subteam" }
          : { ok: true, users: [...members] };
      }
      case "apps.connections.open":
        return fake.socketUrl === undefined
          ? { ok: false, error: "invalid_auth" }
          : { ok: true, url: fake.socketUrl };
      default:
        return { ok: false, error: "unknown_method" };
    }
  };

  /** conversations.history: newest first, latest/oldest/inclusive, limit and an opaque offset cursor. */
  const history = (args: Record<string, unknown>): unknown => {
    const channel = String(args.channel ?? "");
    if (notIn.has(channel)) return { ok: false, error: "not_in_channel" };
    if (!messages.has(channel)) return { ok: false, error: "channel_not_found" };
    const limit = Math.min(Number(args.limit ?? 100) || 100, HISTORY_MAX_LIMIT);
    const inclusive = args.inclusive === "true" || args.inclusive === true;
    const latest = typeof args.latest === "string" ? Number(args.latest) : Number.POSITIVE_INFINITY;
    const oldest = typeof args.oldest === "string" ? Number(args.oldest) : 0;
    const within = (ts: number) =>
      (inclusive ? ts <= latest : ts < latest) && (inclusive ? ts >= oldest : ts > oldest);
    const all = [...(messages.get(channel) ?? [])].reverse().filter((m) => within(Number(m.ts)));
    const start = typeof args.cursor === "string" && args.cursor !== "" ? Number(args.cursor.slice(4)) : 0;
    const page = all.slice(start, start + limit);
    const withMeta = args.include_all_metadata === "true" || args.include_all_metadata === true;
    const more = start + limit < all.length;
    return {
      ok: true,
      messages: page.map(({ metadata, ...m }) => ({
        type: "message",
        ...m,
        ...(withMeta && metadata !== undefined ? { metadata } : {}),
      })),
      has_more: more,
      response_metadata: { next_cursor: more ? `off:${start + limit}` : "" },
    };
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.headersSent) return;
    const isText = typeof body === "string";
    const payload = isText ? body : JSON.stringify(body);
    res.writeHead(status, {
      "content-type": isText ? "text/plain; charset=utf-8" : "application/json; charset=utf-8",
      ...headers,
    });
    res.end(payload);
  };

  const handleApi = async (method: string, req: IncomingMessage, res: ServerResponse, raw: Buffer) => {
    const args = await parseBody(req, raw);
    const call: SlackCall = {
      method,
      args,
      headers: { ...req.headers },
      raw: raw.toString("utf8"),
      at: Date.now(),
      token: tokenOf(req, args),
    };
    calls.push(call);
    for (const w of callWaiters) if (w.match(call)) w.resolve(call);

    const handler = handlers.get(method);
    const result = handler === undefined ? undefined : await handler(args, call);
    if (result?.delayMs !== undefined && result.delayMs > 0) await delay(result.delayMs);
    if (closed) return;
    const status = result?.status ?? 200;
    const body =
      result?.body !== undefined
        ? result.body
        : status === 200
          ? defaultAnswer(method, args)
          : { ok: false, error: `http_${status}` };
    send(res, status, body, result?.headers);
  };

  const handleResponseUrl = async (id: string, req: IncomingMessage, res: ServerResponse, raw: Buffer) => {
    const body = await parseBody(req, raw);
    const post: ResponseUrlPost = { id, body, raw: raw.toString("utf8"), at: Date.now() };
    responses.push(post);
    for (const w of responseWaiters) if (w.match(post)) w.resolve(post);
    const result = responseHandler === undefined ? undefined : await responseHandler(post);
    if (result?.delayMs !== undefined && result.delayMs > 0) await delay(result.delayMs);
    if (closed) return;
    send(res, result?.status ?? 200, result?.body ?? { ok: true }, result?.headers);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      rawLog.push(`${headersAsText(req)}\n\n${raw.toString("utf8")}`);
      const route = async (): Promise<void> => {
        const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
        if (path.startsWith("/api/")) {
          await handleApi(decodeURIComponent(path.slice("/api/".length)), req, res, raw);
        } else if (path.startsWith("/response/")) {
          await handleResponseUrl(decodeURIComponent(path.slice("/response/".length)), req, res, raw);
        } else {
          send(res, 404, { ok: false, error: "not_found" });
        }
      };
      route().catch((error: unknown) => {
        send(res, 500, { ok: false, error: "fake_slack_internal_error", detail: String(error) });
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string")
    throw new Error("fake Slack: unexpected server address");
  baseUrl = `http://127.0.0.1:${(address satisfies AddressInfo).port}`;

  function waitOn<T>(
    existing: T[],
    waiters: Set<Waiter<T>>,
    match: (item: T) => boolean,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T> {
    const safeMatch = (item: T): boolean => {
      try {
        return match(item);
      } catch {
        return false;
      }
    };
    const found = existing.find(safeMatch);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        match: safeMatch,
        resolve: (item) => {
          clearTimeout(timer);
          timers.delete(timer);
          waiters.delete(waiter);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        timers.delete(timer);
        waiters.delete(waiter);
        reject(new Error(describe()));
      }, timeoutMs);
      timers.add(timer);
      waiters.add(waiter);
    });
  }

  const fake: FakeSlack = {
    apiUrl: `${baseUrl}/api/`,
    responseUrl(id?: string): string {
      responseSeq += 1;
      return `${baseUrl}/response/${encodeURIComponent(id ?? `r${responseSeq}`)}`;
    },
    calls,
    responses,
    rawLog,
    callsTo: (method) => calls.filter((c) => c.method === method),
    waitFor(method, predicate, timeoutMs = DEFAULT_WAIT_MS) {
      return waitOn(
        calls,
        callWaiters,
        (c) => c.method === method && (predicate === undefined || predicate(c)),
        timeoutMs,
        () =>
          `fake Slack: timed out after ${timeoutMs}ms waiting for a ${method} call` +
          `${predicate === undefined ? "" : " matching the predicate"}; ` +
          `calls seen (${calls.length}): ${calls.length === 0 ? "none" : calls.map(describeCall).join(", ")}`,
      );
    },
    waitForResponse(predicate, timeoutMs = DEFAULT_WAIT_MS) {
      return waitOn(
        responses,
        responseWaiters,
        (r) => predicate === undefined || predicate(r),
        timeoutMs,
        () =>
          `fake Slack: timed out after ${timeoutMs}ms waiting for a response_url post` +
          `${predicate === undefined ? "" : " matching the predicate"}; ` +
          `posts seen (${responses.length}): ${
            responses.length === 0
              ? "none"
              : responses.map((r) => `${r.id}:${r.raw.slice(0, 200)}`).join(", ")
          }; Web API calls seen: ${calls.map((c) => c.method).join(", ") || "none"}`,
      );
    },
    on(method, handler) {
      handlers.set(method, handler);
    },
    onResponse(handler) {
      responseHandler = handler;
    },
    users,
    usergroups,
    messages,
    notIn,
    reset() {
      calls.length = 0;
      responses.length = 0;
      rawLog.length = 0;
      handlers.clear();
      responseHandler = undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      callWaiters.clear();
      responseWaiters.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return fake;
}
