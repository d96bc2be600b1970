/**
 * createAuthorizer against the fake Slack Web API, driven by the real @slack/web-api WebClient: who may
 * change models, how answers are cached, and what a refused user and the log are told.
 */
import { Writable } from "node:stream";
import { LogLevel, WebClient } from "@slack/web-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { type Authorizer, createAuthorizer } from "../../src/slack/authz.js";
import { type FakeSlack, startFakeSlack } from "../helpers/fake-slack.js";

const ADMIN = "U0ADMIN";
const OWNER = "U0OWNER";
const PRIMARY = "U0PRIMARY";
const PLAIN = "U0PLAIN";
const GONE = "U0GONE";
const LISTED = "U0LISTED";
const GROUPIE = "U0GROUPIE";
const GROUP = "S0MANAGERS";
const MINUTE = 60_000;

let fake: FakeSlack;
let client: WebClient;

beforeAll(async () => {
  fake = await startFakeSlack();
  client = new WebClient("xoxb-test-bot-token", {
    slackApiUrl: fake.apiUrl,
    retryConfig: { retries: 0 },
    logLevel: LogLevel.ERROR,
  });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.users.clear();
  fake.usergroups.clear();
  fake.users.set(ADMIN, { is_admin: true });
  fake.users.set(OWNER, { is_owner: true });
  fake.users.set(PRIMARY, { is_primary_owner: true });
  fake.users.set(PLAIN, {});
  fake.users.set(GONE, { is_admin: true, deleted: true });
  fake.usergroups.set(GROUP, [GROUPIE]);
});

interface Setup {
  authz: Authorizer;
  logs: Array<Record<string, unknown>>;
  clock: { now: number };
}

function setup(config: {
  managers?: string[];
  managerGroup?: string;
  allowedTeams?: string[];
  authzCacheSeconds?: number;
}): Setup {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === "object" && parsed !== null) logs.push({ ...parsed });
      }
      cb();
    },
  });
  const clock = { now: 1_000_000 };
  const authz = createAuthorizer({
    config: {
      managers: config.managers ?? [],
      allowedTeams: config.allowedTeams ?? [],
      ...(config.managerGroup ? { managerGroup: config.managerGroup } : {}),
      ...(config.authzCacheSeconds !== undefined ? { authzCacheSeconds: config.authzCacheSeconds } : {}),
    },
    client,
    logger: createLogger({ level: "debug", destination }),
    now: () => clock.now,
  });
  return { authz, logs, clock };
}

const calls = (method: string) => fake.callsTo(method).length;

describe("CONVAI_MANAGERS", () => {
  it("allows the listed users without asking Slack, and names them to everyone else", async () => {
    const { authz } = setup({ managers: [LISTED] });
    expect(await authz.canManage(LISTED)).toEqual({ ok: true });
    const refused = await authz.canManage(ADMIN);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    // Who can grant access: the listed managers, as mentions.
    expect(refused.message).toContain(`<@${LISTED}>`);
    // In words a Slack user understands; the variable's name is for the operator's log line only.
    expect(refused.message).toBe(
      `Only Convai LLM managers — <@${LISTED}> — can change custom LLMs or move characters between them. Ask one of them for access.`,
    );
    expect(refused.message).not.toContain("CONVAI_MANAGERS");
    expect(authz.source).toBe("CONVAI_MANAGERS");
    // A workspace admin is not a manager once the list is set: users.info is never consulted.
    expect(calls("users.info")).toBe(0);
    expect(calls("usergroups.users.list")).toBe(0);
  });
});

