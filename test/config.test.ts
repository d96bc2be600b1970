import { describe, expect, it } from "vitest";
import { type Config, LOG_LEVELS, loadConfig, parseDuration, SECRET_ENV_PREFIX } from "../src/config.js";
import { API_PREFIXES } from "../src/convai/types.js";

type Env = Record<string, string | undefined>;

// Distinctive values, so a leak into any message is unmistakable.
const BOT_TOKEN = "xoxb-1111-2222-BOTSECRETq8w7e6r5";
const SIGNING_SECRET = "SIGNINGSECRETz9x8c7v6b5n4";
const APP_TOKEN = "xapp-1-A0001-APPSECRETm1n2b3v4";
const CONVAI_KEY = "CONVAIKEYSECRETp0o9i8u7y6";

const HTTP_ENV: Env = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET };

function configOf(env: Env): Config {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`expected a valid configuration, got: ${result.errors.join(" | ")}`);
  return result.config;
}

function errorsOf(env: Env): string[] {
  const result = loadConfig(env);
  if (result.ok) throw new Error("expected configuration errors, got a valid configuration");
  return result.errors;
}

/** Exactly one line, naming `variable` first; returns the rest of the line. */
function oneErrorFor(env: Env, variable: string): string {
  const errors = errorsOf(env);
  expect(errors).toHaveLength(1);
  const [line] = errors;
  expect(line?.startsWith(`${variable} `)).toBe(true);
  return (line ?? "").slice(variable.length + 1);
}

