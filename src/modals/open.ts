import type { ModalView } from "@slack/types";
import type { WebClient } from "@slack/web-api";
import { BUILT_IN_MODEL_CODES } from "../convai/built-in-models.js";
import type { ConvaiModel, ConvaiResult } from "../convai/types.js";
import type { Deps } from "../deps.js";
import { characterName } from "../domain/characters.js";
import { checkGroupName } from "../domain/fields.js";
import { describeFailure, type LookupOutcome, tx } from "../domain/outcome.js";
import { settledWithin } from "../lib/async.js";
import type { Logger } from "../logger.js";
import type { Permission } from "../slack/authz.js";
import { slackErrorCode } from "../slack/authz.js";
import { CALLBACK } from "../slack/ids.js";
import { toUsage } from "../slack/usage.js";
import { assignLoadingModal, assignMessageModal, assignModal, type GroupCharacters } from "./assign-ui.js";
import { encodeMetadata, type ModalMetadata } from "./metadata.js";
import { failureBlocks, refusalBlocks } from "./outcome-ui.js";
import {
  deregisterLoadingModal,
  deregisterModal,
  type InlineErrors,
  messageModal,
  registerModal,
  updateLoadingModal,
  updateModal,
} from "./ui.js";

export type OpenRequest =
  | { kind: "register"; group?: string | undefined }
  | { kind: "update" | "deregister" | "assign"; group: string };

export type OpenResult = { ok: true } | { ok: false; message: string };

/** How long the permission check may hold views.open back; past it the form opens and the check finishes. */
export const PERMISSION_WAIT_MS = 1000;

/**
 * Checks the user may change models, then opens the form. The check (a users.info or usergroups call on a
 * cache miss) may not eat the trigger_id's 3 s: after PERMISSION_WAIT_MS the form opens anyway and turns
 * into "Not allowed" if the check refuses. `refused` is the refusal known before anything opened.
 */
export async function openIfAllowed(
  deps: Deps,
  client: WebClient,
  userId: string,
  open: {
    triggerId: string;
    request: OpenRequest;
    origin: NonNullable<ModalMetadata["origin"]>;
    channelId?: string | undefined;
  },
  onRefused: () => void,
): Promise<OpenResult | { ok: false; refused: true; message: string }> {
  const checking = deps.authz.canManage(userId).then((p) => {
    if (!p.ok) onRefused();
    return p;
  });
  const early = await settledWithin(checking, PERMISSION_WAIT_MS);
  if (early && !early.ok) return { ok: false, refused: true, message: early.message };
  return openChangeModal(
    deps,
    client,
    open.triggerId,
    open.request,
    open.origin,
    open.channelId,
    early ? undefined : checking,
  );
}

/**
 * Opens a change modal. `views.open` comes first, before any Convai call, because the trigger_id
 * expires 3 s after the click or command; Convai data is filled in afterwards with `views.update`.
 */
async function openChangeModal(
  deps: Deps,
  client: WebClient,
  triggerId: string,
  request: OpenRequest,
  origin: NonNullable<ModalMetadata["origin"]>,
  channelId?: string,
  /** A permission check still running: the opened form becomes "Not allowed" if it refuses. */
  pending?: Promise<Permission>,
): Promise<OpenResult> {
  const log = deps.logger.child({ component: "modals", modal: request.kind });
  const channel = channelId && /^[CGD][A-Z0-9]{2,31}$/.test(channelId) ? { channelId } : {};
  if (request.kind === "register") {
    const group = request.group !== undefined ? checkGroupName(request.group) : undefined;
    const meta = encodeMetadata({ v: 1, origin, ...channel });
    const view = registerModal(
      deps.view,
      group?.ok ? { model_group_name: group.value } : {},
      undefined,
      meta,
    );
    const opened = await openView(client, triggerId, view, log);
    if (!opened.ok) return opened;
    await refuseIfDenied(client, deps, request.kind, opened.viewId, pending, log);
    return { ok: true };
  }
  const group = checkGroupName(request.group);
  if (!group.ok) return { ok: false, message: `That is not a valid group name: ${group.error}` };
  const meta = encodeMetadata({ v: 1, group: group.value, origin, ...channel });
  const loading =
    request.kind === "update"
      ? updateLoadingModal(deps.view, group.value, meta)
      : request.kind === "assign"
        ? assignLoadingModal(deps.view, group.value, meta)
        : deregisterLoadingModal(deps.view, group.value, meta);
  const opened = await openView(client, triggerId, loading, log);
  if (!opened.ok) return opened;
  if (await refuseIfDenied(client, deps, request.kind, opened.viewId, pending, log)) return { ok: true };

  const view = await filledView(deps, request.kind, group.value, meta);
  try {
    await client.views.update({ view_id: opened.viewId, view });
  } catch (error) {
    log.error(
      { error: slackErrorCode(error), group: group.value },
      "Could not fill the modal with views.update.",
    );
    return {
      ok: false,
      message: `The form opened but could not be filled (Slack said ${slackErrorCode(error)}). Try again.`,
    };
  }
  return { ok: true };
}

