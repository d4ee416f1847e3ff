import type { Usage } from "./usage.js";

/** Default credits per token for a model; operators set per-model multipliers. */
export const DEFAULT_PRICE_PER_TOKEN = 1;

/** Cost = (prompt + completion tokens) × the model's price multiplier, rounded up to whole credits. */
export function creditsForUsage(usage: Usage, pricePerToken = DEFAULT_PRICE_PER_TOKEN): number {
  return Math.ceil((usage.promptTokens + usage.completionTokens) * pricePerToken);
}

/** The most tokens (prompt + completion) `maxCredits` pays for: where a provider stops generating. */
export function maxTokensFor(maxCredits: number, pricePerToken = DEFAULT_PRICE_PER_TOKEN): number {
  if (pricePerToken <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(maxCredits / pricePerToken);
}

const utf8 = new TextEncoder();

/**
 * An upper bound on the tokens a text becomes: a tokenizer with byte fallback makes at most one
 * token per UTF-8 byte (counting UTF-16 units instead would undercount CJK text and emoji, and a
 * provider stops at the reserve, so an undercount cuts answers short).
 */
export function maxTokensInText(text: string): number {
  return utf8.encode(text).length;
}
