import {
  type ConvaiClient,
  type ConvaiFailure,
  type ConvaiModel,
  type ConvaiResult,
  DEFAULT_BASE_URL,
  type RegisterInput,
  type UpdateInput,
} from "../convai/types.js";
import type { Logger } from "../logger.js";
import { type FieldErrors, normaliseBaseUrl, secretHostRefusal } from "./fields.js";
import {
  type Action,
  type Actor,
  ambiguousCause,
  type ChangeOptions,
  type ChangeOutcome,
  type ChangeRecord,
  type Checked,
  describeFailure,
  type FieldChange,
  type LlmService,
  type LookupOutcome,
  type Notifier,
  type ProbeFn,
  type ProbeReport,
  tx,
  type UpdateRequest,
} from "./outcome.js";

export interface LlmServiceOptions {
  convai: ConvaiClient;
  probe: ProbeFn;
  notify: Notifier;
  allowPrivateUrls: boolean;
  /** CONVAI_SECRET_<NAME>_HOSTS: where each `env:` secret may be sent. */
  secretHosts: ReadonlyMap<string, readonly string[]>;
  /**
   * Resolves a host name and refuses private, loopback or link-local answers (the probe's guard, with its
   * DNS lookup injectable). Run on every new base URL the endpoint test did not call.
   */
  checkHost: (hostname: string) => Promise<{ ok: true } | { ok: false; reason: string }>;
  logger: Logger;
}

interface Ctx extends LlmServiceOptions {
  log: Logger;
}

type Refusal = Extract<ChangeOutcome, { ok: false }>;

/** One change attempt: who, what, on which group, since when (for the audit line). */
interface Job {
  action: Action;
  actor: Actor;
  group: string;
  fields: readonly string[];
  started: number;
  approver?: Actor | undefined;
}

/**
 * Register, update and deregister as one workflow: check, test the endpoint, send exactly once, re-read
 * what Convai holds, announce. Returns typed outcomes; only bugs throw.
 */
export function createLlmService(options: LlmServiceOptions): LlmService {
  const ctx: Ctx = { ...options, log: options.logger.child({ component: "service" }) };
  return {
    list: (options) => ctx.convai.list(options),
    get: (group) => lookup(ctx.convai, group),
    checkRegister: (actor, input, opts) => checkRegister(ctx, startRegister(actor, input, opts), input, opts),
    checkUpdate: (actor, group, request, opts) => checkUpdate(ctx, actor, group, request, opts),
    register: (actor, input, opts) => register(ctx, actor, input, opts),
    update: (actor, group, request, opts) => update(ctx, actor, group, request, opts),
    deregister: (actor, group, opts) => deregister(ctx, actor, group, opts?.approver),
  };
}

const startRegister = (actor: Actor, input: RegisterInput, opts: ChangeOptions): Job =>
  start("register", actor, input.model_group_name, Object.keys(input), opts.approver);

/** Everything a register checks before Convai is called: the URL, the key's hosts, the endpoint test. */
async function checkRegister(
  ctx: Ctx,
  job: Job,
  typed: RegisterInput,
  opts: ChangeOptions,
): Promise<Checked<{ input: RegisterInput; probe: ProbeReport }>> {
  // Convai stores the URL the endpoint test calls: a pasted /chat/completions or trailing / is dropped.
  const input: RegisterInput =
    typed.base_url === undefined ? typed : { ...typed, base_url: normaliseBaseUrl(typed.base_url) };
  const unbound = keyBinding(ctx, job, opts.keyRef, input.base_url ?? DEFAULT_BASE_URL);
  if (unbound) return unbound;
  const probe = await runProbe(ctx, opts.verify, {
    baseUrl: input.base_url ?? DEFAULT_BASE_URL,
    apiKey: input.api_key,
    modelName: input.model_name,
  });
  const refused = probeRefusal(ctx, job, probe) ?? (await hostRefusal(ctx, job, probe, input.base_url));
  if (refused) return refused;
  return { ok: true, input, changes: registerChanges(input), probe };
}

