/** What each emulated Convai call does and answers (SPEC §2), over the store; no HTTP in here. */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../../logger.js";
import { API_PREFIXES, type ApiPrefix, DEFAULT_BASE_URL, FORM_FIELDS } from "../types.js";
import { characterError, listCharacters, updateCharacter } from "./characters.js";
import type { SandboxEndpoint } from "./faults.js";
import { fingerprint, type Store, type StoredCharacter, type StoredModel } from "./store.js";

export const jsonObjectSchema = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof jsonObjectSchema>;

export interface Reply {
  status: number;
  body?: unknown;
  /** Sent verbatim instead of JSON-encoding `body`. */
  raw?: string;
  headers?: Record<string, string>;
}

const ENDPOINTS = ["register", "update", "deregister", "list"] as const satisfies readonly SandboxEndpoint[];

/** Model calls live under either prefix; character calls under /character whatever the prefix (SPEC §10). */
export type Route =
  | { family: "model"; prefix: ApiPrefix; endpoint: (typeof ENDPOINTS)[number] }
  | { family: "character"; endpoint: "character-list" | "character-update" };

export const ROUTES = new Map<string, Route>([
  ...API_PREFIXES.flatMap((prefix) =>
    ENDPOINTS.map((endpoint): [string, Route] => [
      `${prefix}/${endpoint}`,
      { family: "model", prefix, endpoint },
    ]),
  ),
  ["/character/list", { family: "character", endpoint: "character-list" }],
  ["/character/update", { family: "character", endpoint: "character-update" }],
]);

export function errorReply(status: number, message: string): Reply {
  return { status, body: { status: "error", message, transactionID: randomUUID() } };
}

/** A request the API rejects with 400; thrown by the field readers so handlers stay linear. */
class BadRequest extends Error {}

/** Absent or null means "not given"; anything else must be a string. */
function readString(body: JsonObject, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new BadRequest(`Invalid field: ${name} must be a string`);
  return value;
}

/** A blank required field counts as missing, as Convai reports it. */
function requiredString(body: JsonObject, name: string): string {
  const value = readString(body, name);
  if (value === undefined || value.trim() === "") throw new BadRequest(`Missing required field: ${name}`);
  return value;
}

/** An optional field, when given, must not be blank. */
function optionalString(body: JsonObject, name: string): string | undefined {
  const value = readString(body, name);
  if (value !== undefined && value.trim() === "") {
    throw new BadRequest(`Invalid field: ${name} must not be empty`);
  }
  return value;
}

function optionalUrl(body: JsonObject, name: string): string | undefined {
  const value = optionalString(body, name);
  if (value === undefined) return undefined;
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new BadRequest(`Invalid field: ${name} must be an http(s) URL`);
  }
  return value;
}

function optionalBoolean(body: JsonObject, name: string): boolean | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new BadRequest(`Invalid field: ${name} must be a boolean`);
  return value;
}

function success(fields: Record<string, unknown>): Reply {
  return { status: 200, body: { status: "success", ...fields, transactionID: randomUUID() } };
}

/** The register fields each form requires or defaults (SPEC §2). */
function registerFields(prefix: ApiPrefix, body: JsonObject): { baseUrl: string; isUncensored: boolean } {
  if (prefix === "/llm-models") {
    const flag = optionalBoolean(body, "is_uncensored");
    if (flag === undefined) throw new BadRequest("Missing required field: is_uncensored");
    return { isUncensored: flag, baseUrl: optionalUrl(body, "base_url") ?? DEFAULT_BASE_URL };
  }
  const url = optionalUrl(body, "base_url");
  if (url === undefined) throw new BadRequest("Missing required field: base_url");
  return { baseUrl: url, isUncensored: optionalBoolean(body, "is_uncensored") ?? false };
}

/** The fields an update gives, in the form's order, and the stored values they become. */
function updateChanges(
  prefix: ApiPrefix,
  body: JsonObject,
): { changes: Partial<StoredModel>; updated: string[] } {
  const changes: Partial<StoredModel> = {};
  const updated: string[] = [];
  for (const field of FORM_FIELDS[prefix].update) {
    if (body[field] === undefined || body[field] === null) continue;
    switch (field) {
      case "is_uncensored":
        changes.is_uncensored = optionalBoolean(body, field);
        break;
      case "base_url":
        changes.base_url = optionalUrl(body, field);
        break;
      case "api_key": {
        const key = optionalString(body, field);
        if (key !== undefined) changes.api_key_sha256 = fingerprint(key);
        break;
      }
      case "display_name":
      case "model_name":
        changes[field] = optionalString(body, field);
        break;
    }
    updated.push(field);
  }
  return { changes, updated };
}

