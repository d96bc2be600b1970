/** Reading the character fields of a submitted view (SPEC §10) with zod: the assign form's choices, move_to. */
import { z } from "zod";
import { FIELD } from "../slack/ids.js";

const optionSchema = z.object({ value: z.string().min(1).max(255) });
const multiSchema = z.object({ selected_options: z.array(optionSchema).nullish() });
const singleSchema = z.object({ selected_option: optionSchema.nullish() });

function element(values: unknown, field: string): unknown {
  if (typeof values !== "object" || values === null || !(field in values)) return undefined;
  const block: unknown = Reflect.get(values, field);
  if (typeof block !== "object" || block === null || !(field in block)) return undefined;
  return Reflect.get(block, field);
}

/** The character ids chosen in the assign form; a malformed state reads as an error on `characters`. */
export function readAssignForm(
  values: unknown,
): { ok: true; characterIds: string[] } | { ok: false; errors: { characters: string } } {
  const parsed = multiSchema.safeParse(element(values, FIELD.characters));
  if (!parsed.success) {
    return {
      ok: false,
      errors: { characters: "The chosen characters could not be read; choose them again." },
    };
  }
  const ids = (parsed.data.selected_options ?? []).map((o) => o.value);
  if (ids.length === 0) return { ok: false, errors: { characters: "Choose at least one character." } };
  return { ok: true, characterIds: [...new Set(ids)] };
}

/** The deregister form's `move_to` choice, when the form has one and it is set. */
export function readMoveTo(values: unknown): string | undefined {
  const parsed = singleSchema.safeParse(element(values, FIELD.move_to));
  return parsed.success ? parsed.data.selected_option?.value : undefined;
}