/** A register as people see it; the key only ever as "set". */
function registerChanges(input: RegisterInput, stored?: ConvaiModel): FieldChange[] {
  return [
    { field: "model_name", after: input.model_name },
    ...(input.display_name !== undefined
      ? [{ field: "display_name" as const, after: input.display_name }]
      : []),
    { field: "base_url", after: input.base_url ?? stored?.base_url ?? DEFAULT_BASE_URL },
    { field: "is_uncensored", after: str(input.is_uncensored) ?? "no" },
    { field: "api_key", after: "set" },
  ];
}

async function register(
  ctx: Ctx,
  actor: Actor,
  typed: RegisterInput,
  opts: ChangeOptions,
): Promise<ChangeOutcome> {
  const job = startRegister(actor, typed, opts);
  const checked = await checkRegister(ctx, job, typed, opts);
  if (!checked.ok) return checked;
  const { input, probe } = checked;
  const sent = await mutate(ctx, job, probe, () => ctx.convai.register(input), {
    applied: (m) => m !== undefined && m.model_name === input.model_name,
    recovered: "Convai's answer was lost, but the list shows the model registered.",
  });
  if (!sent.ok) return sent.outcome;
  const { model } = sent;
  return finish(ctx, job, {
    ...sent.facts,
    changes: registerChanges(input, model),
    notTaken: model ? compare(model, input) : [],
    probe,
  });
}

/**
 * Everything an update checks before Convai is called: the model as Convai holds it, what differs, the
 * key's hosts, the endpoint test. `job` is the audit line's, named by the fields that change.
 */
async function checkUpdate(
  ctx: Ctx,
  actor: Actor,
  group: string,
  typed: UpdateRequest,
  opts: ChangeOptions,
): Promise<Checked<{ before: ConvaiModel; input: UpdateInput; job: Job; probe: ProbeReport }>> {
  const request: UpdateRequest =
    typed.base_url === undefined ? typed : { ...typed, base_url: normaliseBaseUrl(typed.base_url) };
  const current = await lookup(ctx.convai, group);
  if (!current.ok) {
    audit(
      ctx,
      start("update", actor, group, Object.keys(request), opts.approver),
      `failed: ${current.reason}`,
    );
    return { ok: false, reason: "failed", message: current.message };
  }
  const before = current.model;
  const { input, changes } = diffUpdate(before, group, request);
  const job = start(
    "update",
    actor,
    group,
    changes.map((c) => c.field),
    opts.approver,
  );
  if (changes.length === 0) {
    audit(ctx, job, "refused: nothing to change");
    return {
      ok: false,
      reason: "failed",
      message: "Nothing to update: every field matches what Convai holds and no new key was entered.",
    };
  }
  // The base URL the key will be sent to: the new one if typed, else the model's current one.
  const unbound = keyBinding(ctx, job, opts.keyRef, input.base_url ?? before.base_url ?? DEFAULT_BASE_URL);
  if (unbound) return unbound;
  const probe = await runProbe(ctx, opts.verify, {
    baseUrl: input.base_url ?? before.base_url ?? DEFAULT_BASE_URL,
    ...(input.api_key ? { apiKey: input.api_key } : {}),
    modelName: input.model_name ?? before.model_name,
  });
  const refused = probeRefusal(ctx, job, probe) ?? (await hostRefusal(ctx, job, probe, input.base_url));
  if (refused) return refused;
  return { ok: true, before, input, job, changes, probe };
}

async function update(
  ctx: Ctx,
  actor: Actor,
  group: string,
  typed: UpdateRequest,
  opts: ChangeOptions,
): Promise<ChangeOutcome> {
  const checked = await checkUpdate(ctx, actor, group, typed, opts);
  if (!checked.ok) return checked;
  const { before, input, job, changes, probe } = checked;
  const nonKey = changes.filter((c) => c.field !== "api_key");
  const sent = await mutate(ctx, job, probe, () => ctx.convai.update(input), {
    applied: (m) => {
      if (!m) return false;
      // Only fields the list reports can show the update; a key, or a field this API form's
      // list omits (/custom-llm lists no display_name or is_uncensored), proves nothing.
      if (!nonKey.some((c) => c.field !== "api_key" && m[c.field] !== undefined)) return undefined;
      return compare(m, input).length === 0;
    },
    recovered: "Convai's answer was lost, but the list shows the update took effect.",
  });
  if (!sent.ok) return sent.outcome;
  return finish(ctx, job, {
    ...sent.facts,
    before,
    changes,
    notTaken: sent.model ? compare(sent.model, input) : [],
    probe,
  });
}

