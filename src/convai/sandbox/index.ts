/**
 * The Convai sandbox (SPEC §7): an emulator of the Custom LLM API over real HTTP, for the bot's sandbox
 * mode, the standalone `npm run sandbox` and the test suite. This file puts the parts together:
 * store.ts (state and its file), api.ts (what each call does), faults.ts (injection), server.ts (HTTP).
 */
import type { Logger } from "../../logger.js";
import { type ConvaiModel, DEFAULT_BASE_URL } from "../types.js";
import { createApi } from "./api.js";
import { DEMO_CHARACTERS, DEMO_MODEL } from "./characters.js";
import { createFaults, type FaultRule } from "./faults.js";
import { createSandboxServer, type RecordedRequest } from "./server.js";
import { createStore, fingerprint, type Store, type StoredCharacter } from "./store.js";

export type { Fault, FaultRule, SandboxEndpoint } from "./faults.js";
export type { RecordedRequest } from "./server.js";

export interface SandboxOptions {
  /** The CONVAI-API-KEY header value it accepts. */
  apiKey: string;
  /** JSON state file; undefined = memory only. */
  file?: string;
  logger?: Logger;
  /** Default 65536; larger bodies get 413. */
  maxBodyBytes?: number;
  /**
   * Keep every request (headers and raw body included) for `requests`. Off by default: records hold
   * keys, so only tests turn it on; the bot's embedded and the standalone sandbox record nothing.
   */
  record?: boolean;
  /** With `record`, how many requests are kept (oldest dropped first). Default: all of them. */
  maxRecordedRequests?: number;
  /**
   * A fresh sandbox (no state file yet, or memory only) starts with a demo custom LLM and demo characters
   * on it and on built-in models. Off by default, so tests start empty; the bot's sandbox mode and
   * `npm run sandbox` turn it on.
   */
  demo?: boolean;
}

/** A character as the sandbox holds it (what `/character/list` shows, without the bulk). */
export type SandboxCharacter = StoredCharacter;

export interface Sandbox {
  /** Defaults: port 0 (any free one) and 127.0.0.1. Resolves to the base URL, without a trailing slash. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops the server, destroys every open socket (hung ones included) and waits for pending writes. */
  close(): Promise<void>;
  /** Throws when not listening. */
  readonly url: string;
  /** Code-only fault injection; never reachable over the network. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Every request received, in order (bounded by `maxRecordedRequests`); throws unless `record` is on. */
  readonly requests: RecordedRequest[];
  /** TCP connections accepted since creation. */
  readonly connectionCount: number;
  /** Current state as /llm-models list returns it, sorted by group. */
  models(): ConvaiModel[];
  /** First 16 hex chars of the sha256 of the stored api_key; the raw key is never stored. */
  keyFingerprint(group: string): string | undefined;
  /** Inserts or replaces models (code-only set-up), then persists. */
  seed(
    models: Array<Partial<ConvaiModel> & { model_group_name: string; model_name: string; api_key: string }>,
  ): Promise<void>;
  /** Characters in list order. */
  characters(): SandboxCharacter[];
  /** Inserts or replaces characters (code-only set-up), then persists. Timestamp defaults to now. */
  seedCharacters(
    characters: Array<Omit<SandboxCharacter, "timestamp"> & { timestamp?: string }>,
  ): Promise<void>;
  /** Empties the state (models and characters) and the file. */
  reset(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 65_536;

/** Writes the demo account into a fresh store; a failed write is logged, the demo stays in memory. */
function seedDemo(store: Store, logger: Logger | undefined): void {
  store.put(DEMO_MODEL);
  for (const c of DEMO_CHARACTERS) store.putCharacter(c);
  store.save().catch((err: unknown) => {
    logger?.error(
      { err: err instanceof Error ? err.message : String(err) },
      "convai sandbox: could not write the demo state; check that CONVAI_SANDBOX_FILE's folder is writable",
    );
  });
}

export function createSandbox(options: SandboxOptions): Sandbox {
  if (options.apiKey === "") throw new Error("createSandbox: apiKey must not be empty");
  const { file, logger } = options;
  const maxRecorded = options.maxRecordedRequests ?? Number.POSITIVE_INFINITY;
  const store = createStore(file, logger);
  const faults = createFaults();
  if (options.demo && !store.existed) seedDemo(store, logger);
  const recorded: RecordedRequest[] = [];
  const server = createSandboxServer({
    apiKey: options.apiKey,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    logger,
    api: createApi(store, logger, file),
    faults,
    ...(options.record
      ? {
          record(entry: RecordedRequest) {
            recorded.push(entry);
            if (recorded.length > maxRecorded) recorded.splice(0, recorded.length - maxRecorded);
          },
        }
      : {}),
  });

  return {
    listen: (port = 0, host = "127.0.0.1") => server.listen(port, host),
    async close() {
      await server.close();
      await store.settled();
    },
    get url() {
      const url = server.url;
      if (url === undefined) throw new Error("sandbox is not listening");
      return url;
    },
    inject: (rule) => faults.inject(rule),
    clearFaults: () => faults.clear(),
    get requests() {
      // Throwing, not answering [], so a test that forgot `record: true` fails instead of passing vacuously.
      if (!options.record) throw new Error("sandbox: requests are not recorded; create it with record: true");
      return recorded;
    },
    get connectionCount() {
      return server.connectionCount;
    },
    models: () => store.models(),
    keyFingerprint: (group) => store.get(group)?.api_key_sha256,
    async seed(models) {
      const now = new Date().toISOString();
      for (const m of models) {
        const displayName = m.display_name ?? m.model_group_name;
        if (store.displayNameTaken(displayName, m.model_group_name)) {
          throw new Error(`seed: display name '${displayName}' already exists`);
        }
        store.put({
          model_group_name: m.model_group_name,
          model_name: m.model_name,
          display_name: displayName,
          base_url: m.base_url ?? DEFAULT_BASE_URL,
          is_uncensored: m.is_uncensored ?? false,
          category: m.category ?? "Private",
          created_at: m.created_at ?? now,
          api_key_sha256: fingerprint(m.api_key),
        });
      }
      await store.save();
    },
    characters: () => store.characters(),
    async seedCharacters(characters) {
      const now = new Date().toISOString().slice(0, 19);
      for (const c of characters) store.putCharacter({ ...c, timestamp: c.timestamp ?? now });
      await store.save();
    },
    reset: () => store.clear(),
  };
}
