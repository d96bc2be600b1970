import {
  type ConvaiClient,
  type ConvaiFailure,
  type ConvaiModel,
  type ConvaiResult,
  DEFAULT_BASE_URL,
  type RegisterInput,
  type UpdatableField,
  type UpdateInput,
} from "../convai/types.js";
import type { Logger } from "../logger.js";
import { normaliseBaseUrl, type ProbeInput, type ProbeResult, type ProbeStep } from "../probe/probe.js";
import type { FieldId } from "../slack/ids.js";

export type { ProbeResult, ProbeStep };
/** The endpoint test, injectable so the service never depends on the network directly. */
export type ProbeFn = (input: ProbeInput) => Promise<ProbeResult>;

export type Action = "register" | "update" | "deregister";
export type FieldErrors = Partial<Record<FieldId, string>>;

export interface Actor {
  userId: string;
  teamId?: string | undefined;
}

/** One field's change as people see it; an api_key is only ever "rotated". */
export interface FieldChange {
  field: UpdatableField;
  before?: string;
  after: string;
}

export type ProbeReport = { tested: true; result: ProbeResult } | { tested: false; reason: string };

export type NotifyResult = { posted: true } | { posted: false; error: string } | { posted: "disabled" };

export interface ChangeRecord {
  action: Action;
  actor: Actor;
  group: string;
  /** The model as Convai holds it after the change (before it, for a deregister). */
  model?: ConvaiModel;
  changes: FieldChange[];
  transactionID?: string;
}

export type Notifier = (change: ChangeRecord) => Promise<NotifyResult>;

export type ChangeOutcome =
  | {
      ok: true;
      action: Action;
      group: string;
      /** What Convai holds now, re-read after the change; absent when the re-read failed. */
      model?: ConvaiModel;
      changes: FieldChange[];
      /** Requested fields that Convai does not show as changed. */
      notTaken: string[];
      transactionID?: string;
      probe: ProbeReport;
      /** Set when Convai's answer was lost but the re-read shows the change took effect. */
      recovered?: string;
      /** Set when the re-read after the change failed. */
      rereadError?: string;
      notify: NotifyResult;
    }
  | { ok: false; reason: "fields"; errors: FieldErrors; probe?: ProbeReport }
  | { ok: false; reason: "failed"; message: string; transactionID?: string; kind?: ConvaiFailure["kind"] }
  | { ok: false; reason: "unknown"; message: string; transactionID?: string };

export type LookupOutcome =
  | { ok: true; model: ConvaiModel }
  | { ok: false; reason: "not_found"; message: string }
  | { ok: false; reason: "failed"; message: string; transactionID?: string };

export interface UpdateRequest {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: boolean;
}

export interface LlmService {
  list(): Promise<ConvaiResult<ConvaiModel[]>>;
  get(group: string): Promise<LookupOutcome>;
  register(actor: Actor, input: RegisterInput, opts: { verify: boolean }): Promise<ChangeOutcome>;
  update(
    actor: Actor,
    group: string,
    request: UpdateRequest,
    opts: { verify: boolean },
  ): Promise<ChangeOutcome>;
  deregister(actor: Actor, group: string): Promise<ChangeOutcome>;
}

export interface LlmServiceOptions {
  convai: ConvaiClient;
  probe: ProbeFn;
  notify: Notifier;
  allowPrivateUrls: boolean;
  logger: Logger;
}

/** Plain-words description of a Convai failure, with what to do next. */
export function describeFailure(f: ConvaiFailure): string {
  const tx = f.transactionID ? ` (Convai transaction ${f.transactionID})` : "";
  switch (f.kind) {
    case "unauthorized":
      return `Convai refused the bot's API key: ${f.message}${tx}. An admin needs to check CONVAI_API_KEY.`;
    case "rate_limited":
      return `Convai is rate limiting the bot${f.retryAfterMs ? `; it asked to wait ${Math.ceil(f.retryAfterMs / 1000)} s` : ""}. Try again in a minute${tx}.`;
    case "timeout":
      return `${f.message} Try again in a minute${tx}.`;
    case "network":
      return `${f.message} Try again in a minute; if it persists an admin should check CONVAI_API_URL${tx}.`;
    case "server":
      return `Convai had an internal error: ${f.message}${tx}. Try again later; quote the transaction ID to Convai support if it persists.`;
    case "malformed":
      return `${f.message}${tx} Try again later.`;
    case "not_found":
      return `Convai says: ${f.message}${tx}.`;
    case "conflict":
    case "invalid":
      return `Convai refused the request: ${f.message}${tx}.`;
  }
}

const str = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === "boolean" ? (v ? "yes" : "no") : String(v);

