import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import type { ConvaiCharacter, ConvaiModel, RegisterInput } from "../convai/types.js";
import { diffUpdate } from "../domain/changes.js";
import {
  type CharacterService,
  characterName,
  type DeregisterPlan,
  MAX_PARALLEL_UPDATES,
  type SafeDeregisterOutcome,
} from "../domain/characters.js";
import type { Actor, ChangeOutcome, FieldChange, LlmService, UpdateRequest } from "../domain/outcome.js";
import type { Logger } from "../logger.js";
import type { Presented } from "../modals/submission.js";
import type { Authorizer } from "../slack/authz.js";
import { slackErrorCode } from "../slack/authz.js";
import { truncate } from "../slack/text.js";
import { amongRequested, charactersDigest, createSealer, type Envelope, type PendingChange } from "./seal.js";
import {
  awaitingBlocks,
  decidedMessage,
  movesOutcome,
  REQUEST_MOVE_LINES,
  type RequestMoves,
  type RequestSummary,
  requestMessage,
  shownChanges,
} from "./ui.js";

/**
 * Four-eyes approval (SPEC §13). A manager's change is validated as today, then posted to the notify
 * channel as a request whose pending change travels sealed in the message's metadata; Approve re-reads
 * that message (the bot keeps no state), re-checks the change against Convai and applies it through the
 * ordinary domain workflow.
 */

export const REQUEST_EVENT = "convai_llm_request";

/** What a manager asked for, before it is sealed. */
export type ChangeRequest =
  | { kind: "register"; input: RegisterInput; verify: boolean; keyRef?: string | undefined }
  | { kind: "update"; group: string; request: UpdateRequest; verify: boolean; keyRef?: string | undefined }
  /** `moveTo`: where the group's characters go first, when any use it (SPEC §10). */
  | { kind: "deregister"; group: string; moveTo?: string | undefined }
  | { kind: "assign"; group: string; characterIds: readonly string[] };

export interface Press {
  decision: "approve" | "reject";
  userId: string;
  teamId: string | undefined;
  channel: string;
  ts: string;
  /** The button's value: the request id the message was posted with. */
  requestId: string;
}

export interface Approvals {
  /** Validates and posts the request; the result is what the requester's modal shows. */
  request(actor: Actor, change: ChangeRequest): Promise<Presented>;
  /** Approve or Reject pressed: returns what the presser is told (ephemeral). */
  decide(press: Press): Promise<string>;
}

/** The request message's metadata, in clear except `sealed`; `state` tells every replica where it stands. */
const requestMeta = z.object({
  event_type: z.literal(REQUEST_EVENT),
  event_payload: z.object({
    request_id: z.string(),
    expires_at: z.number(),
    sealed: z.string().optional(),
    state: z.enum(["pending", "applying", "approved", "rejected", "expired", "unreadable", "failed"]),
    /** When the state became "applying" (epoch ms): a replica that died mid-apply leaves it behind. */
    applying_at: z.number().optional(),
    /** Until when that apply may still be running (epoch ms), from the size of the change. */
    applying_until: z.number().optional(),
    action: z.enum(["register", "update", "deregister", "assign"]),
    group: z.string(),
    requester: z.string(),
    decided_by: z.string().optional(),
    changes: z.string().optional(),
    /** The characters the request moves, as the message shows them (JSON of RequestMoves). */
    moves: z.string().optional(),
  }),
});
type RequestMeta = z.infer<typeof requestMeta>["event_payload"];

interface Ctx {
  client: WebClient;
  channel: string;
  service: LlmService;
  characters: CharacterService;
  authz: Authorizer;
  sandbox: boolean;
  /**
   * How long "applying" may last before another approval may take the request over: at least `minMs`,
   * and longer for a change of many Convai calls, each bounded by `callTimeoutMs`.
   */
  stall: { minMs: number; callTimeoutMs: number };
  /** Called once an approved change was applied (or tried): the approver's App Home is republished. */
  onApplied: (approver: Actor) => Promise<void>;
  log: Logger;
  sealer: ReturnType<typeof createSealer>;
}