describe("defaults and mode", () => {
  it("a minimal HTTP-mode environment gets every default", () => {
    expect(configOf(HTTP_ENV)).toStrictEqual({
      slack: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET },
      mode: "http",
      port: 3000,
      shutdownGraceMs: 2000,
      convai: {
        apiUrl: "https://api.convai.com",
        prefix: "/llm-models",
        timeoutMs: 10_000,
        maxConnections: 8,
        sandboxFile: ".convai-sandbox.json",
        sandboxDemo: true,
      },
      managers: [],
      allowedTeams: [],
      authzCacheSeconds: 300,
      allowPrivateUrls: false,
      logLevel: "info",
      logPretty: false,
      secrets: new Map(),
      secretHosts: new Map(),
    } satisfies Config);
  });

  it("blank values count as unset and get the default", () => {
    const config = configOf({
      ...HTTP_ENV,
      SLACK_APP_TOKEN: "",
      PORT: " ",
      SLACK_API_URL: "",
      CONVAI_API_KEY: "  ",
      CONVAI_API_URL: "",
      CONVAI_API_PREFIX: "",
      CONVAI_TIMEOUT_MS: "",
      CONVAI_NOTIFY_CHANNEL: "",
      CONVAI_MANAGERS: "",
      CONVAI_MANAGER_GROUP: "",
      CONVAI_ALLOWED_TEAMS: " ",
      CONVAI_ALLOW_PRIVATE_URLS: "",
      CONVAI_SANDBOX_FILE: "",
      LOG_LEVEL: "",
    });
    expect(config).toStrictEqual(configOf(HTTP_ENV));
  });

  it("SLACK_APP_TOKEN selects Socket Mode, where no signing secret is needed", () => {
    const config = configOf({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: APP_TOKEN });
    expect(config.mode).toBe("socket");
    expect(config.slack).toStrictEqual({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
  });

  it("Socket Mode keeps a signing secret when one is given", () => {
    const config = configOf({ ...HTTP_ENV, SLACK_APP_TOKEN: APP_TOKEN });
    expect(config.mode).toBe("socket");
    expect(config.slack.signingSecret).toBe(SIGNING_SECRET);
  });

  it("without SLACK_APP_TOKEN the mode is HTTP", () => {
    expect(configOf(HTTP_ENV).mode).toBe("http");
    expect(configOf({ ...HTTP_ENV, SLACK_APP_TOKEN: " " }).mode).toBe("http");
  });
});

describe("Slack variables", () => {
  it("SLACK_BOT_TOKEN is required, and the line says where to find it", () => {
    const { SLACK_BOT_TOKEN: _omitted, ...rest } = HTTP_ENV;
    expect(oneErrorFor(rest, "SLACK_BOT_TOKEN")).toMatch(/^is required.*xoxb-/);
    expect(oneErrorFor({ ...HTTP_ENV, SLACK_BOT_TOKEN: "   " }, "SLACK_BOT_TOKEN")).toMatch(/xoxb-/);
  });

  it("SLACK_BOT_TOKEN must be a bot token (xoxb-)", () => {
    for (const token of ["xoxp-1111-USERTOKENvalue", "xapp-1-NOTABOTTOKEN", "bot-token", "XOXB-1111"]) {
      expect(oneErrorFor({ ...HTTP_ENV, SLACK_BOT_TOKEN: token }, "SLACK_BOT_TOKEN")).toContain("xoxb-");
    }
    expect(configOf({ ...HTTP_ENV, SLACK_BOT_TOKEN: ` ${BOT_TOKEN}\n` }).slack.botToken).toBe(BOT_TOKEN);
  });

  it("SLACK_SIGNING_SECRET is required in HTTP mode, and the line offers Socket Mode", () => {
    const line = oneErrorFor({ SLACK_BOT_TOKEN: BOT_TOKEN }, "SLACK_SIGNING_SECRET");
    expect(line).toMatch(/required in HTTP mode/);
    expect(line).toContain("SLACK_APP_TOKEN");
    expect(
      oneErrorFor({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: "  " }, "SLACK_SIGNING_SECRET"),
    ).toMatch(/required in HTTP mode/);
  });

  it("SLACK_SIGNING_SECRET that is too short is refused", () => {
    expect(oneErrorFor({ ...HTTP_ENV, SLACK_SIGNING_SECRET: "abc1234" }, "SLACK_SIGNING_SECRET")).toMatch(
      /too short/,
    );
    expect(configOf({ ...HTTP_ENV, SLACK_SIGNING_SECRET: "abcd1234" }).slack.signingSecret).toBe("abcd1234");
  });

  it("SLACK_APP_TOKEN must be an app-level token (xapp-); a bad one does not also demand a signing secret", () => {
    const line = oneErrorFor(
      { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: "xoxb-9999-WRONGKIND" },
      "SLACK_APP_TOKEN",
    );
    expect(line).toContain("xapp-");
  });

  it("PORT: a whole number from 0 to 65535", () => {
    expect(configOf({ ...HTTP_ENV, PORT: "8080" }).port).toBe(8080);
    expect(configOf({ ...HTTP_ENV, PORT: "0" }).port).toBe(0);
    expect(configOf({ ...HTTP_ENV, PORT: "65535" }).port).toBe(65535);
    expect(configOf({ ...HTTP_ENV, PORT: " 8081 " }).port).toBe(8081);
    expect(oneErrorFor({ ...HTTP_ENV, PORT: "65536" }, "PORT")).toBe("must be between 0 and 65535");
    expect(oneErrorFor({ ...HTTP_ENV, PORT: "99999999999999999999" }, "PORT")).toBe(
      "must be between 0 and 65535",
    );
    for (const bad of ["abc", "-1", "3000.5", "1e3", "0x50", "80 80"]) {
      expect(oneErrorFor({ ...HTTP_ENV, PORT: bad }, "PORT")).toBe("must be a whole number");
    }
  });

  it("SLACK_API_URL: an absolute http(s) URL, given a trailing slash", () => {
    expect(configOf({ ...HTTP_ENV, SLACK_API_URL: "https://slack.example.gov/api" }).slack.apiUrl).toBe(
      "https://slack.example.gov/api/",
    );
    expect(configOf({ ...HTTP_ENV, SLACK_API_URL: "http://127.0.0.1:9000/api///" }).slack.apiUrl).toBe(
      "http://127.0.0.1:9000/api/",
    );
    expect(configOf({ ...HTTP_ENV, SLACK_API_URL: "https://slack.example.gov/api/" }).slack.apiUrl).toBe(
      "https://slack.example.gov/api/",
    );
    for (const bad of ["slack.com/api", "ftp://slack.com/api", "not a url", "/api"]) {
      expect(oneErrorFor({ ...HTTP_ENV, SLACK_API_URL: bad }, "SLACK_API_URL")).toMatch(/http\(s\) URL/);
    }
  });
});

describe("Convai variables", () => {
  it("CONVAI_API_KEY: optional (sandbox when unset), no whitespace", () => {
    expect(configOf(HTTP_ENV).convai.apiKey).toBeUndefined();
    expect(configOf({ ...HTTP_ENV, CONVAI_API_KEY: CONVAI_KEY }).convai.apiKey).toBe(CONVAI_KEY);
    expect(configOf({ ...HTTP_ENV, CONVAI_API_KEY: ` ${CONVAI_KEY} ` }).convai.apiKey).toBe(CONVAI_KEY);
    expect(oneErrorFor({ ...HTTP_ENV, CONVAI_API_KEY: "CONVAI KEY WITH SPACES" }, "CONVAI_API_KEY")).toMatch(
      /whitespace/,
    );
  });

  it("CONVAI_API_URL: an absolute http(s) URL, trailing slashes removed, a path kept", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_API_URL: "https://gw.example.com/convai/" }).convai.apiUrl).toBe(
      "https://gw.example.com/convai",
    );
    expect(configOf({ ...HTTP_ENV, CONVAI_API_URL: "http://127.0.0.1:4010//" }).convai.apiUrl).toBe(
      "http://127.0.0.1:4010",
    );
    for (const bad of ["api.convai.com", "ftp://api.convai.com", "https//api.convai.com", "://x"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_API_URL: bad }, "CONVAI_API_URL")).toMatch(/http\(s\) URL/);
    }
  });

  it("CONVAI_API_PREFIX: one of the two published forms", () => {
    for (const prefix of API_PREFIXES) {
      expect(configOf({ ...HTTP_ENV, CONVAI_API_PREFIX: prefix }).convai.prefix).toBe(prefix);
    }
    for (const bad of ["/v1", "llm-models", "/LLM-MODELS", "/custom-llm/", "custom"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_API_PREFIX: bad }, "CONVAI_API_PREFIX")).toBe(
        "must be one of /llm-models, /custom-llm",
      );
    }
  });

  it("CONVAI_TIMEOUT_MS: 500 to 120000 milliseconds", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_TIMEOUT_MS: "500" }).convai.timeoutMs).toBe(500);
    expect(configOf({ ...HTTP_ENV, CONVAI_TIMEOUT_MS: "120000" }).convai.timeoutMs).toBe(120_000);
    expect(configOf({ ...HTTP_ENV, CONVAI_TIMEOUT_MS: "2500" }).convai.timeoutMs).toBe(2500);
    for (const bad of ["499", "120001", "0"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_TIMEOUT_MS: bad }, "CONVAI_TIMEOUT_MS")).toBe(
        "must be between 500 and 120000",
      );
    }
    for (const bad of ["10s", "abc", "-1000", "1.5"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_TIMEOUT_MS: bad }, "CONVAI_TIMEOUT_MS")).toBe(
        "must be a whole number",
      );
    }
  });

  it("CONVAI_MAX_CONNECTIONS: 1 to 256 connections", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_MAX_CONNECTIONS: "1" }).convai.maxConnections).toBe(1);
    expect(configOf({ ...HTTP_ENV, CONVAI_MAX_CONNECTIONS: "64" }).convai.maxConnections).toBe(64);
    for (const bad of ["0", "257"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_MAX_CONNECTIONS: bad }, "CONVAI_MAX_CONNECTIONS")).toBe(
        "must be between 1 and 256",
      );
    }
    expect(oneErrorFor({ ...HTTP_ENV, CONVAI_MAX_CONNECTIONS: "many" }, "CONVAI_MAX_CONNECTIONS")).toBe(
      "must be a whole number",
    );
  });

  it("CONVAI_NOTIFY_CHANNEL: a channel ID", () => {
    for (const id of ["C0123ABCD", "G0123ABCD", "D0123ABCD"]) {
      expect(configOf({ ...HTTP_ENV, CONVAI_NOTIFY_CHANNEL: id }).notifyChannel).toBe(id);
    }
    expect(configOf({ ...HTTP_ENV, CONVAI_NOTIFY_CHANNEL: " C0123ABCD " }).notifyChannel).toBe("C0123ABCD");
    for (const bad of ["#general", "general", "c0123abcd", "U0123ABCD", "C0", "C0123 ABCD"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_NOTIFY_CHANNEL: bad }, "CONVAI_NOTIFY_CHANNEL")).toMatch(
        /channel ID/,
      );
    }
  });

  it("CONVAI_MANAGERS: a comma-separated list of user IDs, blanks ignored", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_MANAGERS: " U0123ABCD, W0456EFGH ,,U0789" }).managers).toEqual([
      "U0123ABCD",
      "W0456EFGH",
      "U0789",
    ]);
    for (const bad of ["U0123ABCD,@alice", "u0123abcd", "U0123ABCD;U0456EFGH", "S0123ABCD", "alice"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_MANAGERS: bad }, "CONVAI_MANAGERS")).toMatch(/user IDs/);
    }
  });

  it("CONVAI_MANAGER_GROUP: a user group ID", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_MANAGER_GROUP: "S0123ABCD" }).managerGroup).toBe("S0123ABCD");
    expect(configOf(HTTP_ENV).managerGroup).toBeUndefined();
    for (const bad of ["U0123ABCD", "@platform-admins", "s0123abcd", "S0123ABCD,S0456EFGH"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_MANAGER_GROUP: bad }, "CONVAI_MANAGER_GROUP")).toMatch(
        /user group ID/,
      );
    }
  });

  it("CONVAI_ALLOWED_TEAMS: team and enterprise IDs", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_ALLOWED_TEAMS: "T0123ABCD, E0456EFGH" }).allowedTeams).toEqual([
      "T0123ABCD",
      "E0456EFGH",
    ]);
    for (const bad of ["T0123ABCD,C0123ABCD", "acme.slack.com", "t0123abcd"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_ALLOWED_TEAMS: bad }, "CONVAI_ALLOWED_TEAMS")).toMatch(
        /team or enterprise IDs/,
      );
    }
  });

  it("CONVAI_ALLOW_PRIVATE_URLS and LOG_PRETTY: booleans", () => {
    for (const yes of ["true", "1", "yes", "TRUE", " Yes "]) {
      expect(configOf({ ...HTTP_ENV, CONVAI_ALLOW_PRIVATE_URLS: yes }).allowPrivateUrls).toBe(true);
      expect(configOf({ ...HTTP_ENV, LOG_PRETTY: yes }).logPretty).toBe(true);
    }
    for (const no of ["false", "0", "no", "False"]) {
      expect(configOf({ ...HTTP_ENV, CONVAI_ALLOW_PRIVATE_URLS: no }).allowPrivateUrls).toBe(false);
    }
    for (const bad of ["maybe", "2", "on", "enabled"]) {
      expect(oneErrorFor({ ...HTTP_ENV, CONVAI_ALLOW_PRIVATE_URLS: bad }, "CONVAI_ALLOW_PRIVATE_URLS")).toBe(
        "must be true or false",
      );
      expect(oneErrorFor({ ...HTTP_ENV, LOG_PRETTY: bad }, "LOG_PRETTY")).toBe("must be true or false");
    }
  });

  it("CONVAI_SANDBOX_DEMO turns the demo account of a fresh sandbox off", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_SANDBOX_DEMO: "false" }).convai.sandboxDemo).toBe(false);
    expect(oneErrorFor({ ...HTTP_ENV, CONVAI_SANDBOX_DEMO: "maybe" }, "CONVAI_SANDBOX_DEMO")).toBe(
      "must be true or false",
    );
  });

  it("CONVAI_SANDBOX_FILE overrides the default", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_SANDBOX_FILE: "/var/lib/bot/state.json" }).convai.sandboxFile).toBe(
      "/var/lib/bot/state.json",
    );
  });

  it("LOG_LEVEL: a pino level", () => {
    for (const level of LOG_LEVELS) expect(configOf({ ...HTTP_ENV, LOG_LEVEL: level }).logLevel).toBe(level);
    expect(configOf({ ...HTTP_ENV, LOG_LEVEL: "DEBUG" }).logLevel).toBe("debug");
    for (const bad of ["verbose", "warning", "10"]) {
      expect(oneErrorFor({ ...HTTP_ENV, LOG_LEVEL: bad }, "LOG_LEVEL")).toBe(
        `must be one of ${LOG_LEVELS.join(", ")}`,
      );
    }
  });
});

