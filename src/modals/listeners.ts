import type { AllMiddlewareArgs, App, SlackViewMiddlewareArgs, ViewSubmitAction } from "@slack/bolt";
import type { KnownBlock } from "@slack/types";
import type { Deps } from "../deps.js";
import type { SafeDeregisterOutcome } from "../domain/characters.js";
import { CALLBACK, FIELD } from "../slack/ids.js";
import { toUsage } from "../slack/usage.js";
import { assignOptions, assignOutcomeBlocks, keptBlocks, moveReportBlocks } from "./assign-ui.js";
import { readAssignForm, readMoveTo } from "./characters-form.js";
import { readDeregisterForm, readRegisterForm, readUpdateForm } from "./form.js";
import { decodeMetadata } from "./metadata.js";
import { assignView, deregisterView } from "./open.js";
import { failureBlocks, notifySummary } from "./outcome-ui.js";
import { type Presented, presentChange, prologue, settle, stale, withBanner } from "./submission.js";
import { registerModal, registerPrefill, updateModal, updatePrefill } from "./ui.js";

/**
 * The three change modals' submissions: ack → authorize (prologue) → read the form → call the domain →
 * render (settle). Everything shared between them lives in ./submission.ts.
 */

export function registerModalHandlers(app: App, deps: Deps): void {
  app.view<ViewSubmitAction>({ callback_id: CALLBACK.register, type: "view_submission" }, (args) =>
    onRegister(deps, args),
  );
  app.view<ViewSubmitAction>({ callback_id: CALLBACK.update, type: "view_submission" }, (args) =>
    onUpdate(deps, args),
  );
  app.view<ViewSubmitAction>({ callback_id: CALLBACK.deregister, type: "view_submission" }, (args) =>
    onDeregister(deps, args),
  );
  app.view<ViewSubmitAction>({ callback_id: CALLBACK.assign, type: "view_submission" }, (args) =>
    onAssign(deps, args),
  );
  registerAssignOptions(app, deps);
}

type Args = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

async function onRegister(deps: Deps, { ack, body, view, client }: Args): Promise<void> {
  const arrived = Date.now();
  const ctx = await prologue(deps, "register", body, view);
  if (!ctx.ok) return ack(ctx.ack);
  const form = readRegisterForm(view.state?.values, deps.validation);
  if (!form.ok) return ack({ response_action: "errors", errors: form.errors });
  const prefill = registerPrefill(form.input, form.verify);
  await settle({
    ...{ deps, client, kind: "register", actor: ctx.actor, view, ack, arrived },
    work: () =>
      deps.approvals
        ? deps.approvals.request(ctx.actor, {
            kind: "register",
            input: form.input,
            verify: form.verify,
            keyRef: form.keyRef,
          })
        : deps.service
            .register(ctx.actor, form.input, { verify: form.verify, keyRef: form.keyRef })
            .then((o) => presentChange(deps, o)),
    restore: async (errors, banner) =>
      withBanner(registerModal(deps.view, prefill, errors, view.private_metadata), banner),
  });
}

async function onUpdate(deps: Deps, { ack, body, view, client }: Args): Promise<void> {
  const arrived = Date.now();
  const ctx = await prologue(deps, "update", body, view);
  if (!ctx.ok) return ack(ctx.ack);
  const group = ctx.meta.group;
  if (!group) return ack({ response_action: "update", view: stale(deps, CALLBACK.update) });
  const form = readUpdateForm(view.state?.values, deps.validation);
  if (!form.ok) return ack({ response_action: "errors", errors: form.errors });
  const prefill = updatePrefill(form.fields, form.verify);
  await settle({
    ...{ deps, client, kind: "update", actor: ctx.actor, view, ack, arrived },
    work: () =>
      deps.approvals
        ? deps.approvals.request(ctx.actor, {
            kind: "update",
            group,
            request: form.fields,
            verify: form.verify,
            keyRef: form.keyRef,
          })
        : deps.service
            .update(ctx.actor, group, form.fields, { verify: form.verify, keyRef: form.keyRef })
            .then((o) => presentChange(deps, o)),
    restore: async (errors, banner) => {
      // The form shows the model's current values and its users, so it needs fresh reads to be rebuilt.
      const [found, characters] = await Promise.all([deps.service.get(group), deps.characters.list()]);
      if (!found.ok) return undefined;
      const usage = toUsage(characters);
      return withBanner(
        updateModal(deps.view, found.model, view.private_metadata, prefill, errors, usage),
        banner,
      );
    },
  });
}

