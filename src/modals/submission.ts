import type { ViewOutput, ViewResponseAction } from "@slack/bolt";
import type { KnownBlock, ModalView } from "@slack/types";
import type { WebClient } from "@slack/web-api";
import { FORM_FIELDS } from "../convai/types.js";
import type { Deps } from "../deps.js";
import type { Actor, ChangeOutcome } from "../domain/outcome.js";
import { settledWithin } from "../lib/async.js";
import { slackErrorCode } from "../slack/authz.js";
import { withSandbox } from "../slack/blocks.js";
import { CALLBACK, type CallbackId, FIELD, type FieldId } from "../slack/ids.js";
import { mrkdwn } from "../slack/text.js";
import { decodeMetadata, type ModalMetadata } from "./metadata.js";
import { failureBlocks, refusalBlocks, successBlocks } from "./outcome-ui.js";
import { messageModal, workingModal } from "./ui.js";

/**
 * What every change submission shares: the metadata and permission check before anything is read,
 * and the way its outcome reaches the user (in the ack when quick, else a working view then
 * views.update, else a DM when the modal is gone).
 */

const WORKING_TEXT = {
  register: "Registering the model with Convai (and testing the endpoint first, when asked).",
  update: "Updating the model at Convai (and testing the endpoint first, when asked).",
  deregister: "Moving the model's characters (when it has any) and then deregistering the model at Convai.",
  assign: "Putting the characters on the model at Convai, at most four at a time.",
} as const;

/** What the DM says the change was, when the modal is gone. */
const SUBJECT = {
  register: "register of a custom LLM",
  update: "update of a custom LLM",
  deregister: "deregister of a custom LLM",
  assign: "character assignment",
} as const;

export type Kind = keyof typeof WORKING_TEXT;

/** Field errors keyed by any input block the bot's modals have. */
export type SubmitErrors = Partial<Record<FieldId, string>>;

/**
 * An outcome as the submission plumbing handles it, whatever the modal: an outcome view to show, field
 * errors to put back on the form, or a failure that changed nothing (or could not be confirmed).
 */
export type Presented =
  | { ok: true; title: string; blocks: KnownBlock[] }
  | { ok: false; reason: "fields"; errors: SubmitErrors }
  | { ok: false; reason: "failed" | "unknown"; message: string; transactionID?: string | undefined };

/** A model change's outcome as the plumbing shows it. */
export function presentChange(deps: Deps, outcome: ChangeOutcome): Presented {
  if (!outcome.ok) return outcome;
  return { ok: true, ...successBlocks(outcome, { notifyChannel: deps.config.notifyChannel }) };
}

type Ack = (response?: ViewResponseAction) => Promise<void>;

export interface Submission {
  deps: Deps;
  client: WebClient;
  kind: Kind;
  actor: Actor;
  view: ViewOutput;
  ack: Ack;
  /** When the submission reached the bot: Slack's 3-second window counts from here. */
  arrived: number;
  /** Starts the change; never called once the window has passed, so no change lands unseen. */
  work: () => Promise<Presented>;
  /** The form again, as the user typed it (never the key), with errors under their fields. */
  restore(errors: SubmitErrors, banner?: KnownBlock[]): Promise<ModalView | undefined>;
}

export type Prologue =
  | { ok: true; actor: Actor; meta: ModalMetadata }
  | { ok: false; ack: ViewResponseAction };

/** Checks what every submission must pass before anything is read: metadata and permission. */
export async function prologue(
  deps: Deps,
  kind: Kind,
  body: { user: { id: string; team_id?: string }; team: { id: string } | null },
  view: ViewOutput,
): Promise<Prologue> {
  const callbackId = CALLBACK[kind];
  const actor: Actor = { userId: body.user.id, teamId: body.team?.id ?? body.user.team_id };
  const log = deps.logger.child({ userId: actor.userId, modal: kind });
  const meta = decodeMetadata(view.private_metadata);
  if (!meta.ok) {
    log.warn({ reason: meta.reason }, "Refused a submission with forged or unreadable private_metadata.");
    return { ok: false, ack: { response_action: "update", view: stale(deps, callbackId) } };
  }
  // Checked on every submission, not only when the modal opened (SPEC §5).
  const permission = await deps.authz.canManage(actor.userId);
  if (!permission.ok) {
    log.warn(
      { event: "refused", managersFrom: deps.authz.source },
      "Refused a submission from a user who may not change models.",
    );
    return {
      ok: false,
      ack: {
        response_action: "update",
        view: messageModal(deps.view, callbackId, "Not allowed", refusalBlocks(permission.message)),
      },
    };
  }
  return { ok: true, actor, meta: meta.meta };
}

