import { setTimeout as sleep } from "node:timers/promises";
import { Pool, errors as undiciErrors } from "undici";
import { z } from "zod";
import { DEFAULT_MAX_CONNECTIONS } from "../config.js";
import { makeScrubber } from "../lib/scrub.js";
import type { Logger } from "../logger.js";
import { RateGate } from "./rate-gate.js";
import {
  type ApiPrefix,
  type CharacterUpdateData,
  type ConvaiCharacter,
  type ConvaiClient,
  type ConvaiFailure,
  type ConvaiModel,
  type ConvaiResult,
  convaiModelSchema,
  type DeregisterData,
  type FailureKind,
  FORM_FIELDS,
  type RegisterData,
  type RegisterInput,
  type UpdateData,
  type UpdateInput,
} from "./types.js";

export interface ConvaiClientOptions {
  /** Origin plus optional base path, e.g. `https://api.convai.com`. */
  baseUrl: string;
  prefix: ApiPrefix;
  apiKey: string;
  /** One deadline per call, retries included. */
  timeoutMs: number;
  logger: Logger;
  /** Keep-alive connections in the pool. */
  connections?: number;
  /** First backoff for retried list calls. */
  backoffMs?: number;
}

type Operation = "register" | "update" | "deregister" | "list" | "character-list" | "character-update";

/** Reads, safe to repeat after a transient failure; every other operation is a mutation, sent once. */
const READS: ReadonlySet<Operation> = new Set(["list", "character-list"]);

/** How long close() lets calls still in flight finish before cutting them. */
const CLOSE_GRACE_MS = 1000;

/** The largest answer we read; Convai's are a few KiB even with hundreds of models. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** A character object is large (avatars, traits, backstory: ~3 KB); room for several thousand of them. */
const MAX_CHARACTER_LIST_BYTES = 32 * 1024 * 1024;

/** Convai may send null for a field it has no value for; null and absent are read alike. */
const optText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);

const envelopeSchema = z
  .object({
    status: optText,
    message: optText,
    transactionID: optText,
    ERROR: optText,
    API_ERROR: optText,
    error: z.union([z.string(), z.object({ message: optText }).passthrough()]).nullish(),
    detail: optText,
  })
  .passthrough();

/** Both published list forms, a bare array or `{models: [...]}`, told apart before parsing (not by a union). */
const modelsSchema = z.array(convaiModelSchema);
function modelsOf(json: unknown): unknown {
  if (Array.isArray(json)) return json;
  return typeof json === "object" && json !== null && "models" in json ? json.models : undefined;
}

const registerSchema = z.object({
  message: optText,
  model_group_name: optText,
  model_name: optText,
  display_name: optText,
});
const updateSchema = z.object({
  message: optText,
  updated_fields: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? undefined),
});
const deregisterSchema = z.object({ message: optText });
const characterUpdateSchema = z.object({ STATUS: optText });

/** A field the bot reads from a character; any other type than a string is read as absent. */
const looseText = z
  .unknown()
  .optional()
  .transform((v) => (typeof v === "string" ? v : undefined));
// Only the four fields the bot needs: zod reads nothing else of the (large) object and copies nothing else.
const characterSchema = z.object({
  character_id: z.union([z.string().min(1), z.number().transform(String)]),
  character_name: looseText,
  timestamp: looseText,
  personalised_prompt_config: z
    .unknown()
    .optional()
    .transform((v) => (typeof v === "object" && v !== null && "MODEL" in v ? v.MODEL : undefined))
    .pipe(looseText),
});

/**
 * `{"characters": [...]}` (or a bare array). An entry without a usable character_id cannot be shown or
 * moved, so it is skipped and counted rather than failing the whole list.
 */
export function parseCharacters(
  json: unknown,
): { characters: ConvaiCharacter[]; skipped: number } | undefined {
  const list = Array.isArray(json)
    ? json
    : typeof json === "object" && json !== null && "characters" in json
      ? json.characters
      : undefined;
  if (!Array.isArray(list)) return undefined;
  const characters: ConvaiCharacter[] = [];
  let skipped = 0;
  for (const entry of list) {
    const parsed = characterSchema.safeParse(entry);
    if (!parsed.success) {
      skipped += 1;
      continue;
    }
    const { character_id, character_name, timestamp, personalised_prompt_config } = parsed.data;
    characters.push({ character_id, character_name, model: personalised_prompt_config, timestamp });
  }
  return { characters, skipped };
}