export function createApprovals(
  options: Omit<Ctx, "sealer" | "log"> & {
    logger: Logger;
    secret: string;
    ttlMs: number;
  },
): Approvals {
  const ctx: Ctx = {
    ...options,
    log: options.logger.child({ component: "approvals" }),
    sealer: createSealer(options.secret, options.ttlMs),
  };
  return {
    request: (actor, change) => request(ctx, actor, change),
    decide: (press) => decide(ctx, press),
  };
}

type Prepared =
  | { ok: true; pending: PendingChange; summary: Omit<RequestSummary, "expiresAt"> }
  | Extract<Presented, { ok: false }>;

async function request(ctx: Ctx, actor: Actor, change: ChangeRequest): Promise<Presented> {
  const prepared = await prepare(ctx, actor, change);
  if (!prepared.ok) return prepared;
  const envelope = ctx.sealer.seal(prepared.pending);
  const summary: RequestSummary = { ...prepared.summary, expiresAt: envelope.expiresAt };
  const message = requestMessage(summary, envelope.id, { sandbox: ctx.sandbox });
  const meta: RequestMeta = {
    request_id: envelope.id,
    expires_at: envelope.expiresAt,
    sealed: envelope.sealed,
    state: "pending",
    action: summary.action,
    group: summary.group,
    requester: actor.userId,
    changes: JSON.stringify(summary.changes),
    ...(summary.moves ? { moves: JSON.stringify(summary.moves) } : {}),
  };
  let ts: string | undefined;
  try {
    const posted = await ctx.client.chat.postMessage({
      channel: ctx.channel,
      ...message,
      metadata: { event_type: REQUEST_EVENT, event_payload: meta },
      unfurl_links: false,
    });
    ts = posted.ts;
  } catch (error) {
    ctx.log.error(
      { error: slackErrorCode(error), channel: ctx.channel },
      "Could not post an approval request; invite the bot to CONVAI_NOTIFY_CHANNEL.",
    );
    return {
      ok: false,
      reason: "failed",
      message: `Nothing was changed: the approval request could not be posted to the notification channel (${slackErrorCode(error)}). Ask an admin to invite the bot there.`,
    };
  }
  const link = ts ? await permalink(ctx, ts) : undefined;
  ctx.log.info(
    {
      event: "approval_requested",
      requestId: envelope.id,
      action: summary.action,
      group: summary.group,
      actor: actor.userId,
    },
    "Posted an approval request.",
  );
  return { ok: true, title: "Awaiting approval", blocks: awaitingBlocks(summary, link) };
}

async function permalink(ctx: Ctx, ts: string): Promise<string | undefined> {
  try {
    const res = await ctx.client.chat.getPermalink({ channel: ctx.channel, message_ts: ts });
    return res.permalink;
  } catch {
    // The link is a convenience; the request stands without it.
    return undefined;
  }
}

