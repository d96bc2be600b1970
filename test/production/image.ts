/**
 * `npm run test:image` (SPEC §11): builds the container image with ../shared/tools/podman-here (the base
 * image made first by ../shared/tools/container-base, since these machines cannot pull) and runs it against
 * the test fakes on 127.0.0.1 (the container shares the host network): /healthz 200, a signed `list`
 * answered, a register reaching the Convai sandbox while `podman stop` drains it, exit 0 within the drain
 * bound, the bot running as uid 1000. Prints the image size and the time of each step; exits 1 on a failure.
 * Not part of vitest: it needs root and podman, and takes a minute or two.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { createSandbox } from "../../src/convai/sandbox/index.js";
import { startFakeSlack } from "../helpers/fake-slack.js";
import {
  input,
  SIGNING_SECRET,
  sendCommand,
  sendInteraction,
  stateValues,
  viewSubmission,
} from "../helpers/slack-requests.js";
import { freePort, healthStatus, ROOT } from "./processes.js";

const run = promisify(execFile);
const TOOLS = path.resolve(process.env.SHARED_TOOLS ?? path.join(ROOT, "..", "shared", "tools"));
const IMAGE = "localhost/convai-llm-bot:test";
const NAME = `convai-image-test-${process.pid}`;
/** The bot's drain bound (createApp's drainMs default); `podman stop` must end well within it plus start-up. */
const DRAIN_MS = 10_000;
const CONVAI_KEY = `convai-image-${randomBytes(8).toString("hex")}`;

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`image test failed: ${what}`);
}

async function tool(name: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const file = path.join(TOOLS, name);
  check(
    existsSync(file),
    `${file} is missing; set SHARED_TOOLS to the folder holding container-base and podman-here`,
  );
  const { stdout } = await run(file, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    maxBuffer: 64 * 2 ** 20,
  });
  return stdout.trim();
}

