import type { AllMiddlewareArgs, App, SlackViewMiddlewareArgs, ViewSubmitAction } from "@slack/bolt";
import type { Deps } from "../deps.js";
import { CALLBACK } from "../slack/ids.js";
import { readDeregisterForm, readRegisterForm, readUpdateForm } from "./form.js";
import { presentChange, prologue, settle, stale, withBanner } from "./submission.js";
import { deregisterModal, registerModal, registerPrefill, updateModal, updatePrefill } from "./ui.js";

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
    work: deps.service
      .register(ctx.actor, form.input, { verify: form.verify })
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
    work: deps.service
      .update(ctx.actor, group, form.fields, { verify: form.verify })
      .then((o) => presentChange(deps, o)),
    restore: async (errors, banner) => {
      // The form shows the model's current values, so it needs a fresh read to be rebuilt.
      const found = await deps.service.get(group);
      if (!found.ok) return undefined;
      return withBanner(updateModal(deps.view, found.model, view.private_metadata, prefill, errors), banner);
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
  await settle({
    ...{ deps, client, kind: "deregister", actor: ctx.actor, view, ack, arrived },
    work: deps.service.deregister(ctx.actor, group).then((o) => presentChange(deps, o)),
    restore: async (errors, banner) => {
      const found = await deps.service.get(group);
      if (!found.ok) return undefined;
      return withBanner(deregisterModal(deps.view, found.model, view.private_metadata, errors), banner);
    },
  });
}