/** The same checks the direct change makes before calling Convai: the list, the diff, the endpoint test. */
async function prepare(ctx: Ctx, actor: Actor, change: ChangeRequest): Promise<Prepared> {
  const requester = { userId: actor.userId, ...(actor.teamId ? { teamId: actor.teamId } : {}) };
  switch (change.kind) {
    case "register": {
      // The form's input is sealed as typed: the apply normalises it once, as a direct change does.
      const found = await ctx.service.get(change.input.model_group_name);
      if (found.ok)
        return fieldError("model_group_name", "A model with this group name already exists. Choose another.");
      if (found.reason === "failed") return { ok: false, reason: "failed", message: found.message };
      const checked = await ctx.service.checkRegister(actor, change.input, {
        verify: change.verify,
        keyRef: change.keyRef,
      });
      if (!checked.ok) return checked;
      return {
        ok: true,
        pending: {
          kind: "register",
          requester,
          verify: change.verify,
          input: change.input,
          ...(change.keyRef ? { keyRef: change.keyRef } : {}),
        },
        summary: {
          action: "register",
          group: change.input.model_group_name,
          requester: actor.userId,
          changes: shownChanges(checked.changes),
        },
      };
    }
    case "update": {
      const checked = await ctx.service.checkUpdate(actor, change.group, change.request, {
        verify: change.verify,
        keyRef: change.keyRef,
      });
      if (!checked.ok) return checked;
      return {
        ok: true,
        pending: {
          kind: "update",
          requester,
          verify: change.verify,
          group: change.group,
          request: change.request,
          ...(change.keyRef ? { keyRef: change.keyRef } : {}),
          before: snapshot(checked.before),
        },
        summary: {
          action: "update",
          group: change.group,
          requester: actor.userId,
          changes: shownChanges(checked.changes),
        },
      };
    }
    case "deregister": {
      const plan = await ctx.characters.planDeregister({ group: change.group, moveTo: change.moveTo });
      if (plan.kind !== "ready") return planRefusal(plan);
      const model = plan.model ?? (await modelOf(ctx, change.group));
      if (!("model_group_name" in model)) return model;
      const moves = plan.moveTo === undefined ? undefined : movesOf(plan.on, plan.moveTo);
      return {
        ok: true,
        pending: {
          kind: "deregister",
          requester,
          group: change.group,
          before: snapshot(model),
          ...(plan.moveTo !== undefined ? { moveTo: plan.moveTo } : {}),
          ...(plan.target ? { target: snapshot(plan.target) } : {}),
          characters: charactersDigest(plan.on.map((c) => c.character_id)),
        },
        summary: {
          action: "deregister",
          group: change.group,
          requester: actor.userId,
          changes: [],
          ...(moves ? { moves } : {}),
        },
      };
    }
    case "assign": {
      const plan = await ctx.characters.planAssign({
        group: change.group,
        characterIds: change.characterIds,
      });
      if (!plan.ok) {
        return plan.reason === "fields"
          ? { ok: false, reason: "fields", errors: plan.errors }
          : { ok: false, reason: "failed", message: plan.message, transactionID: plan.transactionID };
      }
      // Characters already on the group need nothing: the request names only those that move.
      const moving = plan.chosen.filter((c) => c.model !== change.group);
      return {
        ok: true,
        pending: {
          kind: "assign",
          requester,
          group: change.group,
          model: snapshot(plan.model),
          characters: moving.map((c) => ({
            id: c.character_id,
            ...(c.model !== undefined ? { before: c.model } : {}),
          })),
        },
        summary: {
          action: "assign",
          group: change.group,
          requester: actor.userId,
          changes: [],
          moves: movesOf(moving, change.group),
        },
      };
    }
  }
}

/** A deregister plan that cannot go ahead, as the requester's form shows it. */
function planRefusal(plan: Exclude<DeregisterPlan, { kind: "ready" }>): Prepared {
  return plan.kind === "refused"
    ? { ok: false, reason: "fields", errors: plan.errors }
    : { ok: false, reason: "failed", message: plan.message, transactionID: plan.transactionID };
}

/** The model as Convai lists it, or why it cannot be read (not registered, Convai failing). */
async function modelOf(ctx: Ctx, group: string): Promise<ConvaiModel | Extract<Prepared, { ok: false }>> {
  const found = await ctx.service.get(group);
  return found.ok ? found.model : { ok: false, reason: "failed", message: found.message };
}

function movesOf(characters: readonly ConvaiCharacter[], target: string): RequestMoves {
  return {
    total: characters.length,
    shown: characters.slice(0, REQUEST_MOVE_LINES).map((c) => ({
      // Cut as the message shows it, so the metadata in clear stays small whatever Convai holds.
      name: truncate(characterName(c), 80),
      ...(c.model !== undefined ? { before: c.model } : {}),
      after: target,
    })),
  };
}

const fieldError = (field: "model_group_name", message: string): Prepared => ({
  ok: false,
  reason: "fields",
  errors: { [field]: message },
});

