import { z } from "zod";
import { API_PREFIXES, type ApiPrefix } from "./convai/types.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  slack: {
    botToken: string;
    signingSecret?: string;
    appToken?: string;
    /** Web API base with a trailing slash, as @slack/web-api expects it. */
    apiUrl?: string;
  };
  mode: "http" | "socket";
  port: number;
  /** HTTP mode: how long a stopping replica keeps serving after /healthz turns 503. */
  shutdownGraceMs: number;
  convai: {
    /** Unset: the bot runs against the embedded sandbox. */
    apiKey?: string;
    apiUrl: string;
    prefix: ApiPrefix;
    timeoutMs: number;
    /** Keep-alive connections in the one pool to Convai (CONVAI_MAX_CONNECTIONS). */
    maxConnections: number;
    sandboxFile: string;
    /** A fresh sandbox starts with a demo custom LLM and demo characters (CONVAI_SANDBOX_DEMO). */
    sandboxDemo: boolean;
  };
  notifyChannel?: string;
  managers: readonly string[];
  managerGroup?: string;
  allowedTeams: readonly string[];
  /** How long an admin or user-group answer is trusted (CONVAI_AUTHZ_CACHE_SECONDS). */
  authzCacheSeconds: number;
  allowPrivateUrls: boolean;
  logLevel: LogLevel;
  logPretty: boolean;
  /** CONVAI_SECRET_* variables, the only ones an `env:NAME` api_key may name. */
  secrets: ReadonlyMap<string, string>;
  /** CONVAI_SECRET_<NAME>_HOSTS, keyed by the secret's name: the hosts it may be sent to. */
  secretHosts: ReadonlyMap<string, readonly string[]>;
  /** Four-eyes approval (SPEC §13); absent when CONVAI_REQUIRE_APPROVAL is off. */
  approval?: { secret: string; ttlMs: number };
}

/**
 * Connections to Convai when CONVAI_MAX_CONNECTIONS is unset. Coalesced list reads use at most 4 at any
 * latency (bench, README "Performance"); 8 leaves room for one assign's 4 parallel character updates.
 */
export const DEFAULT_MAX_CONNECTIONS = 8;

export const SECRET_ENV_PREFIX = "CONVAI_SECRET_";
/** `CONVAI_SECRET_<NAME>_HOSTS` binds the secret `CONVAI_SECRET_<NAME>` to where it may be sent. */
export const SECRET_HOSTS_SUFFIX = "_HOSTS";
// A host name or IPv4 address, lower case, optionally `*.` for every subdomain of a name.
const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());

const idList = (pattern: RegExp, what: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((s) =>
        (s ?? "")
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .refine((ids) => ids.every((id) => pattern.test(id)), {
        message: `must be a comma-separated list of ${what}`,
      }),
  );

/** Blank means unset; otherwise trimmed and lower-cased, so `TRUE` or `Info ` from a .env file are accepted. */
const normalised = (v: unknown) => {
  const blank = blankToUndefined(v);
  return typeof blank === "string" ? blank.trim().toLowerCase() : blank;
};

const bool = (fallback: boolean) =>
  z.preprocess(
    normalised,
    z
      .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
      .optional()
      .transform((v) => (v === undefined ? fallback : v === "true" || v === "1" || v === "yes")),
  );

const httpUrl = z
  .string()
  .trim()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), {
    message: "must be an absolute http(s) URL",
  });

