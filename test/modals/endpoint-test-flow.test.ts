/**
 * The endpoint test (issue 5) proven through the real modal flow: the real bot on its HTTP receiver, the fake
 * Slack Web API, the Convai sandbox and the real probe (src/probe) talking to a fake OpenAI-compatible server
 * over real HTTP. Every assertion is on what the user saw (ack bodies, views.update) and on what reached the
 * fake endpoint and Convai.
 */

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ProbeFn } from "../../src/domain/outcome.js";
import { probeEndpoint } from "../../src/probe/probe.js";
import { CHECKED_VALUE } from "../../src/slack/ids.js";
import { everythingSent, MANAGER, startTestBot, type TestBot, type TestBotOptions } from "../helpers/bot.js";
import { input, sendInteraction, stateValues, viewSubmission } from "../helpers/slack-requests.js";
import { ackSchema, type Ack as SubmissionAck, type View, viewSchema } from "../helpers/views.js";

// ---- a fake OpenAI-compatible server -------------------------------------------------------------------------

interface LlmRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Reply {
  status: number;
  /** A string is sent as is (text/plain unless contentType says otherwise); anything else as JSON. */
  body?: unknown;
  contentType?: string;
  delayMs?: number;
}

type Route = Reply | ((req: LlmRequest) => Reply);

const MODEL = "llama-3-8b";
const modelList = (...ids: string[]) => ({
  object: "list",
  data: ids.map((id) => ({ id, object: "model" })),
});
const completion = () => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "p" }, finish_reason: "length" }],
});

