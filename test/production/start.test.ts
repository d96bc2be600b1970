/**
 * `npm start` as an operator runs it (SPEC §11): it builds only when dist/ is missing or older than the
 * sources, never type-checks, and a production install (`npm ci --omit=dev` beside a built dist/) runs
 * without TypeScript or esbuild. Each case works in a copy of the project in a temporary folder.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type FakeSlack, startFakeSlack } from "../helpers/fake-slack.js";
import { SIGNING_SECRET, sendCommand } from "../helpers/slack-requests.js";
import { healthStatus, pidInGroup, ROOT, type Running, start, waitForPort } from "./processes.js";

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function fakeSlack(): Promise<FakeSlack> {
  const fake = await startFakeSlack();
  cleanup.push(() => fake.close());
  return fake;
}

function npmStart(dir: string, fake: FakeSlack): Running {
  const r = start("npm", ["start"], dir, {
    SLACK_BOT_TOKEN: "xoxb-production-test",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    CONVAI_SANDBOX_FILE: join(dir, "sandbox.json"),
  });
  cleanup.push(() => r.kill());
  return r;
}

/** Starts the bot with `npm start`, proves it serves (health, a signed list answered), stops it with SIGTERM. */
async function serveOnce(dir: string, fake: FakeSlack, id: string): Promise<string> {
  const r = npmStart(dir, fake);
  const port = await waitForPort(r);
  expect(await healthStatus(port)).toBe(200);
  const ack = await sendCommand(`http://127.0.0.1:${port}/slack/events`, {
    text: "list",
    responseUrl: fake.responseUrl(id),
  });
  expect(ack.status).toBe(200);
  const reply = await fake.waitForResponse((res) => res.id === id, 5000);
  expect(JSON.stringify(reply.body)).toContain("Sandbox mode");
  // SIGTERM to the bot's node process: it drains and exits 0, and npm exits with its code.
  process.kill(pidInGroup(r, "scripts/start.mjs"), "SIGTERM");
  expect(await r.exited).toBe(0);
  return r.output();
}

/** A copy of what `npm start` needs to build: sources, scripts, configuration, the installed packages. */
async function sourceCopy(): Promise<string> {
  const dir = await tempDir("convai-start-");
  for (const name of ["src", "scripts", "package.json", "tsconfig.json"]) {
    await cp(join(ROOT, name), join(dir, name), { recursive: true, preserveTimestamps: true });
  }
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

describe("npm start", () => {
  it("builds when dist/ is missing, not when it is current, and again when a source changes", async () => {
    const fake = await fakeSlack();
    const dir = await sourceCopy();

    const first = await serveOnce(dir, fake, "first");
    expect(first).toContain("Building dist/app.mjs (dist/app.mjs is missing)");
    // esbuild only: no type-check on the way to serving.
    expect(first).not.toMatch(/\btsc\b/);
    const built = (await stat(join(dir, "dist", "app.mjs"))).mtimeMs;

    const second = await serveOnce(dir, fake, "second");
    expect(second).not.toContain("Building");
    expect((await stat(join(dir, "dist", "app.mjs"))).mtimeMs).toBe(built);

    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, "src", "config.ts"), later, later);
    const third = await serveOnce(dir, fake, "third");
    expect(third).toContain("Building dist/app.mjs (src/ changed since dist/app.mjs was built)");
  }, 90_000);

  it("a production install (npm ci --omit=dev beside a built dist/) runs without TypeScript or esbuild", async () => {
    const fake = await fakeSlack();
    const built = await sourceCopy();
    execFileSync("npm", ["run", "build", "--silent"], { cwd: built, stdio: "pipe" });

    const dir = await tempDir("convai-prod-");
    for (const name of ["dist", "scripts", "package.json"]) {
      await cp(join(built, name), join(dir, name), { recursive: true, preserveTimestamps: true });
    }
    await cp(join(ROOT, "package-lock.json"), join(dir, "package-lock.json"));
    // From npm's cache: the suite reaches nothing beyond 127.0.0.1, and `npm ci` filled the cache first.
    execFileSync("npm", ["ci", "--omit=dev", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: dir,
      stdio: "pipe",
    });
    for (const dev of ["esbuild", "typescript", "tsx", "vitest", "@biomejs"]) {
      expect(existsSync(join(dir, "node_modules", dev)), dev).toBe(false);
    }
    expect(existsSync(join(dir, "node_modules", "@slack", "bolt"))).toBe(true);

    const output = await serveOnce(dir, fake, "prod");
    expect(output).not.toContain("Building");

    // Sources newer than the bundle and no esbuild: a clear refusal, not a crash.
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src", "app.ts"), "export {};\n");
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, "src", "app.ts"), later, later);
    const stale = npmStart(dir, fake);
    expect(await stale.exited).not.toBe(0);
    expect(stale.output()).toContain("building it needs esbuild, a dev dependency");
  }, 120_000);
});
