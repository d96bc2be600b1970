import { API_FIELD } from "../domain/fields.js";

/**
 * Every callback_id, block_id and action_id the bot uses. The modal ids are a fixed contract (SPEC §3):
 * operators and tests rely on them, so they live here and nowhere else.
 */
export const CALLBACK = {
  register: "convai_llm_register",
  update: "convai_llm_update",
  deregister: "convai_llm_deregister",
  assign: "convai_llm_assign",
} as const;
export type CallbackId = (typeof CALLBACK)[keyof typeof CALLBACK];

/** Input block ids are the Convai API field names; each input's action_id equals its block_id. */
export const FIELD = {
  ...API_FIELD,
  verify: "verify",
  confirm_group_name: "confirm_group_name",
  /** The assign modal's character multi-select (SPEC §10). */
  characters: "characters",
  /** The deregister modal's target for the group's characters (SPEC §10). */
  move_to: "move_to",
} as const;
export type FieldId = (typeof FIELD)[keyof typeof FIELD];

/** Values of the update modal's `is_uncensored` radio group. */
export const UNCENSORED_CHOICE = { keep: "keep", true: "true", false: "false" } as const;
/** The value of the single option in the `verify` and register `is_uncensored` checkboxes. */
export const CHECKED_VALUE = "yes";

/** Buttons and menus (App Home, list rows). */
export const ACTION = {
  openRegister: "convai_open_register",
  modelOverflow: "convai_model_overflow",
  homeRefresh: "convai_home_refresh",
  homePage: "convai_home_page",
  /** Previous/Next on the `characters` command's reply; the value carries the page and the filter. */
  charactersPage: "convai_characters_page",
  /** Approval requests (SPEC §13): the buttons' value is the request id; the change travels sealed. */
  approve: "convai_approval_approve",
  reject: "convai_approval_reject",
  approvalBlock: "convai_approval",
} as const;

/** The block_id of a model's row: the overflow menu's action reads the group from it. */
export const MODEL_BLOCK_PREFIX = "model:";
