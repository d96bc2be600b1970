import { randomBytes } from "node:crypto";
import type { Logger } from "../../logger.js";
import { createConvaiClient } from "../client.js";
import type { ApiPrefix, ConvaiClient } from "../types.js";
import { createSandbox, type Sandbox } from "./index.js";

export interface EmbeddedSandboxOptions {
  prefix: ApiPrefix;
  timeoutMs: number;
  /** CONVAI_SANDBOX_FILE. */
  file: string;
  /** CONVAI_SANDBOX_DEMO: a fresh state file starts with the demo account. */
  demo: boolean;
  logger: Logger;
}

/**
 * The bot's sandbox mode (SPEC §7): a sandbox on a loopback port with a key made up here, and a Convai
 * client for it whose close() stops the sandbox too. It records no request: the bot may run for weeks.
 */
export async function startEmbeddedSandbox(
  options: EmbeddedSandboxOptions,
): Promise<{ convai: ConvaiClient; sandbox: Sandbox }> {
  const apiKey = `sandbox-${randomBytes(16).toString("hex")}`;
  const sandbox = createSandbox({ apiKey, file: options.file, logger: options.logger, demo: options.demo });
  const url = await sandbox.listen(0, "127.0.0.1");
  const client = createConvaiClient({
    baseUrl: url,
    prefix: options.prefix,
    apiKey,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
  });
  const convai: ConvaiClient = {
    ...client,
    prefix: client.prefix,
    baseUrl: client.baseUrl,
    async close() {
      await client.close();
      await sandbox.close();
    },
  };
  return { convai, sandbox };
}
