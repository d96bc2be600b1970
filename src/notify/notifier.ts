import type { WebClient } from "@slack/web-api";
import type { Notifier, NotifyResult } from "../domain/outcome.js";
import type { Logger } from "../logger.js";
import { slackErrorCode } from "../slack/authz.js";
import { changeMetadata, notificationMessage } from "./ui.js";

export function createNotifier(options: {
  client: WebClient;
  channel?: string | undefined;
  sandbox: boolean;
  logger: Logger;
}): Notifier {
  const log = options.logger.child({ component: "notify" });
  return async (change): Promise<NotifyResult> => {
    if (!options.channel) return { posted: "disabled" };
    const message = notificationMessage(change, { sandbox: options.sandbox });
    try {
      await options.client.chat.postMessage({
        channel: options.channel,
        text: message.text,
        blocks: message.blocks,
        metadata: changeMetadata(change, new Date()),
        unfurl_links: false,
        unfurl_media: false,
      });
      return { posted: true };
    } catch (error) {
      const code = slackErrorCode(error);
      log.error(
        {
          channel: options.channel,
          error: code,
          action: change.action,
          group: "group" in change ? change.group : change.target,
        },
        "Could not post the change notification; invite the bot to CONVAI_NOTIFY_CHANNEL or fix its ID.",
      );
      return { posted: false, error: code };
    }
  };
}
