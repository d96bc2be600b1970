import { LogLevel } from "@slack/bolt";
import type { Logger as SlackLogger } from "@slack/logger";
import type { Logger } from "../logger.js";

/** Bolt logs through pino, so its lines get the same redaction and format. */
export function toSlackLogger(pinoLogger: Logger): SlackLogger {
  let level: LogLevel = LogLevel.INFO;
  const join = (msg: unknown[]) => msg.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
  return {
    debug: (...msg: unknown[]) => pinoLogger.debug(join(msg)),
    info: (...msg: unknown[]) => pinoLogger.info(join(msg)),
    warn: (...msg: unknown[]) => pinoLogger.warn(join(msg)),
    error: (...msg: unknown[]) => pinoLogger.error(join(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