/** Answers per "METHOD path"; anything else is a JSON 404. Records every request and TCP connection. */
class FakeLlm {
  readonly requests: LlmRequest[] = [];
  connections = 0;
  port = 0;
  private readonly routes = new Map<string, Route>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen: LlmRequest = {
        method: req.method ?? "",
        path: new URL(req.url ?? "/", "http://fake").pathname,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      this.requests.push(seen);
      const route = this.routes.get(`${seen.method} ${seen.path}`);
      const reply: Reply =
        route === undefined
          ? { status: 404, body: { detail: "Not Found" } }
          : typeof route === "function"
            ? route(seen)
            : route;
      const send = () => {
        if (res.destroyed) return;
        const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
        const type =
          reply.contentType ?? (typeof reply.body === "string" ? "text/plain" : "application/json");
        res.writeHead(reply.status, { "content-type": type });
        res.end(text);
      };
      if (reply.delayMs === undefined) return send();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        send();
      }, reply.delayMs);
      this.timers.add(timer);
    });
  });

  constructor() {
    this.server.on("connection", () => {
      this.connections += 1;
    });
    this.route("GET /v1/models", { status: 200, body: modelList(MODEL, "other-model") });
    this.route("POST /v1/chat/completions", { status: 200, body: completion() });
  }

  /** "::" accepts 127.0.0.1, ::1 and ::ffff:127.0.0.1 alike (dual stack). */
  async start(host: "127.0.0.1" | "::" = "127.0.0.1"): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    const address: AddressInfo | string | null = this.server.address();
    if (address === null || typeof address === "string") throw new Error("fake LLM: no port");
    this.port = address.port;
    return this;
  }

  /** http://127.0.0.1:PORT followed by `path`. */
  url(path = "/v1"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  route(key: string, route: Route): void {
    this.routes.set(key, route);
  }

  /** The Authorization header of every request, in order. */
  authorizations(): Array<string | undefined> {
    return this.requests.map((r) => r.headers.authorization);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

// ---- the bot and what the user sees ----------------------------------------------------------------------------

type Ack = SubmissionAck & { raw: string };

const REGISTER = "convai_llm_register";
const UPDATE = "convai_llm_update";
const SUBMITTED_VIEW_ID = "VSUBMITTED";
const KEY = "sk-probe-SECRET-4f2a9c7e1b";
const NEW_KEY = "sk-probe-ROTATED-8d1e3a";
const REGISTER_META = JSON.stringify({ v: 1, origin: "command", channelId: "C0CHAN" });
const updateMeta = (group: string) => JSON.stringify({ v: 1, group, origin: "command", channelId: "C0CHAN" });

/** Every `text` string in a view's blocks, one a line: what the user can read. */
function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.map(textOf).filter(Boolean).join("\n");
  if (typeof value !== "object" || value === null) return "";
  return Object.entries(value)
    .map(([k, v]) => (k === "text" && typeof v === "string" ? v : textOf(v)))
    .filter(Boolean)
    .join("\n");
}

function viewOf(ack: Ack): View {
  if (ack.view === undefined) throw new Error(`ack has no view: ${ack.raw}`);
  return ack.view;
}

function field(view: View, id: string) {
  const block = view.blocks.find((b) => b.type === "input" && b.block_id === id);
  if (!block?.element) throw new Error(`no input ${id} in view ${view.callback_id}`);
  return block.element;
}

/** The text of the block right under an input: where a restored form shows that field's error. */
function under(view: View, id: string): string {
  const index = view.blocks.findIndex((b) => b.type === "input" && b.block_id === id);
  const next = view.blocks[index + 1];
  return next?.type === "context" ? textOf(next) : "";
}

let bots: TestBot[] = [];
let fakes: FakeLlm[] = [];
afterEach(async () => {
  await Promise.all([...bots.map((b) => b.stop()), ...fakes.map((f) => f.stop())]);
  bots = [];
  fakes = [];
});

async function bot(options: TestBotOptions = {}): Promise<TestBot> {
  const b = await startTestBot(options);
  bots.push(b);
  return b;
}

async function fakeLlm(host: "127.0.0.1" | "::" = "127.0.0.1"): Promise<FakeLlm> {
  const f = await new FakeLlm().start(host);
  fakes.push(f);
  return f;
}

async function submit(
  b: TestBot,
  callbackId: string,
  values: Record<string, object>,
  privateMetadata: string,
): Promise<Ack> {
  const res = await sendInteraction(
    b.url,
    viewSubmission({
      callbackId,
      values: stateValues(values),
      privateMetadata,
      userId: MANAGER,
      viewId: SUBMITTED_VIEW_ID,
    }),
  );
  expect(res.status).toBe(200);
  return { ...ackSchema.parse(res.json), raw: res.text };
}

/** The view the bot sent with views.update to the submitted modal, after its working view. */
async function followUp(b: TestBot): Promise<View> {
  const call = await b.fake.waitFor("views.update", (c) => c.args.view_id === SUBMITTED_VIEW_ID, 8000);
  return viewSchema.parse(call.args.view);
}

interface RegisterFields {
  base_url: string;
  api_key?: string;
  verify?: boolean;
}

function registerValues(f: RegisterFields) {
  return {
    model_group_name: input.text("acme-llama"),
    model_name: input.text(MODEL),
    display_name: input.text("Acme Llama"),
    api_key: input.text(f.api_key ?? KEY),
    base_url: input.url(f.base_url),
    is_uncensored: input.checkbox([]),
    verify: input.checkbox(f.verify === false ? [] : [CHECKED_VALUE]),
  };
}

function register(b: TestBot, f: RegisterFields): Promise<Ack> {
  return submit(b, REGISTER, registerValues(f), REGISTER_META);
}

/** A refusal in the ack: exactly one field error, on `fieldId`; returns its message. */
function onlyError(ack: Ack, fieldId: string): string {
  expect(ack.response_action).toBe("errors");
  expect(Object.keys(ack.errors ?? {})).toEqual([fieldId]);
  return ack.errors?.[fieldId] ?? "";
}

/** What a failing endpoint test must leave behind: the key sent to the endpoint, nothing sent to Convai. */
function refusedBeforeConvai(b: TestBot, llm: FakeLlm, key = KEY): void {
  expect(b.sandbox.requests).toEqual([]);
  expect(llm.requests.length).toBeGreaterThan(0);
  for (const auth of llm.authorizations()) expect(auth).toBe(`Bearer ${key}`);
}

const registered = (b: TestBot) => b.sandbox.requests.filter((r) => r.path.endsWith("/register"));

/** Every form the key could leak in: raw, JSON-escaped, URL-encoded. */
function keyForms(key: string): string[] {
  return [key, JSON.stringify(key).slice(1, -1), encodeURIComponent(key)];
}

// ---- every row of the table -----------------------------------------------------------------------------------

describe("register with the endpoint test: each answer → the field the user must fix", () => {
  it("unreachable (nothing listens on the port) → base_url, nothing sent to Convai", async () => {
    const b = await bot();
    const port = await closedPort();
    const ack = await register(b, { base_url: `http://127.0.0.1:${port}/v1` });
    expect(onlyError(ack, "base_url")).toBe(
      `could not connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    );
    expect(b.sandbox.requests).toEqual([]);
  });

  it("no answer in time → base_url, nothing sent to Convai", async () => {
    // The real probe with a shorter bound than its 8 s default, so the test does not wait 8 s.
    const probe: ProbeFn = (req) => probeEndpoint({ ...req, timeoutMs: 800 });
    const b = await bot({ probe });
    const llm = await fakeLlm();
    llm.route("GET /v1/models", { status: 200, body: modelList(MODEL), delayMs: 10_000 });
    const ack = await register(b, { base_url: llm.url() });
    expect(onlyError(ack, "base_url")).toBe(`127.0.0.1:${llm.port} did not answer within 0.8s`);
    refusedBeforeConvai(b, llm);
  });

  it.each([401, 403])("%i on GET /models → api_key, nothing sent to Convai", async (status) => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("GET /v1/models", {
      status,
      body: { error: { message: "Incorrect API key provided.", type: "invalid_request_error" } },
    });
    const ack = await register(b, { base_url: llm.url() });
    expect(onlyError(ack, "api_key")).toBe(
      `the endpoint refused the key (${status}): Incorrect API key provided.`,
    );
    refusedBeforeConvai(b, llm);
    // It stopped at the refusal: no chat request with a refused key.
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v1/models"]);
  });

  it("403 on POST /chat/completions (the list was open) → api_key", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("POST /v1/chat/completions", {
      status: 403,
      body: { error: { message: "This key may not use chat completions" } },
    });
    const ack = await register(b, { base_url: llm.url() });
    expect(onlyError(ack, "api_key")).toBe(
      "the endpoint refused the key (403): This key may not use chat completions",
    );
    refusedBeforeConvai(b, llm);
  });

  it("404 JSON naming the model (model_not_found) → model_name", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("GET /v1/models", { status: 200, body: modelList("gpt-4o") });
    llm.route("POST /v1/chat/completions", {
      status: 404,
      body: {
        error: {
          message: "The model `llama-3-8b` does not exist or you do not have access to it.",
          type: "invalid_request_error",
          code: "model_not_found",
        },
      },
    });
    const ack = await register(b, { base_url: llm.url() });
    expect(onlyError(ack, "model_name")).toBe(
      'the endpoint does not know the model "llama-3-8b": The model `llama-3-8b` does not exist or you do not have access to it.',
    );
    refusedBeforeConvai(b, llm);
  });

  it("an HTML answer (a web site, not an API) → base_url, not OpenAI-compatible, /v1 suggested", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const page = {
      status: 200,
      body: "<!doctype html><html><body>Welcome</body></html>",
      contentType: "text/html",
    };
    llm.route("GET /models", page);
    llm.route("POST /chat/completions", page);
    const ack = await register(b, { base_url: llm.url("") });
    expect(onlyError(ack, "base_url")).toBe(
      `POST /chat/completions answered with an HTML page, so it is not an OpenAI-compatible API; did you mean http://127.0.0.1:${llm.port}/v1?`,
    );
    refusedBeforeConvai(b, llm);
  });

  it("404 on both paths → base_url suggesting /v1 when the URL lacks it", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url("/api") });
    expect(onlyError(ack, "base_url")).toBe(
      `GET /models and POST /chat/completions both answered 404, so it is not an OpenAI-compatible API; did you mean http://127.0.0.1:${llm.port}/api/v1?`,
    );
    // Tested where the user pointed; /v1 is only suggested, never added.
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /api/models",
      "POST /api/chat/completions",
    ]);
    refusedBeforeConvai(b, llm);
  });

  it("404 on both paths of a URL that has /v1 → base_url without a /v1 suggestion", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url("/openai/v1") });
    expect(onlyError(ack, "base_url")).toBe(
      "GET /models and POST /chat/completions both answered 404, so it is not an OpenAI-compatible API",
    );
    refusedBeforeConvai(b, llm);
  });

  it("429 → saved; the outcome notes the rate limit", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("POST /v1/chat/completions", {
      status: 429,
      body: { error: { message: "Rate limit reached", type: "requests" } },
    });
    const ack = await register(b, { base_url: llm.url() });
    expect(ack.response_action).toBe("update");
    const outcome = viewOf(ack);
    expect(outcome.title.text).toBe("Model registered");
    const shown = textOf(outcome.blocks);
    expect(shown).toContain(":white_check_mark: *Endpoint tested*");
    expect(shown).toContain(`• POST \`${llm.url()}/chat/completions\` → 429 (`);
    expect(shown).toContain(
      "_reachable and authenticated, but rate limited (429); the model was not tested_",
    );
    expect(registered(b)).toHaveLength(1);
    expect(b.sandbox.models().map((m) => m.model_group_name)).toEqual(["acme-llama"]);
  });

  it.each([500, 502, 503])("%i → base_url with the endpoint's own words", async (status) => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("POST /v1/chat/completions", { status, body: { error: { message: "upstream overloaded" } } });
    const ack = await register(b, { base_url: llm.url() });
    expect(onlyError(ack, "base_url")).toBe(`the endpoint answered ${status}: upstream overloaded`);
    refusedBeforeConvai(b, llm);
  });

  it("success → saved; the outcome lists the tested URLs, status codes and latency, never the key", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url() });
    expect(ack.response_action).toBe("update");
    const outcome = viewOf(ack);
    expect(outcome.title.text).toBe("Model registered");
    const shown = textOf(outcome.blocks);
    const lines = shown.split("\n");
    const summary = lines.indexOf(":white_check_mark: *Endpoint tested*");
    expect(summary).toBeGreaterThan(-1);
    expect(lines[summary + 1]).toMatch(
      new RegExp(`^• GET \`http://127\\.0\\.0\\.1:${llm.port}/v1/models\` → 200 \\(\\d+ ms\\)$`),
    );
    expect(lines[summary + 2]).toMatch(
      new RegExp(`^• POST \`http://127\\.0\\.0\\.1:${llm.port}/v1/chat/completions\` → 200 \\(\\d+ ms\\)$`),
    );
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1/models",
      "POST /v1/chat/completions",
    ]);
    expect(llm.authorizations()).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
    expect(JSON.parse(llm.requests[1]?.body ?? "")).toEqual({
      model: MODEL,
      messages: [{ role: "user", content: "ping" }],
      max_tokens: 1,
    });
    expect(registered(b).map((r) => r.body)).toEqual([
      {
        model_group_name: "acme-llama",
        model_name: MODEL,
        display_name: "Acme Llama",
        api_key: KEY,
        base_url: llm.url(),
        is_uncensored: false,
      },
    ]);
    expect(ack.raw).not.toContain(KEY);
    expect(everythingSent(b)).not.toContain(KEY);
  });
});

