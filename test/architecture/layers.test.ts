/**
 * The layering rules of docs/architecture.md, checked on the source text so a wrong import fails the
 * suite: domain/ knows no Slack and no transport; Block Kit builders (ui) do no I/O.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

interface Import {
  spec: string;
  typeOnly: boolean;
  /** Path below src/ for a relative import, else undefined. */
  target?: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Every static import and re-export of a file, with whether it is erased at run time. */
function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  const pattern = /^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms;
  for (const m of text.matchAll(pattern)) {
    const spec = m[3] ?? "";
    const typeOnly = m[2] !== undefined;
    const target = spec.startsWith(".")
      ? relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, ".ts")
      : undefined;
    out.push({ spec, typeOnly, ...(target !== undefined ? { target } : {}) });
  }
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g))
    out.push({ spec: m[1] ?? "", typeOnly: false });
  return out;
}

const files = sources(SRC).map((abs) => ({
  path: relative(SRC, abs),
  imports: importsOf(abs, readFileSync(abs, "utf8")),
}));

const SLACK_SURFACES = /^(slack|commands|modals|actions|home|notify|history|approvals)\//;
const isUi = (path: string) => /(^|\/)([a-z]+-)?ui\.ts$|(^|\/)(blocks|text|ids)\.ts$/.test(path);
/** Modules that do I/O or hold a client: a ui module must not load them, not even indirectly. */
const IO_PACKAGES =
  /^(@slack\/bolt|@slack\/web-api|@slack\/socket-mode|undici|pino|node:(http|https|net|dns|fs|child_process|dgram|tls)(\/.*)?)$/;

type Source = { path: string; imports: Import[] };

const flagged = (list: Source[], select: (f: Source) => boolean, bad: (i: Import) => boolean) =>
  list.filter(select).flatMap((f) => f.imports.filter(bad).map((i) => `${f.path} → ${i.spec}`));

/** domain/ imports nothing from the Slack side, and no Slack or HTTP package. */
const domainSlack = (list: Source[]) =>
  flagged(
    list,
    (f) => f.path.startsWith("domain/"),
    (i) =>
      (i.target !== undefined && SLACK_SURFACES.test(i.target)) ||
      /^@slack\//.test(i.spec) ||
      (!i.typeOnly && IO_PACKAGES.test(i.spec)),
  );

/** domain/ loads transport modules (Convai client, probe) only as types: they are injected. */
const domainTransport = (list: Source[]) =>
  flagged(
    list,
    (f) => f.path.startsWith("domain/"),
    (i) =>
      !i.typeOnly &&
      i.target !== undefined &&
      /^(probe\/(probe|guard)|convai\/(client|sandbox))/.test(i.target),
  );

/** Block Kit builders load no I/O package and no module that is not itself pure, except as types. */
const pureTargets = (target: string) =>
  isUi(target) ||
  /^domain\/(fields|outcome|character-text)\.ts$/.test(target) ||
  /^(convai\/types|config)\.ts$/.test(target);
const impureUi = (list: Source[]) =>
  flagged(
    list,
    (f) => isUi(f.path),
    (i) => !i.typeOnly && (IO_PACKAGES.test(i.spec) || (i.target !== undefined && !pureTargets(i.target))),
  );

describe("layering", () => {
  it("finds the source tree (a rule over no files would pass vacuously)", () => {
    expect(files.filter((f) => f.path.startsWith("domain/")).length).toBeGreaterThanOrEqual(3);
    expect(files.filter((f) => isUi(f.path)).length).toBeGreaterThanOrEqual(6);
  });

  it("domain/ imports nothing from the Slack side, and no Slack or HTTP package", () => {
    expect(domainSlack(files)).toEqual([]);
  });

  it("domain/ loads transport modules (Convai client, probe) only as types: they are injected", () => {
    expect(domainTransport(files)).toEqual([]);
  });

  it("Block Kit builders are pure: no I/O package and no module that is not itself pure, except as types", () => {
    expect(impureUi(files)).toEqual([]);
  });

  it("each rule flags what it names, in files made up for the check, and lets the allowed forms through", () => {
    const fake = (path: string, text: string): Source => ({
      path,
      imports: importsOf(join(SRC, path), text),
    });
    const domain = fake(
      "domain/x.ts",
      [
        'import { CALLBACK } from "../slack/ids.js";',
        'import { request } from "undici";',
        'import { createConvaiClient } from "../convai/client.js";',
        'import type { ConvaiClient } from "../convai/client.js";',
        'import { mapLimit } from "../lib/async.js";',
      ].join("\n"),
    );
    expect(domainSlack([domain])).toEqual(["domain/x.ts → ../slack/ids.js", "domain/x.ts → undici"]);
    expect(domainTransport([domain])).toEqual(["domain/x.ts → ../convai/client.js"]);
    const ui = fake(
      "home/ui.ts",
      [
        'import type { WebClient } from "@slack/web-api";',
        'import { App } from "@slack/bolt";',
        'import { listReply } from "../commands/listeners.js";',
        'import { truncate } from "../slack/text.js";',
        'import type { Deps } from "../deps.js";',
      ].join("\n"),
    );
    expect(impureUi([ui])).toEqual(["home/ui.ts → @slack/bolt", "home/ui.ts → ../commands/listeners.js"]);
  });
});