describe("CONVAI_SECRET_* variables", () => {
  it("are collected into secrets by full name; empty ones and other variables are not", () => {
    const config = configOf({
      ...HTTP_ENV,
      CONVAI_API_KEY: CONVAI_KEY,
      CONVAI_SECRET_OPENAI: "sk-openai-value",
      CONVAI_SECRET_AZURE_PROD: "azure value with spaces",
      CONVAI_SECRET_EMPTY: "",
      CONVAI_SECRET_UNSET: undefined,
      CONVAI_SECRETS_PLURAL: "not-a-secret-var",
      MY_CONVAI_SECRET_X: "nope",
    });
    expect(SECRET_ENV_PREFIX).toBe("CONVAI_SECRET_");
    expect(config.secrets).toStrictEqual(
      new Map([
        ["CONVAI_SECRET_OPENAI", "sk-openai-value"],
        ["CONVAI_SECRET_AZURE_PROD", "azure value with spaces"],
      ]),
    );
  });
});

describe("CONVAI_AUTHZ_CACHE_SECONDS", () => {
  it("is 0-3600 seconds, 300 by default", () => {
    expect(configOf({ ...HTTP_ENV, CONVAI_AUTHZ_CACHE_SECONDS: "30" }).authzCacheSeconds).toBe(30);
    expect(
      oneErrorFor({ ...HTTP_ENV, CONVAI_AUTHZ_CACHE_SECONDS: "7200" }, "CONVAI_AUTHZ_CACHE_SECONDS"),
    ).toMatch(/\S/);
  });
});