export function createLlmService(options: LlmServiceOptions): LlmService {
  const { convai, probe, notify, logger } = options;
  const log = logger.child({ component: "service" });

  function audit(
    action: Action,
    actor: Actor,
    group: string,
    fields: readonly string[],
    outcome: string,
    started: number,
    transactionID?: string,
  ) {
    log.info(
      {
        event: "audit",
        action,
        actor: actor.userId,
        team: actor.teamId,
        group,
        fields,
        outcome,
        transactionID,
        durationMs: Date.now() - started,
      },
      `Custom LLM ${action} ${outcome}.`,
    );
  }

  async function get(group: string): Promise<LookupOutcome> {
    const res = await convai.list();
    if (!res.ok)
      return { ok: false, reason: "failed", message: describeFailure(res), ...tx(res.transactionID) };
    const model = res.data.find((m) => m.model_group_name === group);
    if (!model) {
      return {
        ok: false,
        reason: "not_found",
        message: `No custom LLM named ${group} is registered. Use list to see the registered models.`,
      };
    }
    return { ok: true, model };
  }

  async function reread(
    group: string,
  ): Promise<{ ok: true; model?: ConvaiModel } | { ok: false; message: string }> {
    const res = await convai.list();
    if (!res.ok) return { ok: false, message: describeFailure(res) };
    return { ok: true, model: res.data.find((m) => m.model_group_name === group) };
  }

  async function runProbe(
    verify: boolean,
    input: { baseUrl: string; apiKey?: string; modelName: string },
  ): Promise<ProbeReport> {
    if (!verify)
      return {
        tested: false,
        reason: "Endpoint test skipped: “Test the endpoint before saving” was unchecked.",
      };
    if (!input.apiKey) {
      return {
        tested: false,
        reason:
          "Endpoint not tested: the current key cannot be read back from Convai. Enter the key to test it.",
      };
    }
    const result = await probe({
      baseUrl: input.baseUrl,
      apiKey: input.apiKey,
      modelName: input.modelName,
      allowPrivate: options.allowPrivateUrls,
    });
    return { tested: true, result };
  }

  function conflictErrors(f: ConvaiFailure): FieldErrors {
    return f.field === "display_name"
      ? {
          display_name: `Another model already uses this display name (Convai: ${f.message}). Choose another.`,
        }
      : {
          model_group_name: `A model with this group name already exists (Convai: ${f.message}). Choose another.`,
        };
  }

  /** After an ambiguous failure, tell the truth from a fresh list instead of guessing. */
  async function settle(
    action: Action,
    group: string,
    failure: ConvaiFailure,
    applied: (model: ConvaiModel | undefined) => boolean | undefined,
  ): Promise<{ applied: true; model?: ConvaiModel } | { applied: false; outcome: ChangeOutcome }> {
    const again = await reread(group);
    const cause = ambiguousCause(failure);
    if (!again.ok) {
      return {
        applied: false,
        outcome: {
          ok: false,
          reason: "unknown",
          message: `${cause}, and the bot could not re-read the list to check whether the ${action} took effect (${again.message}). Run list before trying again.`,
          ...tx(failure.transactionID),
        },
      };
    }
    const verdict = applied(again.model);
    if (verdict === true) return { applied: true, ...(again.model ? { model: again.model } : {}) };
    if (verdict === undefined) {
      return {
        applied: false,
        outcome: {
          ok: false,
          reason: "unknown",
          message: `${cause}; the list cannot show whether the ${action} took effect (Convai does not list the key or every field). Submitting the same ${action} again is safe.`,
          ...tx(failure.transactionID),
        },
      };
    }
    return {
      applied: false,
      outcome: {
        ok: false,
        reason: "failed",
        kind: failure.kind,
        message: `${cause}, and the list shows nothing changed: it is safe to try again.`,
        ...tx(failure.transactionID),
      },
    };
  }

  async function finish(
    action: Action,
    actor: Actor,
    group: string,
    started: number,
    data: {
      model?: ConvaiModel;
      before?: ConvaiModel;
      changes: FieldChange[];
      notTaken: string[];
      transactionID?: string;
      probe: ProbeReport;
      recovered?: string;
      rereadError?: string;
    },
  ): Promise<ChangeOutcome> {
    audit(
      action,
      actor,
      group,
      data.changes.map((c) => c.field),
      "succeeded",
      started,
      data.transactionID,
    );
    const record: ChangeRecord = {
      action,
      actor,
      group,
      changes: data.changes,
      ...(data.model ? { model: data.model } : data.before ? { model: data.before } : {}),
      ...tx(data.transactionID),
    };
    const notified = await notify(record);
    return {
      ok: true,
      action,
      group,
      changes: data.changes,
      notTaken: data.notTaken,
      probe: data.probe,
      notify: notified,
      ...(data.model ? { model: data.model } : {}),
      ...tx(data.transactionID),
      ...(data.recovered ? { recovered: data.recovered } : {}),
      ...(data.rereadError ? { rereadError: data.rereadError } : {}),
    };
  }

  /** The refusal when the endpoint test failed: the field it points at, nothing sent to Convai. */
  function probeRefusal(
    action: Action,
    actor: Actor,
    group: string,
    fields: readonly string[],
    started: number,
    report: ProbeReport,
  ): ChangeOutcome | undefined {
    if (!report.tested || report.result.ok) return undefined;
    audit(action, actor, group, fields, "refused by the endpoint test", started);
    return {
      ok: false,
      reason: "fields",
      errors: { [report.result.field]: report.result.message },
      probe: report,
    };
  }

  type Sent =
    | {
        ok: true;
        model?: ConvaiModel;
        facts: { model?: ConvaiModel; transactionID?: string; recovered?: string; rereadError?: string };
      }
    | { ok: false; outcome: ChangeOutcome };

  /**
   * Sends one mutation, exactly once, then learns what Convai holds now: after a success by re-reading
   * the list, after an ambiguous failure by settling it from the list.
   */
  async function mutate(
    action: Action,
    actor: Actor,
    group: string,
    fields: readonly string[],
    started: number,
    probe: ProbeReport,
    send: () => Promise<ConvaiResult<unknown>>,
    settleWith: { applied: (model: ConvaiModel | undefined) => boolean | undefined; recovered: string },
  ): Promise<Sent> {
    const res = await send();
    if (res.ok) {
      const again = await reread(group);
      const model = again.ok ? again.model : undefined;
      return {
        ok: true,
        ...(model ? { model } : {}),
        facts: {
          ...(model ? { model } : {}),
          ...tx(res.transactionID),
          ...(again.ok ? {} : { rereadError: again.message }),
        },
      };
    }
    if (res.ambiguous) {
      const settled = await settle(action, group, res, settleWith.applied);
      if (settled.applied) {
        return {
          ok: true,
          ...(settled.model ? { model: settled.model } : {}),
          facts: { ...(settled.model ? { model: settled.model } : {}), recovered: settleWith.recovered },
        };
      }
      audit(action, actor, group, fields, `failed: ${res.kind}`, started, res.transactionID);
      return { ok: false, outcome: settled.outcome };
    }
    audit(action, actor, group, fields, `failed: ${res.kind}`, started, res.transactionID);
    if (res.kind === "conflict")
      return { ok: false, outcome: { ok: false, reason: "fields", errors: conflictErrors(res), probe } };
    return {
      ok: false,
      outcome: {
        ok: false,
        reason: "failed",
        kind: res.kind,
        message: describeFailure(res),
        ...tx(res.transactionID),
      },
    };
  }

  return {
    list: () => convai.list(),
    get,

    async register(actor, typed, opts) {
      const started = Date.now();
      // Convai stores the URL the endpoint test calls: a pasted /chat/completions or trailing / is dropped.
      const input: RegisterInput =
        typed.base_url === undefined ? typed : { ...typed, base_url: normaliseBaseUrl(typed.base_url) };
      const group = input.model_group_name;
      const fields = Object.keys(input).filter((k) => k !== "model_group_name");
      const probeReport = await runProbe(opts.verify, {
        baseUrl: input.base_url ?? DEFAULT_BASE_URL,
        apiKey: input.api_key,
        modelName: input.model_name,
      });
      const refused = probeRefusal("register", actor, group, fields, started, probeReport);
      if (refused) return refused;
      const sent = await mutate(
        "register",
        actor,
        group,
        fields,
        started,
        probeReport,
        () => convai.register(input),
        {
          applied: (m) => m !== undefined && m.model_name === input.model_name,
          recovered: "Convai's answer was lost, but the list shows the model registered.",
        },
      );
      if (!sent.ok) return sent.outcome;
      const { model } = sent;
      const changes: FieldChange[] = [
        { field: "model_name", after: input.model_name },
        ...(input.display_name !== undefined
          ? [{ field: "display_name" as const, after: input.display_name }]
          : []),
        { field: "base_url", after: input.base_url ?? model?.base_url ?? DEFAULT_BASE_URL },
        { field: "is_uncensored", after: str(input.is_uncensored) ?? "no" },
        { field: "api_key", after: "set" },
      ];
      return finish("register", actor, group, started, {
        ...sent.facts,
        changes,
        notTaken: model ? compare(model, input) : [],
        probe: probeReport,
      });
    },

    async update(actor, group, typed, opts) {
      const started = Date.now();
      const request: UpdateRequest =
        typed.base_url === undefined ? typed : { ...typed, base_url: normaliseBaseUrl(typed.base_url) };
      const current = await get(group);
      if (!current.ok) {
        audit("update", actor, group, Object.keys(request), `failed: ${current.reason}`, started);
        return { ok: false, reason: "failed", message: current.message };
      }
      const before = current.model;
      // Send only what differs from what Convai holds; a key is always sent when given.
      const input: UpdateInput = { model_group_name: group };
      const changes: FieldChange[] = [];
      for (const field of ["model_name", "display_name", "base_url", "is_uncensored"] as const) {
        const wanted = request[field];
        if (wanted === undefined) continue;
        const had = before[field];
        if (had !== undefined && had === wanted) continue;
        if (field === "is_uncensored") input.is_uncensored = wanted === true;
        else if (typeof wanted === "string") input[field] = wanted;
        const beforeText = str(had);
        changes.push({
          field,
          after: str(wanted) ?? "",
          ...(beforeText !== undefined ? { before: beforeText } : {}),
        });
      }
      if (request.api_key) {
        input.api_key = request.api_key;
        changes.push({ field: "api_key", after: "rotated" });
      }
      if (changes.length === 0) {
        audit("update", actor, group, [], "refused: nothing to change", started);
        return {
          ok: false,
          reason: "failed",
          message: "Nothing to update: every field matches what Convai holds and no new key was entered.",
        };
      }
      const probeReport = await runProbe(opts.verify, {
        baseUrl: input.base_url ?? before.base_url ?? DEFAULT_BASE_URL,
        ...(input.api_key ? { apiKey: input.api_key } : {}),
        modelName: input.model_name ?? before.model_name,
      });
      const fieldNames = changes.map((c) => c.field);
      const refused = probeRefusal("update", actor, group, fieldNames, started, probeReport);
      if (refused) return refused;
      const nonKey = changes.filter((c) => c.field !== "api_key");
      const sent = await mutate(
        "update",
        actor,
        group,
        fieldNames,
        started,
        probeReport,
        () => convai.update(input),
        {
          applied: (m) => {
            if (!m) return false;
            // Only fields the list reports can show the update; a key, or a field this API form's
            // list omits (/custom-llm lists no display_name or is_uncensored), proves nothing.
            if (!nonKey.some((c) => c.field !== "api_key" && m[c.field] !== undefined)) return undefined;
            return compare(m, input).length === 0;
          },
          recovered: "Convai's answer was lost, but the list shows the update took effect.",
        },
      );
      if (!sent.ok) return sent.outcome;
      return finish("update", actor, group, started, {
        ...sent.facts,
        before,
        changes,
        notTaken: sent.model ? compare(sent.model, input) : [],
        probe: probeReport,
      });
    },

    async deregister(actor, group) {
      const started = Date.now();
      const current = await get(group);
      if (!current.ok) {
        audit("deregister", actor, group, [], `failed: ${current.reason}`, started);
        return { ok: false, reason: "failed", message: current.message };
      }
      const probe: ProbeReport = { tested: false, reason: "No endpoint test for a deregister." };
      const sent = await mutate(
        "deregister",
        actor,
        group,
        [],
        started,
        probe,
        () => convai.deregister(group),
        {
          applied: (m) => m === undefined,
          recovered: "Convai's answer was lost, but the list shows the model deregistered.",
        },
      );
      if (!sent.ok) return sent.outcome;
      // The re-read model is what is left; for a deregister that is a group that did not go away.
      const { model: _left, ...facts } = sent.facts;
      return finish("deregister", actor, group, started, {
        ...facts,
        before: current.model,
        changes: [],
        notTaken: sent.model ? ["model_group_name"] : [],
        probe,
      });
    },
  };
}

/** Why a change's outcome is unknown, in words: the start of the message after the re-read. */
function ambiguousCause(f: ConvaiFailure): string {
  switch (f.kind) {
    case "timeout":
      return "Convai did not answer in time";
    case "server":
      return `Convai answered with an internal error (${f.message})`;
    case "malformed":
      return "Convai's answer could not be read";
    default:
      return "the connection to Convai broke";
  }
}

/** Requested fields that the re-read model does not show; fields the list omits are not judged. */
function compare(model: ConvaiModel, input: Partial<RegisterInput> | UpdateInput): string[] {
  const out: string[] = [];
  for (const field of ["model_name", "display_name", "base_url", "is_uncensored"] as const) {
    const wanted = input[field];
    const now = model[field];
    if (wanted === undefined || now === undefined) continue;
    const same =
      field === "base_url" && typeof wanted === "string" && typeof now === "string"
        ? wanted.replace(/\/+$/, "") === now.replace(/\/+$/, "")
        : wanted === now;
    if (!same) out.push(field);
  }
  return out;
}

function tx(transactionID: string | undefined): { transactionID?: string } {
  return transactionID ? { transactionID } : {};
}