// ---- how the probe talks ---------------------------------------------------------------------------------------

describe("register: what the probe sends", () => {
  it("a 400 about max_tokens is retried once with max_completion_tokens → saved", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("POST /v1/chat/completions", (req) =>
      req.body.includes('"max_tokens"')
        ? {
            status: 400,
            body: {
              error: {
                message:
                  "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                type: "invalid_request_error",
                param: "max_tokens",
                code: "unsupported_parameter",
              },
            },
          }
        : { status: 200, body: completion() },
    );
    const ack = await register(b, { base_url: llm.url() });
    expect(ack.response_action).toBe("update");
    const shown = textOf(viewOf(ack).blocks);
    expect(shown).toContain("_the endpoint rejects max_tokens; max_completion_tokens worked_");
    const posts = llm.requests.filter((r) => r.method === "POST").map((r): unknown => JSON.parse(r.body));
    const messages = [{ role: "user", content: "ping" }];
    expect(posts).toEqual([
      { model: MODEL, messages, max_tokens: 1 },
      { model: MODEL, messages, max_completion_tokens: 1 },
    ]);
    expect(shown).toMatch(/• POST `[^`]+\/v1\/chat\/completions` → 400 \(\d+ ms\)\n• POST `[^`]+` → 200/);
    expect(registered(b)).toHaveLength(1);
  });

  it("a pasted /chat/completions suffix is stripped: the probe calls /v1/models and /v1/chat/completions", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url("/v1/chat/completions/") });
    expect(ack.response_action).toBe("update");
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1/models",
      "POST /v1/chat/completions",
    ]);
    expect(textOf(viewOf(ack).blocks)).toContain(`• GET \`${llm.url()}/models\` → 200`);
  });

  // Regression: the probe tested the normalised URL while the URL as typed reached Convai, which appends
  // /chat/completions again, so "Endpoint tested" sat beside a broken saved URL.
  it("a pasted /chat/completions suffix: Convai saves the URL that was tested", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url("/v1/chat/completions/") });
    expect(ack.response_action).toBe("update");
    expect(registered(b).map((r) => r.body)).toEqual([expect.objectContaining({ base_url: llm.url() })]);
    expect(b.sandbox.models()[0]?.base_url).toBe(llm.url());
  });

  it("no /v1 is added silently: a root URL is tested and saved as typed", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("GET /models", { status: 200, body: modelList(MODEL) });
    llm.route("POST /chat/completions", { status: 200, body: completion() });
    const ack = await register(b, { base_url: llm.url("") });
    expect(ack.response_action).toBe("update");
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /models",
      "POST /chat/completions",
    ]);
    expect(registered(b).map((r) => r.body)).toEqual([expect.objectContaining({ base_url: llm.url("") })]);
  });

  it("verify unchecked → saved anyway, the endpoint gets nothing, the outcome says it was not tested", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("GET /v1/models", { status: 401, body: { error: { message: "would have failed" } } });
    const ack = await register(b, { base_url: llm.url(), verify: false });
    expect(ack.response_action).toBe("update");
    const outcome = viewOf(ack);
    expect(outcome.title.text).toBe("Model registered");
    expect(textOf(outcome.blocks)).toContain(
      ":grey_question: Endpoint test skipped: “Test the endpoint before saving” was unchecked.",
    );
    expect(llm.requests).toEqual([]);
    expect(llm.connections).toBe(0);
    expect(registered(b)).toHaveLength(1);
  });
});