describe("CONVAI_MANAGER_GROUP", () => {
  it("allows members of the user group and refuses others, naming the group", async () => {
    const { authz } = setup({ managerGroup: GROUP });
    expect(await authz.canManage(GROUPIE)).toEqual({ ok: true });
    const refused = await authz.canManage(PLAIN);
    expect(refused).toMatchObject({ ok: false });
    if (!refused.ok) expect(refused.message).toContain(`<!subteam^${GROUP}>`);
    expect(fake.callsTo("usergroups.users.list")[0]?.args.usergroup).toBe(GROUP);
  });

  it("caches the member list for a few minutes, then reads it again", async () => {
    const { authz, clock } = setup({ managerGroup: GROUP });
    expect((await authz.canManage(GROUPIE)).ok).toBe(true);
    expect((await authz.canManage(PLAIN)).ok).toBe(false);
    clock.now += 4 * MINUTE;
    expect((await authz.canManage(GROUPIE)).ok).toBe(true);
    expect(calls("usergroups.users.list")).toBe(1);

    // Membership changes are seen once the cache expires.
    fake.usergroups.set(GROUP, [PLAIN]);
    clock.now += 2 * MINUTE;
    expect((await authz.canManage(GROUPIE)).ok).toBe(false);
    expect((await authz.canManage(PLAIN)).ok).toBe(true);
    expect(calls("usergroups.users.list")).toBe(2);
  });

  it("CONVAI_AUTHZ_CACHE_SECONDS shortens how long a removed member keeps rights", async () => {
    const { authz, clock } = setup({ managerGroup: GROUP, authzCacheSeconds: 30 });
    expect((await authz.canManage(GROUPIE)).ok).toBe(true);
    fake.usergroups.set(GROUP, [PLAIN]);
    clock.now += 31_000;
    expect((await authz.canManage(GROUPIE)).ok).toBe(false);
    expect(calls("usergroups.users.list")).toBe(2);
  });

  it("plan_upgrade_required: logged clearly, access denied with a message, never cached", async () => {
    fake.on("usergroups.users.list", () => ({ body: { ok: false, error: "plan_upgrade_required" } }));
    const { authz, logs } = setup({ managerGroup: GROUP });
    const refused = await authz.canManage(GROUPIE);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.message).toMatch(/paid Slack plan/);
    expect(refused.message).not.toMatch(/CONVAI_/);
    expect(refused.message).toContain(`<!subteam^${GROUP}>`);

    const line = logs.find((l) => l.error === "plan_upgrade_required");
    expect(line).toMatchObject({ level: 50, component: "authz", usergroup: GROUP });
    expect(String(line?.msg)).toMatch(/paid plan.*CONVAI_MANAGERS/);

    // The failure is not cached: once Slack answers, the member gets in.
    fake.reset();
    expect((await authz.canManage(GROUPIE)).ok).toBe(true);
    expect(calls("usergroups.users.list")).toBe(1);
  });

  it("an unknown group or a missing scope is refused with Slack's error code", async () => {
    const { authz, logs } = setup({ managerGroup: "S0NOSUCH" });
    const refused = await authz.canManage(GROUPIE);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.message).toContain("no_such_subteam");
    expect(logs.some((l) => l.error === "no_such_subteam" && l.level === 50)).toBe(true);
  });

  it("with both set, a listed manager gets in even while the group cannot be read", async () => {
    fake.on("usergroups.users.list", () => ({ body: { ok: false, error: "plan_upgrade_required" } }));
    const { authz } = setup({ managers: [LISTED], managerGroup: GROUP });
    expect((await authz.canManage(LISTED)).ok).toBe(true);
    expect(calls("usergroups.users.list")).toBe(0);
    const refused = await authz.canManage(PLAIN);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.message).toContain(`<@${LISTED}>`);
  });
});