describe("CONVAI_SECRET_<NAME>_HOSTS", () => {
  it("binds a secret to its hosts, lower-cased, and is not itself a secret", () => {
    const config = configOf({
      ...HTTP_ENV,
      CONVAI_SECRET_OPENAI: "sk-openai-value",
      CONVAI_SECRET_OPENAI_HOSTS: " API.openai.com , *.openai.azure.com ",
    });
    expect(config.secrets).toStrictEqual(new Map([["CONVAI_SECRET_OPENAI", "sk-openai-value"]]));
    expect(config.secretHosts).toStrictEqual(
      new Map([["CONVAI_SECRET_OPENAI", ["api.openai.com", "*.openai.azure.com"]]]),
    );
  });
  it.each([
    ["https://api.openai.com", /not a host name: https:\/\/api\.openai\.com/],
    ["api.openai.com:443", /not a host name: api\.openai\.com:443/],
    ["*", /not a host name: \*/],
    [",", /is empty/],
  ])("refuses %j, naming the variable", (hosts, message) => {
    const error = oneErrorFor(
      { ...HTTP_ENV, CONVAI_SECRET_OPENAI: "sk-openai-value", CONVAI_SECRET_OPENAI_HOSTS: hosts },
      "CONVAI_SECRET_OPENAI_HOSTS",
    );
    expect(error).toMatch(message);
    expect(error).not.toContain("sk-openai-value");
  });
  it("refuses a host list that names no secret", () => {
    const error = oneErrorFor(
      { ...HTTP_ENV, CONVAI_SECRET_TYPO_HOSTS: "a.example" },
      "CONVAI_SECRET_TYPO_HOSTS",
    );
    expect(error).toMatch(/set CONVAI_SECRET_TYPO too/);
  });
});