// ---- update ---------------------------------------------------------------------------------------------------

describe("update with the endpoint test", () => {
  const CURRENT_MODEL = "mistral-large";

  async function seededBot(llm: FakeLlm, env?: Record<string, string>, baseUrl = llm.url()) {
    const b = await bot(env ? { env } : {});
    await b.sandbox.seed([
      {
        model_group_name: "acme-mistral",
        model_name: CURRENT_MODEL,
        display_name: "Acme Mistral",
        base_url: baseUrl,
        is_uncensored: false,
        api_key: "sk-seeded-OLD-0001",
      },
    ]);
    llm.route("GET /v1/models", { status: 200, body: modelList(CURRENT_MODEL) });
    return b;
  }

  const updateValues = (apiKey: string) => ({
    display_name: input.text("Acme Mistral 2"),
    base_url: input.url(""),
    api_key: input.text(apiKey),
    is_uncensored: input.radio("keep"),
    verify: input.checkbox([CHECKED_VALUE]),
  });

  const updates = (b: TestBot) => b.sandbox.requests.filter((r) => r.path.endsWith("/update"));

  it("a blank key → not tested (the key cannot be read back), the endpoint gets nothing, saved", async () => {
    const llm = await fakeLlm();
    const b = await seededBot(llm);
    const ack = await submit(b, UPDATE, updateValues(""), updateMeta("acme-mistral"));
    expect(ack.response_action).toBe("update");
    const outcome = viewOf(ack);
    expect(outcome.title.text).toBe("Model updated");
    expect(textOf(outcome.blocks)).toContain(
      ":grey_question: Endpoint not tested: the current key cannot be read back from Convai. Enter the key to test it.",
    );
    expect(llm.requests).toEqual([]);
    expect(llm.connections).toBe(0);
    expect(updates(b).map((r) => r.body)).toEqual([
      { model_group_name: "acme-mistral", display_name: "Acme Mistral 2" },
    ]);
  });

  it("slow and failing: the restored form still names the characters using the model", async () => {
    const llm = await fakeLlm();
    const b = await bot({ submitBudgetMs: 300 });
    await b.sandbox.seed([
      {
        model_group_name: "acme-mistral",
        model_name: CURRENT_MODEL,
        base_url: llm.url(),
        api_key: "sk-seeded-OLD-0002",
      },
    ]);
    await b.sandbox.seedCharacters([
      { character_id: "c-1", character_name: "Amara", model: "acme-mistral" },
      { character_id: "c-2", character_name: "Bruno", model: "gpt-4o" },
    ]);
    llm.route("GET /v1/models", { status: 200, body: modelList(CURRENT_MODEL), delayMs: 1000 });
    llm.route("POST /v1/chat/completions", { status: 503, body: { error: { message: "overloaded" } } });
    const ack = await submit(b, UPDATE, updateValues(NEW_KEY), updateMeta("acme-mistral"));
    expect(textOf(viewOf(ack).blocks)).toContain("Working");
    const form = await followUp(b);
    expect(form.callback_id).toBe(UPDATE);
    expect(textOf(form.blocks)).toContain(":busts_in_silhouette: Used by 1 character: Amara");
    expect(updates(b)).toEqual([]);
  });

  it("a new key → probed with the new key and the current model name, then saved", async () => {
    const llm = await fakeLlm();
    const b = await seededBot(llm);
    const ack = await submit(b, UPDATE, updateValues(NEW_KEY), updateMeta("acme-mistral"));
    expect(ack.response_action).toBe("update");
    const shown = textOf(viewOf(ack).blocks);
    expect(shown).toContain(":white_check_mark: *Endpoint tested*");
    expect(shown).toContain("`api_key`: rotated");
    expect(llm.authorizations()).toEqual([`Bearer ${NEW_KEY}`, `Bearer ${NEW_KEY}`]);
    const chat = llm.requests.find((r) => r.method === "POST");
    expect(JSON.parse(chat?.body ?? "")).toMatchObject({ model: CURRENT_MODEL });
    expect(updates(b).map((r) => r.body)).toEqual([
      { model_group_name: "acme-mistral", display_name: "Acme Mistral 2", api_key: NEW_KEY },
    ]);
    expect(everythingSent(b)).not.toContain(NEW_KEY);
  });

  // Regression, as on register: a new base URL with a pasted suffix was tested without it, saved with it.
  it("a new base URL with a pasted /chat/completions suffix: Convai saves the URL that was tested", async () => {
    const llm = await fakeLlm();
    const b = await seededBot(llm, undefined, "https://old.acme.example/v1");
    const ack = await submit(
      b,
      UPDATE,
      { ...updateValues(NEW_KEY), base_url: input.url(llm.url("/v1/chat/completions")) },
      updateMeta("acme-mistral"),
    );
    expect(ack.response_action).toBe("update");
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1/models",
      "POST /v1/chat/completions",
    ]);
    expect(updates(b).map((r) => r.body)).toEqual([expect.objectContaining({ base_url: llm.url() })]);
  });

  it("a new key the endpoint refuses → api_key error, the update never reaches Convai", async () => {
    const llm = await fakeLlm();
    const b = await seededBot(llm);
    llm.route("GET /v1/models", { status: 401, body: { error: { message: "invalid key" } } });
    const ack = await submit(b, UPDATE, updateValues(NEW_KEY), updateMeta("acme-mistral"));
    expect(onlyError(ack, "api_key")).toBe("the endpoint refused the key (401): invalid key");
    expect(llm.authorizations()).toEqual([`Bearer ${NEW_KEY}`]);
    expect(b.sandbox.requests.map((r) => r.path)).toEqual(["/llm-models/list"]);
  });

  it("without CONVAI_ALLOW_PRIVATE_URLS a stored loopback URL is refused by the probe's guard, unprobed", async () => {
    const llm = await fakeLlm("::");
    const b = await seededBot(
      llm,
      { CONVAI_ALLOW_PRIVATE_URLS: "false" },
      `https://127.0.0.1:${llm.port}/v1`,
    );
    const ack = await submit(b, UPDATE, updateValues(NEW_KEY), updateMeta("acme-mistral"));
    expect(onlyError(ack, "base_url")).toBe(
      "127.0.0.1 is not a public address; Convai's servers cannot reach private, loopback or link-local addresses",
    );
    expect(llm.requests).toEqual([]);
    expect(llm.connections).toBe(0);
    expect(b.sandbox.requests.map((r) => r.path)).toEqual(["/llm-models/list"]);
  });
});

