import type { ChatBody, ChatMessage, ResponseFormat, ToolChoice, ToolDefinition } from "@opengateway/protocol";
import { MAX_MESSAGE_CHARS, MAX_MESSAGES, MAX_TOOLS } from "@opengateway/protocol";
import type {
  FunctionTool,
  ResponseFormatTextConfig,
  ResponseTextConfig,
  ToolChoiceFunction,
  ToolChoiceOptions,
} from "openai/resources/responses/responses";
import { z } from "zod";
import { DEFAULT_MAX_TOKENS, jsonObject, toolName } from "./chat-completion-request.js";
import { OpenAIHttpError } from "./openai-error.js";
import { checkParameters, isPresent, parseWith, requireJsonObject } from "./request-validation.js";
import type { ResponseOutputItem } from "./response-store.js";
import { nullish, openAISamplingShape, toSamplingParams } from "./sampling-request.js";

const itemId = z.string().min(1).max(128);
const callId = z.string().min(1).max(128);
const status = nullish(z.enum(["in_progress", "completed", "incomplete"]));

/** A content part: text is read, anything else (images, files, audio) is refused by name. */
const part = z
  .object({ type: z.string(), text: z.string().optional(), refusal: z.string().optional() })
  .refine((value) => ["input_text", "output_text", "refusal"].includes(value.type), {
    message: "only text content parts (input_text, output_text) are supported by the served models",
  });
const messageItem = z.object({
  type: z.literal("message").optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(part).max(MAX_MESSAGES)]),
  id: nullish(itemId),
  status,
  phase: nullish(z.enum(["commentary", "final_answer"])),
});
const functionCallItem = z.object({
  type: z.literal("function_call"),
  call_id: callId,
  name: toolName,
  arguments: z.string().max(256 * 1024),
  id: nullish(itemId),
  status,
});
const functionCallOutputItem = z.object({
  type: z.literal("function_call_output"),
  call_id: callId,
  output: z.union([z.string(), z.array(part).max(MAX_MESSAGES)]),
  id: nullish(itemId),
  status,
});
const itemReference = z.object({ type: nullish(z.literal("item_reference")), id: itemId });
/** Output items of reasoning models: the network's models produce none, and none is needed to continue. */
const reasoningItem = z.object({ type: z.literal("reasoning") }).loose();

type InputItem =
  | z.infer<typeof messageItem>
  | z.infer<typeof functionCallItem>
  | z.infer<typeof functionCallOutputItem>
  | z.infer<typeof itemReference>
  | z.infer<typeof reasoningItem>;

const functionTool = z.object({
  type: z.literal("function"),
  name: toolName,
  description: nullish(z.string().max(8192)),
  parameters: nullish(jsonObject),
  strict: nullish(z.boolean()),
});
const textFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "names are 1-64 letters, digits, _ or -"),
    schema: jsonObject,
    description: nullish(z.string().max(8192)),
    strict: nullish(z.boolean()),
  }),
]);

/** The OpenAI `POST /v1/responses` body, as served by this gateway. */
export const responsesRequestSchema = z.object({
  model: openAISamplingShape.model,
  input: z.union([z.string().max(MAX_MESSAGE_CHARS), z.array(z.unknown()).min(1).max(MAX_MESSAGES)]).optional(),
  instructions: nullish(z.string().max(MAX_MESSAGE_CHARS)),
  max_output_tokens: openAISamplingShape.max_tokens,
  temperature: openAISamplingShape.temperature,
  top_p: openAISamplingShape.top_p,
  stream: nullish(z.boolean()),
  stream_options: nullish(z.object({ include_obfuscation: z.boolean().optional() })),
  store: nullish(z.boolean()),
  previous_response_id: nullish(z.string().min(1).max(128)),
  tools: nullish(z.array(z.unknown()).max(MAX_TOOLS)),
  tool_choice: nullish(
    z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: toolName })]),
  ),
  parallel_tool_calls: nullish(z.boolean()),
  max_tool_calls: nullish(z.int().min(1)),
  text: nullish(z.object({ format: nullish(textFormat), verbosity: nullish(z.enum(["low", "medium", "high"])) })),
  metadata: nullish(
    z.record(z.string().max(64), z.string().max(512)).refine((metadata) => Object.keys(metadata).length <= 16, "at most 16 keys"),
  ),
  user: nullish(z.string().max(256)),
  truncation: nullish(z.literal("disabled")),
  include: nullish(z.array(z.string())),
  top_logprobs: nullish(z.literal(0)),
  reasoning: nullish(z.object({ effort: z.string().nullish(), summary: z.string().nullish() }).loose()),
  service_tier: nullish(z.string()),
  prompt_cache_key: nullish(z.string().max(1024)),
  prompt_cache_retention: nullish(z.string()),
  safety_identifier: nullish(z.string().max(256)),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