async function onDeregister(deps: Deps, { ack, body, view, client }: Args): Promise<void> {
  const arrived = Date.now();
  const ctx = await prologue(deps, "deregister", body, view);
  if (!ctx.ok) return ack(ctx.ack);
  const group = ctx.meta.group;
  if (!group) return ack({ response_action: "update", view: stale(deps, CALLBACK.deregister) });
  const form = readDeregisterForm(view.state?.values, group);
  if (!form.ok) return ack({ response_action: "errors", errors: form.errors });
  const moveTo = readMoveTo(view.state?.values);
  await settle({
    ...{ deps, client, kind: "deregister", actor: ctx.actor, view, ack, arrived },
    work: () =>
      deps.approvals
        ? deps.approvals.request(ctx.actor, { kind: "deregister", group, moveTo })
        : deps.characters.deregister(ctx.actor, { group, moveTo }).then((o) => presentDeregister(deps, o)),
    restore: async (errors, banner) =>
      withBanner(await deregisterView(deps, group, view.private_metadata, errors), banner),
  });
}

async function onAssign(deps: Deps, { ack, body, view, client }: Args): Promise<void> {
  const arrived = Date.now();
  const ctx = await prologue(deps, "assign", body, view);
  if (!ctx.ok) return ack(ctx.ack);
  const group = ctx.meta.group;
  if (!group) return ack({ response_action: "update", view: stale(deps, CALLBACK.assign) });
  const form = readAssignForm(view.state?.values);
  if (!form.ok) return ack({ response_action: "errors", errors: form.errors });
  await settle({
    ...{ deps, client, kind: "assign", actor: ctx.actor, view, ack, arrived },
    work: () =>
      deps.approvals
        ? deps.approvals.request(ctx.actor, { kind: "assign", group, characterIds: form.characterIds })
        : deps.characters
            .assign(ctx.actor, { group, characterIds: form.characterIds })
            .then((o): Presented => {
              if (!o.ok) return o;
              return {
                ok: true,
                ...assignOutcomeBlocks(o.group, o.report, o.notify, deps.config.notifyChannel),
              };
            }),
    restore: async (errors, banner) =>
      withBanner(await assignView(deps, group, view.private_metadata, errors.characters), banner),
  });
}

/** A safe deregister's outcome as the submission shows it: the moves first, then what the deregister did. */
function presentDeregister(deps: Deps, outcome: SafeDeregisterOutcome): Presented {
  const channel = deps.config.notifyChannel;
  switch (outcome.kind) {
    case "refused":
      return { ok: false, reason: "fields", errors: outcome.errors };
    case "unavailable":
      return { ok: false, reason: "failed", message: outcome.message, transactionID: outcome.transactionID };
    case "kept":
      return { ok: true, ...keptBlocks(outcome.group, outcome.moves, outcome.notify, channel) };
    case "attempted": {
      const change = presentChange(deps, outcome.change);
      if (!outcome.moves) return change;
      const moved = [
        ...moveReportBlocks(outcome.moves),
        ...(outcome.notify
          ? [notifySummary(outcome.notify, channel)].flatMap((t) => (t ? [mrkdwnSection(t)] : []))
          : []),
      ];
      if (change.ok) return { ...change, blocks: [...change.blocks, { type: "divider" }, ...moved] };
      // The characters moved but the deregister did not go through: both facts are shown.
      const failure =
        change.reason === "fields"
          ? failureBlocks(Object.values(change.errors).join(" "))
          : failureBlocks(change.message, change.transactionID);
      return {
        ok: true,
        title: change.reason === "unknown" ? "Not confirmed" : "Not deregistered",
        blocks: [...failure, { type: "divider" }, ...moved],
      };
    }
  }
}

const mrkdwnSection = (text: string): KnownBlock => ({ type: "section", text: { type: "mrkdwn", text } });

/**
 * The assign form's type-ahead (a multi_external_select, for accounts with more characters than a static
 * select holds): characters whose name, id or model contains what was typed, read fresh from Convai.
 */
export function registerAssignOptions(app: App, deps: Deps): void {
  app.options<"block_suggestion">({ action_id: FIELD.characters }, async ({ ack, body, payload }) => {
    const meta = decodeMetadata(body.view?.private_metadata);
    const group = meta.ok ? meta.meta.group : undefined;
    if (!group) return ack({ options: [] });
    const characters = await deps.characters.list();
    if (!characters.ok) {
      deps.logger.warn({ kind: characters.kind }, "Could not read the characters for the assign type-ahead.");
      return ack({ options: [] });
    }
    return ack({ options: assignOptions(characters.data, group, payload.value ?? "") });
  });
}