describe("default policy: workspace admins and owners", () => {
  it("admins, owners and primary owners may; members and deactivated admins may not", async () => {
    const { authz } = setup({});
    expect((await authz.canManage(ADMIN)).ok).toBe(true);
    expect((await authz.canManage(OWNER)).ok).toBe(true);
    expect((await authz.canManage(PRIMARY)).ok).toBe(true);
    for (const user of [PLAIN, GONE]) {
      const refused = await authz.canManage(user);
      expect(refused).toMatchObject({ ok: false });
      if (!refused.ok) expect(refused.message).toContain("workspace admins and owners");
    }
    expect(authz.policy).toBe("workspace admins and owners");
    expect(fake.callsTo("users.info").map((c) => c.args.user)).toEqual([ADMIN, OWNER, PRIMARY, PLAIN, GONE]);
  });

  it("caches each user's answer for a few minutes; a failed lookup is not cached", async () => {
    const { authz, clock, logs } = setup({});
    expect((await authz.canManage(ADMIN)).ok).toBe(true);
    expect((await authz.canManage(PLAIN)).ok).toBe(false);
    clock.now += 4 * MINUTE;
    expect((await authz.canManage(ADMIN)).ok).toBe(true);
    expect((await authz.canManage(PLAIN)).ok).toBe(false);
    expect(calls("users.info")).toBe(2);

    // Demoted: seen after the cache expires.
    fake.users.set(ADMIN, {});
    clock.now += 2 * MINUTE;
    expect((await authz.canManage(ADMIN)).ok).toBe(false);
    expect(calls("users.info")).toBe(3);

    // Slack failing: denied with the reason, logged, and asked again next time.
    fake.on("users.info", () => ({ status: 200, body: { ok: false, error: "missing_scope" } }));
    const failed = await authz.canManage(OWNER);
    expect(failed.ok).toBe(false);
    if (!failed.ok) expect(failed.message).toContain("missing_scope");
    expect(logs.some((l) => l.error === "missing_scope" && l.userId === OWNER && l.level === 50)).toBe(true);
    fake.reset();
    expect((await authz.canManage(OWNER)).ok).toBe(true);
    expect(calls("users.info")).toBe(1);
  });

  it("an admin of another organization (Slack Connect stranger) is not an admin here", async () => {
    fake.on("users.info", (args) => ({
      body: {
        ok: true,
        user: { id: args.user, team_id: "T0ELSEWHERE", is_admin: true, is_owner: true, is_stranger: true },
      },
    }));
    const { authz } = setup({});
    expect((await authz.canManage("U0EXTERNAL")).ok).toBe(false);
  });

  it("with CONVAI_ALLOWED_TEAMS, only admins whose team or enterprise is allowed", async () => {
    const users: Record<string, Record<string, unknown>> = {
      U0HOME: { team_id: "T0HOME", is_admin: true },
      U0OTHER: { team_id: "T0OTHER", is_admin: true },
      U0GRID: { team_id: "T0WS9", is_owner: true, enterprise_user: { enterprise_id: "E0GRID", teams: [] } },
    };
    fake.on("users.info", (args) => ({
      body: { ok: true, user: { id: args.user, ...users[String(args.user)] } },
    }));
    const { authz } = setup({ allowedTeams: ["T0HOME", "E0GRID"] });
    expect((await authz.canManage("U0HOME")).ok).toBe(true);
    expect((await authz.canManage("U0GRID")).ok).toBe(true);
    expect((await authz.canManage("U0OTHER")).ok).toBe(false);
  });
});

describe("CONVAI_ALLOWED_TEAMS", () => {
  it("unset: every team is allowed", () => {
    const { authz } = setup({});
    expect(authz.teamAllowed(["T0ANY"])).toBe(true);
    expect(authz.teamAllowed([])).toBe(true);
  });

  it("set: a request is allowed when any of its team or enterprise ids is listed", () => {
    const { authz } = setup({ allowedTeams: ["T0HOME", "E0GRID"] });
    expect(authz.teamAllowed(["T0HOME"])).toBe(true);
    // Enterprise Grid: any workspace of an allowed enterprise.
    expect(authz.teamAllowed(["T0WS9", "E0GRID"])).toBe(true);
    expect(authz.teamAllowed([undefined, "E0GRID"])).toBe(true);
    expect(authz.teamAllowed(["T0OTHER", "E0OTHER"])).toBe(false);
    expect(authz.teamAllowed([undefined])).toBe(false);
    // No ids at all (a malformed body): refused.
    expect(authz.teamAllowed([])).toBe(false);
  });
});
