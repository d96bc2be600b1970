import { describe, expect, it } from "vitest";
import { levenshtein, nearest, parseCommand, SUBCOMMANDS } from "../../src/commands/parse.js";

describe("parseCommand", () => {
  it.each([undefined, "", "   ", "\t\n", "help", "HELP", "  Help  ", "?", "help me please"])(
    "%j → help",
    (text) => {
      expect(parseCommand(text)).toEqual({ kind: "help" });
    },
  );

  it("list, with and without a filter; the filter keeps its case, runs of spaces become one", () => {
    expect(parseCommand("list")).toEqual({ kind: "list" });
    expect(parseCommand("  LIST  ")).toEqual({ kind: "list" });
    expect(parseCommand("list Llama")).toEqual({ kind: "list", filter: "Llama" });
    expect(parseCommand("List  my   Model  ")).toEqual({ kind: "list", filter: "my Model" });
    expect(parseCommand("list\tfoo")).toEqual({ kind: "list", filter: "foo" });
  });

  it("register with an optional group: the first token, case preserved", () => {
    expect(parseCommand("register")).toEqual({ kind: "register" });
    expect(parseCommand("REGISTER My-Group")).toEqual({ kind: "register", group: "My-Group" });
    expect(parseCommand("register g1 trailing words")).toEqual({ kind: "register", group: "g1" });
  });

  it("history with an optional group, and its aliases", () => {
    expect(parseCommand("history")).toEqual({ kind: "history" });
    expect(parseCommand("HISTORY Prod-GPT extra")).toEqual({ kind: "history", group: "Prod-GPT" });
    expect(parseCommand("log prod")).toEqual({ kind: "history", group: "prod" });
    expect(parseCommand("changes")).toEqual({ kind: "history" });
    expect(parseCommand("histroy")).toMatchObject({ kind: "unknown", suggestion: "history" });
  });

  it.each(["update", "deregister"] as const)("%s needs a group", (sub) => {
    expect(parseCommand(`${sub} grp`)).toEqual({ kind: sub, group: "grp" });
    expect(parseCommand(`  ${sub.toUpperCase()}   Grp-2  extra`)).toEqual({ kind: sub, group: "Grp-2" });
    expect(parseCommand(sub)).toEqual({ kind: "missing_group", sub });
    expect(parseCommand(`${sub}    `)).toEqual({ kind: "missing_group", sub });
  });

  it.each([
    ["ls", "list"],
    ["add g", "register"],
    ["new g", "register"],
    ["edit g", "update"],
    ["remove g", "deregister"],
    ["rm g", "deregister"],
    ["delete g", "deregister"],
    ["unregister g", "deregister"],
    ["RM g", "deregister"],
  ])("alias %j → %s", (text, kind) => {
    expect(parseCommand(text).kind).toBe(kind);
  });

  it("an alias without a group is still a missing group", () => {
    expect(parseCommand("rm")).toEqual({ kind: "missing_group", sub: "deregister" });
    expect(parseCommand("edit")).toEqual({ kind: "missing_group", sub: "update" });
  });

  it.each([
    ["regster", "register"],
    ["lsit", "list"],
    ["hlep", "help"],
    ["updte", "update"],
    ["updat", "update"],
    ["dereg", "deregister"],
    ["deregistr", "deregister"],
    ["Lis", "list"],
  ])("unknown %j suggests %s and keeps the input as typed", (word, suggestion) => {
    expect(parseCommand(`${word} my-group`)).toEqual({ kind: "unknown", input: word, suggestion });
  });

  it.each(["florp", "x", "zzzzzzzzzzzz", "constructor", "__proto__", "toString", "hasOwnProperty"])(
    "unknown %j has no far-fetched suggestion and never resolves through the prototype",
    (word) => {
      const parsed = parseCommand(word);
      expect(parsed.kind).toBe("unknown");
      if (parsed.kind === "unknown") {
        expect(parsed.input).toBe(word);
        if (parsed.suggestion !== undefined) expect(SUBCOMMANDS).toContain(parsed.suggestion);
      }
    },
  );

  it("reads Slack's escaped command text as the user typed it", () => {
    expect(parseCommand("list &lt;b&gt;")).toEqual({ kind: "list", filter: "<b>" });
    expect(parseCommand("register a&amp;b")).toEqual({ kind: "register", group: "a&b" });
    expect(parseCommand("&lt;!channel&gt;")).toEqual({ kind: "unknown", input: "<!channel>" });
  });

  it("florp gets no suggestion at all", () => {
    expect(parseCommand("florp")).toEqual({ kind: "unknown", input: "florp" });
  });
});

describe("nearest and levenshtein", () => {
  it("nearest: prefix of 3+ letters, else edit distance within bounds", () => {
    expect(nearest("")).toBeUndefined();
    expect(nearest("reg")).toBe("register");
    expect(nearest("der")).toBe("deregister");
    expect(nearest("liist")).toBe("list");
    expect(nearest("qqqqqq")).toBeUndefined();
  });

  it("levenshtein", () => {
    expect(levenshtein("", "")).toBe(0);
    expect(levenshtein("abc", "")).toBe(3);
    expect(levenshtein("", "abc")).toBe(3);
    expect(levenshtein("kitten", "sitting")).toBe(3);
    expect(levenshtein("list", "list")).toBe(0);
    expect(levenshtein("list", "lsit")).toBe(2);
  });
});