async function deregister(ctx: Ctx, actor: Actor, group: string, approver?: Actor): Promise<ChangeOutcome> {
  const job = start("deregister", actor, group, [], approver);
  const current = await lookup(ctx.convai, group);
  if (!current.ok) {
    audit(ctx, job, `failed: ${current.reason}`);
    return { ok: false, reason: "failed", message: current.message };
  }
  const probe: ProbeReport = { tested: false, reason: "No endpoint test for a deregister." };
  const sent = await mutate(ctx, job, probe, () => ctx.convai.deregister(group), {
    applied: (m) => m === undefined,
    recovered: "Convai's answer was lost, but the list shows the model deregistered.",
  });
  if (!sent.ok) return sent.outcome;
  // The re-read model is what is left; for a deregister that is a group that did not go away.
  const { model: _left, ...facts } = sent.facts;
  return finish(ctx, job, {
    ...facts,
    before: current.model,
    changes: [],
    notTaken: sent.model ? ["model_group_name"] : [],
    probe,
  });
}

/**
 * What an update sends and how people see it: only what differs from what Convai holds; a key is
 * always sent when given, and shown as "rotated".
 */
export function diffUpdate(
  before: ConvaiModel,
  group: string,
  request: UpdateRequest,
): { input: UpdateInput; changes: FieldChange[] } {
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
  return { input, changes };
}

function start(
  action: Action,
  actor: Actor,
  group: string,
  fields: readonly string[],
  approver?: Actor,
): Job {
  return {
    action,
    actor,
    group,
    fields: fields.filter((f) => f !== "model_group_name"),
    started: Date.now(),
    ...(approver ? { approver } : {}),
  };
}

function audit(ctx: Ctx, job: Job, outcome: string, transactionID?: string): void {
  ctx.log.info(
    {
      event: "audit",
      action: job.action,
      actor: job.actor.userId,
      team: job.actor.teamId,
      approver: job.approver?.userId,
      group: job.group,
      fields: job.fields,
      outcome,
      transactionID,
      durationMs: Date.now() - job.started,
    },
    `Custom LLM ${job.action} ${outcome}.`,
  );
}

async function lookup(convai: ConvaiClient, group: string): Promise<LookupOutcome> {
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
  convai: ConvaiClient,
  group: string,
): Promise<{ ok: true; model?: ConvaiModel } | { ok: false; message: string }> {
  const res = await convai.list();
  if (!res.ok) return { ok: false, message: describeFailure(res) };
  return { ok: true, model: res.data.find((m) => m.model_group_name === group) };
}

async function runProbe(
  ctx: Ctx,
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
  const result = await ctx.probe({
    baseUrl: input.baseUrl,
    apiKey: input.apiKey,
    modelName: input.modelName,
    allowPrivate: ctx.allowPrivateUrls,
  });
  return { tested: true, result };
}

/** An `env:` secret bound to other hosts than the base URL's: refused before anything is sent. */
function keyBinding(ctx: Ctx, job: Job, keyRef: string | undefined, baseUrl: string): Refusal | undefined {
  if (keyRef === undefined) return undefined;
  const refusal = secretHostRefusal(keyRef, baseUrl, ctx.secretHosts);
  if (refusal === undefined) return undefined;
  audit(ctx, job, "refused: the secret is not bound to the base URL's host");
  return { ok: false, reason: "fields", errors: { api_key: refusal } };
}

/** The refusal when the endpoint test failed: the field it points at, nothing sent to Convai. */
function probeRefusal(ctx: Ctx, job: Job, report: ProbeReport): Refusal | undefined {
  if (!report.tested || report.result.ok) return undefined;
  audit(ctx, job, "refused by the endpoint test");
  return {
    ok: false,
    reason: "fields",
    errors: { [report.result.field]: report.result.message },
    probe: report,
  };
}

/**
 * A new base URL the endpoint test did not call (unchecked, or no key to test with) is still resolved, and
 * refused when it points at a private address Convai's servers would be sent to (CONVAI_ALLOW_PRIVATE_URLS
 * lifts this, as it does for the test).
 */
