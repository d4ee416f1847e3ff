import { z } from "zod";

export const usageSchema = z.strictObject({
  promptTokens: z.int().min(0).max(10_000_000),
  completionTokens: z.int().min(0).max(10_000_000),
});

export type Usage = z.infer<typeof usageSchema>;

/** Why a choice ended: a stop condition, the token limit, or a call to a tool. */
export const finishReasonSchema = z.enum(["stop", "length", "tool_calls"]);
export type FinishReason = z.infer<typeof finishReasonSchema>;
