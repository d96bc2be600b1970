/**
 * The load: signed `list` slash commands sent as Slack sends them, a command in flight from its POST until
 * its reply reaches response_url; and the `update` → views.open timing.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Agent, request } from "undici";
import {
  appHomeOpened,
  commandPayload,
  eventCallback,
  signedHeaders,
} from "../test/helpers/slack-requests.js";
import {
  COMMAND,
  type ConvaiCalls,
  cancelReply,
  clearRecords,
  expectReply,
  type Infra,
  MANAGER,
  SEED_GROUP,
  takeConvaiCalls,
} from "./infra.js";
import type { Child } from "./processes.js";

const ACK_TIMEOUT_MS = 10_000;
/** More failures than this in one round means the bench is broken, not slow. */
const MAX_FAILED_PER_ROUND = 20;

interface SignedCommand {
  body: string;
  headers: Record<string, string>;
}

/** A slash command body as Slack posts it, signed; built before the clock starts. */
function signedCommand(
  secret: string,
  fields: { text: string; userId?: string; responseUrl: string; triggerId?: string },
): SignedCommand {
  const body = new URLSearchParams(
    commandPayload({
      text: fields.text,
      responseUrl: fields.responseUrl,
      command: COMMAND,
      ...(fields.userId ? { userId: fields.userId } : {}),
      ...(fields.triggerId ? { triggerId: fields.triggerId } : {}),
    }),
  ).toString();
  // signedHeaders sends Content-Type: application/x-www-form-urlencoded, exactly as Slack does.
  return { body, headers: signedHeaders(body, { secret }) };
}

/** POSTs the command; resolves with the HTTP status once the ack's body is read, 0 on a transport error. */
async function post(agent: Agent, url: string, command: SignedCommand): Promise<number> {
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: "POST",
      headers: command.headers,
      body: command.body,
      headersTimeout: ACK_TIMEOUT_MS,
      bodyTimeout: ACK_TIMEOUT_MS,
    });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

export interface Round {
  commands: number;
  failed: number;
  /** Ack latency of each successful command, ms. */
  latencies: number[];
  /** First send to last reply, ms. */
  elapsedMs: number;
  cpuMs: number;
  logLines: number;
  /** List calls that reached the sandbox during the round. */
  convai: ConvaiCalls;
}

let roundSeq = 0;

/** `total` signed `list` commands with `concurrency` in flight; a command is in flight until its reply lands. */
export async function runRound(
  agent: Agent,
  child: Child,
  infra: Infra,
  secret: string,
  concurrency: number,
  total: number,
): Promise<Round> {
  roundSeq += 1;
  const label = `${child.kind}-${roundSeq}`;
  const before = await child.stats();
  const linesBefore = child.stdoutLines;
  takeConvaiCalls(infra);
  const latencies: number[] = [];
  let issued = 0;
  let failed = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < total) {
      if (failed > MAX_FAILED_PER_ROUND) {
        throw new Error(`${child.kind}: more than ${MAX_FAILED_PER_ROUND} commands failed in one round`);
      }
      const id = `${label}-${issued}`;
      issued += 1;
      infra.commands += 1;
      const command = signedCommand(secret, { text: "list", responseUrl: infra.fake.responseUrl(id) });
      const replied = expectReply(infra, id);
      const sent = performance.now();
      const status = await post(agent, child.url, command);
      if (status !== 200) {
        cancelReply(infra, id);
        failed += 1;
        continue;
      }
      latencies.push(performance.now() - sent);
      if (!(await replied)) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const elapsedMs = performance.now() - started;
  // Let the last reply's own response finish on the child before reading its CPU time.
  await sleep(30);
  const after = await child.stats();
  const convai = takeConvaiCalls(infra);
  clearRecords(infra);
  return {
    convai,
    commands: total,
    failed,
    latencies,
    elapsedMs,
    cpuMs: (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000,
    logLines: child.stdoutLines - linesBefore,
  };
}

export interface ViewsResult {
  /** Command sent → views.open arrived at the fake Slack, ms, one per sample. */
  openMs: number[];
  /** Command sent → views.update (the form filled with Convai's data), ms. */
  filledMs: number[];
}

/** `update <group>` with the sandbox holding its list answer: views.open must not wait for Convai. */
export async function measureViewsOpen(
  agent: Agent,
  child: Child,
  infra: Infra,
  secret: string,
  samples: number,
  delayMs: number,
): Promise<ViewsResult> {
  clearRecords(infra);
  infra.sandbox.inject({ endpoint: "list", times: samples, fault: { kind: "delay", ms: delayMs } });
  const openMs: number[] = [];
  const sentAt: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const trigger = `bench.${Date.now()}.${i}.${randomBytes(6).toString("hex")}`;
      const opened = infra.fake.waitFor("views.open", (c) => c.args.trigger_id === trigger, delayMs + 5000);
      const command = signedCommand(secret, {
        text: `update ${SEED_GROUP}`,
        userId: MANAGER,
        responseUrl: infra.fake.responseUrl(`views-${i}`),
        triggerId: trigger,
      });
      const sent = Date.now();
      sentAt.push(sent);
      infra.commands += 1;
      const status = await post(agent, child.url, command);
      if (status !== 200) throw new Error(`${child.kind}: update command answered HTTP ${status}`);
      const call = await opened;
      openMs.push(call.at - sent);
      await sleep(50);
    }
    // Every form is filled once Convai answers, about delayMs after its command.
    const deadline = Date.now() + delayMs + 5000;
    while (infra.fake.callsTo("views.update").length < samples && Date.now() < deadline) await sleep(20);
    const updates = infra.fake
      .callsTo("views.update")
      .map((c) => c.at)
      .sort((a, b) => a - b);
    const filledMs = sentAt.flatMap((sent, i) => {
      const at = updates[i];
      return at === undefined ? [] : [at - sent];
    });
    return { openMs, filledMs };
  } finally {
    infra.sandbox.clearFaults();
    clearRecords(infra);
  }
}

