import type { WebClient } from "@slack/web-api";
import type { Deps } from "../deps.js";
import { checkGroupName } from "../domain/fields.js";
import type { Logger } from "../logger.js";
import { slackErrorCode } from "../slack/authz.js";
import { CALLBACK } from "../slack/ids.js";
import { encodeMetadata, type ModalMetadata } from "./metadata.js";
import { failureBlocks } from "./outcome-ui.js";
import {
  deregisterLoadingModal,
  deregisterModal,
  messageModal,
  registerModal,
  updateLoadingModal,
  updateModal,
} from "./ui.js";

export type OpenRequest =
  | { kind: "register"; group?: string | undefined }
  | { kind: "update" | "deregister"; group: string };

export type OpenResult = { ok: true } | { ok: false; message: string };

/**
 * Opens a change modal. `views.open` comes first, before any Convai call, because the trigger_id
 * expires 3 s after the click or command; Convai data is filled in afterwards with `views.update`.
 */
export async function openChangeModal(
  deps: Deps,
  client: WebClient,
  triggerId: string,
  request: OpenRequest,
  origin: NonNullable<ModalMetadata["origin"]>,
  channelId?: string,
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
    return opened.ok ? { ok: true } : opened;
  }
  const group = checkGroupName(request.group);
  if (!group.ok) return { ok: false, message: `That is not a valid group name: ${group.error}` };
  const meta = encodeMetadata({ v: 1, group: group.value, origin, ...channel });
  const loading =
    request.kind === "update"
      ? updateLoadingModal(deps.view, group.value, meta)
      : deregisterLoadingModal(deps.view, group.value, meta);
  const opened = await openView(client, triggerId, loading, log);
  if (!opened.ok) return opened;

  const found = await deps.service.get(group.value);
  const callbackId = request.kind === "update" ? CALLBACK.update : CALLBACK.deregister;
  const view = found.ok
    ? request.kind === "update"
      ? updateModal(deps.view, found.model, meta)
      : deregisterModal(deps.view, found.model, meta)
    : messageModal(
        deps.view,
        callbackId,
        found.reason === "not_found" ? "Unknown model" : "Convai unavailable",
        failureBlocks(
          found.reason === "not_found"
            ? `No custom LLM named ${group.value} is registered. Run list to see the registered groups.`
            : found.message,
          found.reason === "failed" ? found.transactionID : undefined,
        ),
      );
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
