/**
 * Characters, the models' users (SPEC §10): who uses which custom LLM, putting characters on a model
 * (assign), and the safe deregister that moves a group's characters away first. Inputs are plain data
 * (group, character ids, target) so a request can be kept and replayed later; only bugs throw.
 */
import { isBuiltInModelCode } from "../convai/built-in-models.js";
import type {
  ConvaiCharacter,
  ConvaiClient,
  ConvaiModel,
  ConvaiResult,
  ReadOptions,
} from "../convai/types.js";
import { mapLimit } from "../lib/async.js";
import type { Logger } from "../logger.js";
import { characterName } from "./character-text.js";
import {
  type Actor,
  type ChangeOutcome,
  describeFailure,
  type LlmService,
  type Notifier,
  type NotifyResult,
  tx,
} from "./outcome.js";

/** `/character/update` calls in flight at once for one assign or move (SPEC §10: bounded). */
export const MAX_PARALLEL_UPDATES = 4;
/** Characters one assign may name: a multi-select offers at most 100 options. */
export const MAX_ASSIGN = 100;

/** The form fields a character request can point an error at. */
export type CharacterField = "characters" | "move_to";
export type CharacterFieldErrors = Partial<Record<CharacterField, string>>;

export { characterName } from "./character-text.js";

/** Each model's characters' names (sorted), keyed by the model code or group they are on. */
export function usageOf(characters: readonly ConvaiCharacter[]): ReadonlyMap<string, readonly string[]> {
  const byModel = new Map<string, string[]>();
  for (const c of characters) {
    if (c.model === undefined) continue;
    const names = byModel.get(c.model) ?? [];
    names.push(characterName(c));
    byModel.set(c.model, names);
  }
  for (const names of byModel.values()) names.sort((a, b) => a.localeCompare(b));
  return byModel;
}

/** One character's fate in an assign or a move, as the re-read after it shows. */
export type CharacterResult = {
  id: string;
  name: string;
  /** The model it was on before (undefined: Convai reported none). */
  before?: string;
} & (
  | { status: "moved" }
  /** Already on the target: nothing was sent for it. */
  | { status: "already" }
  | { status: "failed"; reason: string }
  /** The update may or may not have applied, and the re-read could not tell. */
  | { status: "unknown"; reason: string }
);

export interface MoveReport {
  target: string;
  results: CharacterResult[];
  /** Set when the character list could not be re-read after the updates. */
  rereadError?: string;
  /** For a move off a group: characters the re-read still shows on it (one added meanwhile, say). */
  leftOn?: string[];
}

/** What the channel announcement of character moves says. */
export interface CharacterRecord {
  action: "assign" | "move";
  actor: Actor;
  target: string;
  /** For a move: the group being deregistered. */
  from?: string;
  moves: Array<{ name: string; before?: string; after: string }>;
  /** The manager who approved the request, when approvals are on (SPEC §13). */
  approver?: Actor;
}

export type AssignOutcome =
  | { ok: true; group: string; report: MoveReport; notify: NotifyResult }
  | { ok: false; reason: "fields"; errors: CharacterFieldErrors }
  | { ok: false; reason: "failed"; message: string; transactionID?: string };

/** A deregister that moves the group's characters first (SPEC §10). */
export type SafeDeregisterOutcome =
  | { kind: "refused"; errors: CharacterFieldErrors }
  | { kind: "unavailable"; message: string; transactionID?: string }
  /** Some character did not move: nothing was deregistered. */
  | { kind: "kept"; group: string; moves: MoveReport; notify: NotifyResult }
  /** Every character moved (or none used it); the deregister was attempted and `change` says how it went. */
  | { kind: "attempted"; change: ChangeOutcome; moves?: MoveReport; notify?: NotifyResult };

export interface AssignRequest {
  group: string;
  characterIds: readonly string[];
}
export interface SafeDeregisterRequest {
  group: string;
  /** Required when any character uses the group: a built-in model code or another custom LLM. */
  moveTo?: string | undefined;
}

/**
 * An assign checked against Convai's lists but not yet applied: the characters chosen, as Convai holds
 * them now. An approval request is made from one, and an approval re-plans and compares (SPEC §13).
 */
