import type { App, BlockAction, RespondArguments, RespondFn } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import type { Deps } from "../deps.js";
import { describeFailure } from "../domain/outcome.js";
import { readHistory } from "../history/read.js";
import { historyMessage } from "../history/ui.js";
import { type OpenRequest, openIfAllowed } from "../modals/open.js";
import { slackErrorCode } from "../slack/authz.js";
import { plainMessage, type Reply } from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { escapeMrkdwn } from "../slack/text.js";
import { toUsage } from "../slack/usage.js";
import { parseCommand } from "./parse.js";
import {
  type CharactersPage,
  type CustomGroups,
  charactersMessage,
  helpMessage,
  listMessage,
  MAX_FILTER,
  type MessageContext,
  missingGroupMessage,
  unknownMessage,
} from "./ui.js";

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
      case "list":
        await ack();
        return send(respond, await listReply(deps, ctx, command.user_id, parsed.filter), log);
      case "history": {
        // Read-only, so anyone may ask (SPEC §13).
        await ack();
        return send(respond, await historyReply(deps, ctx, client, parsed.group, log), log);
      }
      case "characters":
        await ack();
        return send(respond, await charactersReply(deps, ctx, { page: 1, filter: parsed.filter }), log);
      case "register":
      case "update":
      case "deregister":
      case "assign": {
        await ack();
        const request =
          parsed.kind === "register"
            ? { kind: "register" as const, group: parsed.group }
            : { kind: parsed.kind, group: parsed.group };
        const refused = await openForm(deps, client, command, request, log);
        if (refused) return send(respond, plainMessage(ctx, refused), log);
        return;
      }
    }
  });

  // Previous / Next on a `characters` reply: read-only, so anyone may page; the reply is replaced in place.
  app.action<BlockAction>({ action_id: CHARACTERS_PAGE_PATTERN }, async ({ ack, action, respond, body }) => {
    await ack();
    const value = action.type === "button" ? parsePageValue(action.value) : undefined;
    const log = () => deps.logger.child({ userId: body.user.id, action: action.action_id });
    if (!value) {
      log().warn("A characters paging button carried a malformed value; ignored it.");
      return;
    }
    const reply = await charactersReply(deps, { sandbox: deps.view.sandbox, command: deps.command }, value);
    try {
      await respond({
        response_type: "ephemeral",
        replace_original: true,
        text: reply.text,
        blocks: reply.blocks,
      });
    } catch (error) {
      log().error(
        { error: slackErrorCode(error) },
        "Could not replace the characters reply with the next page.",
      );
    }
  });
}

export const CHARACTERS_PAGE_PATTERN = new RegExp(`^${ACTION.charactersPage}(?::(?:prev|next))?$`);

const pageValueSchema = z.strictObject({
  p: z.number().int().min(1).max(100_000),
  f: z.string().max(MAX_FILTER).optional(),
});

/** A paging button's value; undefined when forged or malformed. */
export function parsePageValue(raw: string | undefined): CharactersPage | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = pageValueSchema.safeParse(JSON.parse(raw));
    return parsed.success ? { page: parsed.data.p, filter: parsed.data.f } : undefined;
  } catch {
    return undefined;
  }
}

/** The list reply: models, who uses each (one character list read), and the menus a manager gets. */
async function listReply(
  deps: Deps,
  ctx: MessageContext,
  userId: string,
  filter: string | undefined,
): Promise<Reply> {
  const [models, characters, permission] = await Promise.all([
    deps.service.list(),
    deps.characters.list(),
    deps.authz.canManage(userId),
  ]);
  if (!models.ok)
    return plainMessage(ctx, `:x: Could not list the custom LLMs. ${escapeMrkdwn(describeFailure(models))}`);
  return listMessage(ctx, models.data, {
    ...(filter !== undefined ? { filter } : {}),
    canManage: permission.ok,
    usage: toUsage(characters),
  });
}

/** The latest changes, read back from the notification channel's message metadata. */
async function historyReply(
  deps: Deps,
  ctx: MessageContext,
  client: WebClient,
  group: string | undefined,
  log: () => Deps["logger"],
): Promise<Reply> {
  const channel = deps.config.notifyChannel;
  const result = await readHistory(client, channel, { group });
  if (!result.ok && result.code !== "no_channel")
    log().warn({ error: result.code }, "Could not read the change history from CONVAI_NOTIFY_CHANNEL.");
  return historyMessage(ctx, result, { group, channel });
}

/**
 * A change command opens its form, after the permission check (checked again on submission). Returns the
 * mrkdwn to tell the user when it did not open, else undefined.
 */
async function openForm(
  deps: Deps,
  client: WebClient,
  command: { user_id: string; trigger_id: string; channel_id: string },
  request: OpenRequest,
  log: () => Deps["logger"],
): Promise<string | undefined> {
  const opened = await openIfAllowed(
    deps,
    client,
    command.user_id,
    { triggerId: command.trigger_id, request, origin: "command", channelId: command.channel_id },
    () =>
      log().warn(
        { event: "refused", managersFrom: deps.authz.source },
        "Refused a change command from a user who may not change models.",
      ),
  );
  if (!opened.ok && "refused" in opened) return `:no_entry: ${opened.message}`;
  return opened.ok ? undefined : `:x: ${escapeMrkdwn(opened.message)}`;
}

/** One page of characters: one character list read and one model list read, in parallel. */
async function charactersReply(deps: Deps, ctx: MessageContext, request: CharactersPage): Promise<Reply> {
  const [characters, models] = await Promise.all([deps.characters.list(), deps.service.list()]);
  if (!characters.ok) {
    return plainMessage(
      ctx,
      `:x: Could not list the characters. ${escapeMrkdwn(describeFailure(characters))}`,
    );
  }
  const custom: CustomGroups = models.ok
    ? { kind: "known", groups: new Set(models.data.map((m) => m.model_group_name)) }
    : { kind: "unknown", reason: describeFailure(models) };
  return charactersMessage(ctx, characters.data, custom, request);
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
