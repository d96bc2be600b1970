import type { Config } from "../config.js";
import type { Actor, LlmService } from "../domain/changes.js";
import type { Logger } from "../logger.js";
import type { ViewContext } from "../modals/ui.js";
import type { ValidationContext } from "../modals/validate.js";
import type { Authorizer } from "./authz.js";

/** What every listener needs; built once in createApp and passed down, never imported as a singleton. */
export interface Deps {
  config: Config;
  logger: Logger;
  service: LlmService;
  authz: Authorizer;
  view: ViewContext;
  validation: ValidationContext;
  /** The slash command's name as configured in the manifest. */
  command: string;
  /** How long a submission may work before the modal switches to its "working" view. */
  submitBudgetMs: number;
  /** Called after every change made through the bot (App Home republish). */
  onChange: (actor: Actor) => Promise<void>;
}