// ---- slower than Slack's window --------------------------------------------------------------------------------

describe("a slow endpoint (the probe outlasts the submit budget)", () => {
  it("success: the ack is the working view, then views.update shows the outcome", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    const llm = await fakeLlm();
    llm.route("GET /v1/models", { status: 200, body: modelList(MODEL), delayMs: 1000 });
    const ack = await register(b, { base_url: llm.url() });
    expect(ack.response_action).toBe("update");
    const working = viewOf(ack);
    expect(working.callback_id).toBe(REGISTER);
    expect(textOf(working.blocks)).toContain("Working");
    expect(working.submit).toBeUndefined();

    const outcome = await followUp(b);
    expect(outcome.title.text).toBe("Model registered");
    const shown = textOf(outcome.blocks);
    expect(shown).toMatch(/• GET `[^`]+\/v1\/models` → 200 \(\d+ ms\)/);
    expect(shown).toMatch(/• POST `[^`]+\/v1\/chat\/completions` → 200 \(\d+ ms\)/);
    expect(registered(b)).toHaveLength(1);
    expect(everythingSent(b)).not.toContain(KEY);
  });

  it("failure: the working view, then the form restored with the error under base_url and no key", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    const llm = await fakeLlm();
    llm.route("POST /v1/chat/completions", {
      status: 503,
      body: { error: { message: "upstream overloaded" } },
      delayMs: 1000,
    });
    const ack = await register(b, { base_url: llm.url() });
    expect(textOf(viewOf(ack).blocks)).toContain("Working");

    const form = await followUp(b);
    expect(form.callback_id).toBe(REGISTER);
    expect(form.private_metadata).toBe(REGISTER_META);
    expect(textOf(form.blocks)).toContain(
      ":x: Nothing was saved. Fix the field below; the API key must be entered again.",
    );
    expect(under(form, "base_url")).toBe("⚠️ the endpoint answered 503: upstream overloaded");
    expect(field(form, "base_url").initial_value).toBe(llm.url());
    expect(field(form, "model_name").initial_value).toBe(MODEL);
    expect(field(form, "verify").initial_options?.map((o) => o.value)).toEqual([CHECKED_VALUE]);
    expect(field(form, "api_key").initial_value).toBeUndefined();
    expect(under(form, "api_key")).toBe("");
    refusedBeforeConvai(b, llm);
    expect(everythingSent(b)).not.toContain(KEY);
  });
});