const int = (min: number, max: number, fallback: number) =>
  z.preprocess(
    normalised,
    z
      .string()
      .regex(/^\d+$/, { message: "must be a whole number" })
      .optional()
      .transform((v) => (v === undefined ? fallback : Number(v)))
      .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` }),
  );

/** Secret variables: their values never appear in a message, only their names. */
const SECRET_VARS = new Set([
  "SLACK_BOT_TOKEN",
  "SLACK_SIGNING_SECRET",
  "SLACK_APP_TOKEN",
  "CONVAI_API_KEY",
  "CONVAI_APPROVAL_SECRET",
]);

/** CONVAI_APPROVAL_TTL: whole seconds ("86400") or a number with s, m, h or d ("24h"); 1 minute to 30 days. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim().toLowerCase());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] ?? "s"] ?? 1;
  return Number(m[1]) * unit * 1000;
}
export const DEFAULT_APPROVAL_TTL_MS = 24 * 3600 * 1000;
const duration = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .transform((v) => (v === undefined ? DEFAULT_APPROVAL_TTL_MS : parseDuration(v)))
    .refine((ms) => ms !== undefined && ms >= 60_000 && ms <= 30 * 86_400_000, {
      message:
        'must be a duration from 1 minute to 30 days, in seconds ("86400") or with a unit ("24h", "90m", "7d")',
    }),
);

const envSchema = z.object({
  SLACK_BOT_TOKEN: z
    .string({ message: "is required: the bot token (xoxb-…) from the app's OAuth & Permissions page" })
    .trim()
    .startsWith("xoxb-", { message: "must be a bot token starting with xoxb-" }),
  SLACK_SIGNING_SECRET: opt(z.string().trim().min(8, { message: "looks too short to be a signing secret" })),
  SLACK_APP_TOKEN: opt(
    z.string().trim().startsWith("xapp-", {
      message: "must be an app-level token starting with xapp- (or unset for HTTP mode)",
    }),
  ),
  PORT: int(0, 65535, 3000),
  SHUTDOWN_GRACE_MS: int(0, 60_000, 2000),
  SLACK_API_URL: opt(httpUrl),
  CONVAI_API_KEY: opt(z.string().trim().regex(/^\S+$/, { message: "must not contain whitespace" })),
  CONVAI_API_URL: opt(httpUrl),
  CONVAI_API_PREFIX: opt(z.enum(API_PREFIXES, { message: `must be one of ${API_PREFIXES.join(", ")}` })),
  CONVAI_TIMEOUT_MS: int(500, 120_000, 10_000),
  // The default comes from npm run bench at 0, 50 and 150 ms of Convai latency (README, Performance).
  CONVAI_MAX_CONNECTIONS: int(1, 256, DEFAULT_MAX_CONNECTIONS),
  CONVAI_NOTIFY_CHANNEL: opt(
    z
      .string()
      .trim()
      .regex(/^[CGD][A-Z0-9]{2,}$/, { message: "must be a channel ID such as C0123ABCD" }),
  ),
  CONVAI_MANAGERS: idList(/^[UW][A-Z0-9]{2,}$/, "Slack user IDs such as U0123ABCD"),
  CONVAI_MANAGER_GROUP: opt(
    z
      .string()
      .trim()
      .regex(/^S[A-Z0-9]{2,}$/, { message: "must be a user group ID such as S0123ABCD" }),
  ),
  CONVAI_ALLOWED_TEAMS: idList(/^[TE][A-Z0-9]{2,}$/, "team or enterprise IDs such as T0123ABCD"),
  CONVAI_AUTHZ_CACHE_SECONDS: int(0, 3600, 300),
  CONVAI_ALLOW_PRIVATE_URLS: bool(false),
  CONVAI_SANDBOX_FILE: opt(z.string().trim()),
  CONVAI_SANDBOX_DEMO: bool(true),
  LOG_LEVEL: z.preprocess(
    normalised,
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(", ")}` }).optional(),
  ),
  LOG_PRETTY: bool(false),
  CONVAI_REQUIRE_APPROVAL: bool(false),
  // The AES-256-GCM key of the sealed approval requests is derived from it with HKDF (SPEC §13).
  CONVAI_APPROVAL_SECRET: opt(z.string().min(32, { message: "must be at least 32 characters" })),
  CONVAI_APPROVAL_TTL: duration,
});

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/**
 * Validates the environment (SPEC §4). Takes the environment as a parameter so tests pass plain objects;
 * each error names the variable and the fix, never a secret's value.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  const errors: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "environment");
      // Our messages start with "is required" for a missing variable; zod's generic one says less.
      const message =
        issue.code === "invalid_type" && env[name] === undefined && !issue.message.startsWith("is required")
          ? "is required"
          : issue.message;
      errors.push(`${name} ${SECRET_VARS.has(name) ? withoutSecret(message, env[name]) : message}`);
    }
  }
  // Checked even when other variables are bad, so one run reports every problem. A set but invalid
  // SLACK_APP_TOKEN already has its own line and means Socket Mode was intended.
  if (isBlank(env.SLACK_APP_TOKEN) && isBlank(env.SLACK_SIGNING_SECRET)) {
    errors.push(
      "SLACK_SIGNING_SECRET is required in HTTP mode: copy it from the app's Basic Information page, or set SLACK_APP_TOKEN for Socket Mode",
    );
  }
  const { secrets, secretHosts } = readSecrets(env, errors);
  if (parsed.success && parsed.data.CONVAI_REQUIRE_APPROVAL) {
    if (!parsed.data.CONVAI_APPROVAL_SECRET)
      errors.push(
        "CONVAI_APPROVAL_SECRET is required when CONVAI_REQUIRE_APPROVAL is on: set a random string of at least 32 characters, the same on every replica",
      );
    if (!parsed.data.CONVAI_NOTIFY_CHANNEL)
      errors.push(
        "CONVAI_NOTIFY_CHANNEL is required when CONVAI_REQUIRE_APPROVAL is on: approval requests are posted there",
      );
  }
  if (!parsed.success || errors.length > 0) return { ok: false, errors };
  const e = parsed.data;

  const apiUrl = e.SLACK_API_URL?.replace(/\/*$/, "/");
  const config: Config = {
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      ...(e.SLACK_SIGNING_SECRET ? { signingSecret: e.SLACK_SIGNING_SECRET } : {}),
      ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
      ...(apiUrl ? { apiUrl } : {}),
    },
    mode: e.SLACK_APP_TOKEN ? "socket" : "http",
    port: e.PORT,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    convai: {
      ...(e.CONVAI_API_KEY ? { apiKey: e.CONVAI_API_KEY } : {}),
      apiUrl: (e.CONVAI_API_URL ?? "https://api.convai.com").replace(/\/+$/, ""),
      prefix: e.CONVAI_API_PREFIX ?? "/llm-models",
      timeoutMs: e.CONVAI_TIMEOUT_MS,
      maxConnections: e.CONVAI_MAX_CONNECTIONS,
      sandboxFile: e.CONVAI_SANDBOX_FILE ?? ".convai-sandbox.json",
      sandboxDemo: e.CONVAI_SANDBOX_DEMO,
    },
    ...(e.CONVAI_NOTIFY_CHANNEL ? { notifyChannel: e.CONVAI_NOTIFY_CHANNEL } : {}),
    managers: e.CONVAI_MANAGERS,
    ...(e.CONVAI_MANAGER_GROUP ? { managerGroup: e.CONVAI_MANAGER_GROUP } : {}),
    allowedTeams: e.CONVAI_ALLOWED_TEAMS,
    authzCacheSeconds: e.CONVAI_AUTHZ_CACHE_SECONDS,
    allowPrivateUrls: e.CONVAI_ALLOW_PRIVATE_URLS,
    logLevel: e.LOG_LEVEL ?? "info",
    logPretty: e.LOG_PRETTY,
    secrets,
    secretHosts,
    ...(e.CONVAI_REQUIRE_APPROVAL && e.CONVAI_APPROVAL_SECRET
      ? {
          approval: {
            secret: e.CONVAI_APPROVAL_SECRET,
            ttlMs: e.CONVAI_APPROVAL_TTL ?? DEFAULT_APPROVAL_TTL_MS,
          },
        }
      : {}),
  };
  return { ok: true, config };
}

/**
 * The CONVAI_SECRET_* values and their host lists (SPEC §5). A list's entries are host names, or
 * `*.example.com` for every subdomain; a list naming no secret is a typo the operator should see.
 */