export type AssignPlan =
  | {
      ok: true;
      group: string;
      chosen: ConvaiCharacter[];
      /** The target model as Convai lists it: an approval compares it with the one the request saw. */
      model: ConvaiModel;
      /** When planning began (epoch ms): the audit line's duration covers the reads too. */
      started: number;
    }
  | {
      ok: false;
      reason: "fields";
      /** `already`: every chosen character is on the group; `unknown_character`: one is gone. */
      code: "none" | "too_many" | "unknown_character" | "already";
      errors: CharacterFieldErrors;
    }
  | {
      ok: false;
      reason: "failed";
      code: "unreadable" | "unknown_group";
      message: string;
      transactionID?: string;
    };

/** A safe deregister checked against Convai's lists: the characters to move and where, not yet sent. */
export type DeregisterPlan =
  | Extract<SafeDeregisterOutcome, { kind: "refused" | "unavailable" }>
  | {
      kind: "ready";
      group: string;
      /** The characters on the group now; empty when none uses it. */
      on: ConvaiCharacter[];
      moveTo?: string;
      /** The model as Convai lists it; absent when it is not registered (the deregister will say so). */
      model?: ConvaiModel;
      /** The custom LLM the characters move to, as Convai lists it (absent for a built-in code). */
      target?: ConvaiModel;
      /** When planning began (epoch ms): the audit line's duration covers the reads too. */
      started: number;
    };

/** Who applies a change on whose approval: the approver is named in the announcement (SPEC §13). */
export interface ApplyOptions {
  approver?: Actor | undefined;
}

export interface CharacterService {
  list(options?: ReadOptions): Promise<ConvaiResult<ConvaiCharacter[]>>;
  planAssign(request: AssignRequest): Promise<AssignPlan>;
  /** Applies a plan as it stands: no re-read before the updates, so a caller re-plans when time has passed. */
  applyAssign(
    actor: Actor,
    plan: Extract<AssignPlan, { ok: true }>,
    options?: ApplyOptions,
  ): Promise<AssignOutcome>;
  assign(actor: Actor, request: AssignRequest): Promise<AssignOutcome>;
  planDeregister(request: SafeDeregisterRequest): Promise<DeregisterPlan>;
  applyDeregister(
    actor: Actor,
    plan: Extract<DeregisterPlan, { kind: "ready" }>,
    options?: ApplyOptions,
  ): Promise<SafeDeregisterOutcome>;
  deregister(actor: Actor, request: SafeDeregisterRequest): Promise<SafeDeregisterOutcome>;
}

export interface CharacterServiceOptions {
  convai: ConvaiClient;
  llm: LlmService;
  notify: Notifier;
  logger: Logger;
}

interface Ctx extends CharacterServiceOptions {
  log: Logger;
}

export function createCharacterService(options: CharacterServiceOptions): CharacterService {
  const ctx: Ctx = { ...options, log: options.logger.child({ component: "characters" }) };
  return {
    list: (options) => ctx.convai.listCharacters(options),
    planAssign: (request) => planAssign(ctx, request),
    applyAssign: (actor, plan, options) => applyAssign(ctx, actor, plan, options),
    assign: async (actor, request) => {
      const plan = await planAssign(ctx, request, actor);
      return plan.ok ? applyAssign(ctx, actor, plan) : plan;
    },
    planDeregister: (request) => planDeregister(ctx, request),
    applyDeregister: (actor, plan, options) => applyDeregister(ctx, actor, plan, options),
    deregister: async (actor, request) => {
      const plan = await planDeregister(ctx, request, actor);
      return plan.kind === "ready" ? applyDeregister(ctx, actor, plan) : plan;
    },
  };
}

function audit(
  ctx: Ctx,
  entry: { action: string; actor: Actor; group: string; started: number; outcome: string },
  extra: Record<string, unknown>,
): void {
  ctx.log.info(
    {
      event: "audit",
      action: entry.action,
      actor: entry.actor.userId,
      team: entry.actor.teamId,
      group: entry.group,
      ...extra,
      outcome: entry.outcome,
      durationMs: Date.now() - entry.started,
    },
    `Character ${entry.action} ${entry.outcome}.`,
  );
}