export function stale(deps: Deps, callbackId: CallbackId): ModalView {
  return messageModal(
    deps.view,
    callbackId,
    "Form expired",
    failureBlocks(
      "This form could not be read (it may be from an older version of the bot). Run the command again.",
    ),
  );
}

export function withBanner(view: ModalView, banner?: KnownBlock[]): ModalView {
  return banner && banner.length > 0 ? { ...view, blocks: [...banner, ...view.blocks] } : view;
}

/**
 * Waits for the outcome inside Slack's 3-second window; when it does not come in time, the modal
 * switches to a "working" view and the outcome arrives with views.update.
 */
// Over 80 lines on purpose: it is one timeline (window check, ack, wait, views.update or DM), easier to
// check for a lost outcome when read top to bottom than split across helpers.
export async function settle(submission: Submission): Promise<void> {
  const { deps, kind, actor, arrived } = submission;
  const log = deps.logger.child({ userId: actor.userId, modal: kind });
  const ack = safeAck(submission.ack, log);
  const left = deps.submitBudgetMs - (Date.now() - arrived);
  if (left <= 0) {
    // The permission check (users.info) took the window: a change started now could never be shown,
    // so none starts, and the user learns that nothing changed even if the ack comes too late.
    log.warn(
      { elapsedMs: Date.now() - arrived },
      "Did not start a change: Slack's 3-second window had passed.",
    );
    const message =
      "Nothing was changed: checking your permission took too long for Slack's 3-second limit. Submit again.";
    const refused = messageModal(deps.view, CALLBACK[kind], "Nothing changed", failureBlocks(message));
    if (await ack({ response_action: "update", view: refused })) return;
    await deliver(submission, log, refused, { ok: false, reason: "failed", message });
    return;
  }
  const work = submission.work();
  const quick = await settledWithin(work, left);
  if (quick) {
    if (!quick.ok && quick.reason === "fields") {
      // Errors in the ack are shown on the form as submitted: only its own blocks can carry them.
      const submitted = submittedFields(submission.view);
      const onForm = fitErrors(deps, kind, quick.errors, submitted);
      if (await ack({ response_action: "errors", errors: onForm })) {
        // An error for a field this form lacks (the form is out of date): the form is rebuilt, with it.
        const missing = submitted && Object.keys(quick.errors).some((f) => !submitted.has(f));
        const rebuilt = missing ? await submission.restore(fitErrors(deps, kind, quick.errors)) : undefined;
        if (rebuilt) await deliver(submission, log, rebuilt, quick);
        return;
      }
      const restored = await submission.restore(fitErrors(deps, kind, quick.errors));
      const text = `Nothing was saved: ${Object.values(quick.errors).join(" ")}`;
      const next = restored ?? messageModal(deps.view, CALLBACK[kind], "Nothing saved", failureBlocks(text));
      return deliver(submission, log, next, quick);
    }
    if (!quick.ok) {
      const failed = messageModal(
        deps.view,
        CALLBACK[kind],
        failureTitle(quick),
        failureBlocks(quick.message, quick.transactionID),
      );
      // Pushed on top, so closing it returns to the form with everything the user typed.
      if (!(await ack({ response_action: "push", view: failed })))
        await deliver(submission, log, failed, quick);
      return;
    }
    const shown = messageModal(deps.view, CALLBACK[kind], quick.title, quick.blocks);
    // A change that went through is never lost behind a failed ack.
    if (!(await ack({ response_action: "update", view: shown })))
      await deliver(submission, log, shown, quick);
    await deps.onChange(actor);
    return;
  }

  // If this ack fails the work still finishes and its outcome still arrives below.
  await ack({
    response_action: "update",
    view: workingModal(deps.view, CALLBACK[kind], "Working…", WORKING_TEXT[kind]),
  });
  const outcome = await work;
  let next: ModalView | undefined;
  if (outcome.ok) {
    next = messageModal(deps.view, CALLBACK[kind], outcome.title, outcome.blocks);
  } else if (outcome.reason === "fields") {
    next = await submission.restore(fitErrors(deps, kind, outcome.errors), [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text:
            kind === "register" || kind === "update"
              ? ":x: Nothing was saved. Fix the field below; the API key must be entered again."
              : ":x: Nothing was changed. Fix the field below.",
        },
      },
    ]);
  } else {
    const banner = failureBlocks(outcome.message, outcome.transactionID);
    next = await submission.restore({}, banner);
    next ??= messageModal(deps.view, CALLBACK[kind], failureTitle(outcome), banner);
  }
  next ??= messageModal(
    deps.view,
    CALLBACK[kind],
    "Nothing saved",
    failureBlocks(
      [
        "Nothing was saved, and the form could not be rebuilt.",
        ...(!outcome.ok && outcome.reason === "fields" ? Object.values(outcome.errors) : []),
        "Run the command again.",
      ].join(" "),
    ),
  );
  await deliver(submission, log, next, outcome);
  if (outcome.ok) await deps.onChange(actor);
}

