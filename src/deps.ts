import type { WebClient } from "@slack/web-api";
import { type Approvals, createApprovals } from "./approvals/requests.js";
import type { Config } from "./config.js";
import { coalesceReads } from "./convai/coalesce.js";
import type { ConvaiClient } from "./convai/types.js";
import { createLlmService } from "./domain/changes.js";
import { type CharacterService, createCharacterService } from "./domain/characters.js";
import type { Actor, LlmService, ProbeFn } from "./domain/outcome.js";
import type { Logger } from "./logger.js";
import type { ValidationContext } from "./modals/form.js";
import type { ViewContext } from "./modals/ui.js";
import { createNotifier } from "./notify/notifier.js";
import { type LookupFn, resolvePublicAddress } from "./probe/guard.js";
import { probeEndpoint } from "./probe/probe.js";
import type { Authorizer } from "./slack/authz.js";
import { createAuthorizer } from "./slack/authz.js";

/** What every listener needs; built once in createApp and passed down, never imported as a singleton. */
export interface Deps {
  config: Config;
  logger: Logger;
  service: LlmService;
  /** Characters: usage, assign, and the deregister that moves them first (SPEC §10). */
  characters: CharacterService;
  authz: Authorizer;
  view: ViewContext;
  validation: ValidationContext;
  /** The slash command's name as configured in the manifest. */
  command: string;
  /** How long a submission may work before the modal switches to its "working" view. */
  submitBudgetMs: number;
  /** Called after every change made through the bot (App Home republish). */
  onChange: (actor: Actor) => Promise<void>;
  /** Set when CONVAI_REQUIRE_APPROVAL is on: changes become requests (SPEC §13). */
  approvals?: Approvals;
}

/** The services behind the listeners, each given what it needs and nothing more. */
export function createDeps(options: {
  config: Config;
  logger: Logger;
  convai: ConvaiClient;
  sandbox: boolean;
  client: WebClient;
  probe?: ProbeFn | undefined;
  /** DNS for the SSRF guard (tests answer without leaving 127.0.0.1); default the system resolver. */
  lookup?: LookupFn | undefined;
  command: string;
  submitBudgetMs?: number | undefined;
  onChange: Deps["onChange"];
}): Deps {
  const { config, logger, client, sandbox } = options;
  const lookup = options.lookup ? { lookup: options.lookup } : {};
  // Every read of the list goes through one coalescing layer (SPEC §12); changes pass straight through.
  const convai = coalesceReads(options.convai);
  const notify = createNotifier({ client, channel: config.notifyChannel, sandbox, logger });
  const service = createLlmService({
    convai,
    probe: (input) => (options.probe ?? probeEndpoint)({ ...input, ...lookup }),
    notify,
    allowPrivateUrls: config.allowPrivateUrls,
    secretHosts: config.secretHosts,
    checkHost: (hostname) =>
      resolvePublicAddress(hostname, { allowPrivate: config.allowPrivateUrls, ...lookup }),
    logger,
  });
  const characters = createCharacterService({ convai, llm: service, notify, logger });
  // One authorizer, so listeners and approvals share its cache and never disagree.
  const authz = createAuthorizer({ config, client, logger });
  const approvals =
    config.approval && config.notifyChannel
      ? createApprovals({
          client,
          channel: config.notifyChannel,
          service,
          characters,
          authz,
          sandbox,
          logger,
          secret: config.approval.secret,
          ttlMs: config.approval.ttlMs,
          stall: { minMs: 10 * 60_000, callTimeoutMs: config.convai.timeoutMs },
          onApplied: options.onChange,
        })
      : undefined;
  return {
    ...(approvals ? { approvals } : {}),
    config,
    logger,
    service,
    characters,
    authz,
    view: { prefix: convai.prefix, sandbox },
    validation: { prefix: convai.prefix, allowPrivateUrls: config.allowPrivateUrls, secrets: config.secrets },
    command: options.command,
    submitBudgetMs: options.submitBudgetMs ?? 2200,
    onChange: options.onChange,
  };
}
