import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";

/**
 * The pending change of an approval request, sealed so that it can travel in the Slack message itself
 * (SPEC §13): the bot keeps no state, any replica holding CONVAI_APPROVAL_SECRET can open it, and the
 * typed API key inside is never visible to Slack or anyone reading the channel.
 *
 * AES-256-GCM, the key derived from the secret with HKDF-SHA256, a random 96-bit nonce per request, and
 * the request id and expiry as associated data: a payload moved to another request, or an expiry edited
 * in the message, fails authentication.
 */

const VERSION = "v1";
const SALT = "convai-llm-bot/approval";
const INFO = "aes-256-gcm request seal v1";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const actor = z.object({ userId: z.string().min(1), teamId: z.string().optional() });

/**
 * The characters on a group when a deregister was requested: an approval applies only if the characters
 * on it then are among these (some may have moved away meanwhile, by another replica applying the same
 * request or by hand), so no character that arrived since is stranded. Each id is kept as a short hash
 * (48 bits) up to MEMBER_HASHES characters; above that only a digest of them all, which must then match
 * exactly or no character be left, so a group of thousands stays small.
 */
const onGroup = z.object({
  count: z.number().int().min(0),
  digest: z.string(),
  members: z.array(z.string()).max(2000).optional(),
});
export type OnGroup = z.infer<typeof onGroup>;

/** Ids hashed one by one at most; 500 hashes seal to about 8 KB. */
export const MEMBER_HASHES = 500;

const hash = (text: string, length: number) =>
  createHash("sha256").update(text, "utf8").digest("base64url").slice(0, length);

export function charactersDigest(ids: readonly string[]): OnGroup {
  const sorted = [...new Set(ids)].sort();
  return {
    count: sorted.length,
    digest: hash(sorted.join("\n"), 22),
    ...(sorted.length <= MEMBER_HASHES ? { members: sorted.map((id) => hash(id, 8)) } : {}),
  };
}

/** Whether every id in `now` was on the group when the request was made. */
export function amongRequested(now: readonly string[], then: OnGroup): boolean {
  if (now.length === 0) return true;
  if (then.members === undefined) return charactersDigest(now).digest === then.digest;
  const known = new Set(then.members);
  return now.every((id) => known.has(hash(id, 8)));
}

const snapshotSchema = z.record(z.string(), z.union([z.string(), z.boolean()]));

/**
 * What a request carries, one member per kind of change. Adding a kind is one more member here, one case
 * each in approvals/requests.ts (prepare, apply) and the wording in approvals/ui.ts: the exhaustive
 * switches make tsc point at every place.
 */
export const pendingChange = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("register"),
    requester: actor,
    verify: z.boolean(),
    input: z.object({
      model_group_name: z.string(),
      model_name: z.string(),
      api_key: z.string(),
      base_url: z.string().optional(),
      display_name: z.string().optional(),
      is_uncensored: z.boolean(),
    }),
    /** The CONVAI_SECRET_* name when the key came from `env:`: the apply checks its hosts again. */
    keyRef: z.string().optional(),
  }),
  z.object({
    kind: z.literal("update"),
    requester: actor,
    verify: z.boolean(),
    group: z.string(),
    request: z.object({
      model_name: z.string().optional(),
      display_name: z.string().optional(),
      base_url: z.string().optional(),
      api_key: z.string().optional(),
      is_uncensored: z.boolean().optional(),
    }),
    keyRef: z.string().optional(),
    /** The model as Convai held it when the request was made: an approval re-checks against it. */
    before: snapshotSchema,
  }),
  z.object({
    kind: z.literal("deregister"),
    requester: actor,
    group: z.string(),
    before: snapshotSchema,
    /** Where the group's characters move before it goes (SPEC §10); absent when none used it. */
    moveTo: z.string().optional(),
    /** The custom LLM they move to as it was when requested (absent for a built-in model code). */
    target: snapshotSchema.optional(),
    // A request sealed before characters were checked reads as "no character used it".
    characters: onGroup.default(() => charactersDigest([])),
  }),
  z.object({
    kind: z.literal("assign"),
    requester: actor,
    group: z.string(),
    /** The target model as it was when requested: an approval re-checks it like an update's. */
    model: snapshotSchema.optional(),
    /** The characters to move and the model each was on when requested (a multi-select holds 100). */
    characters: z
      .array(z.object({ id: z.string().min(1), before: z.string().optional() }))
      .min(1)
      .max(100),
  }),
]);
export type PendingChange = z.infer<typeof pendingChange>;
export type PendingKind = PendingChange["kind"];

/** The request's public envelope: what the message carries in clear next to the sealed box. */
export interface Envelope {
  id: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  sealed: string;
}

export type Unsealed =
  | { ok: true; change: PendingChange }
  | { ok: false; code: "unreadable"; message: string }
  | { ok: false; code: "expired"; message: string };

export interface Sealer {
  seal(change: PendingChange, now?: number): Envelope;
  open(envelope: Envelope, now?: number): Unsealed;
}

export function createSealer(secret: string, ttlMs: number): Sealer {
  const key = Buffer.from(hkdfSync("sha256", secret, SALT, INFO, 32));
  return {
    seal(change, now = Date.now()) {
      const id = randomUUID();
      const expiresAt = now + ttlMs;
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(aad(id, expiresAt));
      const body = Buffer.concat([cipher.update(JSON.stringify(change), "utf8"), cipher.final()]);
      const sealed = `${VERSION}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url")}`;
      return { id, expiresAt, sealed };
    },
    open(envelope, now = Date.now()) {
      const change = decrypt(key, envelope);
      if (!change) {
        return {
          ok: false,
          code: "unreadable",
          message:
            "This request cannot be read: it was changed, or CONVAI_APPROVAL_SECRET changed since it was made. Ask the requester to submit the change again.",
        };
      }
      // Checked after authentication, so the expiry compared is the one sealed with the change.
      if (now >= envelope.expiresAt) {
        return {
          ok: false,
          code: "expired",
          message: "This request expired: nothing was changed. Ask the requester to submit the change again.",
        };
      }
      return { ok: true, change };
    },
  };
}

function aad(id: string, expiresAt: number): Buffer {
  return Buffer.from(`convai-llm-approval/${VERSION}\n${id}\n${expiresAt}`, "utf8");
}

/** Any failure (format, authentication, schema) is one answer: the payload cannot be trusted. */
function decrypt(key: Buffer, envelope: Envelope): PendingChange | undefined {
  const [version, data, extra] = envelope.sealed.split(".");
  if (version !== VERSION || data === undefined || extra !== undefined) return undefined;
  const raw = Buffer.from(data, "base64url");
  if (raw.length < NONCE_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad(envelope.id, envelope.expiresAt));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const clear = Buffer.concat([
      decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]).toString("utf8");
    const parsed = pendingChange.safeParse(JSON.parse(clear));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
