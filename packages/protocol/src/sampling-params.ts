import { z } from "zod";
import { MAX_COMPLETION_TOKENS, MAX_STOP_SEQUENCE_CHARS, MAX_STOP_SEQUENCES } from "./constants.js";

export const MAX_CHOICES = 8;
export const MAX_LOGIT_BIAS_ENTRIES = 300;
/** Above any vocabulary in use; a larger top_k is "all tokens" anyway. */
export const MAX_TOP_K = 1_000_000;
/** Repetition penalties as llama.cpp and vLLM take them: 1 = none, above 1 discourages repeats. */
export const MAX_REPETITION_PENALTY = 2;

/**
 * Sampling settings shared by chat and text completions. Every default is explicit once the
 * router has filled it in, so two providers given one body sample the same way.
 */
export const samplingParamsShape = {
  maxTokens: z.int().min(1).max(MAX_COMPLETION_TOKENS),
  temperature: z.number().min(0).max(2),
  topP: z.number().gt(0).max(1),
  seed: z
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  stop: z.array(z.string().min(1).max(MAX_STOP_SEQUENCE_CHARS)).max(MAX_STOP_SEQUENCES),
  /** Choices to generate; choice i uses seed + i. */
  n: z.int().min(1).max(MAX_CHOICES).optional(),
  /** Sample among the k likeliest tokens only; 0 = all tokens. Unset: the engine's default. */
  topK: z.int().min(0).max(MAX_TOP_K).optional(),
  /** Drop tokens less likely than minP times the likeliest one (llama.cpp's min-p). */
  minP: z.number().min(0).max(1).optional(),
  /** llama.cpp/vLLM repetition penalty over recent tokens: 1 = none. */
  repetitionPenalty: z.number().gt(0).max(MAX_REPETITION_PENALTY).optional(),
  presencePenalty: z.number().min(-2).max(2).optional(),
  frequencyPenalty: z.number().min(-2).max(2).optional(),
  /** Token id (decimal string) → bias in [-100, 100], as OpenAI defines it. */
  logitBias: z
    .record(z.string().regex(/^\d{1,9}$/), z.number().min(-100).max(100))
    .refine((bias) => Object.keys(bias).length <= MAX_LOGIT_BIAS_ENTRIES, `at most ${MAX_LOGIT_BIAS_ENTRIES} logit_bias entries`)
    .optional(),
};

export const samplingParamsSchema = z.strictObject(samplingParamsShape);
export type SamplingParams = z.infer<typeof samplingParamsSchema>;
