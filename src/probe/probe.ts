import { performance } from "node:perf_hooks";
import { type Dispatcher, request } from "undici";
import { z } from "zod";
import { normaliseBaseUrl } from "../domain/fields.js";
import { makeScrubber, SHORT_KEY } from "../lib/scrub.js";
import { createPinnedAgent, type LookupFn, resolvePublicAddress } from "./guard.js";

export { normaliseBaseUrl };

export interface ProbeInput {
  baseUrl: string;
  apiKey: string;
  modelName: string;
  allowPrivate: boolean;
  /** Bound on the whole probe (DNS, every request, every body); default 8000. */
  timeoutMs?: number;
  /** Most bytes read from any one response body; default 65536. */
  maxBodyBytes?: number;
  lookup?: LookupFn;
}

export interface ProbeStep {
  method: "GET" | "POST";
  url: string;
  status?: number;
  latencyMs: number;
  note?: string;
}

export type ProbeResult =
  | { ok: true; steps: ProbeStep[]; notes: string[] }
  | { ok: false; field: "base_url" | "api_key" | "model_name"; message: string; steps: ProbeStep[] };

const DEFAULT_TIMEOUT_MS = 8_000;
const DEFAULT_MAX_BODY_BYTES = 65_536;
/** Longest piece of an endpoint's own error text quoted back to the user. */
const MAX_DETAIL_CHARS = 200;

// ---------------------------------------------------------------------------------------------------------
// Response parsing

const modelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });
const chatCompletionSchema = z.object({ choices: z.array(z.unknown()) });
const errorBodySchema = z.object({
  error: z
    .union([
      z.string(),
      z.object({
        message: z.string().nullish(),
        code: z.union([z.string(), z.number()]).nullish(),
        type: z.string().nullish(),
        param: z.string().nullish(),
      }),
    ])
    .nullish(),
  message: z.string().nullish(),
  detail: z.union([z.string(), z.array(z.unknown())]).nullish(),
});

interface Answer {
  status: number;
  location: string | undefined;
  isHtml: boolean;
  /** Parsed JSON when the (complete, untruncated) body was JSON. */
  json: { value: unknown } | undefined;
  /** The body as text, possibly cut at maxBodyBytes. */
  text: string;
  truncated: boolean;
}

type Outcome = { kind: "answer"; answer: Answer } | { kind: "failed"; message: string };

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** The endpoint's own error message, if it gave one in a form we recognise, as one short plain line. */
function errorDetail(answer: Answer): string | undefined {
  let detail: string | undefined;
  const parsed = answer.json ? errorBodySchema.safeParse(answer.json.value) : undefined;
  if (parsed?.success) {
    const { error, message, detail: d } = parsed.data;
    if (typeof error === "string") detail = error;
    else if (error?.message) detail = error.message;
    else if (message) detail = message;
    else if (typeof d === "string") detail = d;
    else if (Array.isArray(d)) detail = JSON.stringify(d);
  }
  if (detail === undefined && !answer.isHtml && answer.json === undefined) detail = answer.text;
  if (detail === undefined) return undefined;
  return oneLine(detail);
}