const KNOWN = new Set(Object.keys(responsesRequestSchema.shape));
/** `include` values that ask for nothing the network's answers could lack. */
const SERVED_INCLUDES = new Set(["reasoning.encrypted_content"]);
const UNSUPPORTED = {
  background: { when: isPresent, reason: "background responses are not served; stream instead" },
  conversation: { when: isPresent, reason: "the Conversations API is not served; use previous_response_id" },
  prompt: { when: isPresent, reason: "stored prompt templates are not served" },
  context_management: { when: isPresent, reason: "server-side compaction is not served" },
  truncation: {
    when: (value: unknown) => value === "auto",
    reason: "'auto' truncation is not served: a conversation longer than the model's context is refused",
  },
  top_logprobs: {
    when: (value: unknown) => isPresent(value) && value !== 0,
    reason: "token log-probabilities are not exposed by the network's engines yet",
  },
  include: {
    when: (value: unknown) => Array.isArray(value) && value.some((entry) => !SERVED_INCLUDES.has(entry as string)),
    reason: "the network's answers carry no log-probabilities, tool results or images to include",
  },
};

/** What the endpoint needs besides the chat body: the request's echoes into the response object. */
export interface ValidatedResponsesRequest {
  model: string;
  /** The sampling parameters and format; `messages` is filled in once the input is resolved. */
  body: Omit<ChatBody, "messages">;
  input: InputItem[];
  instructions: string | null;
  stream: boolean;
  store: boolean;
  previousResponseId: string | null;
  echo: {
    max_output_tokens: number | null;
    temperature: number;
    top_p: number;
    tools: FunctionTool[];
    tool_choice: ToolChoiceOptions | ToolChoiceFunction;
    parallel_tool_calls: boolean;
    max_tool_calls: number | null;
    text: ResponseTextConfig;
    metadata: Record<string, string>;
    user?: string;
    safety_identifier?: string;
    prompt_cache_key?: string;
  };
}