/** Errors that happen before a byte of the request left: the call certainly did not apply. */
const PRE_SEND_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

// Longer than 80 lines as a whole: a factory whose inner functions (attempt, call, once, transportFailure,
// each under 70 lines) and the returned methods share one pool, the options and the scrubber.
export function createConvaiClient(options: ConvaiClientOptions): ConvaiClient {
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const gated = (pausedMs: number): ConvaiFailure => ({
    ok: false,
    kind: "rate_limited",
    message: "Convai is rate limiting the bot.",
    ambiguous: false,
    retryAfterMs: pausedMs,
  });
  const pool = new Pool(base.origin, {
    // Enough for the commands in flight against a remote Convai: 8 capped list at 8 calls per round trip.
    connections: options.connections ?? DEFAULT_MAX_CONNECTIONS,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
  });
  const backoffMs = options.backoffMs ?? 150;
  const log = options.logger.child({ component: "convai" });
  const gate = new RateGate(log);

  /** Scrubs every secret this call carried from text that came back, in case a server echoes them. */
  const scrub = (text: string, secrets: readonly string[]): string =>
    makeScrubber([options.apiKey, ...secrets])(text);

  interface Attempt {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
  }

  /** Character calls are not under the model prefix: `/character/list`, `/character/update`. */
  const pathOf = (op: Operation): string =>
    op === "character-list"
      ? `${basePath}/character/list`
      : op === "character-update"
        ? `${basePath}/character/update`
        : `${basePath}${options.prefix}/${op}`;

  async function attempt(op: Operation, body: unknown, signal: AbortSignal): Promise<Attempt> {
    const limit = op === "character-list" ? MAX_CHARACTER_LIST_BYTES : MAX_BODY_BYTES;
    const res = await pool.request({
      method: "POST",
      path: pathOf(op),
      // /character/list is documented without a body; the model calls always send a JSON object.
      headers: {
        ...(op === "character-list" ? {} : { "content-type": "application/json" }),
        accept: "application/json",
        "CONVAI-API-KEY": options.apiKey,
      },
      body: op === "character-list" ? null : JSON.stringify(body ?? {}),
      signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += buf.length;
      if (size > limit) {
        res.body.destroy();
        throw new BodyTooLargeError();
      }
      chunks.push(buf);
    }
    return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") };
  }

  async function call<T>(
    op: Operation,
    body: unknown,
    secrets: readonly string[],
    parse: (json: unknown) => T | undefined,
  ): Promise<ConvaiResult<T>> {
    const started = Date.now();
    const deadline = started + options.timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DeadlineError()), options.timeoutMs);
    timer.unref();
    const mutating = !READS.has(op);
    let tries = 0;
    let result: ConvaiResult<T>;
    try {
      for (;;) {
        // Another call's 429 holds this one back too; nothing is sent while the window is open.
        const paused = gate.pause();
        if (paused > 0) {
          if (paused >= deadline - Date.now() - 250) {
            result = gated(paused);
            break;
          }
          await sleep(paused, undefined, { signal: controller.signal }).catch(() => undefined);
          if (controller.signal.aborted) {
            result = gated(gate.pause());
            break;
          }
        }
        tries += 1;
        result = await once(op, body, secrets, parse, controller.signal, mutating);
        if (result.ok) break;
        const remaining = deadline - Date.now();
        // A 429 applied nothing, so any call may be re-sent once Convai allows it.
        if (result.kind === "rate_limited") {
          gate.limited(result.retryAfterMs);
          const wait = result.retryAfterMs ?? 1000;
          if (wait < remaining - 250 && tries < 4) {
            await sleep(wait, undefined, { signal: controller.signal }).catch(() => undefined);
            if (!controller.signal.aborted) continue;
          }
          break;
        }
        // Only list is safe to repeat after a transient failure; a mutation is never blindly re-sent.
        const transient =
          result.kind === "server" || result.kind === "network" || result.kind === "malformed";
        if (!mutating && transient && tries < 3) {
          const wait = backoffMs * 2 ** (tries - 1);
          if (wait < remaining - 250) {
            await sleep(wait, undefined, { signal: controller.signal }).catch(() => undefined);
            if (!controller.signal.aborted) continue;
          }
        }
        break;
      }
    } finally {
      clearTimeout(timer);
    }
    const ms = Date.now() - started;
    if (result.ok) {
      log.debug(
        { op, status: result.status, ms, tries, transactionID: result.transactionID },
        "Convai call succeeded.",
      );
    } else if (tries === 0) {
      // Held back by the shared 429 window and never sent: the window's own line says why.
      log.debug({ op, ms }, "Convai call not sent: the rate-limit window outlasts its deadline.");
    } else {
      log.warn(
        {
          op,
          kind: result.kind,
          status: result.status,
          ms,
          tries,
          ambiguous: result.ambiguous,
          transactionID: result.transactionID,
        },
        "Convai call failed.",
      );
    }
    return result;
  }

  async function once<T>(
    op: Operation,
    body: unknown,
    secrets: readonly string[],
    parse: (json: unknown) => T | undefined,
    signal: AbortSignal,
    mutating: boolean,
  ): Promise<ConvaiResult<T>> {
    let res: Attempt;
    try {
      res = await attempt(op, body, signal);
    } catch (error) {
      return transportFailure(error, signal, mutating);
    }
    let json: unknown;
    let isJson = true;
    try {
      json = res.text.length > 0 ? JSON.parse(res.text) : undefined;
    } catch {
      isJson = false;
    }
    const envelope = envelopeSchema.safeParse(json);
    const env = envelope.success ? envelope.data : undefined;
    const transactionID = env?.transactionID;
    const convaiMessage = env ? errorMessageOf(env) : undefined;
    const success =
      res.status >= 200 && res.status < 300 && env?.status !== "error" && !env?.ERROR && !env?.API_ERROR;

    if (success) {
      // The seed's form (/custom-llm) describes no success body for a model mutation: the 2xx is the answer.
      const undescribed = mutating && options.prefix === "/custom-llm" && op !== "character-update";
      const data = isJson ? parse(json) : undescribed ? parse(undefined) : undefined;
      if (data === undefined) {
        return failure("malformed", "Convai answered with a body the bot could not read.", {
          status: res.status,
          transactionID,
          // A mutation that answered 2xx did reach Convai; what it did is unclear.
          ambiguous: mutating,
        });
      }
      return { ok: true, data, status: res.status, ...(transactionID ? { transactionID } : {}) };
    }

    // Scrub before summarising: cutting the text first could leave the start of a key behind.
    const text =
      convaiMessage !== undefined
        ? scrub(convaiMessage, secrets)
        : isJson
          ? `HTTP ${res.status}`
          : summariseNonJson(scrub(res.text, secrets), res.status);
    const kind = kindFor(res.status, text);
    const extra: Partial<ConvaiFailure> = { status: res.status, transactionID, ambiguous: false };
    if (kind === "rate_limited") {
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      if (retryAfterMs !== undefined) extra.retryAfterMs = retryAfterMs;
    }
    if (kind === "conflict") extra.field = /display/i.test(text) ? "display_name" : "model_group_name";
    // A 5xx answer to a mutation may come after the change was made.
    if (kind === "server" && mutating) extra.ambiguous = true;
    return failure(kind, text, extra);
  }

  function transportFailure(error: unknown, signal: AbortSignal, mutating: boolean): ConvaiFailure {
    const code = errorCode(error);
    if (signal.aborted || error instanceof DeadlineError) {
      return failure("timeout", `Convai did not answer within ${formatSeconds(options.timeoutMs)}.`, {
        ambiguous: mutating,
      });
    }
    if (error instanceof BodyTooLargeError) {
      return failure("malformed", "Convai's answer was larger than the bot accepts.", {
        ambiguous: mutating,
      });
    }
    if (code && PRE_SEND_CODES.has(code)) {
      return failure("network", `Could not connect to Convai at ${base.host} (${code}).`, {
        ambiguous: false,
      });
    }
    const what = code ?? (error instanceof Error ? error.name : "unknown error");
    return failure("network", `The connection to Convai failed (${what}).`, { ambiguous: mutating });
  }

  const fieldsFor = <K extends string>(allowed: readonly K[], input: Partial<Record<K, unknown>>) => {
    const out: Partial<Record<K, unknown>> = {};
    for (const key of allowed) if (input[key] !== undefined) out[key] = input[key];
    return out;
  };

  return {
    prefix: options.prefix,
    baseUrl: options.baseUrl,
    register(input: RegisterInput) {
      const body = fieldsFor(FORM_FIELDS[options.prefix].register, input);
      // Convai's documented form requires is_uncensored, so it is always sent.
      body.is_uncensored = input.is_uncensored;
      return call<RegisterData>("register", body, [input.api_key], (j) => parseWith(registerSchema, j));
    },
    update(input: UpdateInput) {
      const body = {
        model_group_name: input.model_group_name,
        ...fieldsFor(FORM_FIELDS[options.prefix].update, input),
      };
      return call<UpdateData>("update", body, input.api_key ? [input.api_key] : [], (j) =>
        parseWith(updateSchema, j),
      );
    },
    deregister(modelGroupName: string) {
      return call<DeregisterData>("deregister", { model_group_name: modelGroupName }, [], (j) =>
        parseWith(deregisterSchema, j),
      );
    },
    list() {
      return call<ConvaiModel[]>("list", undefined, [], (j) => {
        const parsed = modelsSchema.safeParse(modelsOf(j));
        return parsed.success ? parsed.data : undefined;
      });
    },
    listCharacters() {
      return call<ConvaiCharacter[]>("character-list", undefined, [], (j) => {
        const parsed = parseCharacters(j);
        if (parsed && parsed.skipped > 0) {
          log.warn(
            { skipped: parsed.skipped, kept: parsed.characters.length },
            "Convai's character list had entries without a character_id; they were left out.",
          );
        }
        return parsed?.characters;
      });
    },
    setCharacterModel(charID: string, model: string) {
      return call<CharacterUpdateData>("character-update", { charID, model_group_name: model }, [], (j) => {
        const parsed = parseWith(characterUpdateSchema, j);
        if (parsed === undefined) return undefined;
        // Anything but SUCCESS (when a STATUS is given) did not say the change was made.
        if (parsed.STATUS !== undefined && parsed.STATUS.toUpperCase() !== "SUCCESS") return undefined;
        return parsed.STATUS === undefined ? {} : { status: parsed.STATUS };
      });
    },
    async close() {
      // Graceful close waits for calls in flight, and a hung one lasts until its deadline; shutdown
      // has already drained what it could, so after a short grace whatever is left is cut.
      const closed = pool.close().then(() => true);
      const graced = await Promise.race([closed, sleep(CLOSE_GRACE_MS, false, { ref: false })]);
      if (!graced) await pool.destroy();
    },
  };
}

