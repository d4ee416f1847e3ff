import type { ChatBody, ChatMessage, ResponseFormat, ToolChoice, ToolDefinition } from "@opengateway/protocol";
import { isJsonValue, MAX_MESSAGE_CHARS, MAX_MESSAGES, MAX_SCHEMA_DEPTH, MAX_TOOLS } from "@opengateway/protocol";
import { z } from "zod";
import { OpenAIHttpError } from "./openai-error.js";
import { checkParameters, isPresent, parseWith, requireJsonObject } from "./request-validation.js";
import { nullish, openAISamplingShape, toSamplingParams } from "./sampling-request.js";

/**
 * A JSON schema or tool parameters: a JSON object, its depth checked without recursion before
 * anything walks it, and kept as the same object (a rebuilt one loses a property named `__proto__`).
 */
export const jsonObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value) && isJsonValue(value, MAX_SCHEMA_DEPTH),
  `must be a JSON object nested at most ${MAX_SCHEMA_DEPTH} deep`,
);
export const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "function names are 1-64 letters, digits, _ or -");

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const contentParts = z.array(
  z.union([
    textPart,
    z
      .object({ type: z.string() })
      .refine((part) => part.type === "text", { message: "only text content parts are supported by the served models" }),
  ]),
);
const content = z.union([z.string(), contentParts.max(MAX_MESSAGES)]);

const toolCall = z.object({
  id: z.string().min(1).max(128),
  type: z.literal("function"),
  function: z.object({ name: toolName, arguments: z.string().max(256 * 1024) }),
});

const messageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content, name: z.string().max(256).optional() }),
  z.object({ role: z.literal("developer"), content, name: z.string().max(256).optional() }),
  z.object({ role: z.literal("user"), content, name: z.string().max(256).optional() }),
  z.object({
    role: z.literal("assistant"),
    content: nullish(content),
    name: z.string().max(256).optional(),
    refusal: nullish(z.string()),
    tool_calls: nullish(z.array(toolCall).max(MAX_TOOLS)),
  }),
  z.object({ role: z.literal("tool"), content, tool_call_id: z.string().min(1).max(128) }),
]);

const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: toolName,
    description: z.string().max(8192).optional(),
    parameters: jsonObject.optional(),
    strict: nullish(z.boolean()),
  }),
});

