import type { App, BlockAction, BlockElementAction } from "@slack/bolt";
import type { KnownBlock } from "@slack/types";
import type { WebClient } from "@slack/web-api";
import type { Deps } from "../deps.js";
import { type OpenRequest, openIfAllowed } from "../modals/open.js";
import { failureBlocks, refusalBlocks } from "../modals/outcome-ui.js";
import { messageModal } from "../modals/ui.js";
import { slackErrorCode } from "../slack/authz.js";
import { plainMessage } from "../slack/blocks.js";
import { ACTION, CALLBACK, MODEL_BLOCK_PREFIX } from "../slack/ids.js";
import { escapeMrkdwn } from "../slack/text.js";

/** Which modal a button or overflow choice asks for; undefined for anything forged or unknown. */
export function requestFromAction(action: BlockElementAction): OpenRequest | undefined {
  if (action.action_id === ACTION.openRegister) return { kind: "register" };
  if (action.action_id !== ACTION.modelOverflow || action.type !== "overflow") return undefined;
  if (!action.block_id.startsWith(MODEL_BLOCK_PREFIX)) return undefined;
  const group = action.block_id.slice(MODEL_BLOCK_PREFIX.length);
  const choice = action.selected_option.value;
  if (choice === "update" || choice === "deregister" || choice === "assign") return { kind: choice, group };
  return undefined;
}

/** Buttons and menus that open the change modals, from list rows and the App Home. */
export function registerActions(app: App, deps: Deps): void {
  const handler = async ({
    ack,
    body,
    action,
    client,
    respond,
  }: {
    ack: () => Promise<void>;
    body: BlockAction;
    action: BlockElementAction;
    client: WebClient;
    respond: (m: {
      response_type: "ephemeral";
      text: string;
      blocks: KnownBlock[];
      replace_original: false;
    }) => Promise<unknown>;
  }) => {
    await ack();
    const log = deps.logger.child({ userId: body.user.id, action: action.action_id });
    const request = requestFromAction(action);
    if (!request) {
      log.warn("Ignored a button action with an unknown or malformed value.");
      return;
    }
    const fromHome = body.container.type === "view";
    // A refusal is the bot's own mrkdwn (its mentions must render); anything else is escaped.
    const tell = async (text: string, title: string, refusal: boolean) => {
      try {
        if (fromHome) {
          const blocks = refusal ? refusalBlocks(text) : failureBlocks(text);
          await client.views.open({
            trigger_id: body.trigger_id,
            view: messageModal(deps.view, CALLBACK[request.kind], title, blocks),
          });
        } else {
          await respond({
            response_type: "ephemeral",
            ...plainMessage(deps.view, refusal ? `:no_entry: ${text}` : `:x: ${escapeMrkdwn(text)}`),
            replace_original: false,
          });
        }
      } catch (error) {
        log.error({ error: slackErrorCode(error) }, "Could not tell the user why the action failed.");
      }
    };
    // Buttons are checked exactly like commands: a forged action from a member changes nothing.
    const opened = await openIfAllowed(
      deps,
      client,
      body.user.id,
      {
        triggerId: body.trigger_id,
        request,
        origin: fromHome ? "home" : "list",
        channelId: body.channel?.id,
      },
      () =>
        log.warn(
          { event: "refused", managersFrom: deps.authz.source },
          "Refused a button action from a user who may not change models.",
        ),
    );
    if (!opened.ok && "refused" in opened) return tell(opened.message, "Not allowed", true);
    if (!opened.ok) return tell(opened.message, "Could not open", false);
  };
  app.action<BlockAction>({ action_id: ACTION.modelOverflow }, (args) => handler(args));
  app.action<BlockAction>({ action_id: ACTION.openRegister }, (args) => handler(args));
}
