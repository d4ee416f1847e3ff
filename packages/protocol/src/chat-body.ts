import { z } from "zod";
import { MAX_COMPLETION_TOKENS, MAX_MESSAGES, MAX_STOP_SEQUENCE_CHARS, MAX_STOP_SEQUENCES } from "./constants.js";

/** Upper bound on one message's text: bounds memory before the model's own context limit applies. */
export const MAX_MESSAGE_CHARS = 256 * 1024;

export const chatMessageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string().max(MAX_MESSAGE_CHARS),
});

/**
 * The engine-level chat request a provider executes. OpenAI's wider request shape is
 * validated and mapped into this by the SDK's router; this is what gets signed.
 * Every sampling default is explicit here, so two providers given one body behave alike.
 */
export const chatBodySchema = z.strictObject({
  messages: z.array(chatMessageSchema).min(1).max(MAX_MESSAGES),
  maxTokens: z.int().min(1).max(MAX_COMPLETION_TOKENS),
  temperature: z.number().min(0).max(2),
  topP: z.number().gt(0).max(1),
  seed: z
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  stop: z.array(z.string().min(1).max(MAX_STOP_SEQUENCE_CHARS)).max(MAX_STOP_SEQUENCES),
});

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatBody = z.infer<typeof chatBodySchema>;