// ---- the SSRF guard ------------------------------------------------------------------------------------------

describe("without CONVAI_ALLOW_PRIVATE_URLS", () => {
  const hosts = [
    (port: number) => `https://127.0.0.1:${port}/v1`,
    (port: number) => `https://localhost:${port}/v1`,
    () => "https://10.0.0.1/v1",
    () => "https://169.254.169.254/v1",
    (port: number) => `https://[::1]:${port}/v1`,
    (port: number) => `https://[::ffff:127.0.0.1]:${port}/v1`,
  ];

  it.each(hosts.map((h) => [h(0).replace(":0/", ":PORT/"), h] as const))(
    "%s → refused on base_url; the endpoint and Convai get nothing",
    async (_shown, url) => {
      const b = await bot({ env: { CONVAI_ALLOW_PRIVATE_URLS: "false" } });
      // Dual stack, so every loopback spelling above would reach it if it were let through.
      const llm = await fakeLlm("::");
      const ack = await register(b, { base_url: url(llm.port) });
      expect(onlyError(ack, "base_url")).toBe(
        "Use a public host: Convai's servers can't reach private, loopback or link-local addresses",
      );
      expect(llm.requests).toEqual([]);
      expect(llm.connections).toBe(0);
      expect(b.sandbox.requests).toEqual([]);
    },
  );
});

