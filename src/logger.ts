import { createRequire } from "node:module";
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

/** Paths pino blanks out wherever they appear; secrets must never reach a log line (SPEC §5). */
export const REDACT_PATHS = [
  "api_key",
  "apiKey",
  "*.api_key",
  "*.apiKey",
  "*.*.api_key",
  "token",
  "*.token",
  "botToken",
  "*.botToken",
  "appToken",
  "*.appToken",
  "signingSecret",
  "*.signingSecret",
  'headers["convai-api-key"]',
  '*.headers["convai-api-key"]',
  'headers["CONVAI-API-KEY"]',
  '*.headers["CONVAI-API-KEY"]',
  "headers.authorization",
  "*.headers.authorization",
  "body",
  "*.body",
];

export interface LoggerOptions {
  level: LogLevel;
  pretty?: boolean;
  /** Where lines go; tests pass a stream to read everything the bot logged. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { app: "convai-llm-bot" },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty && prettyInstalled()) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true } } });
  }
  const logger = pino(base);
  if (options.pretty)
    logger.warn(
      "LOG_PRETTY is set but pino-pretty is not installed (a development dependency); logging JSON.",
    );
  return logger;
}

/** pino-pretty is a development dependency: a production install (npm ci --omit=dev) lacks it. */
function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}