async function hostRefusal(
  ctx: Ctx,
  job: Job,
  report: ProbeReport,
  baseUrl: string | undefined,
): Promise<Refusal | undefined> {
  if (report.tested || baseUrl === undefined || ctx.allowPrivateUrls || !URL.canParse(baseUrl)) {
    return undefined;
  }
  const guard = await ctx.checkHost(new URL(baseUrl).hostname);
  if (guard.ok) return undefined;
  audit(ctx, job, "refused: the new base URL's host is not public");
  return { ok: false, reason: "fields", errors: { base_url: guard.reason } };
}

function conflictErrors(f: ConvaiFailure): FieldErrors {
  return f.field === "display_name"
    ? { display_name: `Another model already uses this display name (Convai: ${f.message}). Choose another.` }
    : {
        model_group_name: `A model with this group name already exists (Convai: ${f.message}). Choose another.`,
      };
}

interface Facts {
  model?: ConvaiModel;
  transactionID?: string;
  recovered?: string;
  rereadError?: string;
}
type Sent = { ok: true; model?: ConvaiModel; facts: Facts } | { ok: false; outcome: ChangeOutcome };
type Verdict = (model: ConvaiModel | undefined) => boolean | undefined;

/**
 * Sends one mutation, exactly once, then learns what Convai holds now: after a success by re-reading
 * the list, after an ambiguous failure by settling it from the list.
 */
async function mutate(
  ctx: Ctx,
  job: Job,
  probe: ProbeReport,
  send: () => Promise<ConvaiResult<unknown>>,
  settleWith: { applied: Verdict; recovered: string },
): Promise<Sent> {
  const res = await send();
  if (res.ok) {
    const again = await reread(ctx.convai, job.group);
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
    const settled = await settle(ctx.convai, job, res, settleWith.applied);
    if (settled.applied) {
      const model = settled.model ? { model: settled.model } : {};
      return { ok: true, ...model, facts: { ...model, recovered: settleWith.recovered } };
    }
    audit(ctx, job, `failed: ${res.kind}`, res.transactionID);
    return { ok: false, outcome: settled.outcome };
  }
  audit(ctx, job, `failed: ${res.kind}`, res.transactionID);
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

/** After an ambiguous failure, tell the truth from a fresh list instead of guessing. */
async function settle(
  convai: ConvaiClient,
  job: Job,
  failure: ConvaiFailure,
  applied: Verdict,
): Promise<{ applied: true; model?: ConvaiModel } | { applied: false; outcome: ChangeOutcome }> {
  const again = await reread(convai, job.group);
  const cause = ambiguousCause(failure);
  const action = job.action;
  const unknown = (message: string) => ({
    applied: false as const,
    outcome: { ok: false as const, reason: "unknown" as const, message, ...tx(failure.transactionID) },
  });
  if (!again.ok) {
    return unknown(
      `${cause}, and the bot could not re-read the list to check whether the ${action} took effect (${again.message}). Run list before trying again.`,
    );
  }
  const verdict = applied(again.model);
  if (verdict === true) return { applied: true, ...(again.model ? { model: again.model } : {}) };
  if (verdict === undefined) {
    return unknown(
      `${cause}; the list cannot show whether the ${action} took effect (Convai does not list the key or every field). Submitting the same ${action} again is safe.`,
    );
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

/** A change that went through: the audit line, the announcement, and the outcome's facts. */
async function finish(
  ctx: Ctx,
  job: Job,
  data: Facts & { before?: ConvaiModel; changes: FieldChange[]; notTaken: string[]; probe: ProbeReport },
): Promise<ChangeOutcome> {
  // The success line names the fields as the announcement lists them.
  audit(ctx, { ...job, fields: data.changes.map((c) => c.field) }, "succeeded", data.transactionID);
  const shown = data.model ?? data.before;
  const record: ChangeRecord = {
    action: job.action,
    actor: job.actor,
    group: job.group,
    changes: data.changes,
    ...(shown ? { model: shown } : {}),
    ...tx(data.transactionID),
    ...(job.approver ? { approver: job.approver } : {}),
  };
  const notified = await ctx.notify(record);
  return {
    ok: true,
    action: job.action,
    group: job.group,
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

const str = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === "boolean" ? (v ? "yes" : "no") : String(v);

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
