import type {
  ConvaiFailure,
  ConvaiModel,
  ConvaiResult,
  ReadOptions,
  RegisterInput,
  UpdatableField,
} from "../convai/types.js";
import type { ProbeInput, ProbeResult, ProbeStep } from "../probe/probe.js";
import type { CharacterRecord } from "./characters.js";
import type { FieldErrors } from "./fields.js";

export type { FieldErrors, ProbeResult, ProbeStep };
/** The endpoint test, injectable so the domain never depends on the network directly. */
export type ProbeFn = (input: ProbeInput) => Promise<ProbeResult>;

export type Action = "register" | "update" | "deregister";

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

/** What a channel announcement says of one change. */
export interface ChangeRecord {
  action: Action;
  actor: Actor;
  group: string;
  /** The model as Convai holds it after the change (before it, for a deregister). */
  model?: ConvaiModel;
  changes: FieldChange[];
  transactionID?: string;
  /** The manager who approved the change, when approvals are on (SPEC §13). */
  approver?: Actor;
}

/** Options of one change; `approver` is set when an approved request is applied (SPEC §13). */
/** Posts one announcement: a model change, or characters moved between models. */
export type Notifier = (change: ChangeRecord | CharacterRecord) => Promise<NotifyResult>;

/** The facts of a change's outcome, free of wording: each surface renders them its own way. */
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

/** An update as the form asked for it: absent fields are kept as Convai holds them. */
export interface UpdateRequest {
  model_name?: string;
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: boolean;
}

/** How a register or update runs: test the endpoint first, and which `env:` secret the key came from. */
export interface ChangeOptions {
  verify: boolean;
  /** The CONVAI_SECRET_* name when the key was given as `env:NAME`; it may only go to its listed hosts. */
  keyRef?: string | undefined;
  /** Set when the change is applied on another manager's approval (SPEC §13). */
  approver?: Actor | undefined;
}

/**
 * A change checked as it would be before sending (URL normalised, the key's hosts, the endpoint test, for an
 * update what differs from Convai's model) but not sent: an approval request is made from one (SPEC §13).
 */
export type Checked<T = object> =
  | ({ ok: true; changes: FieldChange[] } & T)
  | Extract<ChangeOutcome, { ok: false }>;

export interface LlmService {
  list(options?: ReadOptions): Promise<ConvaiResult<ConvaiModel[]>>;
  get(group: string): Promise<LookupOutcome>;
  checkRegister(actor: Actor, input: RegisterInput, opts: ChangeOptions): Promise<Checked>;
  checkUpdate(
    actor: Actor,
    group: string,
    request: UpdateRequest,
    opts: ChangeOptions,
  ): Promise<Checked<{ before: ConvaiModel }>>;
  register(actor: Actor, input: RegisterInput, opts: ChangeOptions): Promise<ChangeOutcome>;
  update(actor: Actor, group: string, request: UpdateRequest, opts: ChangeOptions): Promise<ChangeOutcome>;
  deregister(actor: Actor, group: string, opts?: { approver?: Actor | undefined }): Promise<ChangeOutcome>;
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

/** Why a change's outcome is unknown, in words: the start of the message after the re-read. */
export function ambiguousCause(f: ConvaiFailure): string {
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

export function tx(transactionID: string | undefined): { transactionID?: string } {
  return transactionID ? { transactionID } : {};
}
