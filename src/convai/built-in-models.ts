/**
 * Convai's built-in model codes, which `/character/update` takes as `model_group_name` besides a custom
 * LLM's group (Core AI Settings API, "Character Model Selection"; copied from
 * shared/convai/character-examples.json). The one list the UI offers as "move to" targets.
 */
export const BUILT_IN_MODEL_CODES = [
  "gpt-4.1",
  "gpt-4.1-mini",
  "gpt-4.1-nano",
  "gpt-4o",
  "gpt-4o-mini",
  "claude-opus-4.1",
  "claude-opus-4",
  "claude-4-sonnet",
  "claude-3-7-sonnet",
  "gemini-2.5-flash",
  "gemini-2.5-flash-lite",
  "gemini-2.0-flash",
  "gemma-3n-e4b",
  "gemma-3n-e2b",
  "llama-4-maverick",
  "llama-4-scout",
  "llama-3-70B",
] as const;
export type BuiltInModelCode = (typeof BUILT_IN_MODEL_CODES)[number];

const CODES: ReadonlySet<string> = new Set(BUILT_IN_MODEL_CODES);

export function isBuiltInModelCode(value: string): value is BuiltInModelCode {
  return CODES.has(value);
}
