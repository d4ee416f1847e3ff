import type { CompletionBody } from "@opengateway/protocol";
import { MAX_MESSAGE_CHARS } from "@opengateway/protocol";
import { z } from "zod";
import { OpenAIHttpError } from "./openai-error.js";
import { checkParameters, isPresent, parseWith, requireJsonObject } from "./request-validation.js";
import { nullish, openAISamplingShape, toSamplingParams } from "./sampling-request.js";

export const MAX_PROMPTS = 16;
/** OpenAI's legacy completions default to 16 tokens. */
export const LEGACY_DEFAULT_MAX_TOKENS = 16;

export const completionRequestSchema = z.object({
  ...openAISamplingShape,
  prompt: z.union([z.string().max(MAX_MESSAGE_CHARS), z.array(z.string().max(MAX_MESSAGE_CHARS)).min(1).max(MAX_PROMPTS)]),
  echo: nullish(z.boolean()),
  best_of: nullish(z.int().min(1).max(20)),
  logprobs: nullish(z.int().min(0).max(5)),
  suffix: nullish(z.string()),
});

const KNOWN = new Set(Object.keys(completionRequestSchema.shape));
const tokenArray = (value: unknown) => Array.isArray(value) && value.some((item) => typeof item !== "string");
const UNSUPPORTED = {
  logprobs: {
    when: (value: unknown) => isPresent(value) && value !== 0,
    reason: "token log-probabilities are not exposed by the engines yet",
  },
  suffix: { when: (value: unknown) => isPresent(value) && value !== "", reason: "insertion (fill-in-the-middle) is not served" },
  prompt: { when: tokenArray, reason: "prompts as token arrays are not accepted; send text" },
};

export interface ValidatedCompletionRequest {
  model: string;
  /** One body per prompt; each is routed as its own request. */
  bodies: CompletionBody[];
  echo: boolean;
  stream: boolean;
  includeUsage: boolean;
  choicesPerPrompt: number;
}

export function parseCompletionRequest(raw: unknown, limits: { contextSize: number }): ValidatedCompletionRequest {
  const object = requireJsonObject(raw);
  checkParameters(object, KNOWN, UNSUPPORTED);
  const request = parseWith(completionRequestSchema, object);
  if (request.best_of != null && request.best_of !== (request.n ?? 1)) {
    throw new OpenAIHttpError(400, "'best_of' other than n is not supported: choices are not ranked by likelihood", {
      param: "best_of",
      code: "unsupported_parameter",
    });
  }
  const prompts = typeof request.prompt === "string" ? [request.prompt] : request.prompt;
  const sampling = toSamplingParams(request, {
    value: request.max_tokens,
    param: "max_tokens",
    fallback: LEGACY_DEFAULT_MAX_TOKENS,
    contextSize: limits.contextSize,
  });
  return {
    model: request.model,
    bodies: prompts.map((prompt) => ({ prompt, ...sampling })),
    echo: request.echo === true,
    stream: request.stream === true,
    includeUsage: request.stream === true && request.stream_options?.include_usage === true,
    choicesPerPrompt: sampling.n ?? 1,
  };
}
