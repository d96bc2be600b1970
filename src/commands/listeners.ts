import type { App, RespondArguments, RespondFn } from "@slack/bolt";
import type { Deps } from "../deps.js";
import { describeFailure } from "../domain/outcome.js";
import { openChangeModal } from "../modals/open.js";
import { slackErrorCode } from "../slack/authz.js";
import { plainMessage, type Reply } from "../slack/blocks.js";
import { escapeMrkdwn } from "../slack/text.js";
import { parseCommand } from "./parse.js";
import { helpMessage, listMessage, missingGroupMessage, unknownMessage } from "./ui.js";

const ephemeral = (reply: Reply): RespondArguments => ({
  response_type: "ephemeral",
  text: reply.text,
  blocks: reply.blocks,
});

/** `/convai-llm`: ack first, always; then the one call the subcommand needs. */
export function registerCommands(app: App, deps: Deps): void {
  app.command(deps.command, async ({ command, ack, respond, client }) => {
    const parsed = parseCommand(command.text);
    const ctx = { sandbox: deps.view.sandbox, command: deps.command };
    // Built only when a line is logged: pino's child() runs the redaction over its bindings, before ack().
    const log = () => deps.logger.child({ userId: command.user_id, command: parsed.kind });
    switch (parsed.kind) {
      case "help":
        return ack(ephemeral(helpMessage(ctx)));
      case "unknown":
        return ack(ephemeral(unknownMessage(ctx, parsed.input, parsed.suggestion)));
      case "missing_group":
        return ack(ephemeral(missingGroupMessage(ctx, parsed.sub)));
      case "list": {
        await ack();
        const [models, permission] = await Promise.all([
          deps.service.list(),
          deps.authz.canManage(command.user_id),
        ]);
        const reply = models.ok
          ? listMessage(ctx, models.data, {
              ...(parsed.filter !== undefined ? { filter: parsed.filter } : {}),
              canManage: permission.ok,
            })
          : plainMessage(ctx, `:x: Could not list the custom LLMs. ${escapeMrkdwn(describeFailure(models))}`);
        return send(respond, reply, log);
      }
      case "register":
      case "update":
      case "deregister": {
        await ack();
        const permission = await deps.authz.canManage(command.user_id);
        if (!permission.ok) {
          log().warn({ event: "refused" }, "Refused a change command from a user who may not change models.");
          return send(respond, plainMessage(ctx, `:no_entry: ${permission.message}`), log);
        }
        const opened = await openChangeModal(
          deps,
          client,
          command.trigger_id,
          parsed.kind === "register"
            ? { kind: "register", group: parsed.group }
            : { kind: parsed.kind, group: parsed.group },
          "command",
          command.channel_id,
        );
        if (!opened.ok) return send(respond, plainMessage(ctx, `:x: ${escapeMrkdwn(opened.message)}`), log);
        return;
      }
    }
  });
}

/** A reply through response_url; a failure is logged, since there is no other way to reach the user. */
async function send(respond: RespondFn, reply: Reply, log: () => Deps["logger"]): Promise<void> {
  try {
    await respond(ephemeral(reply));
  } catch (error) {
    log().error(
      { error: slackErrorCode(error) },
      "Could not reply through response_url; the user saw nothing.",
    );
  }
}
