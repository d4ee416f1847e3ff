import type { ChatBody, ChatMessage } from "@opengateway/protocol";
import { MAX_COMPLETION_TOKENS, MAX_MESSAGE_CHARS, MAX_MESSAGES, MAX_STOP_SEQUENCES } from "@opengateway/protocol";
import { z } from "zod";
import { OpenAIHttpError } from "./openai-error.js";

const textPartSchema = z.object({ type: z.literal("text"), text: z.string() });
const contentSchema = z.union([z.string(), z.array(textPartSchema).max(MAX_MESSAGES)]);

const messageSchema = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: contentSchema.nullable().optional(),
  name: z.string().max(256).optional(),
});

const nullish = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/**
 * The OpenAI `POST /v1/chat/completions` body, as far as this release serves it. Fields we do
 * not implement yet are refused by name rather than silently ignored.
 */
export const chatCompletionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(messageSchema).min(1).max(MAX_MESSAGES),
  max_tokens: nullish(z.int().min(1).max(MAX_COMPLETION_TOKENS)),
  max_completion_tokens: nullish(z.int().min(1).max(MAX_COMPLETION_TOKENS)),
  temperature: nullish(z.number().min(0).max(2)),
  top_p: nullish(z.number().gt(0).max(1)),
  seed: nullish(z.int()),
  stop: nullish(z.union([z.string().min(1), z.array(z.string().min(1)).max(MAX_STOP_SEQUENCES)])),
  stream: nullish(z.boolean()),
  stream_options: nullish(z.object({ include_usage: z.boolean().optional() })),
  n: nullish(z.literal(1)),
  user: nullish(z.string().max(256)),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const NOT_YET_SUPPORTED = ["tools", "tool_choice", "functions", "function_call", "response_format", "logprobs", "top_logprobs"];

export interface ValidatedChatRequest {
  model: string;
  body: ChatBody;
  stream: boolean;
  includeUsage: boolean;
}

export function parseChatCompletionRequest(
  raw: unknown,
  limits: { contextSize: number; defaultMaxTokens: number },
): ValidatedChatRequest {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new OpenAIHttpError(400, "the request body must be a JSON object");
  }
  for (const field of NOT_YET_SUPPORTED) {
    const value = (raw as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && value !== false) {
      throw new OpenAIHttpError(400, `'${field}' is not supported by this gateway yet`, {
        param: field,
        code: "unsupported_parameter",
      });
    }
  }
  const parsed = chatCompletionRequestSchema.safeParse(raw);
  if (!parsed.success) throw zodToOpenAIError(parsed.error);
  const request = parsed.data;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? Math.min(limits.defaultMaxTokens, limits.contextSize);
  if (maxTokens > limits.contextSize) {
    throw new OpenAIHttpError(
      400,
      `max_tokens is too large: ${maxTokens}. This model supports at most ${limits.contextSize} completion tokens.`,
      { param: request.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens", code: "invalid_value" },
    );
  }
  const stop = request.stop == null ? [] : typeof request.stop === "string" ? [request.stop] : request.stop;
  return {
    model: request.model,
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
    body: {
      messages: request.messages.map(toChatMessage),
      maxTokens,
      // OpenAI's defaults, stated explicitly so every provider samples the same way.
      temperature: request.temperature ?? 1,
      topP: request.top_p ?? 1,
      // Without a seed, each request gets a fresh random one (an engine's own default may repeat).
      seed: request.seed == null ? randomSeed() : request.seed >>> 0,
      stop,
    },
  };
}

function toChatMessage(message: z.infer<typeof messageSchema>, index: number): ChatMessage {
  const content =
    message.content == null
      ? ""
      : typeof message.content === "string"
        ? message.content
        : message.content.map((part) => part.text).join("");
  if (content.length > MAX_MESSAGE_CHARS) {
    throw new OpenAIHttpError(400, `messages[${index}].content is longer than ${MAX_MESSAGE_CHARS} characters`, {
      param: `messages.${index}.content`,
    });
  }
  return { role: message.role === "developer" ? "system" : message.role, content };
}

export function zodToOpenAIError(error: z.ZodError): OpenAIHttpError {
  const issue = error.issues[0];
  const param = issue && issue.path.length > 0 ? issue.path.join(".") : null;
  const message = issue ? `${param ?? "body"}: ${issue.message}` : "invalid request";
  return new OpenAIHttpError(400, message, { param, code: "invalid_value" });
}

function randomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
}