export function parseResponsesRequest(
  raw: unknown,
  limits: { contextSize: number; defaultMaxTokens?: number },
): ValidatedResponsesRequest {
  const object = requireJsonObject(raw);
  checkParameters(object, KNOWN, UNSUPPORTED);
  const request = parseWith(responsesRequestSchema, object);
  const input: InputItem[] =
    request.input === undefined
      ? []
      : typeof request.input === "string"
        ? [{ role: "user", content: request.input }]
        : request.input.map(parseInputItem);
  if (input.length === 0 && request.previous_response_id == null) {
    throw new OpenAIHttpError(400, "input is required unless previous_response_id is given", {
      param: "input",
      code: "missing_required_parameter",
    });
  }
  const tools = (request.tools ?? []).map(parseTool);
  const body: Omit<ChatBody, "messages"> = toSamplingParams(
    { temperature: request.temperature, top_p: request.top_p },
    {
      value: request.max_output_tokens,
      param: "max_output_tokens",
      fallback: limits.defaultMaxTokens ?? DEFAULT_MAX_TOKENS,
      contextSize: limits.contextSize,
    },
  );
  const format = request.text?.format;
  const responseFormat = toResponseFormat(format);
  if (responseFormat) body.responseFormat = responseFormat;
  if (tools.length > 0) body.tools = tools.map(toToolDefinition);
  const toolChoice = toToolChoice(request.tool_choice);
  if (toolChoice !== undefined) {
    if (typeof toolChoice === "object" && !tools.some((tool) => tool.name === toolChoice.name)) {
      throw new OpenAIHttpError(400, `tool_choice names function '${toolChoice.name}', which is not in tools`, {
        param: "tool_choice",
      });
    }
    if (toolChoice === "required" && tools.length === 0) {
      throw new OpenAIHttpError(400, "tool_choice 'required' needs tools", { param: "tool_choice" });
    }
    body.toolChoice = toolChoice;
  }
  return {
    model: request.model,
    body,
    input,
    instructions: request.instructions ?? null,
    stream: request.stream === true,
    store: request.store !== false,
    previousResponseId: request.previous_response_id ?? null,
    echo: {
      max_output_tokens: request.max_output_tokens ?? null,
      temperature: request.temperature ?? 1,
      top_p: request.top_p ?? 1,
      tools: tools.map((tool) => ({
        type: "function",
        name: tool.name,
        description: tool.description ?? null,
        parameters: tool.parameters ?? null,
        strict: tool.strict ?? true,
      })),
      tool_choice: request.tool_choice ?? "auto",
      parallel_tool_calls: request.parallel_tool_calls ?? true,
      max_tool_calls: request.max_tool_calls ?? null,
      text: { format: echoedFormat(format), verbosity: request.text?.verbosity ?? "medium" },
      metadata: request.metadata ?? {},
      ...(request.user == null ? {} : { user: request.user }),
      ...(request.safety_identifier == null ? {} : { safety_identifier: request.safety_identifier }),
      ...(request.prompt_cache_key == null ? {} : { prompt_cache_key: request.prompt_cache_key }),
    },
  };
}

function parseInputItem(raw: unknown, index: number): InputItem {
  const type = typeof raw === "object" && raw !== null ? (raw as { type?: unknown }).type : undefined;
  const schema =
    type === "function_call"
      ? functionCallItem
      : type === "function_call_output"
        ? functionCallOutputItem
        : type === "item_reference" || (type == null && typeof raw === "object" && raw !== null && !("role" in raw))
          ? itemReference
          : type === "reasoning"
            ? reasoningItem
            : type === "message" || type == null
              ? messageItem
              : undefined;
  if (schema === undefined) {
    throw new OpenAIHttpError(
      400,
      `input[${index}]: items of type '${String(type)}' are not supported: the network serves messages, function calls and their outputs`,
      { param: `input.${index}.type`, code: "unsupported_parameter" },
    );
  }
  const parsed = (schema as z.ZodType<InputItem>).safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = ["input", index, ...(issue?.path ?? [])].join(".");
  throw new OpenAIHttpError(400, `${param}: ${issue?.message ?? "invalid input item"}`, { param, code: "invalid_value" });
}

function parseTool(raw: unknown, index: number): z.infer<typeof functionTool> {
  const type = (raw as { type?: unknown } | null)?.type;
  if (type !== "function") {
    throw new OpenAIHttpError(
      400,
      `tools[${index}]: tools of type '${String(type)}' are not supported: the network has no built-in tools, only functions you run`,
      { param: `tools.${index}.type`, code: "unsupported_parameter" },
    );
  }
  const parsed = functionTool.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = ["tools", index, ...(issue?.path ?? [])].join(".");
  throw new OpenAIHttpError(400, `${param}: ${issue?.message ?? "invalid tool"}`, { param, code: "invalid_value" });
}

/** Looks up what an input refers to: the owner's stored responses and their output items. */
export interface InputLookup {
  previousContext(id: string): Promise<ChatMessage[] | undefined>;
  item(id: string): Promise<ResponseOutputItem | undefined>;
}

