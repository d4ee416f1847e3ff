import { sha256 } from "@noble/hashes/sha2.js";
import { z } from "zod";
import { base64url } from "./bytes-encoding.js";
import { canonicalBytes } from "./canonical-json.js";
import { finishReasonSchema } from "./usage.js";

/** Longest delivered text one choice may carry as audit evidence (a fraud report stays small). */
export const MAX_DELIVERED_TEXT_CHARS = 64 * 1024;
/** Most choices a delivered output may hold (n is bounded by the request body as well). */
export const MAX_DELIVERED_CHOICES = 16;

/** One choice as the client received it: its whole text and how it ended. */
export const deliveredChoiceSchema = z.strictObject({
  index: z
    .int()
    .min(0)
    .max(MAX_DELIVERED_CHOICES - 1),
  text: z.string().max(MAX_DELIVERED_TEXT_CHARS),
  finishReason: finishReasonSchema,
});
export type DeliveredChoice = z.infer<typeof deliveredChoiceSchema>;

export const deliveredOutputSchema = z.array(deliveredChoiceSchema).min(1).max(MAX_DELIVERED_CHOICES);

/**
 * base64url SHA-256 of the canonical JSON of the delivered choices, ordered by index: what a
 * receipt's `output` commits to, so the text an auditor reports is the text the provider signed
 * for (docs/proof-system.md, "Fraud reports").
 */
export function deliveredOutputHash(choices: readonly DeliveredChoice[]): string {
  const ordered = [...choices]
    .sort((a, b) => a.index - b.index)
    .map(({ index, text, finishReason }) => ({ index, text, finishReason }));
  return base64url.encode(sha256(canonicalBytes(ordered)));
}
