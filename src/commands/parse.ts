/** Pure parser for `/convai-llm <sub> [args]` (SPEC §3). */

export const SUBCOMMANDS = [
  "help",
  "list",
  "register",
  "update",
  "deregister",
  "characters",
  "assign",
  "history",
] as const;
export type Subcommand = (typeof SUBCOMMANDS)[number];

export type ParsedCommand =
  | { kind: "help" }
  | { kind: "list"; filter?: string }
  | { kind: "register"; group?: string }
  | { kind: "update"; group: string }
  | { kind: "deregister"; group: string }
  | { kind: "characters"; filter?: string }
  | { kind: "assign"; group: string }
  | { kind: "history"; group?: string }
  | { kind: "missing_group"; sub: "update" | "deregister" | "assign" }
  | { kind: "unknown"; input: string; suggestion?: Subcommand };

const ALIASES: Record<string, Subcommand> = {
  "": "help",
  "?": "help",
  ls: "list",
  add: "register",
  new: "register",
  edit: "update",
  remove: "deregister",
  rm: "deregister",
  delete: "deregister",
  unregister: "deregister",
  chars: "characters",
  character: "characters",
  log: "history",
  changes: "history",
};

function isSubcommand(word: string): word is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(word);
}

/** Slack sends `&`, `<` and `>` in command text as entities; the parser works on what the user typed. */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function parseCommand(text: string | undefined): ParsedCommand {
  const trimmed = unescapeSlack(text ?? "").trim();
  const [first = "", ...rest] = trimmed.split(/\s+/);
  const word = first.toLowerCase();
  const sub = isSubcommand(word) ? word : ALIASES[word];
  const arg = rest.join(" ").trim();
  switch (sub) {
    case "help":
      return { kind: "help" };
    case "list":
      return arg ? { kind: "list", filter: arg } : { kind: "list" };
    case "register":
      return arg ? { kind: "register", group: firstToken(arg) } : { kind: "register" };
    case "characters":
      return arg ? { kind: "characters", filter: arg } : { kind: "characters" };
    case "history":
      return arg ? { kind: "history", group: firstToken(arg) } : { kind: "history" };
    case "update":
    case "deregister":
    case "assign":
      return arg ? { kind: sub, group: firstToken(arg) } : { kind: "missing_group", sub };
    default: {
      const suggestion = nearest(word);
      return suggestion ? { kind: "unknown", input: first, suggestion } : { kind: "unknown", input: first };
    }
  }
}

function firstToken(s: string): string {
  return s.split(/\s+/)[0] ?? s;
}

/** The subcommand within edit distance 3 (or sharing a prefix), if any. */
export function nearest(word: string): Subcommand | undefined {
  if (!word) return undefined;
  let best: Subcommand | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of SUBCOMMANDS) {
    if (word.length >= 3 && candidate.startsWith(word)) return candidate;
    const d = levenshtein(word, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