describe("error reporting", () => {
  it("every problem is reported at once, one line each, naming its variable", () => {
    const errors = errorsOf({
      SLACK_BOT_TOKEN: "xoxp-USERTOKEN",
      PORT: "http",
      SLACK_API_URL: "nope",
      CONVAI_API_URL: "nope",
      CONVAI_API_PREFIX: "/v2",
      CONVAI_TIMEOUT_MS: "5",
      CONVAI_NOTIFY_CHANNEL: "#general",
      CONVAI_MANAGERS: "alice",
      CONVAI_MANAGER_GROUP: "admins",
      CONVAI_ALLOWED_TEAMS: "acme",
      CONVAI_ALLOW_PRIVATE_URLS: "sure",
      LOG_LEVEL: "loud",
    });
    const named = errors.map((line) => line.split(" ")[0]);
    expect(named).toEqual([
      "SLACK_BOT_TOKEN",
      "PORT",
      "SLACK_API_URL",
      "CONVAI_API_URL",
      "CONVAI_API_PREFIX",
      "CONVAI_TIMEOUT_MS",
      "CONVAI_NOTIFY_CHANNEL",
      "CONVAI_MANAGERS",
      "CONVAI_MANAGER_GROUP",
      "CONVAI_ALLOWED_TEAMS",
      "CONVAI_ALLOW_PRIVATE_URLS",
      "LOG_LEVEL",
      "SLACK_SIGNING_SECRET",
    ]);
    for (const line of errors) {
      expect(line).not.toContain("\n");
      // Our words, not zod's generic ones.
      expect(line).not.toMatch(/Invalid input|expected string|received/i);
    }
  });

  it("an empty environment names both required variables", () => {
    const errors = errorsOf({});
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^SLACK_BOT_TOKEN is required/);
    expect(errors[1]).toMatch(/^SLACK_SIGNING_SECRET is required in HTTP mode/);
  });

  it("no secret value appears in any message", () => {
    const badSecrets: Env = {
      SLACK_BOT_TOKEN: "xoxp-LEAKCHECKbottoken77",
      SLACK_APP_TOKEN: "xoxb-LEAKCHECKapptoken88",
      SLACK_SIGNING_SECRET: "LKsig5",
      CONVAI_API_KEY: "LEAKCHECK convai key 99",
    };
    const secretEnv: Env = { CONVAI_SECRET_MODEL: "LEAKCHECKmodelsecret42" };
    const envs: Env[] = [
      { ...badSecrets, ...secretEnv },
      { ...badSecrets, PORT: "LEAKCHECKport", ...secretEnv },
      // Valid secrets alongside other bad values.
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_APP_TOKEN: APP_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        CONVAI_API_KEY: CONVAI_KEY,
        CONVAI_API_PREFIX: "/nope",
        ...secretEnv,
      },
    ];
    const secretValues = [
      ...Object.values(badSecrets),
      ...Object.values(secretEnv),
      BOT_TOKEN,
      APP_TOKEN,
      SIGNING_SECRET,
      CONVAI_KEY,
    ].filter((v): v is string => v !== undefined);
    let lines = 0;
    for (const env of envs) {
      const text = errorsOf(env).join("\n");
      lines += text.split("\n").length;
      for (const value of secretValues) {
        expect(text).not.toContain(value);
        expect(text).not.toContain(value.trim());
      }
      expect(text).not.toMatch(/LEAKCHECK|SECRET[a-z0-9]|LKsig5/);
    }
    const firstEnv = envs[0] ?? {};
    expect(errorsOf(firstEnv).map((line) => line.split(" ")[0])).toEqual([
      "SLACK_BOT_TOKEN",
      "SLACK_SIGNING_SECRET",
      "SLACK_APP_TOKEN",
      "CONVAI_API_KEY",
    ]);
    expect(lines).toBe(4 + 5 + 1);
  });

  it("a short secret that happens to be a word of the message does not mangle the message", () => {
    // The old scrubber spliced "[redacted]" into "looks too short…" when the secret was "short".
    for (const value of ["short", "too", "be"]) {
      const line = oneErrorFor({ ...HTTP_ENV, SLACK_SIGNING_SECRET: value }, "SLACK_SIGNING_SECRET");
      expect(line).not.toContain("[redacted]");
      expect(line.split(/\W+/)).not.toContain(value);
      expect(line.length).toBeGreaterThan(10);
    }
  });
});