async function timed<T>(label: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await step();
  process.stdout.write(`image test: ${label} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

// One scenario, step after step, each checked; long because the scenario is, not because it branches.
async function main(): Promise<void> {
  await timed("base image (container-base)", () => tool("container-base", []));
  await timed("image build", () => tool("podman-here", ["build", "-t", IMAGE, "."]));
  const size = Number(await tool("podman-here", ["image", "inspect", "--format", "{{.Size}}", IMAGE]));
  process.stdout.write(`image test: image size ${(size / 1e6).toFixed(0)} MB (${size} bytes)\n`);

  const fake = await startFakeSlack();
  const sandbox = createSandbox({ apiKey: CONVAI_KEY, record: true });
  const convaiUrl = await sandbox.listen(0, "127.0.0.1");
  const port = await freePort();
  const env = {
    SLACK_BOT_TOKEN: "xoxb-image-test",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: String(port),
    CONVAI_API_KEY: CONVAI_KEY,
    CONVAI_API_URL: convaiUrl,
    CONVAI_MANAGERS: "U0USER",
    CONVAI_ALLOW_PRIVATE_URLS: "true",
  };
  try {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await tool("podman-here", ["run", "-d", "--name", NAME, ...envArgs, IMAGE]);
    await timed("container healthy", async () => {
      const deadline = Date.now() + 30_000;
      while ((await healthStatus(port)) !== 200) {
        check(Date.now() < deadline, "/healthz did not answer 200 within 30 s");
        await sleep(100);
      }
    });
    const base = `http://127.0.0.1:${port}`;

    const status1 = (await tool("podman-here", ["exec", NAME, "cat", "/proc/1/status"])).split("\n");
    const uid = status1.find((line) => line.startsWith("Uid:"))?.split(/\s+/)[1];
    check(uid === "1000", `PID 1 runs as uid ${uid}, not 1000`);
    const top = await tool("podman-here", ["exec", NAME, "ls", "/app"]);
    check(!/\bsrc\b|\btest\b/.test(top), `the runtime stage holds sources or tests: ${top}`);
    const packages = await tool("podman-here", [
      "exec",
      NAME,
      "ls",
      "/app/node_modules",
      "/app/node_modules/.bin",
    ]);
    check(
      !/esbuild|typescript|vitest|biome|tsx/.test(packages),
      `the runtime stage holds dev dependencies: ${packages}`,
    );
    await tool("podman-here", ["healthcheck", "run", NAME]);

    const ack = await sendCommand(`${base}/slack/events`, {
      text: "list",
      responseUrl: fake.responseUrl("l"),
    });
    check(ack.status === 200, `list acked ${ack.status}`);
    const listed = await fake.waitForResponse((r) => r.id === "l", 5000);
    check(JSON.stringify(listed.body).includes("No custom LLMs"), "the list reply is not the empty list");

    // A register held 1.5 s at Convai, in flight when `podman stop` sends SIGTERM.
    sandbox.inject({ endpoint: "register", fault: { kind: "delay", ms: 1500 } });
    const submitted = sendInteraction(
      `${base}/slack/events`,
      viewSubmission({
        callbackId: "convai_llm_register",
        privateMetadata: JSON.stringify({ v: 1 }),
        values: stateValues({
          model_group_name: input.text("image-model"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("Image"),
          api_key: input.text("sk-image-KEY-77"),
          base_url: input.url("http://127.0.0.1:9/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    const deadline = Date.now() + 5000;
    while (!sandbox.requests.some((q) => q.path.endsWith("/register")) && Date.now() < deadline)
      await sleep(20);
    check(
      sandbox.requests.some((q) => q.path.endsWith("/register")),
      "the register never reached the Convai sandbox",
    );
    const stopMs = await timed("podman stop (SIGTERM, drain)", async () => {
      const started = performance.now();
      await tool("podman-here", ["stop", "-t", String(DRAIN_MS / 1000 + 5), NAME]);
      return performance.now() - started;
    });
    const ack2 = await submitted;
    check(ack2.status === 200, "the submission in flight was not acked");
    const exitCode = await tool("podman-here", ["inspect", "--format", "{{.State.ExitCode}}", NAME]);
    check(exitCode === "0", `the container exited ${exitCode}, not 0`);
    check(
      stopMs < DRAIN_MS,
      `podman stop took ${stopMs.toFixed(0)} ms, beyond the ${DRAIN_MS} ms drain bound`,
    );
    const register = sandbox.requests.filter((q) => q.path.endsWith("/register"));
    check(register.length === 1, `Convai saw ${register.length} registers, not 1`);
    check(
      sandbox.models().some((m) => m.model_group_name === "image-model"),
      "the model is not registered at Convai",
    );
    // In the ack when Convai answers within the submission budget, else by views.update or a DM.
    const outcome = [
      ack2.text,
      ...[...fake.callsTo("views.update"), ...fake.callsTo("chat.postMessage")].map((c) =>
        JSON.stringify(c.args),
      ),
    ];
    check(
      outcome.some((text) => text.includes("is registered")),
      "the user was not told the model is registered",
    );
    const logs = await tool("podman-here", ["logs", NAME]);
    check(!logs.includes("sk-image-KEY-77") && !logs.includes(CONVAI_KEY), "a secret reached the log");
    await sandboxOnVolume(env);
    process.stdout.write(
      `image test: passed (size ${(size / 1e6).toFixed(0)} MB, stop with a register in flight ${(stopMs / 1000).toFixed(1)} s, exit 0, uid 1000)\n`,
    );
  } finally {
    await tool("podman-here", ["rm", "-f", NAME]).catch(() => undefined);
    await sandbox.close();
    await fake.close();
  }
}

/**
 * Without CONVAI_API_KEY the bot serves its embedded sandbox; its state file lives on a volume at a path set
 * by CONVAI_SANDBOX_FILE, and survives the container.
 */
async function sandboxOnVolume(live: Record<string, string>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "convai-image-volume-"));
  // The container runs as uid 1000; the host folder must be writable by it.
  await chown(dir, 1000, 1000);
  const port = await freePort();
  const name = `${NAME}-sandbox`;
  const { CONVAI_API_KEY: _key, CONVAI_API_URL: _url, ...slack } = live;
  const env = { ...slack, PORT: String(port), CONVAI_SANDBOX_FILE: "/state/sandbox.json" };
  const args = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  try {
    await tool("podman-here", ["run", "-d", "--name", name, ...args, "-v", `${dir}:/state`, IMAGE]);
    const deadline = Date.now() + 30_000;
    while ((await healthStatus(port)) !== 200) {
      check(Date.now() < deadline, "sandbox mode: /healthz did not answer 200 within 30 s");
      await sleep(100);
    }
    const res = await sendInteraction(
      `http://127.0.0.1:${port}/slack/events`,
      viewSubmission({
        callbackId: "convai_llm_register",
        privateMetadata: JSON.stringify({ v: 1 }),
        values: stateValues({
          model_group_name: input.text("volume-model"),
          model_name: input.text("gpt-4o-mini"),
          display_name: input.text("Volume"),
          api_key: input.text("sk-volume-KEY-5"),
          base_url: input.url("http://127.0.0.1:9/v1"),
          is_uncensored: input.checkbox([]),
          verify: input.checkbox([]),
        }),
      }),
    );
    check(
      res.text.includes("is registered") && res.text.includes("Sandbox mode"),
      "sandbox mode: register not answered",
    );
    await tool("podman-here", ["stop", "-t", "15", name]);
    const state = await readFile(path.join(dir, "sandbox.json"), "utf8");
    check(
      state.includes("volume-model"),
      "sandbox mode: the state file on the volume does not hold the model",
    );
    process.stdout.write("image test: sandbox mode keeps its state in CONVAI_SANDBOX_FILE on a volume\n");
  } finally {
    await tool("podman-here", ["rm", "-f", name]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