export interface HomeBurst {
  events: number;
  spreadMs: number;
  latencyMs: number;
  /** Events acked 200. */
  acked: number;
  /** Distinct users whose Home was published with the model list in it. */
  published: number;
  /** views.publish calls, loading states included. */
  publishCalls: number;
  /** First event sent → last event sent, ms. */
  sendMs: number;
  /** First event sent → last views.publish at the fake Slack, ms. */
  lastPublishMs: number;
  convai: ConvaiCalls;
}

const HOME_DEADLINE_MS = 20_000;

/**
 * `events` signed `app_home_opened` events from as many users, sent evenly over `spreadMs` (each at its
 * own time, not waiting for the previous one), with every Convai answer `latencyMs` away; then waits for
 * every user's Home.
 */
export async function runHomeBurst(
  agent: Agent,
  child: Child,
  infra: Infra,
  secret: string,
  options: { events: number; spreadMs: number; latencyMs: number },
): Promise<HomeBurst> {
  const { events, spreadMs, latencyMs } = options;
  const users = Array.from({ length: events }, (_, i) => `U0HOME${String(i).padStart(5, "0")}`);
  // Signed before the clock starts; Bolt accepts a signature for five minutes.
  const signed = users.map((userId) => {
    const body = JSON.stringify(eventCallback(appHomeOpened({ userId })));
    const headers = signedHeaders(body, { secret, contentType: "application/json" });
    return { body, headers };
  });
  clearRecords(infra);
  if (latencyMs > 0) {
    infra.sandbox.inject({
      endpoint: "*",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "delay", ms: latencyMs },
    });
  }
  const homeOf = new Map<string, number>();
  try {
    const started = performance.now();
    const startedWall = Date.now();
    let lastSent = started;
    const acks = signed.map(async (event, i) => {
      const due = started + (events > 1 ? (spreadMs * i) / (events - 1) : 0);
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      lastSent = Math.max(lastSent, performance.now());
      return post(agent, child.url, event);
    });
    const statuses = await Promise.all(acks);
    const deadline = Date.now() + HOME_DEADLINE_MS;
    const loaded = () => {
      for (const call of infra.fake.callsTo("views.publish")) {
        const user = call.args.user_id;
        if (typeof user === "string" && JSON.stringify(call.args.view ?? "").includes(SEED_GROUP)) {
          homeOf.set(user, Math.max(homeOf.get(user) ?? 0, call.at));
        }
      }
      return homeOf.size;
    };
    while (loaded() < events && Date.now() < deadline) await sleep(20);
    const publishes = infra.fake.callsTo("views.publish");
    const lastAt = Math.max(...publishes.map((c) => c.at));
    return {
      events,
      spreadMs,
      latencyMs,
      acked: statuses.filter((s) => s === 200).length,
      published: homeOf.size,
      publishCalls: publishes.length,
      sendMs: lastSent - started,
      lastPublishMs: publishes.length > 0 ? lastAt - startedWall : Number.NaN,
      convai: takeConvaiCalls(infra),
    };
  } finally {
    infra.sandbox.clearFaults();
    clearRecords(infra);
  }
}
