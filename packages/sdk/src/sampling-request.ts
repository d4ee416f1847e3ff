import type { SamplingParams } from "@opengateway/protocol";
import {
  MAX_CHOICES,
  MAX_COMPLETION_TOKENS,
  MAX_LOGIT_BIAS_ENTRIES,
  MAX_REPETITION_PENALTY,
  MAX_STOP_SEQUENCES,
  MAX_TOP_K,
} from "@opengateway/protocol";
import { z } from "zod";
import { OpenAIHttpError } from "./openai-error.js";
import { randomSeed } from "./request-validation.js";

export const nullish = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/** Sampling parameters shared by chat and legacy completions, in OpenAI's names. */
export const openAISamplingShape = {
  model: z.string().min(1).max(256),
  max_tokens: nullish(z.int().min(1).max(MAX_COMPLETION_TOKENS)),
  temperature: nullish(z.number().min(0).max(2)),
  top_p: nullish(z.number().gt(0).max(1)),
  seed: nullish(
    z
      .int()
      .min(-(2 ** 63))
      .max(2 ** 64),
  ),
  stop: nullish(
    z.union([
      z.string().min(1),
      z.array(z.string().min(1)).max(MAX_STOP_SEQUENCES, `at most ${MAX_STOP_SEQUENCES} stop sequences are allowed`),
    ]),
  ),
  n: nullish(z.int().min(1).max(MAX_CHOICES)),
  presence_penalty: nullish(z.number().min(-2).max(2)),
  frequency_penalty: nullish(z.number().min(-2).max(2)),
  // Not OpenAI's, but what llama-server, vLLM and Ollama's OpenAI endpoints take: -1 or 0 = all tokens.
  top_k: nullish(z.int().min(-1).max(MAX_TOP_K)),
  min_p: nullish(z.number().min(0).max(1)),
  repetition_penalty: nullish(z.number().gt(0).max(MAX_REPETITION_PENALTY)),
  /** llama-server's name for repetition_penalty. */
  repeat_penalty: nullish(z.number().gt(0).max(MAX_REPETITION_PENALTY)),
  logit_bias: nullish(
    z
      .record(z.string().regex(/^\d{1,9}$/, "logit_bias keys are token ids"), z.number().min(-100).max(100))
      .refine((bias) => Object.keys(bias).length <= MAX_LOGIT_BIAS_ENTRIES, `at most ${MAX_LOGIT_BIAS_ENTRIES} entries`),
  ),
  stream: nullish(z.boolean()),
  stream_options: nullish(z.object({ include_usage: z.boolean().optional() })),
  user: nullish(z.string().max(256)),
};

export interface SamplingInput {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  repeat_penalty?: number | null;
}

/**
 * OpenAI's defaults made explicit: temperature 1, top_p 1, no penalties, and a fresh random seed
 * when the client gave none (an engine's own default seed may repeat).
 */
export function toSamplingParams(
  input: SamplingInput,
  maxTokens: { value: number | null | undefined; param: string; fallback: number; contextSize: number },
): SamplingParams {
  const tokens = maxTokens.value ?? Math.min(maxTokens.fallback, maxTokens.contextSize);
  if (tokens > maxTokens.contextSize) {
    throw new OpenAIHttpError(
      400,
      `${maxTokens.param} is too large: ${tokens}. This model supports at most ${maxTokens.contextSize} completion tokens.`,
      { param: maxTokens.param, code: "invalid_value" },
    );
  }
  const params: SamplingParams = {
    maxTokens: tokens,
    temperature: input.temperature ?? 1,
    topP: input.top_p ?? 1,
    seed: input.seed == null ? randomSeed() : Number(BigInt.asUintN(32, BigInt(input.seed))),
    stop: input.stop == null ? [] : typeof input.stop === "string" ? [input.stop] : input.stop,
  };
  if ((input.n ?? 1) > 1) params.n = input.n ?? 1;
  if (input.presence_penalty) params.presencePenalty = input.presence_penalty;
  if (input.frequency_penalty) params.frequencyPenalty = input.frequency_penalty;
  if (input.logit_bias && Object.keys(input.logit_bias).length > 0) params.logitBias = input.logit_bias;
  if (input.top_k != null) params.topK = Math.max(input.top_k, 0);
  if (input.min_p != null) params.minP = input.min_p;
  const repetitionPenalty = input.repetition_penalty ?? input.repeat_penalty;
  if (input.repetition_penalty != null && input.repeat_penalty != null && input.repetition_penalty !== input.repeat_penalty) {
    throw new OpenAIHttpError(400, "repetition_penalty and repeat_penalty name one setting; give one of them", {
      param: "repeat_penalty",
      code: "invalid_value",
    });
  }
  // 1 is no penalty: left out, so the body stays what a plain OpenAI request makes.
  if (repetitionPenalty != null && repetitionPenalty !== 1) params.repetitionPenalty = repetitionPenalty;
  return params;
}
