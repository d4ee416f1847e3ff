import { z } from "zod";

export const usageSchema = z.strictObject({
  promptTokens: z.int().min(0).max(10_000_000),
  completionTokens: z.int().min(0).max(10_000_000),
});

export type Usage = z.infer<typeof usageSchema>;

export const finishReasonSchema = z.enum(["stop", "length"]);
export type FinishReason = z.infer<typeof finishReasonSchema>;
