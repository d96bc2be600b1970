import { z } from "zod";
import { checkGroupName } from "../domain/fields.js";
import { LIMITS } from "../slack/text.js";

/**
 * What a modal carries between opening and submission. The bot keeps no state of its own (SPEC §6),
 * so this is the only memory a modal has; it is sent to Slack, so it never holds a key (SPEC §5).
 */
export interface ModalMetadata {
  v: 1;
  /** The fixed group of an update or deregister modal. */
  group?: string;
  /** Where the modal was opened from, to refresh that surface afterwards. */
  origin?: "command" | "home" | "list";
  /** The channel the command was typed in, for follow-up ephemeral messages. */
  channelId?: string;
}

export type MetadataResult = { ok: true; meta: ModalMetadata } | { ok: false; reason: string };

// Strict: an unknown key (an api_key among them) makes the whole value invalid rather than ignored.
const metadataSchema = z.strictObject({
  v: z.literal(1),
  group: z
    .string()
    .refine((g) => {
      const checked = checkGroupName(g);
      return checked.ok && checked.value === g;
    })
    .optional(),
  origin: z.enum(["command", "home", "list"]).optional(),
  channelId: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,31}$/)
    .optional(),
});

/**
 * Serializes metadata for `private_metadata`. Only the known keys are copied, so a stray property on
 * the argument (a key, say) can never reach Slack. Throws on an invalid value: that is a bug in the
 * caller (a group should pass checkGroupName first), and the message never quotes the value.
 */
export function encodeMetadata(meta: ModalMetadata): string {
  const picked = {
    v: meta.v,
    ...(meta.group !== undefined ? { group: meta.group } : {}),
    ...(meta.origin !== undefined ? { origin: meta.origin } : {}),
    ...(meta.channelId !== undefined ? { channelId: meta.channelId } : {}),
  };
  const parsed = metadataSchema.safeParse(picked);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? "value")))].join(", ");
    throw new RangeError(`Invalid modal metadata: ${fields}`);
  }
  const json = JSON.stringify(parsed.data);
  if (json.length > LIMITS.privateMetadata) throw new RangeError("Modal metadata is over 3000 characters");
  return json;
}

/** Parses `private_metadata` from a submission; anything forged or stale comes back as a reason. */
export function decodeMetadata(raw: unknown): MetadataResult {
  if (typeof raw !== "string" || raw === "") return { ok: false, reason: "no metadata" };
  if (raw.length > LIMITS.privateMetadata) return { ok: false, reason: "metadata over 3000 characters" };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: "metadata is not JSON" };
  }
  const parsed = metadataSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: "metadata has the wrong shape" };
  const { v, group, origin, channelId } = parsed.data;
  return {
    ok: true,
    meta: {
      v,
      ...(group !== undefined ? { group } : {}),
      ...(origin !== undefined ? { origin } : {}),
      ...(channelId !== undefined ? { channelId } : {}),
    },
  };
}