function oneLine(text: string): string | undefined {
  // Control characters and newlines would break the single-line message; the caller escapes for Slack.
  const clean = text
    .replace(/[\p{Cc}\p{Cf}]+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (clean === "") return undefined;
  return clean.length > MAX_DETAIL_CHARS ? `${clean.slice(0, MAX_DETAIL_CHARS - 1)}…` : clean;
}

function mentionsTokenParameter(answer: Answer): boolean {
  const body = answer.text.toLowerCase();
  return (
    body.includes("max_tokens") ||
    body.includes("max_completion_tokens") ||
    body.includes("unsupported_parameter")
  );
}

function mentionsModel(answer: Answer, modelName: string): boolean {
  if (answer.json === undefined) return false;
  const body = answer.text.toLowerCase();
  if (body.includes("model_not_found")) return true;
  const namesModel = body.includes(modelName.toLowerCase()) || body.includes("model");
  return (
    namesModel && (body.includes("does not exist") || body.includes("not found") || body.includes("unknown"))
  );
}

function listedModelIds(answer: Answer): string[] | undefined {
  if (answer.status < 200 || answer.status > 299 || answer.json === undefined) return undefined;
  const parsed = modelListSchema.safeParse(answer.json.value);
  return parsed.success ? parsed.data.data.map((m) => m.id) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Network

const CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  ENOTFOUND: "host not found",
  UND_ERR_SOCKET: "the server closed the connection",
  UND_ERR_CLOSED: "the server closed the connection",
  UND_ERR_HEADERS_TIMEOUT: "no answer in time",
  UND_ERR_BODY_TIMEOUT: "the answer stalled",
  UND_ERR_HEADERS_OVERFLOW: "the answer's headers are too large",
  EPROTO: "TLS handshake failed (is it an http:// server?)",
  ERR_SSL_WRONG_VERSION_NUMBER: "TLS handshake failed (is it an http:// server?)",
  CERT_HAS_EXPIRED: "its TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its TLS certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "its TLS certificate chain is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its TLS certificate cannot be verified",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "its TLS certificate is for another host name",
};

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (typeof e !== "object") return undefined;
    if ("code" in e && typeof e.code === "string" && e.code !== "UND_ERR") return e.code;
    e = "cause" in e ? e.cause : undefined;
  }
  return undefined;
}

function connectFailure(hostPort: string, err: unknown): string {
  const code = errorCode(err);
  if (code?.startsWith("HPE_")) return `${hostPort} did not answer with valid HTTP (${code})`;
  const words = code ? CONNECT_ERRORS[code] : undefined;
  if (words) return `could not connect to ${hostPort}: ${words} (${code})`;
  if (code) return `could not connect to ${hostPort}: ${code}`;
  const message = err instanceof Error && err.message ? err.message : "unknown error";
  return `could not connect to ${hostPort}: ${message}`;
}