describe("approval variables (SPEC §13)", () => {
  const SECRET = "APPROVALSECRETk3j4h5g6f7d8s9a0q1w2e3r4";
  const ON: Env = {
    ...HTTP_ENV,
    CONVAI_REQUIRE_APPROVAL: "true",
    CONVAI_APPROVAL_SECRET: SECRET,
    CONVAI_NOTIFY_CHANNEL: "C0CHANGES",
  };

  it("is off by default, and off leaves no approval settings", () => {
    expect(configOf(HTTP_ENV).approval).toBeUndefined();
    // A secret alone does not turn approvals on.
    expect(configOf({ ...HTTP_ENV, CONVAI_APPROVAL_SECRET: SECRET }).approval).toBeUndefined();
    expect(configOf({ ...ON, CONVAI_REQUIRE_APPROVAL: "false" }).approval).toBeUndefined();
  });

  it("on: the secret and a TTL of 24 hours by default", () => {
    expect(configOf(ON).approval).toStrictEqual({ secret: SECRET, ttlMs: 86_400_000 });
  });

  it("CONVAI_APPROVAL_TTL takes seconds, or a unit", () => {
    expect(configOf({ ...ON, CONVAI_APPROVAL_TTL: "3600" }).approval?.ttlMs).toBe(3_600_000);
    expect(configOf({ ...ON, CONVAI_APPROVAL_TTL: "90m" }).approval?.ttlMs).toBe(5_400_000);
    expect(configOf({ ...ON, CONVAI_APPROVAL_TTL: "7d" }).approval?.ttlMs).toBe(7 * 86_400_000);
    expect(configOf({ ...ON, CONVAI_APPROVAL_TTL: " " }).approval?.ttlMs).toBe(86_400_000);
    expect(parseDuration("120s")).toBe(120_000);
    expect(parseDuration("x")).toBeUndefined();
  });

  it.each(["0", "59", "soon", "-5", "31d", "1.5h"])("CONVAI_APPROVAL_TTL=%s is refused", (value) => {
    expect(oneErrorFor({ ...ON, CONVAI_APPROVAL_TTL: value }, "CONVAI_APPROVAL_TTL")).toMatch(
      /1 minute to 30 days/,
    );
  });

  it("on without a secret names CONVAI_APPROVAL_SECRET", () => {
    const line = oneErrorFor({ ...ON, CONVAI_APPROVAL_SECRET: undefined }, "CONVAI_APPROVAL_SECRET");
    expect(line).toMatch(/required when CONVAI_REQUIRE_APPROVAL is on/);
  });

  it("a secret under 32 characters is refused without printing it", () => {
    const short = "SHORTAPPROVALSECRETx1y2z3";
    const line = oneErrorFor({ ...ON, CONVAI_APPROVAL_SECRET: short }, "CONVAI_APPROVAL_SECRET");
    expect(line).toMatch(/at least 32 characters/);
    expect(line).not.toContain(short);
  });

  it("on without CONVAI_NOTIFY_CHANNEL is a start-up error naming it", () => {
    const line = oneErrorFor({ ...ON, CONVAI_NOTIFY_CHANNEL: undefined }, "CONVAI_NOTIFY_CHANNEL");
    expect(line).toMatch(/required when CONVAI_REQUIRE_APPROVAL is on/);
  });

  it("the secret never appears in any error line", () => {
    const errors = errorsOf({ ...ON, CONVAI_NOTIFY_CHANNEL: undefined, SLACK_BOT_TOKEN: "nope" });
    expect(errors.join("\n")).not.toContain(SECRET);
  });
});