/** The fields an approval compares: what the list shows of a model. */
function snapshot(model: ConvaiModel): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const field of ["model_name", "display_name", "base_url", "is_uncensored"] as const) {
    const v = model[field];
    if (v !== undefined) out[field] = v;
  }
  return out;
}

function sameAs(model: ConvaiModel, before: Record<string, string | boolean>): boolean {
  const now = snapshot(model);
  const keys = new Set([...Object.keys(now), ...Object.keys(before)]);
  return [...keys].every((k) => now[k] === before[k]);
}

// ---------------------------------------------------------------------------------------------------------------
// Approve and Reject
// ---------------------------------------------------------------------------------------------------------------

interface Loaded {
  meta: RequestMeta;
  summary: RequestSummary;
}

/** Reads the request message as Slack holds it now: its state and the sealed change. */
async function load(
  ctx: Ctx,
  press: Press,
): Promise<{ ok: true; loaded: Loaded } | { ok: false; message: string }> {
  let raw: unknown;
  try {
    const res = await ctx.client.conversations.history({
      channel: press.channel,
      latest: press.ts,
      oldest: press.ts,
      inclusive: true,
      limit: 1,
      include_all_metadata: true,
    });
    raw = res.messages?.[0]?.metadata;
  } catch (error) {
    ctx.log.warn(
      { error: slackErrorCode(error) },
      "Could not read an approval request message back; the bot needs channels:history.",
    );
    return {
      ok: false,
      message: `The request could not be read back from Slack (${slackErrorCode(error)}). Nothing was changed; try again.`,
    };
  }
  const parsed = requestMeta.safeParse(raw);
  if (
    !parsed.success ||
    parsed.data.event_payload.request_id !== press.requestId ||
    press.channel !== ctx.channel
  ) {
    return { ok: false, message: "This is not an approval request the bot can read. Nothing was changed." };
  }
  const meta = parsed.data.event_payload;
  const changes = z
    .array(
      z.object({
        field: z.enum(["model_name", "display_name", "base_url", "api_key", "is_uncensored"]),
        before: z.string().optional(),
        after: z.string(),
      }),
    )
    .safeParse(safeJson(meta.changes));
  return {
    ok: true,
    loaded: {
      meta,
      summary: {
        action: meta.action,
        group: meta.group,
        requester: meta.requester,
        expiresAt: meta.expires_at,
        changes: changes.success ? changes.data.map(cleanChange) : [],
        ...movesFrom(meta.moves),
      },
    },
  };
}

const cleanChange = (c: {
  field: FieldChange["field"];
  before?: string | undefined;
  after: string;
}): FieldChange => ({
  field: c.field,
  after: c.after,
  ...(c.before !== undefined ? { before: c.before } : {}),
});

const movesSchema = z.object({
  total: z.number().int().min(0),
  shown: z
    .array(z.object({ name: z.string(), before: z.string().optional(), after: z.string() }))
    .max(REQUEST_MOVE_LINES),
});

/** The moves as the message showed them; a malformed list is dropped (the message is rebuilt without it). */
function movesFrom(text: string | undefined): { moves?: RequestMoves } {
  const parsed = movesSchema.safeParse(safeJson(text));
  if (!parsed.success) return {};
  return {
    moves: {
      total: parsed.data.total,
      shown: parsed.data.shown.map((m) => ({
        name: m.name,
        after: m.after,
        ...(m.before !== undefined ? { before: m.before } : {}),
      })),
    },
  };
}

function safeJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What a press on a decided request is told, by the state the message holds. */
const DONE: Partial<Record<RequestMeta["state"], (by: string) => string>> = {
  applying: (by) => `This request is being applied by ${by}. Nothing more was done.`,
  approved: (by) => `This request was already approved by ${by}. Nothing more was done.`,
  rejected: (by) => `This request was already rejected by ${by}. Nothing more was done.`,
  failed: (by) =>
    `This request was already approved by ${by} but not (fully) applied; the request message says why. Nothing more was done: ask the requester to submit it again.`,
};