/** Reads at most `max` bytes, then destroys the stream so a huge or endless body costs nothing more. */
async function readCapped(
  body: Dispatcher.ResponseData["body"],
  max: number,
): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    const buf: Buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    const room = max - size;
    if (buf.length > room) {
      chunks.push(buf.subarray(0, room));
      size = max;
      truncated = true;
      body.destroy();
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return { text: Buffer.concat(chunks, size).toString("utf8"), truncated };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Where a redirect pointed, without query string or credentials (either could carry secrets). */
function redirectTarget(location: string | undefined, from: string): string {
  if (!location) return "an unnamed location";
  try {
    const target = new URL(location, from);
    target.search = "";
    target.hash = "";
    target.username = "";
    target.password = "";
    return target.toString();
  } catch {
    return "an invalid location";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Secrets

interface Scrubbers {
  /** For text we did not write (endpoint bodies, headers, errors, user-typed URL and model): always applied. */
  untrusted: (text: string) => string;
  /** A last pass over the whole result, in case a path above missed something. */
  net: (text: string) => string;
}

/** Removes the key however an endpoint may have echoed it (raw, JSON-escaped, URL-encoded) and bearer values. */
function makeScrubbers(apiKey: string): Scrubbers {
  const removeKey = makeScrubber([apiKey]);
  return {
    untrusted: (text) =>
      removeKey(text)
        .replace(/(authorization["']?\s*[:=]\s*["']?)[^"'\r\n,;}]+/gi, "$1[redacted]")
        .replace(/\b(bearer\s+)[\w.~+/=-]{8,}/gi, "$1[redacted]"),
    // A key of a few characters ("EMPTY", "token") would match our own words, which are no leak; only our
    // fixed wording is left unscrubbed by `untrusted`, so short keys skip this pass rather than mangle it.
    net: apiKey.trim().length >= SHORT_KEY ? removeKey : (text) => text,
  };
}

function scrubResult(result: ProbeResult, scrub: (t: string) => string): ProbeResult {
  const steps = result.steps.map((s) => {
    const step: ProbeStep = { ...s, url: scrub(s.url) };
    if (s.note !== undefined) step.note = scrub(s.note);
    return step;
  });
  if (result.ok) return { ok: true, steps, notes: result.notes.map(scrub) };
  return { ok: false, field: result.field, message: scrub(result.message), steps };
}

// ---------------------------------------------------------------------------------------------------------
// The probe

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

/** Step URLs are shown to the user; a query string may carry a secret of its own, so it is left out. */
function withoutQuery(target: string): string {
  const u = new URL(target);
  u.search = "";
  return u.toString();
}

function hasV1(url: URL): boolean {
  return /\/v1(\/|$)/i.test(url.pathname);
}

/** Tests an OpenAI-compatible endpoint the way Convai will call it. Returns a result for every endpoint problem. */
export async function probeEndpoint(input: ProbeInput): Promise<ProbeResult> {
  const scrubbers = makeScrubbers(input.apiKey);
  const result = await runProbe(input, scrubbers.untrusted);
  return scrubResult(result, scrubbers.net);
}

// Long on purpose: the SSRF guard, the pinned agent and the one request helper share the deadline and
// the scrubber; kept together so every request provably goes through the same checks.
async function runProbe(input: ProbeInput, scrub: (text: string) => string): Promise<ProbeResult> {
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBodyBytes = input.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const steps: ProbeStep[] = [];
  const notes: string[] = [];
  const fail = (field: "base_url" | "api_key" | "model_name", message: string): ProbeResult => ({
    ok: false,
    field,
    message,
    steps,
  });

  // Called with the URL as it will be saved (normalised once, by the caller): never normalised again here.
  const base = input.baseUrl.trim();
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return fail("base_url", "not a valid URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return fail("base_url", `the URL must start with https:// (not ${scrub(url.protocol)}//)`);
  }
  if (url.username !== "" || url.password !== "") {
    return fail("base_url", "the URL must not contain a user name or password");
  }
  if (url.hash !== "") return fail("base_url", "the URL must not contain a #fragment");
  const model = input.modelName.trim();
  if (model === "") return fail("model_name", "no model name given");
  const apiKey = input.apiKey.trim();
  // undici rejects header values outside visible ASCII; say why instead of a generic header error.
  if (apiKey !== "" && !/^[\x21-\x7e]+$/.test(apiKey)) {
    return fail("api_key", "the key contains spaces or characters that cannot be sent in an HTTP header");
  }

  const shownHost = scrub(url.host);
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = (): ProbeResult =>
    fail("base_url", `${shownHost} did not answer within ${formatSeconds(timeoutMs)}`);

  const guard = await raceAbort(
    resolvePublicAddress(url.hostname, {
      allowPrivate: input.allowPrivate,
      ...(input.lookup ? { lookup: input.lookup } : {}),
    }),
    signal,
  );
  if (guard === ABORTED) return timedOut();
  if (!guard.ok) return fail("base_url", scrub(guard.reason));
  if (url.protocol === "http:" && !input.allowPrivate) {
    // The probe sends the key; over plain http anyone on the path could read it.
    return fail("base_url", "use https://: plain http would send the key unencrypted");
  }

  const agent = createPinnedAgent(url.hostname, guard, { timeoutMs });
  // Appended to the path (new URL("models", base) would drop a last segment like /v1); a query is kept.
  const endpoint = (suffix: string): string => {
    const u = new URL(url);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}${suffix}`;
    return u.toString();
  };
  const modelsUrl = endpoint("/models");
  const chatUrl = endpoint("/chat/completions");
  const headers: Record<string, string> = {
    accept: "application/json",
    "user-agent": "convai-llm-bot-probe",
  };
  if (apiKey !== "") headers.authorization = `Bearer ${apiKey}`;

  const call = async (method: "GET" | "POST", target: string, body?: unknown): Promise<Outcome> => {
    const started = performance.now();
    const step: ProbeStep = { method, url: scrub(withoutQuery(target)), latencyMs: 0 };
    steps.push(step);
    try {
      const res = await request(target, {
        method,
        dispatcher: agent,
        signal,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      step.status = res.statusCode;
      const contentType = headerValue(res.headers["content-type"])?.toLowerCase() ?? "";
      const { text, truncated } = await readCapped(res.body, maxBodyBytes);
      step.latencyMs = Math.round(performance.now() - started);
      if (truncated) step.note = `body cut at ${maxBodyBytes} bytes`;
      const trimmed = text.trimStart();
      const isHtml =
        contentType.includes("text/html") ||
        trimmed.startsWith("<!") ||
        trimmed.toLowerCase().startsWith("<html");
      return {
        kind: "answer",
        answer: {
          status: res.statusCode,
          location: headerValue(res.headers.location),
          isHtml,
          json: truncated || isHtml ? undefined : parseJson(text),
          text,
          truncated,
        },
      };
    } catch (err) {
      step.latencyMs = Math.round(performance.now() - started);
      // undici's own headers timeout is set to the same bound and may fire first under load.
      if (signal.aborted || errorCode(err) === "UND_ERR_HEADERS_TIMEOUT") {
        step.note = "timed out";
        return { kind: "failed", message: `${shownHost} did not answer within ${formatSeconds(timeoutMs)}` };
      }
      const message = scrub(connectFailure(shownHost, err));
      step.note = message;
      return { kind: "failed", message };
    }
  };

  try {
    return await converse({ model, url, base, modelsUrl, chatUrl, call, fail, scrub, steps, notes });
  } finally {
    await agent.destroy().catch(() => undefined);
  }
}

interface Conversation {
  model: string;
  url: URL;
  base: string;
  modelsUrl: string;
  chatUrl: string;
  call: (method: "GET" | "POST", target: string, body?: unknown) => Promise<Outcome>;
  fail: (field: "base_url" | "api_key" | "model_name", message: string) => ProbeResult;
  scrub: (text: string) => string;
  steps: ProbeStep[];
  notes: string[];
}

// Long on purpose: GET /models then POST /chat/completions read as one conversation, top to bottom,
// each answer returning early with the field it points at.
/** The two requests and what their answers mean, once the host is checked and the agent pinned. */
async function converse(ctx: Conversation): Promise<ProbeResult> {
  const { model, url, base, modelsUrl, chatUrl, call, fail, scrub, steps, notes } = ctx;
  const shownModel = scrub(model);
  const withDetail = (message: string, answer: Answer): string => {
    const detail = errorDetail(answer);
    return detail ? `${message}: ${scrub(detail)}` : message;
  };
  const suggestion = hasV1(url) ? "" : `; did you mean ${scrub(base.split("?")[0] ?? base)}/v1?`;
  const notCompatible = (why: string) =>
    fail("base_url", `${why}, so it is not an OpenAI-compatible API${suggestion}`);
  const redirected = (answer: Answer, from: string) =>
    fail(
      "base_url",
      `the endpoint redirected (${answer.status}) to ${scrub(redirectTarget(answer.location, from))}; redirects are not followed, use the final URL`,
    );
  const refusedKey = (answer: Answer) =>
    fail("api_key", withDetail(`the endpoint refused the key (${answer.status})`, answer));

  // 1. GET /models: catches a wrong host or key cheaply; a missing model here is only a hint.
  const models = await call("GET", modelsUrl);
  if (models.kind === "failed") return fail("base_url", models.message);
  const m = models.answer;
  if (m.status >= 300 && m.status < 400) return redirected(m, modelsUrl);
  if (m.status === 401 || m.status === 403) return refusedKey(m);
  const listed = listedModelIds(m);
  if (listed !== undefined && !listed.includes(model)) {
    notes.push(
      `the model list does not include "${shownModel}" (some servers list only part of their models)`,
    );
  } else if (m.truncated && m.status >= 200 && m.status < 300) {
    notes.push("the model list is too large to read, so it was not checked for the model");
  } else if (listed === undefined && m.status >= 200 && m.status < 300) {
    notes.push(`GET /models answered ${m.status} but not with a model list`);
  } else if (m.status !== 404 && (m.status < 200 || m.status > 299)) {
    notes.push(`GET /models answered ${m.status}`);
  }

  // 2. POST /chat/completions with the smallest answer; some models only accept one of the token caps.
  const attempts: Array<Record<string, number>> = [{ max_tokens: 1 }, { max_completion_tokens: 1 }, {}];
  let chat: Answer | undefined;
  for (const [i, cap] of attempts.entries()) {
    const outcome = await call("POST", chatUrl, {
      model,
      messages: [{ role: "user", content: "ping" }],
      ...cap,
    });
    if (outcome.kind === "failed") return fail("base_url", outcome.message);
    chat = outcome.answer;
    const last = i === attempts.length - 1;
    if (chat.status === 400 && mentionsTokenParameter(chat) && !last) continue;
    if (i > 0 && chat.status >= 200 && chat.status < 300) {
      notes.push(
        i === 1
          ? "the endpoint rejects max_tokens; max_completion_tokens worked"
          : "the endpoint rejects both max_tokens and max_completion_tokens; a request without a cap worked",
      );
    }
    break;
  }
  if (chat === undefined) throw new Error("unreachable: the attempt loop always sets chat");

  const c = chat;
  if (c.status >= 200 && c.status < 300) {
    if (c.isHtml) return notCompatible(`POST /chat/completions answered with an HTML page`);
    if (c.json !== undefined && chatCompletionSchema.safeParse(c.json.value).success) {
      return { ok: true, steps, notes };
    }
    return notCompatible(`POST /chat/completions answered ${c.status} without a chat completion`);
  }
  if (c.status >= 300 && c.status < 400) return redirected(c, chatUrl);
  if (c.status === 401 || c.status === 403) return refusedKey(c);
  if (c.status === 402)
    return fail("api_key", withDetail("the key's account cannot pay for requests (402)", c));
  if (c.status === 429) {
    notes.push("reachable and authenticated, but rate limited (429); the model was not tested");
    return { ok: true, steps, notes };
  }
  if (c.status >= 500) return fail("base_url", withDetail(`the endpoint answered ${c.status}`, c));
  if (c.status === 404) {
    if (mentionsModel(c, model)) {
      return fail("model_name", withDetail(`the endpoint does not know the model "${shownModel}"`, c));
    }
    if (listed !== undefined) {
      // /models worked, so the base URL is right; a bare 404 on chat then points at the model.
      return listed.includes(model)
        ? fail("base_url", withDetail("POST /chat/completions answered 404", c))
        : fail("model_name", `the endpoint does not serve the model "${shownModel}"`);
    }
    if (c.isHtml) return notCompatible("POST /chat/completions answered 404 with an HTML page");
    if (m.status === 404) return notCompatible("GET /models and POST /chat/completions both answered 404");
    return notCompatible("POST /chat/completions answered 404");
  }
  if (c.isHtml) return notCompatible(`POST /chat/completions answered ${c.status} with an HTML page`);
  if (c.status === 405) return notCompatible("POST /chat/completions answered 405 (method not allowed)");
  if (c.status === 400 || c.status === 422) {
    // Host and key work (no 401), so a rejected minimal request is about the model: unknown or not a chat model.
    if (mentionsModel(c, model) || c.json !== undefined) {
      return fail(
        "model_name",
        withDetail(
          `the endpoint rejected a test chat request for the model "${shownModel}" (${c.status})`,
          c,
        ),
      );
    }
  }
  return fail("base_url", withDetail(`the endpoint answered ${c.status}`, c));
}

const ABORTED = Symbol("aborted");

/** Settles with ABORTED when the signal fires first; the DNS resolver cannot be cancelled, only outwaited. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
