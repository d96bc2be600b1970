/** The two character calls (SPEC §10) as the sandbox answers them, and the demo account a fresh sandbox shows. */
import { isBuiltInModelCode } from "../built-in-models.js";
import type { Reply } from "./api.js";
import { fingerprint, type Store, type StoredCharacter, type StoredModel } from "./store.js";

/** Convai's other endpoints answer errors as `{"ERROR": ...}` (and a bad key as `{"API_ERROR": ...}`). */
export function characterError(status: number, message: string): Reply {
  return { status, body: { ERROR: message } };
}

export const MISSING_KEY: Reply = characterError(400, "Missing CONVAI-API-KEY header.");
export const INVALID_KEY: Reply = { status: 401, body: { API_ERROR: "Invalid API key provided." } };

/**
 * One character as `/character/list` shows it: the stored fields plus the bulk a real one carries
 * (SPEC §10 says it is large), so a client that reads more than it needs is caught out.
 */
function listed(c: StoredCharacter): Record<string, unknown> {
  return {
    character_name: c.character_name,
    collection_name: "convai_default_collection",
    user_id: "SANDBOX_USER",
    character_id: c.character_id,
    model_type: "RPM-3D",
    listing: "unlisted",
    voice_type: "MALE",
    timestamp: c.timestamp,
    language_code: "en-US",
    personalised_prompt_config: {
      MODEL: c.model,
      PROMPT: "",
      VERBOSITY: 2,
      TEMPERATURE: 0.7,
      MODERATION_ENABLED: true,
    },
    backstory: `${c.character_name} is a demo character of the Convai sandbox.`,
    last_interacted_with: null,
    description: "",
  };
}

export function listCharacters(store: Store): Reply {
  return { status: 200, body: { characters: store.characters().map(listed) } };
}

/** A model the update may name: a built-in code or a custom LLM registered on this account. */
function knownModel(store: Store, model: string): boolean {
  return isBuiltInModelCode(model) || store.has(model);
}

/** `body` is the parsed JSON object; the commit persists the change or answers 500. */
export async function updateCharacter(
  store: Store,
  body: Record<string, unknown>,
  commit: (next: StoredCharacter) => Promise<Reply | undefined>,
): Promise<Reply> {
  const charID = body.charID;
  const model = body.model_group_name;
  if (typeof charID !== "string" || charID.trim() === "") return characterError(400, "charID is required.");
  if (typeof model !== "string" || model.trim() === "") {
    return characterError(400, "model_group_name is required.");
  }
  const current = store.getCharacter(charID);
  if (!current) return characterError(404, `Character '${charID}' not found.`);
  if (!knownModel(store, model)) return characterError(400, `Unknown model '${model}'.`);
  const failed = await commit({ ...current, model });
  return failed ?? { status: 200, body: { STATUS: "SUCCESS" } };
}

/** The custom LLM the demo characters are on; its key is made up and never leaves the sandbox. */
export const DEMO_MODEL: StoredModel = {
  model_group_name: "acme-support-llm",
  model_name: "llama-3.1-70b-instruct",
  display_name: "Acme Support LLM",
  base_url: "https://llm.acme.example/v1",
  is_uncensored: false,
  category: "Private",
  created_at: "2025-01-15T09:00:00.000Z",
  api_key_sha256: fingerprint("sk-sandbox-demo-not-a-real-key"),
};

/** Some on the demo custom LLM, some on built-in models (SPEC §10). */
export const DEMO_CHARACTERS: readonly StoredCharacter[] = [
  {
    character_id: "demo-char-rafael",
    character_name: "Rafael",
    model: DEMO_MODEL.model_group_name,
    timestamp: "2025-02-01T10:00:00",
  },
  {
    character_id: "demo-char-steven",
    character_name: "Steven",
    model: DEMO_MODEL.model_group_name,
    timestamp: "2025-02-03T11:30:00",
  },
  {
    character_id: "demo-char-amara",
    character_name: "Amara",
    model: DEMO_MODEL.model_group_name,
    timestamp: "2025-02-10T08:15:00",
  },
  {
    character_id: "demo-char-kenji",
    character_name: "Kenji",
    model: "gpt-4o-mini",
    timestamp: "2025-03-02T14:45:00",
  },
  {
    character_id: "demo-char-lucia",
    character_name: "Lucía",
    model: "claude-4-sonnet",
    timestamp: "2025-03-20T16:05:00",
  },
  {
    character_id: "demo-char-noor",
    character_name: "Noor",
    model: "gemini-2.5-flash",
    timestamp: "2025-04-07T09:20:00",
  },
];