/**
 * Approve or Reject: authorize, read the message's current state, open the seal, then decide. The
 * message is marked "applying" before Convai is called, so a second press on any replica is answered
 * from the message instead of applying twice. Over 80 lines because each refusal is one early return.
 */
async function decide(ctx: Ctx, press: Press): Promise<string> {
  const log = ctx.log.child({
    userId: press.userId,
    requestId: press.requestId.slice(0, 64),
    decision: press.decision,
  });
  const permission = await ctx.authz.canManage(press.userId);
  if (!permission.ok) {
    log.warn("Refused an approval decision from a user who may not change models.");
    return `Only a manager can ${press.decision} a change. ${permission.message}`;
  }
  const read = await load(ctx, press);
  if (!read.ok) return read.message;
  const { meta, summary } = read.loaded;
  const stalled = isStalled(ctx, meta);
  const done = stalled ? undefined : DONE[meta.state];
  if (done) return done(`<@${meta.decided_by ?? "unknown"}>`);
  if (meta.state !== "pending" && !stalled) return `This request is ${meta.state}. Nothing was changed.`;
  if (stalled && press.decision === "reject") {
    return `This request was being applied by <@${meta.decided_by ?? "unknown"}> and did not finish (the replica applying it stopped), so part of it may be in place and it cannot be rejected. A manager other than the requester can approve it: the bot re-checks it against Convai and finishes it.`;
  }
  const envelope: Envelope = { id: meta.request_id, expiresAt: meta.expires_at, sealed: meta.sealed ?? "" };
  const opened = ctx.sealer.open(envelope);
  if (!opened.ok && stalled) {
    const text = `Not confirmed: the replica applying this request stopped, and the request can no longer be finished (${opened.code === "expired" ? "it expired" : "its sealed change cannot be read"}). Check \`list\` and \`history\` to see what took effect.`;
    await finalise(ctx, press, meta, summary, "failed", meta.decided_by, { emoji: ":warning:", text });
    return text;
  }
  if (!opened.ok) {
    log.warn(
      { code: opened.code },
      "An approval request could not be completed: it expired or its seal could not be opened.",
    );
    await finalise(ctx, press, meta, summary, opened.code, undefined, {
      emoji: opened.code === "expired" ? ":alarm_clock:" : ":lock:",
      text: opened.message,
    });
    return opened.message;
  }
  const change = opened.change;
  if (
    press.teamId !== undefined &&
    change.requester.teamId !== undefined &&
    press.teamId !== change.requester.teamId
  ) {
    log.warn("Refused an approval decision from another workspace.");
    return "This request belongs to another workspace. Nothing was changed.";
  }
  if (press.decision === "reject") {
    await finalise(ctx, press, meta, summary, "rejected", press.userId, {
      emoji: ":no_entry_sign:",
      text: `Rejected by <@${press.userId}>. Nothing was sent to Convai.`,
    });
    log.info({ event: "approval_rejected" }, "An approval request was rejected.");
    return "Rejected: nothing was sent to Convai.";
  }
  if (change.requester.userId === press.userId) {
    log.warn("Refused a requester approving their own change.");
    return "You requested this change, so another manager must approve it. Nothing was changed.";
  }
  if (stalled) {
    log.warn(
      { stalledBy: meta.decided_by, since: meta.applying_at },
      "Taking over an approval request left applying by a replica that stopped; it is re-checked against Convai.",
    );
  }
  const claimed = await mark(
    ctx,
    press,
    {
      ...meta,
      state: "applying",
      applying_at: Date.now(),
      applying_until: Date.now() + stallBound(ctx, change),
      decided_by: press.userId,
    },
    summary,
  );
  if (!claimed)
    return "The request message could not be marked as being applied, so nothing was changed. Try again.";
  const approver: Actor = { userId: press.userId, ...(press.teamId ? { teamId: press.teamId } : {}) };
  const result = await apply(ctx, change, approver);
  log.info({ event: "approval_applied", outcome: result.state }, "An approved request was handled.");
  const updated = await finalise(ctx, press, meta, summary, result.state, press.userId, {
    emoji: result.emoji,
    text: `Approved by <@${press.userId}>. ${result.text}`,
  });
  // After the request shows the outcome: the Home's reads must not hold the message at "being applied".
  await ctx.onApplied(approver);
  return updated
    ? result.text
    : `${result.text} The request message could not be updated, but the outcome above stands.`;
}

