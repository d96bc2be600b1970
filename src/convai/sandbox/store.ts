import { createHash, randomBytes } from "node:crypto";
import { readFileSync, renameSync } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../../logger.js";
import type { ConvaiModel } from "../types.js";

/** What the state file holds per model: everything list shows plus a key fingerprint, never the key. */
export const storedModelSchema = z.object({
  model_group_name: z.string().min(1),
  model_name: z.string().min(1),
  display_name: z.string().min(1),
  base_url: z.string(),
  is_uncensored: z.boolean(),
  category: z.string(),
  created_at: z.string(),
  api_key_sha256: z.string().regex(/^[0-9a-f]{16}$/),
});
export type StoredModel = z.infer<typeof storedModelSchema>;
const stateFileSchema = z.object({ version: z.literal(1), models: z.array(storedModelSchema) });

export const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();
/** First 16 hex chars of the sha256: enough to tell keys apart, useless to recover one. */
export const fingerprint = (key: string): string => sha256(key).toString("hex").slice(0, 16);

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && "code" in err && err.code === code;
}

function compareGroups(a: StoredModel, b: StoredModel): number {
  if (a.model_group_name === b.model_group_name) return 0;
  return a.model_group_name < b.model_group_name ? -1 : 1;
}

function publicModel(m: StoredModel): ConvaiModel {
  return {
    model_group_name: m.model_group_name,
    model_name: m.model_name,
    display_name: m.display_name,
    base_url: m.base_url,
    is_uncensored: m.is_uncensored,
    category: m.category,
    created_at: m.created_at,
  };
}

/** Reads the state file; a corrupt one is moved aside so the sandbox starts empty instead of failing. */
function loadState(file: string, logger: Logger | undefined): Map<string, StoredModel> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return new Map();
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const result = stateFileSchema.safeParse(parsed);
  if (result.success) {
    return new Map(result.data.models.map((m) => [m.model_group_name, m]));
  }
  moveAside(file, logger);
  return new Map();
}

function moveAside(file: string, logger: Logger | undefined): void {
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    renameSync(file, movedTo);
    logger?.warn(
      { file, movedTo },
      "convai sandbox: state file is corrupt; moved it aside and starting empty",
    );
  } catch (err) {
    logger?.error(
      { file, err: err instanceof Error ? err.message : String(err) },
      "convai sandbox: state file is corrupt and could not be moved aside; starting empty",
    );
  }
}

/** Writes `data` to `target` atomically: temp file beside it, fsync, rename, then fsync the folder. */
async function writeAtomically(target: string, data: string): Promise<void> {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  // Temp file beside the target so the rename is atomic; a crash leaves only an ignored *.tmp.
  const tmp = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, "w", 0o600);
    await handle.writeFile(data, "utf8");
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable; not every platform can fsync a directory, so best effort.
  const dirHandle = await open(dir, "r").catch(() => undefined);
  await dirHandle?.sync().catch(() => undefined);
  await dirHandle?.close().catch(() => undefined);
}

/** The sandbox's state: the registered models, kept in memory and mirrored to an optional file. */
export interface Store {
  has(group: string): boolean;
  get(group: string): StoredModel | undefined;
  /** Sorted by group, as list returns them. */
  models(): ConvaiModel[];
  displayNameTaken(displayName: string, exceptGroup: string | undefined): boolean;
  /**
   * Applies one change (undefined removes the group) and persists it; on a failed write the change is
   * undone in memory and the error is thrown.
   */
  commit(group: string, next: StoredModel | undefined): Promise<void>;
  /** Sets a model in memory only (code-only set-up); `save()` writes it. */
  put(model: StoredModel): void;
  save(): Promise<void>;
  clear(): Promise<void>;
  /** Resolves when every write started so far has finished (successfully or not). */
  settled(): Promise<void>;
}

export function createStore(file: string | undefined, logger: Logger | undefined): Store {
  const models = file ? loadState(file, logger) : new Map<string, StoredModel>();

  // Writes run one at a time; callers that arrive while one waits share it, since each write
  // snapshots the whole store when it starts.
  let running: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;

  function persist(): Promise<void> {
    if (file === undefined) return Promise.resolve();
    if (queued) return queued;
    const target = file;
    const next = running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        const sorted = [...models.values()].sort(compareGroups);
        return writeAtomically(target, `${JSON.stringify({ version: 1, models: sorted }, null, 2)}\n`);
      });
    queued = next;
    running = next;
    return next;
  }

  return {
    has: (group) => models.has(group),
    get: (group) => models.get(group),
    models: () => [...models.values()].sort(compareGroups).map(publicModel),
    displayNameTaken(displayName, exceptGroup) {
      const wanted = displayName.toLowerCase();
      for (const m of models.values()) {
        if (m.model_group_name !== exceptGroup && m.display_name.toLowerCase() === wanted) return true;
      }
      return false;
    },
    async commit(group, next) {
      const previous = models.get(group);
      if (next) models.set(group, next);
      else models.delete(group);
      try {
        await persist();
      } catch (err) {
        // Undo only if no later change replaced ours meanwhile.
        if (models.get(group) === next) {
          if (previous) models.set(group, previous);
          else models.delete(group);
        }
        throw err;
      }
    },
    put(model) {
      models.set(model.model_group_name, model);
    },
    save: persist,
    async clear() {
      models.clear();
      await persist();
    },
    settled: () => running.catch(() => undefined),
  };
}