/** Counts of a report for the audit line, and its one-word outcome. */
function summary(report: MoveReport): { counts: Record<string, number>; outcome: string } {
  const counts = { moved: 0, already: 0, failed: 0, unknown: 0 };
  for (const r of report.results) counts[r.status] += 1;
  const outcome =
    counts.failed + counts.unknown === 0 ? "succeeded" : counts.moved > 0 ? "partly succeeded" : "failed";
  return { counts, outcome };
}

/**
 * Checks an assign against Convai's current lists without changing anything. `actor` is given when the
 * plan is applied at once: its refusals are then audited like the change they stop.
 */
async function planAssign(ctx: Ctx, request: AssignRequest, actor?: Actor): Promise<AssignPlan> {
  const started = Date.now();
  const group = request.group;
  const ids = [...new Set(request.characterIds)];
  const log = (outcome: string) => {
    if (actor) audit(ctx, { action: "assign", actor, group, started, outcome }, { characters: ids.length });
  };
  if (ids.length === 0) {
    log("refused: no character chosen");
    return {
      ok: false,
      reason: "fields",
      code: "none",
      errors: { characters: "Choose at least one character." },
    };
  }
  if (ids.length > MAX_ASSIGN) {
    log("refused: too many characters");
    return {
      ok: false,
      reason: "fields",
      code: "too_many",
      errors: { characters: `Choose at most ${MAX_ASSIGN} characters at a time.` },
    };
  }
  const [characters, models] = await Promise.all([ctx.convai.listCharacters(), ctx.convai.list()]);
  if (!characters.ok || !models.ok) {
    const failure = !characters.ok ? characters : models.ok ? undefined : models;
    log(`failed: ${failure?.kind ?? "unknown"}`);
    return {
      ok: false,
      reason: "failed",
      code: "unreadable",
      message:
        `Nothing was changed: the bot could not read ${!characters.ok ? "the characters" : "the models"} from Convai. ${failure ? describeFailure(failure) : ""}`.trim(),
      ...tx(failure?.transactionID),
    };
  }
  const model = models.data.find((m) => m.model_group_name === group);
  if (!model) {
    log("refused: unknown group");
    return {
      ok: false,
      reason: "failed",
      code: "unknown_group",
      message: `No custom LLM named ${group} is registered any more, so nothing was changed. Run list to see the registered models.`,
    };
  }
  const byId = new Map(characters.data.map((c) => [c.character_id, c]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    log("refused: unknown character");
    return {
      ok: false,
      reason: "fields",
      code: "unknown_character",
      errors: {
        characters: `${missing.length === 1 ? "One chosen character is" : `${missing.length} chosen characters are`} not in this Convai account (deleted since the form opened?): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? "…" : ""}. Nothing was changed; choose again.`,
      },
    };
  }
  const chosen = ids.flatMap((id) => {
    const c = byId.get(id);
    return c ? [c] : [];
  });
  if (chosen.every((c) => c.model === group)) {
    log("refused: already on the model");
    const names = chosen.map(characterName);
    return {
      ok: false,
      reason: "fields",
      code: "already",
      errors: {
        characters: `${names.length === 1 ? `${names[0]} is` : "Every chosen character is"} already on ${group}: there is nothing to change.`,
      },
    };
  }
  return { ok: true, group, chosen, model, started };
}

async function applyAssign(
  ctx: Ctx,
  actor: Actor,
  plan: Extract<AssignPlan, { ok: true }>,
  options: ApplyOptions = {},
): Promise<AssignOutcome> {
  const { group, chosen, started } = plan;
  const report = await moveAll(ctx, chosen, group);
  const approver = options.approver ? { approver: options.approver } : {};
  const notify = await announce(ctx, { action: "assign", actor, target: group, ...approver }, report);
  const { counts, outcome } = summary(report);
  audit(
    ctx,
    { action: "assign", actor, group, started, outcome },
    {
      characters: chosen.length,
      ...(options.approver ? { approver: options.approver.userId } : {}),
      ...counts,
    },
  );
  return { ok: true, group, report, notify };
}

/** Announces the characters that moved; nothing when none did. */
async function announce(
  ctx: Ctx,
  head: Omit<CharacterRecord, "moves">,
  report: MoveReport,
): Promise<NotifyResult> {
  const moves = report.results.flatMap((r) =>
    r.status === "moved"
      ? [{ name: r.name, ...(r.before !== undefined ? { before: r.before } : {}), after: report.target }]
      : [],
  );
  if (moves.length === 0) return { posted: "disabled" };
  return ctx.notify({ ...head, moves });
}

type Sent = { status: "ok" } | { status: "failed"; reason: string } | { status: "ambiguous"; reason: string };

/**
 * Puts every character on `target`: characters already there are left alone, the others get one
 * `/character/update` each (at most MAX_PARALLEL_UPDATES at once, none re-sent), then one re-read of
 * the character list says what each one is on now.
 */
export async function moveAll(
  ctx: Pick<Ctx, "convai" | "log">,
  characters: readonly ConvaiCharacter[],
  target: string,
  from?: string,
): Promise<MoveReport> {
  const todo = characters.filter((c) => c.model !== target);
  const sent = await mapLimit(todo, MAX_PARALLEL_UPDATES, async (c): Promise<Sent> => {
    const res = await ctx.convai.setCharacterModel(c.character_id, target);
    if (res.ok) return { status: "ok" };
    const reason = describeFailure(res);
    return res.ambiguous ? { status: "ambiguous", reason } : { status: "failed", reason };
  });
  const outcomeOf = new Map(todo.map((c, i) => [c.character_id, sent[i]]));
  const again = todo.length > 0 ? await ctx.convai.listCharacters() : undefined;
  const now = again?.ok ? new Map(again.data.map((c) => [c.character_id, c.model])) : undefined;
  const rereadError = again && !again.ok ? describeFailure(again) : undefined;
  if (rereadError) {
    ctx.log.warn({ target }, "Could not re-read the character list after moving characters.");
  }
  const results = characters.map((c): CharacterResult => {
    const base = {
      id: c.character_id,
      name: characterName(c),
      ...(c.model !== undefined ? { before: c.model } : {}),
    };
    const s = outcomeOf.get(c.character_id);
    if (s === undefined) return { ...base, status: "already" };
    return { ...base, ...judge(s, c, target, now) };
  });
  const moving = new Set(todo.map((c) => c.character_id));
  const leftOn =
    from !== undefined && again?.ok
      ? again.data.filter((c) => c.model === from && !moving.has(c.character_id)).map(characterName)
      : [];
  return {
    target,
    results,
    ...(rereadError ? { rereadError } : {}),
    ...(leftOn.length > 0 ? { leftOn } : {}),
  };
}

/** What one update did, from its answer and the re-read (undefined when the re-read failed). */
function judge(
  sent: Sent,
  before: ConvaiCharacter,
  target: string,
  now: ReadonlyMap<string, string | undefined> | undefined,
): { status: "moved" } | { status: "failed"; reason: string } | { status: "unknown"; reason: string } {
  if (sent.status === "failed") return sent;
  const current = now?.get(before.character_id);
  const listed = now?.has(before.character_id) ?? false;
  if (sent.status === "ok") {
    // Convai said yes; a re-read that shows otherwise is reported, not hidden.
    if (now === undefined || current === target) return { status: "moved" };
    if (!listed)
      return { status: "unknown", reason: "Convai accepted it, but the character is no longer listed." };
    return {
      status: "unknown",
      reason: `Convai accepted it, but the character list still shows ${current ?? "no model"}.`,
    };
  }
  if (now === undefined) {
    return {
      status: "unknown",
      reason: `${sent.reason} The character list could not be re-read to check; look before trying again.`,
    };
  }
  if (current === target) return { status: "moved" };
  if (listed && current === before.model) {
    return { status: "failed", reason: `${sent.reason} The character list shows nothing changed.` };
  }
  return {
    status: "unknown",
    reason: `${sent.reason} The character list now shows ${current ?? "no model"}.`,
  };
}

/** Why a move target cannot be used, or undefined when it can. */
function targetProblem(group: string, moveTo: string, models: readonly ConvaiModel[]): string | undefined {
  if (moveTo === group) return `Choose another model than ${group}: it is the one being deregistered.`;
  if (isBuiltInModelCode(moveTo)) return undefined;
  if (models.some((m) => m.model_group_name === moveTo)) return undefined;
  return `No custom LLM named ${moveTo} is registered any more. Choose another model; nothing was changed.`;
}

/**
 * Checks a deregister against Convai's lists: which characters use the group, and whether `moveTo` can
 * take them. Nothing is sent. `actor` is given when the plan is applied at once (its refusals are audited).
 */
async function planDeregister(
  ctx: Ctx,
  request: SafeDeregisterRequest,
  actor?: Actor,
): Promise<DeregisterPlan> {
  const started = Date.now();
  const { group, moveTo } = request;
  const log = (outcome: string) => {
    if (actor) audit(ctx, { action: "move", actor, group, started, outcome }, { moveTo });
  };
  const [characters, models] = await Promise.all([ctx.convai.listCharacters(), ctx.convai.list()]);
  if (!characters.ok) {
    log(`failed: ${characters.kind}`);
    return {
      kind: "unavailable",
      message: `Nothing was deregistered: the bot could not read which characters use ${group}. ${describeFailure(characters)}`,
      ...tx(characters.transactionID),
    };
  }
  const on = characters.data.filter((c) => c.model === group);
  const model = models.ok ? models.data.find((m) => m.model_group_name === group) : undefined;
  const found = model ? { model } : {};
  if (on.length === 0) return { kind: "ready", group, on, ...found, started };
  if (!models.ok) {
    log(`failed: ${models.kind}`);
    return {
      kind: "unavailable",
      message: `Nothing was deregistered: the bot could not read the models from Convai. ${describeFailure(models)}`,
      ...tx(models.transactionID),
    };
  }
  // Not registered: the deregister itself reports it; moving characters for it would make no sense.
  if (!model) return { kind: "ready", group, on: [], started };
  const count = `${on.length} character${on.length === 1 ? " uses" : "s use"} ${group}`;
  if (!moveTo) {
    log("refused: no move_to");
    return { kind: "refused", errors: { move_to: `${count}: choose the model to move them to first.` } };
  }
  const problem = targetProblem(group, moveTo, models.data);
  if (problem) {
    log("refused: bad move_to");
    return { kind: "refused", errors: { move_to: problem } };
  }
  const target = models.data.find((m) => m.model_group_name === moveTo);
  return { kind: "ready", group, on, moveTo, model, ...(target ? { target } : {}), started };
}

/**
 * Deregister that silences no one: the plan's characters move to its `moveTo` first, and the deregister
 * is sent only when every one of them moved and none is left on the group.
 */
async function applyDeregister(
  ctx: Ctx,
  actor: Actor,
  plan: Extract<DeregisterPlan, { kind: "ready" }>,
  options: ApplyOptions = {},
): Promise<SafeDeregisterOutcome> {
  const { group, on, moveTo, started } = plan;
  const approver = options.approver ? { approver: options.approver } : {};
  if (on.length === 0) {
    return { kind: "attempted", change: await ctx.llm.deregister(actor, group, approver) };
  }
  // planDeregister never builds this; a hand-made plan must not strand the group's characters.
  if (moveTo === undefined) {
    return { kind: "refused", errors: { move_to: "Choose the model to move the characters to first." } };
  }
  const moves = await moveAll(ctx, on, moveTo, group);
  const notify = await announce(
    ctx,
    { action: "move", actor, target: moveTo, from: group, ...approver },
    moves,
  );
  const { counts, outcome } = summary(moves);
  audit(
    ctx,
    { action: "move", actor, group, started, outcome },
    { moveTo, ...(options.approver ? { approver: options.approver.userId } : {}), ...counts },
  );
  if (outcome !== "succeeded" || moves.rereadError || moves.leftOn)
    return { kind: "kept", group, moves, notify };
  return { kind: "attempted", change: await ctx.llm.deregister(actor, group, approver), moves, notify };
}
