import { z } from "zod";

/** The two published forms of the Custom LLM API differ in path prefix and fields (SPEC §2). */
export const API_PREFIXES = ["/llm-models", "/custom-llm"] as const;
export type ApiPrefix = (typeof API_PREFIXES)[number];

export const DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** One registered model as list returns it. Only group and model are in both forms. */
// Convai may send null for a field it has no value for; the bot treats null and absent alike.
const nullable = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);
export const convaiModelSchema = z.object({
  model_group_name: z.string(),
  model_name: z.string(),
  display_name: nullable(z.string()),
  base_url: nullable(z.string()),
  is_uncensored: nullable(z.boolean()),
  category: nullable(z.string()),
  created_at: nullable(z.string()),
});
/** Written out so that optional fields may be left off when building one. */
export interface ConvaiModel {
  model_group_name: string;
  model_name: string;
  display_name?: string | undefined;
  base_url?: string | undefined;
  is_uncensored?: boolean | undefined;
  category?: string | undefined;
  created_at?: string | undefined;
}
// Compile-time check that the schema's output fits the interface.
const _schemaFits: (m: z.output<typeof convaiModelSchema>) => ConvaiModel = (m) => m;
void _schemaFits;

export interface RegisterInput {
  model_group_name: string;
  model_name: string;
  api_key: string;
  /** Required by /custom-llm; optional with /llm-models (Convai defaults it to OpenAI's). */
  base_url?: string;
  /** Only /llm-models accepts it; defaults to the group name. */
  display_name?: string;
  is_uncensored: boolean;
}

/** Fields absent here are not sent, so Convai leaves them as they are. */
export interface UpdateInput {
  model_group_name: string;
  /** /custom-llm only. */
  model_name?: string;
  /** /llm-models only. */
  display_name?: string;
  base_url?: string;
  api_key?: string;
  is_uncensored?: boolean;
}
export type UpdatableField = Exclude<keyof UpdateInput, "model_group_name">;

export interface RegisterData {
  message?: string;
  model_group_name?: string;
  model_name?: string;
  display_name?: string;
}
export interface UpdateData {
  message?: string;
  updated_fields?: string[];
}
export interface DeregisterData {
  message?: string;
}

/**
 * One character as the bot reads it from `/character/list` (SPEC §10): only these fields; every other
 * one (avatars, traits, voices...) is ignored. Absent, null or wrong-typed optional fields are undefined.
 */
export interface ConvaiCharacter {
  character_id: string;
  character_name?: string | undefined;
  /** personalised_prompt_config.MODEL: a built-in model code or a custom LLM's model_group_name. */
  model?: string | undefined;
  timestamp?: string | undefined;
}

/** `/character/update` answers `{"STATUS":"SUCCESS"}`; nothing else is read. */
export interface CharacterUpdateData {
  status?: string;
}

export type FailureKind =
  | "unauthorized"
  | "not_found"
  | "conflict"
  | "invalid"
  | "rate_limited"
  | "server"
  | "timeout"
  | "network"
  | "malformed";

export interface ConvaiFailure {
  ok: false;
  kind: FailureKind;
  /** Convai's own message when it gave one, else ours; never contains a key. */
  message: string;
  status?: number;
  transactionID?: string;
  /** The request may have reached Convai and been applied (timeout or reset after the body was sent). */
  ambiguous: boolean;
  /** For rate_limited: how long Convai asked us to wait. */
  retryAfterMs?: number;
  /** For conflict: which field is duplicated. */
  field?: "model_group_name" | "display_name";
}

export type ConvaiSuccess<T> = { ok: true; data: T; transactionID?: string; status: number };
export type ConvaiResult<T> = ConvaiSuccess<T> | ConvaiFailure;

/**
 * How a read may be served. `gatherMs`: a coalescing layer may wait this long before it starts a new call,
 * so that a burst of readers (App Home openings) shares it; it adds latency, never staleness, since the
 * call starts after every reader that joins it. The plain client ignores it.
 */
export interface ReadOptions {
  gatherMs?: number;
}

export interface ConvaiClient {
  readonly prefix: ApiPrefix;
  readonly baseUrl: string;
  register(input: RegisterInput): Promise<ConvaiResult<RegisterData>>;
  update(input: UpdateInput): Promise<ConvaiResult<UpdateData>>;
  deregister(modelGroupName: string): Promise<ConvaiResult<DeregisterData>>;
  list(options?: ReadOptions): Promise<ConvaiResult<ConvaiModel[]>>;
  /** POST /character/list (never under the model prefix); retried like list. */
  listCharacters(options?: ReadOptions): Promise<ConvaiResult<ConvaiCharacter[]>>;
  /**
   * POST /character/update {charID, model_group_name}; sent once, never re-sent after a failure that may
   * have applied (`ambiguous`): re-read the character list instead.
   */
  setCharacterModel(charID: string, model: string): Promise<ConvaiResult<CharacterUpdateData>>;
  close(): Promise<void>;
}

/** Which fields each API form accepts on register and update (SPEC §2, §3). */
export const FORM_FIELDS = {
  "/llm-models": {
    register: ["model_group_name", "model_name", "display_name", "api_key", "base_url", "is_uncensored"],
    update: ["display_name", "base_url", "api_key", "is_uncensored"],
  },
  "/custom-llm": {
    register: ["model_group_name", "model_name", "api_key", "base_url", "is_uncensored"],
    update: ["model_name", "base_url", "api_key", "is_uncensored"],
  },
} as const satisfies Record<
  ApiPrefix,
  { register: readonly (keyof RegisterInput)[]; update: readonly UpdatableField[] }
>;