export interface Api {
  /** Answers one routed call with a parsed JSON-object body. */
  apply(route: Route, body: JsonObject): Promise<Reply>;
}

/** Persists one change; undefined when written, else the 500 answer (the state is left as it was). */
type Commit = (group: string, next: StoredModel | undefined) => Promise<Reply | undefined>;

async function register(store: Store, commit: Commit, prefix: ApiPrefix, body: JsonObject): Promise<Reply> {
  const group = requiredString(body, "model_group_name");
  const modelName = requiredString(body, "model_name");
  const apiKey = requiredString(body, "api_key");
  const { baseUrl, isUncensored } = registerFields(prefix, body);
  // The seed's form has no display_name; it defaults to the group there too.
  const displayName = (prefix === "/llm-models" ? optionalString(body, "display_name") : undefined) ?? group;

  if (store.has(group)) return errorReply(409, "Model group name already exists");
  if (store.displayNameTaken(displayName, undefined)) return errorReply(409, "Display name already exists");
  const failed = await commit(group, {
    model_group_name: group,
    model_name: modelName,
    display_name: displayName,
    base_url: baseUrl,
    is_uncensored: isUncensored,
    category: "Private",
    created_at: new Date().toISOString(),
    api_key_sha256: fingerprint(apiKey),
  });
  return (
    failed ??
    success({
      model_group_name: group,
      model_name: modelName,
      display_name: displayName,
      message: `Model '${group}' registered successfully`,
    })
  );
}

async function update(store: Store, commit: Commit, prefix: ApiPrefix, body: JsonObject): Promise<Reply> {
  const group = requiredString(body, "model_group_name");
  const { changes, updated } = updateChanges(prefix, body);
  if (updated.length === 0) return errorReply(400, "No valid fields to update");
  const current = store.get(group);
  if (!current) return errorReply(404, `Model '${group}' not found or access denied`);
  if (changes.display_name !== undefined && store.displayNameTaken(changes.display_name, group)) {
    return errorReply(409, "Display name already exists");
  }
  // Only fields given (never undefined) are in `changes`, so the spread cannot blank a stored value.
  const failed = await commit(group, { ...current, ...changes });
  return failed ?? success({ message: `Model '${group}' updated successfully`, updated_fields: updated });
}

async function deregister(store: Store, commit: Commit, body: JsonObject): Promise<Reply> {
  const group = requiredString(body, "model_group_name");
  if (!store.has(group)) return errorReply(404, `Model '${group}' not found or access denied`);
  const failed = await commit(group, undefined);
  return failed ?? success({ message: `Model '${group}' deregistered successfully` });
}

function list(store: Store, prefix: ApiPrefix): Reply {
  const models = store.models();
  if (prefix === "/custom-llm") {
    return {
      status: 200,
      body: models.map((m) => ({
        model_group_name: m.model_group_name,
        model_name: m.model_name,
        base_url: m.base_url,
      })),
    };
  }
  return success({ models, count: models.length });
}

export function createApi(store: Store, logger: Logger | undefined, file: string | undefined): Api {
  /** Runs one persisted change; a failed write is logged and answered with `failedReply`. */
  async function persisting(change: () => Promise<void>, failedReply: Reply): Promise<Reply | undefined> {
    try {
      await change();
      return undefined;
    } catch (err) {
      logger?.error(
        { file, err: err instanceof Error ? err.message : String(err) },
        "convai sandbox: could not persist state",
      );
      return failedReply;
    }
  }
  const commit: Commit = (group, next) =>
    persisting(() => store.commit(group, next), errorReply(500, "Database error"));
  const commitCharacter = (next: StoredCharacter) =>
    persisting(() => store.commitCharacter(next), characterError(500, "Internal server error."));

  return {
    async apply(route, body) {
      try {
        switch (route.endpoint) {
          case "register":
            return await register(store, commit, route.prefix, body);
          case "update":
            return await update(store, commit, route.prefix, body);
          case "deregister":
            return await deregister(store, commit, body);
          case "list":
            return list(store, route.prefix);
          case "character-list":
            return listCharacters(store);
          case "character-update":
            return await updateCharacter(store, body, commitCharacter);
        }
      } catch (err) {
        if (err instanceof BadRequest) return errorReply(400, err.message);
        throw err;
      }
    },
  };
}
