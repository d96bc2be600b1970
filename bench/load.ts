/**
 * The load: signed `list` slash commands sent as Slack sends them, a command in flight from its POST until
 * its reply reaches response_url; and the `update` → views.open timing.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Agent, request } from "undici";
import { commandPayload, signedHeaders } from "../test/helpers/slack-requests.js";
import { COMMAND, cancelReply, clearRecords, expectReply, type Infra, MANAGER, SEED_GROUP } from "./infra.js";
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
  clearRecords(infra);
  return {
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