function readSecrets(
  env: Readonly<Record<string, string | undefined>>,
  errors: string[],
): { secrets: Map<string, string>; secretHosts: Map<string, readonly string[]> } {
  const secrets = new Map<string, string>();
  const lists = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(SECRET_ENV_PREFIX) || value === undefined || value === "") continue;
    if (name.endsWith(SECRET_HOSTS_SUFFIX)) lists.set(name, value);
    else secrets.set(name, value);
  }
  const secretHosts = new Map<string, readonly string[]>();
  for (const [name, value] of lists) {
    const secret = name.slice(0, -SECRET_HOSTS_SUFFIX.length);
    const hosts = value
      .split(",")
      .map((h) => h.trim().toLowerCase().replace(/\.$/, ""))
      .filter(Boolean);
    const bad = hosts.filter((h) => !HOST_PATTERN.test(h));
    if (!secrets.has(secret)) {
      errors.push(`${name} names no secret: set ${secret} too, or remove ${name}`);
    } else if (hosts.length === 0) {
      errors.push(`${name} is empty: list the host names ${secret} may be sent to, e.g. api.openai.com`);
    } else if (bad.length > 0) {
      errors.push(
        `${name} must list host names separated by commas (e.g. api.openai.com,*.example.com); not a host name: ${bad.join(", ")}`,
      );
    } else {
      secretHosts.set(secret, hosts);
    }
  }
  return { secrets, secretHosts };
}

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === "";
}

/**
 * Our messages never quote a value, but zod's defaults might. Splicing "[redacted]" into the message
 * mangled it whenever a short secret happened to be a word of it ("looks too [redacted] to be…"), so a
 * message that contains the value, raw or trimmed, is replaced whole.
 */
function withoutSecret(message: string, value: string | undefined): string {
  const candidates = [value, value?.trim()].filter((v): v is string => v !== undefined && v !== "");
  return candidates.some((v) => message.includes(v))
    ? "has an invalid value (not shown: it is a secret)"
    : message;
}
