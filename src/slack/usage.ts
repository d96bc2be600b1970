import type { ConvaiCharacter, ConvaiResult } from "../convai/types.js";
import { usageOf } from "../domain/characters.js";
import { describeFailure } from "../domain/outcome.js";
import type { Usage } from "./blocks.js";

/** One character list read turned into what every surface shows: names by model, or why it is unknown. */
export function toUsage(result: ConvaiResult<ConvaiCharacter[]>): Usage {
  return result.ok
    ? { kind: "known", byModel: usageOf(result.data) }
    : { kind: "unknown", reason: describeFailure(result) };
}
