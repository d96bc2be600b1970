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

/** A character as the sandbox keeps it; the rest of Convai's large object is made up when listed. */
export const storedCharacterSchema = z.object({
  character_id: z.string().min(1),
  character_name: z.string(),
  /** A built-in model code or a custom LLM's group (which may since have been deregistered). */
  model: z.string().min(1),
  timestamp: z.string(),
});
export type StoredCharacter = z.infer<typeof storedCharacterSchema>;

// `characters` arrived after version 1 files existed: absent reads as none, and none is not written.
const stateFileSchema = z.object({
  version: z.literal(1),
  models: z.array(storedModelSchema),
  characters: z.array(storedCharacterSchema).optional(),
});
interface State {
  models: Map<string, StoredModel>;
  characters: Map<string, StoredCharacter>;
  /** False when there was no state file yet (a fresh sandbox). */
  existed: boolean;
}

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

const emptyState = (existed: boolean): State => ({ models: new Map(), characters: new Map(), existed });

/** Reads the state file; a corrupt one is moved aside so the sandbox starts empty instead of failing. */
function loadState(file: string, logger: Logger | undefined): State {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return emptyState(false);
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
    return {
      models: new Map(result.data.models.map((m) => [m.model_group_name, m])),
      characters: new Map((result.data.characters ?? []).map((c) => [c.character_id, c])),
      existed: true,
    };
  }
  moveAside(file, logger);
  return emptyState(true);
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

/** The sandbox's state: models and characters, kept in memory and mirrored to an optional file. */
export interface Store {
  /** False when the sandbox started without a state file (nothing persisted yet). */
  readonly existed: boolean;
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
  /** In list order (the order they were added). */
  characters(): StoredCharacter[];
  getCharacter(id: string): StoredCharacter | undefined;
  /** As commit, for one character. */
  commitCharacter(next: StoredCharacter): Promise<void>;
  /** Sets a character in memory only (code-only set-up); `save()` writes it. */
  putCharacter(character: StoredCharacter): void;
  save(): Promise<void>;
  clear(): Promise<void>;
  /** Resolves when every write started so far has finished (successfully or not). */
  settled(): Promise<void>;
}

// Longer than 80 lines as a whole: a factory whose small methods share the maps and the write queue.
export function createStore(file: string | undefined, logger: Logger | undefined): Store {
  const state = file ? loadState(file, logger) : emptyState(false);
  const { models, characters } = state;

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
        const data = {
          version: 1,
          models: sorted,
          ...(characters.size > 0 ? { characters: [...characters.values()] } : {}),
        };
        return writeAtomically(target, `${JSON.stringify(data, null, 2)}\n`);
      });
    queued = next;
    running = next;
    return next;
  }

  return {
    existed: state.existed,
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
    characters: () => [...characters.values()],
    getCharacter: (id) => characters.get(id),
    async commitCharacter(next) {
      const previous = characters.get(next.character_id);
      characters.set(next.character_id, next);
      try {
        await persist();
      } catch (err) {
        if (characters.get(next.character_id) === next) {
          if (previous) characters.set(next.character_id, previous);
          else characters.delete(next.character_id);
        }
        throw err;
      }
    },
    putCharacter(character) {
      characters.set(character.character_id, character);
    },
    async clear() {
      models.clear();
      characters.clear();
      await persist();
    },
    settled: () => running.catch(() => undefined),
  };
}