// ---- the key never leaves ---------------------------------------------------------------------------------

describe("the key never appears in what the bot sent", () => {
  // Characters that JSON and URL encoding change, so every escaped form of the key is distinct.
  const ECHOED = 'sk-leak/SECRET+"q\\Zx=9f3b';

  it("an endpoint that echoes the key in its error bodies: acks, Slack calls and logs never carry it", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const echo = `Incorrect API key provided: ${ECHOED} (also ${encodeURIComponent(ECHOED)}); Authorization: Bearer ${ECHOED}`;
    llm.route("GET /v1/models", { status: 401, body: { error: { message: echo } } });
    const refused = await register(b, { base_url: llm.url(), api_key: ECHOED });
    expect(onlyError(refused, "api_key")).toMatch(/^the endpoint refused the key \(401\): Incorrect API key/);
    expect(refused.errors?.api_key).toContain("[redacted]");
    refusedBeforeConvai(b, llm, ECHOED);

    // Plain text, a 5xx, the key raw and JSON-escaped.
    llm.route("GET /v1/models", { status: 200, body: modelList(MODEL) });
    llm.route("POST /v1/chat/completions", {
      status: 500,
      body: `crashed handling key=${ECHOED} json=${JSON.stringify(ECHOED)}`,
    });
    const failed = await register(b, { base_url: llm.url(), api_key: ECHOED });
    expect(onlyError(failed, "base_url")).toMatch(/^the endpoint answered 500: crashed handling key=/);
    expect(b.sandbox.requests).toEqual([]);

    const sent = [refused.raw, failed.raw, everythingSent(b)].join("\n");
    for (const form of keyForms(ECHOED)) expect(sent).not.toContain(form);
  });

  it("the same through the working view: views.update never carries the echoed key", async () => {
    const b = await bot({ submitBudgetMs: 300 });
    const llm = await fakeLlm();
    llm.route("GET /v1/models", {
      status: 403,
      body: { error: { message: `key ${ECHOED} is not allowed` } },
      delayMs: 1000,
    });
    const ack = await register(b, { base_url: llm.url(), api_key: ECHOED });
    expect(textOf(viewOf(ack).blocks)).toContain("Working");
    const form = await followUp(b);
    expect(under(form, "api_key")).toBe(
      "⚠️ the endpoint refused the key (403): key [redacted] is not allowed",
    );
    const sent = [ack.raw, everythingSent(b)].join("\n");
    for (const form of keyForms(ECHOED)) expect(sent).not.toContain(form);
  });
});