class DeadlineError extends Error {
  override name = "DeadlineError";
}
class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown): T | undefined {
  // Success bodies vary between the two published forms; a missing or non-object body (a bare string,
  // `true`) carries no fields but is still a success. A wrong shape inside an object is not.
  const isObject = typeof json === "object" && json !== null && !Array.isArray(json);
  const parsed = schema.safeParse(isObject ? json : {});
  return parsed.success ? parsed.data : undefined;
}

function failure(kind: FailureKind, message: string, extra: Partial<ConvaiFailure>): ConvaiFailure {
  const out: ConvaiFailure = { ok: false, kind, message, ambiguous: extra.ambiguous ?? false };
  if (extra.status !== undefined) out.status = extra.status;
  if (extra.transactionID) out.transactionID = extra.transactionID;
  if (extra.retryAfterMs !== undefined) out.retryAfterMs = extra.retryAfterMs;
  if (extra.field) out.field = extra.field;
  return out;
}

function errorMessageOf(env: z.infer<typeof envelopeSchema>): string | undefined {
  if (env.ERROR) return env.ERROR;
  if (env.API_ERROR) return env.API_ERROR;
  if (env.status === "error" && env.message) return env.message;
  if (typeof env.error === "string") return env.error;
  if (env.error && typeof env.error.message === "string") return env.error.message;
  return env.message ?? env.detail;
}

export function kindFor(status: number, message: string): FailureKind {
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server";
  if (status >= 400) return "invalid";
  // A 2xx carrying an error body: read the words.
  if (/api[ _-]?key|unauthori[sz]ed/i.test(message)) return "unauthorized";
  if (/not found/i.test(message)) return "not_found";
  if (/already exists/i.test(message)) return "conflict";
  return "server";
}

function summariseNonJson(text: string, status: number): string {
  const plain = text
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return plain.length > 0 ? `HTTP ${status}: ${plain.slice(0, 200)}` : `HTTP ${status} with an empty body`;
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  // Only an HTTP date, which names a weekday and a month; V8's Date.parse also takes "-1" or "7 8".
  if (!/[a-z]{3}/i.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof undiciErrors.ConnectTimeoutError) return "UND_ERR_CONNECT_TIMEOUT";
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = "code" in current ? current.code : undefined;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
