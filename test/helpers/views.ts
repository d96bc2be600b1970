/** Zod shapes of the modal views and view-submission acks the bot sends, for tests that read them. */
import { z } from "zod";

export const elementSchema = z.looseObject({
  type: z.string(),
  action_id: z.string().optional(),
  initial_value: z.string().optional(),
  initial_option: z.looseObject({ value: z.string() }).optional(),
  initial_options: z.array(z.looseObject({ value: z.string() })).optional(),
});
export const blockSchema = z.looseObject({
  type: z.string(),
  block_id: z.string().optional(),
  element: elementSchema.optional(),
});
export const viewSchema = z.looseObject({
  type: z.literal("modal"),
  callback_id: z.string(),
  title: z.looseObject({ text: z.string() }),
  private_metadata: z.string().optional(),
  submit: z.unknown().optional(),
  blocks: z.array(blockSchema),
});
export type View = z.infer<typeof viewSchema>;
export const ackSchema = z.looseObject({
  response_action: z.enum(["errors", "update", "push", "clear"]),
  errors: z.record(z.string(), z.string()).optional(),
  view: viewSchema.optional(),
});
export type Ack = z.infer<typeof ackSchema>;
