import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import type { Deps } from "../deps.js";
import { type Actor, describeFailure } from "../domain/outcome.js";
import { settledWithin } from "../lib/async.js";
import type { Logger } from "../logger.js";
import { slackErrorCode } from "../slack/authz.js";
import type { Usage } from "../slack/blocks.js";
import { ACTION } from "../slack/ids.js";
import { hostOf } from "../slack/text.js";
import { toUsage } from "../slack/usage.js";
import { type HomeAccess, type HomeState, homeView, MAX_PAGE, PAGE_ACTION_PATTERN } from "./ui.js";

/** When Convai has not answered by then, the Home shows a loading state instead of a blank or stale page. */
export const LOADING_AFTER_MS = 1000;

/**
 * How long a Home's Convai read waits for other Home openings to share it (SPEC §12: 200 openings within a
 * second cost at most 10 list calls). Invisible next to the Home's own round trips; never stale.
 */
export const HOME_GATHER_MS = 100;

/** A page number as a button value or the Home view's private_metadata carries it. */
const pageSchema = z
  .string()
  .trim()
  .regex(/^[0-9]{1,6}$/)
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_PAGE));

/** The page a value asks for; anything missing, malformed or out of range means page 1. */
export function parsePage(value: unknown): { ok: true; page: number } | { ok: false; page: 1 } {
  const parsed = pageSchema.safeParse(value);
  return parsed.success ? { ok: true, page: parsed.data } : { ok: false, page: 1 };
}

export interface HomeController {
  /** Publishes the user's Home (page 1) after a change made through the bot. Never throws. */
  republish(actor: Actor): Promise<void>;
}

/**
 * The App Home: `app_home_opened` (Home tab) publishes the dashboard; Refresh and the paging buttons
 * re-publish it. Read-only, so no permission is needed to page; what the user may do decides which
 * buttons are shown, and every change button is checked again when clicked (src/actions/listeners.ts).
 */
export function registerHome(app: App, deps: Deps): HomeController {
  const home: Home = {
    deps,
    log: deps.logger.child({ component: "home" }),
    convaiHost: hostOf(deps.config.convai.apiUrl),
  };

  app.event("app_home_opened", async ({ event, client }) => {
    if (event.tab !== "home") return;
    // Slack keeps the last published view, page included, in private_metadata: re-opening stays there.
    const remembered = event.view?.type === "home" ? parsePage(event.view.private_metadata) : undefined;
    await publish(home, client, event.user, remembered?.page ?? 1, "opened");
  });

  const pageListener = async ({
    ack,
    body,
    action,
    client,
  }: SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs) => {
    await ack();
    const value = action.type === "button" ? action.value : undefined;
    const requested = parsePage(value);
    if (!requested.ok) {
      home.log.warn(
        { userId: body.user.id, action: action.action_id },
        "A Home button carried a malformed page number; showing page 1.",
      );
    }
    await publish(
      home,
      client,
      body.user.id,
      requested.page,
      action.action_id === ACTION.homeRefresh ? "refresh" : "page",
    );
  };
  app.action<BlockAction>({ action_id: ACTION.homeRefresh }, pageListener);
  app.action<BlockAction>({ action_id: PAGE_ACTION_PATTERN }, pageListener);

  return { republish: (actor) => publish(home, app.client, actor.userId, 1, "changed") };
}

interface Home {
  deps: Deps;
  log: Logger;
  convaiHost: string;
}

async function access(deps: Deps, userId: string): Promise<HomeAccess> {
  const permission = await deps.authz.canManage(userId);
  if (permission.ok) return { canManage: true };
  // A failed look-up is worth telling the user; the usual refusal is said by the policy line.
  const problem = permission.reason === "lookup_failed" ? permission.message : undefined;
  return { canManage: false, policy: deps.authz.policy, problem };
}

async function send(
  home: Home,
  client: WebClient,
  userId: string,
  access: HomeAccess,
  page: number,
  state: HomeState,
  usage?: Usage,
) {
  const { deps } = home;
  const { view, page: shown } = homeView({
    sandbox: deps.view.sandbox,
    convaiHost: home.convaiHost,
    prefix: deps.view.prefix,
    command: deps.command,
    access,
    page,
    state,
    usage,
    now: new Date(),
  });
  await client.views.publish({ user_id: userId, view });
  return shown;
}

/** Publishes one user's Home. Failures are logged, never thrown: a Home is never worth a crashed listener. */
async function publish(
  home: Home,
  client: WebClient,
  userId: string,
  page: number,
  reason: string,
): Promise<void> {
  const { deps, log } = home;
  const started = Date.now();
  try {
    // One character list read per render, in parallel with the models (SPEC §10).
    // A burst of Home openings shares its reads: each new read waits HOME_GATHER_MS for others to join.
    const list = Promise.all([
      deps.service.list({ gatherMs: HOME_GATHER_MS }),
      deps.characters.list({ gatherMs: HOME_GATHER_MS }),
    ]);
    const who = access(deps, userId);
    if ((await settledWithin(list, LOADING_AFTER_MS)) === undefined) {
      // Convai is slow: show that it is loading rather than nothing (first open) or stale rows.
      await send(home, client, userId, await who, page, { kind: "loading" }).catch((error: unknown) => {
        log.warn({ userId, error: slackErrorCode(error) }, "Could not publish the Home loading state.");
      });
    }
    const [[result, characters], userAccess] = await Promise.all([list, who]);
    const state: HomeState = result.ok
      ? { kind: "loaded", models: result.data }
      : { kind: "failed", message: describeFailure(result) };
    if (!result.ok) {
      log.warn(
        { userId, kind: result.kind, transactionID: result.transactionID },
        "Home shows an error: the model list could not be read from Convai.",
      );
    }
    const shown = await send(home, client, userId, userAccess, page, state, toUsage(characters));
    log.debug(
      {
        userId,
        reason,
        page: shown.page,
        pages: shown.pages,
        canManage: userAccess.canManage,
        durationMs: Date.now() - started,
      },
      "Published the App Home.",
    );
  } catch (error) {
    log.error(
      { userId, reason, error: slackErrorCode(error) },
      "Could not publish the App Home; the user sees the previous version.",
    );
  }
}