/**
 * A request left "applying" for longer than any apply can take: its replica stopped mid-way. Another
 * approval may take it over, since every apply re-checks Convai first and reports what is already there.
 */
function isStalled(ctx: Ctx, meta: RequestMeta): boolean {
  if (meta.state !== "applying") return false;
  const now = Date.now();
  if (meta.applying_until !== undefined) return now > meta.applying_until;
  if (meta.applying_at !== undefined) return now - meta.applying_at > ctx.stall.minMs;
  // Marked by a version that recorded no time: only once the request expired can nothing be running.
  return now >= meta.expires_at;
}

/** The longest an apply of `change` can take: twice its Convai calls at their deadline, at least minMs. */
function stallBound(ctx: Ctx, change: PendingChange): number {
  const rounds = (n: number) => Math.ceil(n / MAX_PARALLEL_UPDATES);
  const calls =
    change.kind === "assign"
      ? 4 + rounds(change.characters.length)
      : change.kind === "deregister"
        ? 8 + rounds(change.characters.count)
        : 8;
  return Math.max(ctx.stall.minMs, 2 * calls * ctx.stall.callTimeoutMs);
}

/** Replaces the message's state (and drops the sealed change once decided). */
async function mark(ctx: Ctx, press: Press, meta: RequestMeta, summary: RequestSummary): Promise<boolean> {
  const message =
    meta.state === "applying"
      ? decidedMessage(
          summary,
          { emoji: ":gear:", text: `Being applied, approved by <@${press.userId}>…` },
          { sandbox: ctx.sandbox },
        )
      : undefined;
  try {
    await ctx.client.chat.update({
      channel: press.channel,
      ts: press.ts,
      ...(message ?? { text: "" }),
      metadata: { event_type: REQUEST_EVENT, event_payload: meta },
    });
    return true;
  } catch (error) {
    ctx.log.warn({ error: slackErrorCode(error) }, "Could not update an approval request message.");
    return false;
  }
}

async function finalise(
  ctx: Ctx,
  press: Press,
  meta: RequestMeta,
  summary: RequestSummary,
  state: RequestMeta["state"],
  by: string | undefined,
  outcome: { emoji: string; text: string },
): Promise<boolean> {
  // The sealed change is dropped: once decided, the (encrypted) key no longer needs to exist anywhere.
  const { sealed: _sealed, ...rest } = meta;
  const next: RequestMeta = { ...rest, state, ...(by ? { decided_by: by } : {}) };
  const message = decidedMessage(summary, outcome, { sandbox: ctx.sandbox });
  try {
    await ctx.client.chat.update({
      channel: press.channel,
      ts: press.ts,
      ...message,
      metadata: { event_type: REQUEST_EVENT, event_payload: next },
    });
    return true;
  } catch (error) {
    ctx.log.warn(
      { error: slackErrorCode(error) },
      "Could not update an approval request message with its outcome; the outcome stands.",
    );
    return false;
  }
}

interface Applied {
  state: "approved" | "failed";
  emoji: string;
  text: string;
}

/**
 * Re-checks the change against Convai's current lists, then applies it through the ordinary workflow.
 * A change already in place (another replica applied it, or someone did it by hand) is reported as
 * already applied, never as a failure.
 */
