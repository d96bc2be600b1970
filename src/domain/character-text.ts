/** How characters are named and searched, the same in every reply, form and announcement (pure). */
import type { ConvaiCharacter } from "../convai/types.js";

/** A character's display name: its name, or its id when Convai gave none. */
export function characterName(c: ConvaiCharacter): string {
  const name = c.character_name?.trim();
  return name ? name : c.character_id;
}

/** Whether a character's name, id or model contains `query` (case-insensitive); an empty query matches all. */
export function characterMatches(c: ConvaiCharacter, query: string): boolean {
  const needle = query.trim().toLowerCase();
  return (
    needle === "" ||
    [c.character_name ?? "", c.character_id, c.model ?? ""].some((s) => s.toLowerCase().includes(needle))
  );
}
