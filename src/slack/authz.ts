import type { WebClient } from "@slack/web-api";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";

/** A refusal is either the policy (`not_manager`) or a Slack look-up that failed (`lookup_failed`). */
export type Permission =
  | { ok: true }
  | { ok: false; reason: "not_manager" | "lookup_failed"; message: string };

export interface Authorizer {
  /** CONVAI_ALLOWED_TEAMS: true when unset, or when any of the request's team or enterprise ids is listed. */
  teamAllowed(ids: readonly (string | undefined)[]): boolean;
  /** May this user change models? Cached; Slack errors deny with a message that says why. */
  canManage(userId: string): Promise<Permission>;
  /** Plain words on who the managers are, for refusals and read-only views (no variable names). */
  readonly policy: string;
  /** Where the policy comes from, in the operator's terms (variable names), for log lines. */
  readonly source: string;
}

interface Cached<T> {
  value: T;
  expires: number;
}

const TTL_MS = 5 * 60_000;

export function createAuthorizer(options: {
  config: Pick<Config, "managers" | "managerGroup" | "allowedTeams"> & { authzCacheSeconds?: number };
  client: WebClient;
  logger: Logger;
  now?: () => number;
}): Authorizer {
  const { config, client } = options;
  const log = options.logger.child({ component: "authz" });
  const now = options.now ?? Date.now;
  const managers = new Set(config.managers);
  // A removed manager keeps rights until their cached answer expires: CONVAI_AUTHZ_CACHE_SECONDS bounds it.
  const ttlMs = (config.authzCacheSeconds ?? TTL_MS / 1000) * 1000;
  const allowedTeams = new Set(config.allowedTeams);
  // Only answers Slack actually gave are cached; a failed lookup is retried on the next request.
  const adminCache = new Map<string, Cached<Permission>>();
  let groupCache: Cached<Set<string>> | undefined;

  const explicit = managers.size > 0 || config.managerGroup !== undefined;
  const listed = [...managers].map((u) => `<@${u}>`).join(", ");
  // Said to Slack users, who do not know the bot's environment: who, not which variable.
  const group = config.managerGroup ? `the <!subteam^${config.managerGroup}> user group` : "";
  const who = [listed, group].filter(Boolean).join(" and ");
  const policy = explicit ? `Convai LLM managers — ${who} —` : "workspace admins and owners";
  const source = explicit
    ? [managers.size > 0 ? "CONVAI_MANAGERS" : "", config.managerGroup ? "CONVAI_MANAGER_GROUP" : ""]
        .filter(Boolean)
        .join(" and ")
    : "workspace admins and owners (neither CONVAI_MANAGERS nor CONVAI_MANAGER_GROUP is set)";

  async function groupMembers(
    group: string,
  ): Promise<{ ok: true; members: Set<string> } | { ok: false; error: string }> {
    if (groupCache && groupCache.expires > now()) return { ok: true, members: groupCache.value };
    try {
      const res = await client.usergroups.users.list({ usergroup: group });
      const members = new Set(res.users ?? []);
      groupCache = { value: members, expires: now() + ttlMs };
      return { ok: true, members };
    } catch (error) {
      const code = slackErrorCode(error);
      log.error(
        { usergroup: group, error: code },
        code === "plan_upgrade_required"
          ? "Slack user groups need a paid plan; set CONVAI_MANAGERS instead of CONVAI_MANAGER_GROUP."
          : "Could not read the manager user group; check CONVAI_MANAGER_GROUP and the usergroups:read scope.",
      );
      return { ok: false, error: code };
    }
  }

  async function isAdmin(userId: string): Promise<Permission> {
    const hit = adminCache.get(userId);
    if (hit && hit.expires > now()) return hit.value;
    try {
      const res = await client.users.info({ user: userId });
      const u = res.user;
      // An admin of another organization (a Slack Connect "stranger", or a member of a team outside
      // CONVAI_ALLOWED_TEAMS) is not an admin of this workspace.
      const home = [u?.team_id, u?.enterprise_user?.enterprise_id, ...(u?.enterprise_user?.teams ?? [])];
      const local =
        !u?.is_stranger && (allowedTeams.size === 0 || home.some((id) => id && allowedTeams.has(id)));
      const value: Permission =
        u && !u.deleted && local && (u.is_admin || u.is_owner || u.is_primary_owner)
          ? { ok: true }
          : {
              ok: false,
              reason: "not_manager",
              message: `Only ${policy} can change custom LLMs or move characters between them. Ask one of them for access.`,
            };
      adminCache.set(userId, { value, expires: now() + ttlMs });
      return value;
    } catch (error) {
      const code = slackErrorCode(error);
      log.error(
        { userId, error: code },
        "Could not look up the user to check admin rights; check the users:read scope.",
      );
      return {
        ok: false,
        reason: "lookup_failed",
        message: `The bot could not check your permissions (Slack said \`${code}\`). Try again shortly.`,
      };
    }
  }

  return {
    policy,
    source,
    teamAllowed(ids) {
      if (allowedTeams.size === 0) return true;
      return ids.some((id) => id !== undefined && allowedTeams.has(id));
    },
    async canManage(userId) {
      if (!explicit) return isAdmin(userId);
      if (managers.has(userId)) return { ok: true };
      if (config.managerGroup) {
        const group = await groupMembers(config.managerGroup);
        if (group.ok && group.members.has(userId)) return { ok: true };
        if (!group.ok) {
          const why =
            group.error === "plan_upgrade_required"
              ? "Slack user groups need a paid Slack plan"
              : `Slack said \`${group.error}\``;
          return {
            ok: false,
            reason: "lookup_failed",
            // Still says who can grant access.
            message: `The bot could not check membership of the manager user group <!subteam^${config.managerGroup}> (${why}), so it refused the change. ${listed ? `Ask ${listed} for access, or ask` : "Ask"} the bot's operator to check its manager settings.`,
          };
        }
      }
      return {
        ok: false,
        reason: "not_manager",
        message: `Only ${policy} can change custom LLMs or move characters between them. Ask one of them for access.`,
      };
    },
  };
}

/** The `error` code of a Slack Web API failure, or a short name for anything else. */
export function slackErrorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    if ("data" in error && typeof error.data === "object" && error.data !== null && "error" in error.data) {
      const code = error.data.error;
      if (typeof code === "string") return code;
    }
    if ("code" in error && typeof error.code === "string") return error.code;
  }
  return error instanceof Error ? error.name : "unknown_error";
}