async function apply(ctx: Ctx, change: PendingChange, approver: Actor): Promise<Applied> {
  const requester: Actor = change.requester;
  if (change.kind === "assign") return applyAssign(ctx, change, approver);
  const group = change.kind === "register" ? change.input.model_group_name : change.group;
  const found = await ctx.service.get(group);
  if (!found.ok && found.reason === "failed") return failed(`Not applied: ${found.message}`);
  const current = found.ok ? found.model : undefined;
  switch (change.kind) {
    case "register": {
      if (current) return current.model_name === change.input.model_name ? ALREADY : MOVED;
      const outcome = await ctx.service.register(requester, change.input, {
        verify: change.verify,
        keyRef: change.keyRef,
        approver,
      });
      if (!outcome.ok && outcome.reason === "fields" && outcome.errors.model_group_name) return ALREADY;
      return described(outcome);
    }
    case "update": {
      if (!current) return MOVED;
      if (!sameAs(current, change.before)) {
        const { changes } = diffUpdate(current, group, { ...change.request, api_key: undefined });
        return changes.length === 0 && !change.request.api_key ? ALREADY : MOVED;
      }
      const outcome = await ctx.service.update(requester, group, change.request, {
        verify: change.verify,
        keyRef: change.keyRef,
        approver,
      });
      return described(outcome);
    }
    case "deregister": {
      if (!current) return ALREADY;
      if (!sameAs(current, change.before)) return MOVED;
      return applyDeregister(ctx, change, approver);
    }
  }
}

const ALREADY: Applied = {
  state: "approved",
  emoji: ":white_check_mark:",
  text: "Already applied: Convai already holds this change.",
};
const MOVED: Applied = failed(
  "Not applied: the model changed since the request was made. Ask the requester to submit it again.",
);

/**
 * An approved deregister: every character on the group now must have been on it when requested (some may
 * have moved away since), so a character put on it meanwhile is never stranded; the move target must
 * still exist, unchanged.
 */
async function applyDeregister(
  ctx: Ctx,
  change: Extract<PendingChange, { kind: "deregister" }>,
  approver: Actor,
): Promise<Applied> {
  const group = change.group;
  const plan = await ctx.characters.planDeregister({ group, moveTo: change.moveTo });
  if (plan.kind === "unavailable") return failed(`Not applied: ${withoutPrefix(plan.message)}`);
  if (plan.kind === "refused") {
    return change.moveTo === undefined
      ? failed(
          `Not applied: characters started using ${group} since the request, so deregistering it would leave them without a model. ${AGAIN}`,
        )
      : failed(
          `Not applied: ${change.moveTo}, where the characters were to move, is no longer registered. ${AGAIN}`,
        );
  }
  const then = change.characters;
  // Characters that left the group meanwhile (another replica, or by hand) strand no one; a new one would.
  if (
    !amongRequested(
      plan.on.map((c) => c.character_id),
      then,
    )
  ) {
    return failed(
      `Not applied: the characters using ${group} changed since the request (${then.count} then, ${plan.on.length} now), so deregistering it could leave a character without a model. ${AGAIN}`,
    );
  }
  if (change.target && plan.target && plan.on.length > 0 && !sameAs(plan.target, change.target)) {
    return failed(
      `Not applied: ${change.moveTo}, where the characters were to move, changed since the request. ${AGAIN}`,
    );
  }
  const outcome = await ctx.characters.applyDeregister(change.requester, plan, { approver });
  return deregisterApplied(ctx, group, outcome);
}

async function deregisterApplied(ctx: Ctx, group: string, outcome: SafeDeregisterOutcome): Promise<Applied> {
  switch (outcome.kind) {
    case "refused":
      return failed(`Not applied: ${Object.values(outcome.errors).join(" ")}`);
    case "unavailable":
      return failed(`Not applied: ${outcome.message}`);
    case "kept": {
      const moves = movesOutcome(outcome.moves);
      return {
        state: "failed",
        emoji: ":warning:",
        text: `Not deregistered: not every character moved, so ${group} stays registered. ${moves.text}`,
      };
    }
    case "attempted": {
      const moved = outcome.moves ? ` ${movesOutcome(outcome.moves).text}` : "";
      const change = outcome.change;
      if (!change.ok && change.reason === "failed") {
        // The race with another replica: the later deregister meets a 404, and the list no longer has it.
        const after = await ctx.service.get(group);
        if (!after.ok && after.reason === "not_found") return { ...ALREADY, text: `${ALREADY.text}${moved}` };
        if (outcome.moves) {
          return failed(
            `The characters moved, but the deregister did not go through, so ${group} stays registered: ${change.message}${moved}`,
          );
        }
      }
      const result = described(change);
      return { ...result, text: `${result.text}${moved}` };
    }
  }
}