/** The OpenAI `POST /v1/chat/completions` body, as served by this gateway. */
export const chatCompletionRequestSchema = z.object({
  ...openAISamplingShape,
  messages: z.array(messageSchema).min(1).max(MAX_MESSAGES),
  max_completion_tokens: nullish(openAISamplingShape.max_tokens.unwrap().unwrap()),
  response_format: nullish(
    z.discriminatedUnion("type", [
      z.object({ type: z.literal("text") }),
      z.object({ type: z.literal("json_object") }),
      z.object({
        type: z.literal("json_schema"),
        json_schema: z.object({
          name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
          description: z.string().max(8192).optional(),
          schema: jsonObject.optional(),
          strict: nullish(z.boolean()),
        }),
      }),
    ]),
  ),
  tools: nullish(z.array(toolSchema).max(MAX_TOOLS)),
  tool_choice: nullish(
    z.union([
      z.enum(["none", "auto", "required"]),
      z.object({ type: z.literal("function"), function: z.object({ name: toolName }) }),
    ]),
  ),
  parallel_tool_calls: nullish(z.boolean()),
  logprobs: nullish(z.boolean()),
  top_logprobs: nullish(z.int().min(0).max(20)),
  modalities: nullish(z.array(z.literal("text"))),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const KNOWN = new Set([
  ...Object.keys(chatCompletionRequestSchema.shape),
  // Accepted and without effect on a served model: bookkeeping and hints.
  "store",
  "metadata",
  "service_tier",
  "reasoning_effort",
  "prompt_cache_key",
  "safety_identifier",
]);
const UNSUPPORTED = {
  logprobs: { when: isPresent, reason: "token log-probabilities are not exposed by the network's engines yet" },
  top_logprobs: { when: (value: unknown) => isPresent(value) && value !== 0, reason: "requires logprobs" },
  functions: { when: isPresent, reason: "the deprecated 'functions' API is not served; use 'tools'" },
  function_call: { when: isPresent, reason: "the deprecated 'function_call' API is not served; use 'tool_choice'" },
  audio: { when: isPresent, reason: "the served models produce text only" },
  prediction: { when: isPresent, reason: "predicted outputs are not supported by the engines" },
  web_search_options: { when: isPresent, reason: "the network has no web search" },
};

/** What a chat completion may generate when the client names no limit (bounded by the model's context). */
export const DEFAULT_MAX_TOKENS = 1024;

export interface ValidatedChatRequest {
  model: string;
  body: ChatBody;
  stream: boolean;
  includeUsage: boolean;
}

export function parseChatCompletionRequest(
  raw: unknown,
  limits: { contextSize: number; defaultMaxTokens?: number },
): ValidatedChatRequest {
  const object = requireJsonObject(raw);
  checkParameters(object, KNOWN, UNSUPPORTED);
  const request = parseWith(chatCompletionRequestSchema, object);
  const useMaxCompletion = request.max_completion_tokens != null;
  const body: ChatBody = {
    messages: request.messages.map(toChatMessage),
    ...toSamplingParams(request, {
      value: useMaxCompletion ? request.max_completion_tokens : request.max_tokens,
      param: useMaxCompletion ? "max_completion_tokens" : "max_tokens",
      fallback: limits.defaultMaxTokens ?? DEFAULT_MAX_TOKENS,
      contextSize: limits.contextSize,
    }),
  };
  const responseFormat = toResponseFormat(request.response_format);
  if (responseFormat) body.responseFormat = responseFormat;
  if (request.tools && request.tools.length > 0) body.tools = request.tools.map(toToolDefinition);
  const toolChoice = toToolChoice(request.tool_choice);
  if (toolChoice !== undefined) {
    if (typeof toolChoice === "object" && !body.tools?.some((tool) => tool.name === toolChoice.name)) {
      throw new OpenAIHttpError(400, `tool_choice names function '${toolChoice.name}', which is not in tools`, {
        param: "tool_choice",
      });
    }
    if (toolChoice !== "none" && toolChoice !== "auto" && !body.tools) {
      throw new OpenAIHttpError(400, "tool_choice is only allowed when tools are given", { param: "tool_choice" });
    }
    body.toolChoice = toolChoice;
  }
  return {
    model: request.model,
    body,
    stream: request.stream === true,
    includeUsage: request.stream === true && request.stream_options?.include_usage === true,
  };
}

function textOf(value: z.infer<typeof content> | null | undefined): string {
  if (value == null) return "";
  return typeof value === "string" ? value : value.map((part) => ("text" in part ? String(part.text) : "")).join("");
}

function toChatMessage(message: z.infer<typeof messageSchema>, index: number): ChatMessage {
  const text = textOf(message.content);
  if (text.length > MAX_MESSAGE_CHARS) {
    throw new OpenAIHttpError(400, `messages[${index}].content is longer than ${MAX_MESSAGE_CHARS} characters`, {
      param: `messages.${index}.content`,
    });
  }
  switch (message.role) {
    case "developer":
      return { role: "system", content: text };
    case "assistant":
      return message.tool_calls && message.tool_calls.length > 0
        ? {
            role: "assistant",
            content: text,
            toolCalls: message.tool_calls.map((call) => ({
              id: call.id,
              name: call.function.name,
              arguments: call.function.arguments,
            })),
          }
        : { role: "assistant", content: text };
    case "tool":
      return { role: "tool", content: text, toolCallId: message.tool_call_id };
    default:
      return { role: message.role, content: text };
  }
}

function toResponseFormat(format: ChatCompletionRequest["response_format"]): ResponseFormat | undefined {
  if (format == null || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  return {
    type: "json_schema",
    name: format.json_schema.name,
    schema: (format.json_schema.schema ?? { type: "object" }) as never,
  };
}

function toToolDefinition(tool: z.infer<typeof toolSchema>): ToolDefinition {
  const definition: ToolDefinition = { name: tool.function.name };
  if (tool.function.description) definition.description = tool.function.description;
  if (tool.function.parameters) definition.parameters = tool.function.parameters as never;
  return definition;
}

function toToolChoice(choice: ChatCompletionRequest["tool_choice"]): ToolChoice | undefined {
  if (choice == null) return undefined;
  return typeof choice === "string" ? choice : { name: choice.function.name };
}