type Log = Submission["deps"]["logger"];

/** An ack that reports whether Slack got it: a late one throws (the receiver already answered). */
function safeAck(ack: Ack, log: Log): (response: ViewResponseAction) => Promise<boolean> {
  return async (response) => {
    try {
      await ack(response);
      return true;
    } catch (error) {
      log.warn(
        { error: String(error) },
        "Could not acknowledge the submission in time; the outcome follows by views.update or DM.",
      );
      return false;
    }
  };
}

/** Shows an outcome on the submitted modal, or in a DM when the modal is gone. */
async function deliver(submission: Submission, log: Log, next: ModalView, outcome: Presented): Promise<void> {
  const { deps, client, kind, actor, view } = submission;
  try {
    await client.views.update({ view_id: view.id, view: next });
  } catch (error) {
    // Usually the user closed the modal while it worked: the outcome still stands, so it goes to their DM.
    log.warn(
      { error: slackErrorCode(error), outcome: outcome.ok ? "succeeded" : outcome.reason },
      "Could not show the outcome with views.update; sending it as a direct message instead.",
    );
    await directMessage(deps, client, actor, kind, outcome);
  }
}

/** The outcome as a DM from the bot (its Messages tab), for a modal that is gone. */
async function directMessage(
  deps: Deps,
  client: WebClient,
  actor: Actor,
  kind: Kind,
  outcome: Presented,
): Promise<void> {
  const { title, blocks } = outcome.ok
    ? outcome
    : {
        title: failureTitle(outcome),
        blocks:
          outcome.reason === "fields"
            ? failureBlocks(`Nothing was saved: ${Object.values(outcome.errors).join(" ")}`)
            : failureBlocks(outcome.message, outcome.transactionID),
      };
  const heading = `Your ${SUBJECT[kind]}: ${title.toLowerCase()}.`;
  try {
    await client.chat.postMessage({
      channel: actor.userId,
      text: heading,
      blocks: withSandbox([{ type: "section", text: mrkdwn(`*${heading}*`) }, ...blocks], deps.view.sandbox),
      unfurl_links: false,
    });
  } catch (error) {
    deps.logger.error(
      { userId: actor.userId, error: slackErrorCode(error) },
      "Could not send the outcome as a direct message either; the user did not see it.",
    );
  }
}

/** The input block_ids a submitted view of this kind has (SPEC §3). */
/**
 * The input blocks of the view as submitted: Slack's view.state.values holds every one of them, filled or
 * not. A form may lack one its kind can have (a deregister form offers move_to only when characters use
 * the model, and one may have been put on it since the form opened).
 */
function submittedFields(view: ViewOutput): ReadonlySet<string> | undefined {
  const values = view.state?.values;
  return values && Object.keys(values).length > 0 ? new Set(Object.keys(values)) : undefined;
}

function formFields(deps: Deps, kind: Kind): ReadonlySet<string> {
  if (kind === "deregister") return new Set<string>([FIELD.confirm_group_name, FIELD.move_to]);
  if (kind === "assign") return new Set<string>([FIELD.characters]);
  const fields: readonly string[] = FORM_FIELDS[deps.view.prefix][kind];
  return new Set([...fields, FIELD.verify]);
}

/**
 * Slack refuses `errors` that name a block the view lacks (a /custom-llm display-name clash, a model the
 * endpoint does not serve on an update form without model_name): such messages go to the field the
 * user can act on instead, named so they still make sense there.
 */
export function fitErrors(
  deps: Deps,
  kind: Kind,
  errors: SubmitErrors,
  offered: ReadonlySet<string> = formFields(deps, kind),
): SubmitErrors {
  const fallback: FieldId = {
    deregister: FIELD.confirm_group_name,
    register: FIELD.model_group_name,
    update: FIELD.base_url,
    assign: FIELD.characters,
  }[kind];
  const out: SubmitErrors = {};
  for (const field of Object.values(FIELD)) {
    const message = errors[field];
    if (!message) continue;
    if (offered.has(field)) {
      out[field] = message;
    } else {
      const moved = `${field.replace(/_/g, " ")}: ${message}`;
      out[fallback] = out[fallback] ? `${out[fallback]} ${moved}` : moved;
    }
  }
  return out;
}

function failureTitle(outcome: Extract<Presented, { ok: false }>): string {
  return outcome.reason === "unknown" ? "Not confirmed" : "Nothing changed";
}