/** Waits for a permission check the form opened ahead of; on a refusal the form says so. True if refused. */
async function refuseIfDenied(
  client: WebClient,
  deps: Deps,
  kind: OpenRequest["kind"],
  viewId: string,
  pending: Promise<Permission> | undefined,
  log: Logger,
): Promise<boolean> {
  const permission = await pending;
  if (!permission || permission.ok) return false;
  const view = messageModal(deps.view, CALLBACK[kind], "Not allowed", refusalBlocks(permission.message));
  try {
    await client.views.update({ view_id: viewId, view });
  } catch (error) {
    log.warn(
      { error: slackErrorCode(error) },
      "Could not replace a form with its refusal; its submission is refused too.",
    );
  }
  return true;
}

type Filled = "update" | "deregister" | "assign";

/** The modal filled from Convai: the model and, read once in parallel, the account's characters. */
async function filledView(deps: Deps, kind: Filled, group: string, meta: string): Promise<ModalView> {
  if (kind === "update") {
    const [found, characters] = await Promise.all([deps.service.get(group), deps.characters.list()]);
    if (!found.ok) return lookupFailure(deps, kind, group, found);
    return updateModal(deps.view, found.model, meta, undefined, undefined, toUsage(characters));
  }
  return kind === "deregister" ? deregisterView(deps, group, meta) : assignView(deps, group, meta);
}

/** The deregister form: the model, the characters on it and where they can go. */
export async function deregisterView(
  deps: Deps,
  group: string,
  meta: string,
  errors?: InlineErrors,
): Promise<ModalView> {
  const [models, characters] = await Promise.all([deps.service.list(), deps.characters.list()]);
  const model = models.ok ? models.data.find((m) => m.model_group_name === group) : undefined;
  if (!models.ok || !model) return lookupFailure(deps, "deregister", group, lookupOf(models, group));
  const targets = {
    custom: models.data.map((m) => m.model_group_name).filter((g) => g !== group),
    builtIn: BUILT_IN_MODEL_CODES,
  };
  const chars: GroupCharacters = characters.ok
    ? {
        kind: "known",
        names: characters.data
          .filter((c) => c.model === group)
          .map(characterName)
          .sort((a, b) => a.localeCompare(b)),
        targets,
      }
    : { kind: "unknown", reason: describeFailure(characters), targets };
  return deregisterModal(deps.view, model, meta, errors, chars);
}

/** The assign form, or why it cannot be shown. */
export async function assignView(
  deps: Deps,
  group: string,
  meta: string,
  error?: string,
): Promise<ModalView> {
  const [models, characters] = await Promise.all([deps.service.list(), deps.characters.list()]);
  const model = models.ok ? models.data.find((m) => m.model_group_name === group) : undefined;
  if (!models.ok || !model) return lookupFailure(deps, "assign", group, lookupOf(models, group));
  if (!characters.ok) {
    return assignMessageModal(
      deps.view,
      "Convai unavailable",
      failureBlocks(
        `The characters could not be read. ${describeFailure(characters)}`,
        characters.transactionID,
      ),
      meta,
    );
  }
  return assignModal(deps.view, group, characters.data, meta, error);
}

function lookupOf(models: ConvaiResult<ConvaiModel[]>, group: string): Exclude<LookupOutcome, { ok: true }> {
  return models.ok
    ? { ok: false, reason: "not_found", message: `No custom LLM named ${group} is registered.` }
    : { ok: false, reason: "failed", message: describeFailure(models), ...tx(models.transactionID) };
}

function lookupFailure(
  deps: Deps,
  kind: Filled,
  group: string,
  found: Exclude<LookupOutcome, { ok: true }>,
): ModalView {
  return messageModal(
    deps.view,
    CALLBACK[kind],
    found.reason === "not_found" ? "Unknown model" : "Convai unavailable",
    failureBlocks(
      found.reason === "not_found"
        ? `No custom LLM named ${group} is registered. Run list to see the registered groups.`
        : found.message,
      found.reason === "failed" ? found.transactionID : undefined,
    ),
  );
}

/** views.open, with Slack's refusal turned into words for the user. */
async function openView(
  client: WebClient,
  triggerId: string,
  view: Parameters<WebClient["views"]["open"]>[0]["view"],
  log: Logger,
): Promise<{ ok: true; viewId: string } | { ok: false; message: string }> {
  try {
    const res = await client.views.open({ trigger_id: triggerId, view });
    const viewId = res.view?.id;
    if (!viewId) return { ok: false, message: "Slack opened the form but did not say which one. Try again." };
    return { ok: true, viewId };
  } catch (error) {
    const code = slackErrorCode(error);
    log.error({ error: code }, "Could not open the modal with views.open.");
    return {
      ok: false,
      message:
        code === "expired_trigger_id"
          ? "Slack took too long to open the form (expired_trigger_id). Run the command again."
          : `Slack could not open the form (${code}). Try again.`,
    };
  }
}
