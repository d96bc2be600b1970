import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import type { Deps } from "../deps.js";
import { slackErrorCode } from "../slack/authz.js";
import { ACTION } from "../slack/ids.js";

/** Approve and Reject on a request message: ack → the approvals workflow → tell the presser (ephemeral). */
export function registerApprovalActions(app: App, deps: Deps): void {
  for (const [actionId, decision] of [
    [ACTION.approve, "approve"],
    [ACTION.reject, "reject"],
  ] as const) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client }) => {
      await ack();
      const channel = body.channel?.id ?? body.container?.channel_id;
      const ts = body.message?.ts ?? body.container?.message_ts;
      const approvals = deps.approvals;
      if (!approvals || typeof channel !== "string" || typeof ts !== "string") {
        deps.logger.warn(
          { actionId },
          "Ignored an approval button outside a request message, or with approvals off.",
        );
        return;
      }
      const answer = await approvals.decide({
        decision,
        userId: body.user.id,
        teamId: body.team?.id ?? body.user.team_id,
        channel,
        ts,
        requestId: (action.value ?? "").slice(0, 100),
      });
      try {
        await client.chat.postEphemeral({ channel, user: body.user.id, text: answer });
      } catch (error) {
        deps.logger.warn(
          { error: slackErrorCode(error) },
          "Could not tell the presser the approval outcome.",
        );
      }
    });
  }
}
