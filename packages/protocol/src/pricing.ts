import type { InferencePayload } from "./inference-request.js";
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

/** Allowance for the text a chat template adds to document tools (node-llama-cpp's is a few hundred tokens). */
const TOOL_INSTRUCTIONS_TOKENS = 1_024;

/** The most prompt tokens a payload can become: one token per UTF-8 byte plus the template allowances. */
export function maxPromptTokensFor(payload: InferencePayload): number {
  switch (payload.kind) {
    case "chat": {
      const body = payload.body;
      // Chat templates document tools in a system text of their own (instructions, signatures, examples):
      // beyond the tools' JSON, allow for that text, which the provider counts in the prompt.
      const toolInstructions = body.tools && body.tools.length > 0 ? TOOL_INSTRUCTIONS_TOKENS : 0;
      const tools =
        toolInstructions +
        maxTokensInText(JSON.stringify(body.tools ?? [])) +
        maxTokensInText(JSON.stringify(body.responseFormat ?? {}));
      return body.messages.reduce(
        (sum, message) => sum + maxTokensInText(message.content) + 32 + maxTokensInText(JSON.stringify(message.toolCalls ?? [])),
        64 + tools,
      );
    }
    case "completion":
      return maxTokensInText(payload.body.prompt) + 8;
    case "embedding":
      return payload.body.input.reduce((sum, input) => sum + maxTokensInText(input) + 2, 0);
  }
}

/** The most completion tokens a payload asks for: maxTokens for each of its n choices (none for embeddings). */
export function maxCompletionTokensFor(payload: InferencePayload): number {
  return payload.kind === "embedding" ? 0 : payload.body.maxTokens * (payload.body.n ?? 1);
}

/**
 * The most the payer authorises for one request, and where the provider stops: the prompt cannot
 * exceed one token per UTF-8 byte plus template allowances, and the completion is capped by
 * maxTokens × n. A provider refuses a prompt that alone reaches it, so this must not undercount.
 * The same two bounds are what a payer checks a receipt's usage against.
 */
export function maxCreditsFor(payload: InferencePayload, pricePerToken: number): number {
  return Math.ceil((maxPromptTokensFor(payload) + maxCompletionTokensFor(payload)) * pricePerToken);
}