/**
 * The conversation a request continues and adds to, as chat messages (without `instructions`,
 * which the caller puts first and a follow-up does not inherit).
 */
export async function resolveConversation(request: ValidatedResponsesRequest, lookup: InputLookup): Promise<ChatMessage[]> {
  const messages: ChatMessage[] = [];
  if (request.previousResponseId !== null) {
    const previous = await lookup.previousContext(request.previousResponseId);
    if (previous === undefined) {
      throw new OpenAIHttpError(400, `Previous response with id '${request.previousResponseId}' not found.`, {
        param: "previous_response_id",
        code: "previous_response_not_found",
      });
    }
    messages.push(...previous);
  }
  for (const [index, raw] of request.input.entries()) {
    let item: InputItem | ResponseOutputItem = raw;
    if (isReference(item)) {
      const found = await lookup.item(item.id);
      if (found === undefined) {
        throw new OpenAIHttpError(400, `Item with id '${item.id}' not found.`, {
          param: `input.${index}`,
          code: "invalid_value",
        });
      }
      item = found;
    }
    appendItem(messages, item, index);
  }
  if (messages.length + 1 > MAX_MESSAGES) {
    throw new OpenAIHttpError(400, `the conversation has more than ${MAX_MESSAGES - 1} messages`, {
      param: request.previousResponseId === null ? "input" : "previous_response_id",
    });
  }
  return messages;
}

function isReference(item: InputItem): item is z.infer<typeof itemReference> {
  return item.type === "item_reference" || (item.type == null && !("role" in item));
}

/** One input item as chat messages: function calls join the assistant turn they follow. */
function appendItem(messages: ChatMessage[], item: InputItem | ResponseOutputItem, index: number): void {
  if (item.type === "reasoning") return;
  if (item.type === "function_call") {
    const call = { id: item.call_id, name: item.name, arguments: item.arguments };
    const last = messages.at(-1);
    if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
    else messages.push({ role: "assistant", content: "", toolCalls: [call] });
    return;
  }
  if (item.type === "function_call_output") {
    messages.push({ role: "tool", content: checkedText(item.output, index), toolCallId: item.call_id });
    return;
  }
  if (!("role" in item)) return;
  const content = checkedText(item.content, index);
  messages.push({ role: item.role === "developer" ? "system" : item.role, content });
}

function checkedText(content: string | ReadonlyArray<{ text?: string; refusal?: string }>, index: number): string {
  const text = typeof content === "string" ? content : content.map((part) => part.text ?? part.refusal ?? "").join("");
  if (text.length > MAX_MESSAGE_CHARS) {
    throw new OpenAIHttpError(400, `input[${index}] is longer than ${MAX_MESSAGE_CHARS} characters`, {
      param: `input.${index}`,
    });
  }
  return text;
}

function echoedFormat(format: z.infer<typeof textFormat> | null | undefined): ResponseFormatTextConfig {
  if (format == null) return { type: "text" };
  if (format.type !== "json_schema") return format;
  return {
    type: "json_schema",
    name: format.name,
    schema: format.schema,
    strict: format.strict ?? false,
    ...(format.description == null ? {} : { description: format.description }),
  };
}

function toResponseFormat(format: z.infer<typeof textFormat> | null | undefined): ResponseFormat | undefined {
  if (format == null || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  return { type: "json_schema", name: format.name, schema: format.schema as never };
}

function toToolDefinition(tool: z.infer<typeof functionTool>): ToolDefinition {
  const definition: ToolDefinition = { name: tool.name };
  if (tool.description) definition.description = tool.description;
  if (tool.parameters) definition.parameters = tool.parameters as never;
  return definition;
}

function toToolChoice(choice: ResponsesRequest["tool_choice"]): ToolChoice | undefined {
  if (choice == null) return undefined;
  return typeof choice === "string" ? choice : { name: choice.name };
}