// ---- the URL saved is the URL tested (issue 16 item 3) -----------------------------------------------------------

describe("the URL saved is the URL tested", () => {
  it("a …/v1/chat/completions/models paste is normalised once: the tested base is the saved base", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    llm.route("GET /v1/chat/completions/models", { status: 200, body: modelList(MODEL) });
    llm.route("POST /v1/chat/completions/chat/completions", { status: 200, body: completion() });
    const ack = await register(b, { base_url: llm.url("/v1/chat/completions/models") });
    expect(ack.response_action).toBe("update");
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1/chat/completions/models",
      "POST /v1/chat/completions/chat/completions",
    ]);
    expect(registered(b).map((r) => r.body)).toEqual([
      expect.objectContaining({ base_url: llm.url("/v1/chat/completions") }),
    ]);
  });

  it("the parser's form is saved (scheme case, dot segments), as the endpoint test called it", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const typed = llm.url("/v1/x/../").replace("http://", "HTTP://");
    const ack = await register(b, { base_url: typed });
    expect(ack.response_action).toBe("update");
    expect(llm.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1/models",
      "POST /v1/chat/completions",
    ]);
    expect(registered(b).map((r) => r.body)).toEqual([expect.objectContaining({ base_url: llm.url() })]);
  });

  it("a backslash is refused: the parser would call another URL than the one typed", async () => {
    const b = await bot();
    const llm = await fakeLlm();
    const ack = await register(b, { base_url: llm.url("").concat("\\v1") });
    expect(onlyError(ack, "base_url")).toBe("Replace the backslashes (\\) with slashes (/)");
    expect(llm.requests).toEqual([]);
    expect(b.sandbox.requests).toEqual([]);
  });

  const resolvingTo = (address: string) => async (): Promise<Array<{ address: string; family: 4 | 6 }>> => [
    { address, family: 4 },
  ];

  it("verify unchecked: a new host resolving to a private address is refused, Convai gets nothing", async () => {
    const b = await bot({ env: { CONVAI_ALLOW_PRIVATE_URLS: "false" }, lookup: resolvingTo("10.1.2.3") });
    const ack = await register(b, { base_url: "https://llm.acme.example/v1", verify: false });
    expect(onlyError(ack, "base_url")).toBe(
      "llm.acme.example resolves to 10.1.2.3; Convai's servers cannot reach private, loopback or link-local addresses",
    );
    expect(b.sandbox.requests).toEqual([]);
  });

  it("verify unchecked: a new host resolving to a public address is saved", async () => {
    const b = await bot({ env: { CONVAI_ALLOW_PRIVATE_URLS: "false" }, lookup: resolvingTo("203.0.114.10") });
    const ack = await register(b, { base_url: "https://llm.acme.example/v1", verify: false });
    expect(ack.response_action).toBe("update");
    expect(registered(b).map((r) => r.body)).toEqual([
      expect.objectContaining({ base_url: "https://llm.acme.example/v1" }),
    ]);
  });

  it("update of the base URL only (no key, so no endpoint test): a private answer is refused", async () => {
    const b = await bot({
      env: { CONVAI_ALLOW_PRIVATE_URLS: "false" },
      lookup: resolvingTo("169.254.169.254"),
    });
    await b.sandbox.seed([
      {
        model_group_name: "acme-mistral",
        model_name: "mistral-large",
        display_name: "Acme Mistral",
        base_url: "https://old.acme.example/v1",
        is_uncensored: false,
        api_key: "sk-seeded-OLD-0001",
      },
    ]);
    const values = {
      display_name: input.text("Acme Mistral"),
      base_url: input.url("https://new.acme.example/v1"),
      api_key: input.text(""),
      is_uncensored: input.radio("keep"),
      verify: input.checkbox([CHECKED_VALUE]),
    };
    const ack = await submit(b, UPDATE, values, updateMeta("acme-mistral"));
    expect(onlyError(ack, "base_url")).toBe(
      "new.acme.example resolves to 169.254.169.254; Convai's servers cannot reach private, loopback or link-local addresses",
    );
    expect(b.sandbox.requests.map((r) => r.path)).toEqual(["/llm-models/list"]);
  });
});