/**
 * An approved assign: every character must still be on the model it was on when requested (or already on
 * the target); the group must still be registered. Then the ordinary assign runs on the fresh plan.
 */
async function applyAssign(
  ctx: Ctx,
  change: Extract<PendingChange, { kind: "assign" }>,
  approver: Actor,
): Promise<Applied> {
  const group = change.group;
  const plan = await ctx.characters.planAssign({ group, characterIds: change.characters.map((c) => c.id) });
  if (!plan.ok) {
    switch (plan.code) {
      case "already":
        return ALREADY;
      case "unknown_character":
        return failed(
          `Not applied: a character in the request is no longer in this Convai account (deleted since?). ${AGAIN}`,
        );
      case "unknown_group":
        return failed(`Not applied: ${group} is no longer registered. ${AGAIN}`);
      default:
        return failed(
          `Not applied: ${plan.reason === "fields" ? Object.values(plan.errors).join(" ") : withoutPrefix(plan.message)}`,
        );
    }
  }
  if (change.model && !sameAs(plan.model, change.model)) {
    return failed(`Not applied: ${group} changed since the request (its model or endpoint). ${AGAIN}`);
  }
  const byId = new Map(plan.chosen.map((c) => [c.character_id, c]));
  const changed = change.characters.flatMap((c) => {
    const now = byId.get(c.id);
    return now && now.model !== c.before && now.model !== group ? [now] : [];
  });
  if (changed.length > 0) {
    const names = changed.slice(0, 5).map((c) => `${characterName(c)} (now on ${c.model ?? "no model"})`);
    return failed(
      `Not applied: ${changed.length === 1 ? "a character" : `${changed.length} characters`} moved to another model since the request: ${names.join(", ")}${changed.length > 5 ? "…" : ""}. Ask the requester to submit it again.`,
    );
  }
  const outcome = await ctx.characters.applyAssign(change.requester, plan, { approver });
  if (!outcome.ok) {
    return failed(
      `Not applied: ${outcome.reason === "fields" ? Object.values(outcome.errors).join(" ") : outcome.message}`,
    );
  }
  const moves = movesOutcome(outcome.report);
  return moves.complete
    ? { state: "approved", emoji: ":white_check_mark:", text: `Applied: ${moves.text}` }
    : { state: "failed", emoji: ":warning:", text: `Partly applied: ${moves.text}` };
}

const AGAIN = "Ask the requester to submit it again.";

/** A domain message as the request shows it after "Not applied: " (which already says nothing changed). */
function withoutPrefix(message: string): string {
  return message.replace(/^Nothing was (changed|deregistered): /, "");
}

function failed(text: string): Applied {
  return { state: "failed", emoji: ":x:", text };
}

function described(outcome: ChangeOutcome): Applied {
  if (outcome.ok) {
    const tx = outcome.transactionID ? ` (Convai transaction \`${outcome.transactionID}\`)` : "";
    return {
      state: "approved",
      emoji: ":white_check_mark:",
      text: `Applied${tx}.${outcome.recovered ? ` ${outcome.recovered}` : ""}`,
    };
  }
  if (outcome.reason === "fields") return failed(`Not applied: ${Object.values(outcome.errors).join(" ")}`);
  const tx = outcome.transactionID ? ` (Convai transaction \`${outcome.transactionID}\`)` : "";
  return outcome.reason === "unknown"
    ? { state: "failed", emoji: ":warning:", text: `Not confirmed: ${outcome.message}${tx}` }
    : failed(`Not applied: ${outcome.message}`);
}
