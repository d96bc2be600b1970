import type { AnyMiddlewareArgs, App, Middleware } from "@slack/bolt";
import { z } from "zod";
import type { Deps } from "./deps.js";
import { failureBlocks } from "./modals/outcome-ui.js";
import { messageModal } from "./modals/ui.js";
import { plainMessage } from "./slack/blocks.js";
import { CALLBACK } from "./slack/ids.js";

const teamSchema = z
  .object({
    team_id: z.string().optional(),
    enterprise_id: z.string().optional(),
    user_team_id: z.string().optional(),
    team: z.object({ id: z.string().optional(), enterprise_id: z.string().optional() }).nullish(),
    enterprise: z.object({ id: z.string().optional() }).nullish(),
    user: z.object({ team_id: z.string().optional() }).nullish(),
    event: z.object({ user_team: z.string().optional() }).nullish(),
  })
  .passthrough();

/**
 * The acting user's own team, and their enterprise when it can be told apart from the installation's
 * (SPEC §5). The installation's ids (`view.app_installed_team_id`, `authorizations`, Bolt's context) are
 * not the user's: a Slack Connect user of another workspace carries them too. A request's enterprise
 * counts only when the user's team is the request's own team, i.e. the user is at home there.
 */
export function teamIdsOf(body: unknown, context: { teamId?: string; enterpriseId?: string }): string[] {
  const parsed = teamSchema.safeParse(body);
  if (!parsed.success) return [];
  const b = parsed.data;
  const requestTeam = b.team_id ?? b.team?.id;
  const enterprise = b.enterprise_id ?? b.team?.enterprise_id ?? b.enterprise?.id;
  const userTeam = b.user_team_id ?? b.user?.team_id ?? b.event?.user_team;
  const ids =
    userTeam === undefined
      ? // Slash commands and events name no user team: they come from the user's own workspace.
        [requestTeam ?? context.teamId, enterprise ?? context.enterpriseId]
      : [userTeam, requestTeam === undefined || requestTeam === userTeam ? enterprise : undefined];
  return ids.filter((id): id is string => typeof id === "string" && id.length > 0);
}

const REFUSAL =
  "This Slack workspace is not allowed to use the Convai LLM bot. Ask the bot's admin to add it to CONVAI_ALLOWED_TEAMS.";

/** CONVAI_ALLOWED_TEAMS, checked on every request before any listener runs (help included). */
export function teamGuard(deps: Deps): Middleware<AnyMiddlewareArgs> {
  const log = deps.logger.child({ component: "app" });
  return async (args) => {
    // No allow-list (the default): nothing to check, so no zod parse of the body before ack().
    if (deps.config.allowedTeams.length === 0 || deps.authz.teamAllowed(teamIdsOf(args.body, args.context)))
      return args.next();
    log.warn(
      { teamId: args.context.teamId, enterpriseId: args.context.enterpriseId },
      "Refused a request from a workspace outside CONVAI_ALLOWED_TEAMS.",
    );
    await refuse(args, deps);
  };
}

/** Answers a refused request in the way its kind allows: ephemeral text, a modal, or nothing. */
async function refuse(args: AnyMiddlewareArgs, deps: Deps): Promise<void> {
  if ("command" in args) return args.ack({ response_type: "ephemeral", ...plainMessage(deps.view, REFUSAL) });
  if ("view" in args && args.body.type === "view_submission") {
    const callbackId =
      Object.values(CALLBACK).find((id) => id === args.view.callback_id) ?? CALLBACK.register;
    return args.ack({
      response_action: "update",
      view: messageModal(deps.view, callbackId, "Not allowed", failureBlocks(REFUSAL)),
    });
  }
  if ("ack" in args && typeof args.ack === "function") await args.ack();
  if ("respond" in args && "action" in args) {
    await args
      .respond({ response_type: "ephemeral", ...plainMessage(deps.view, REFUSAL), replace_original: false })
      .catch(() => undefined);
  }
}

/**
 * Forged or stale payloads for ids the bot never issued are answered at once (not left to Bolt's 3 s
 * timeout and 404) and logged; anything that still throws is a bug and reaches the one app.error.
 */
export function registerFallbacks(app: App, deps: Deps): void {
  const log = deps.logger.child({ component: "app" });
  const ours = Object.values(CALLBACK).join("|");
  app.view(
    { callback_id: new RegExp(`^(?!(?:${ours})$)`), type: "view_submission" },
    async ({ ack, view }) => {
      log.warn(
        { callbackId: view.callback_id.slice(0, 100) },
        "Ignored a view submission with an unknown callback_id.",
      );
      await ack();
    },
  );
  app.action({ action_id: /^(?!convai_)/ }, async ({ ack, action }) => {
    const id = "action_id" in action ? action.action_id : "unknown";
    log.warn({ actionId: id.slice(0, 100) }, "Ignored a button action with an unknown action_id.");
    await ack();
  });
  app.error(async (error) => {
    log.error(
      { code: "code" in error ? error.code : undefined, err: { message: error.message, stack: error.stack } },
      "A listener failed unexpectedly; this is a bug, please report it with this log line.",
    );
  });
}
