import type { ChatGeneration, ChatMessage, ToolCallRequest, ToolDefinition } from "@opengateway/protocol";
import { InvalidRequestError } from "@opengateway/protocol";

/** How one chat request uses tools and structured output, decided before generation starts. */
export interface ToolUsePlan {
  messages: ChatMessage[];
  /** JSON schema the output must follow (a grammar enforces it). */
  schema?: unknown;
  /** Output must be some JSON value. */
  json: boolean;
  /** Tools the model may call on its own (`tool_choice: "auto"`). */
  functions?: Record<string, { description?: string; params?: unknown }>;
  /** The generated text is a tool call, not content: it is collected and turned into calls. */
  captureText: boolean;
  /**
   * The calls in the captured text. Text cut short (by max_tokens) keeps its arguments as the
   * partial text they are, as OpenAI returns them with finish_reason "length", never completed;
   * a call whose name was not finished is no call.
   */
  toToolCalls(text: string): ToolCallRequest[];
}

const EMPTY_OBJECT_SCHEMA = { type: "object", properties: {} };

/**
 * Maps OpenAI's `tools`/`tool_choice`/`response_format` onto what node-llama-cpp can enforce:
 * a forced or required call is generated under a JSON-schema grammar (so its arguments always
 * parse), `auto` uses node-llama-cpp's function calling, and response formats become grammars.
 */
export function planToolUse(request: ChatGeneration): ToolUsePlan {
  const tools = request.tools ?? [];
  const choice = request.toolChoice ?? (tools.length > 0 ? "auto" : "none");
  const noCalls = () => [];
  if (tools.length === 0 || choice === "none") {
    if (typeof choice === "object" || choice === "required") {
      throw new InvalidRequestError("tool_choice requires tools");
    }
    const format = request.responseFormat;
    return {
      messages: request.messages,
      schema: format?.type === "json_schema" ? format.schema : undefined,
      json: format?.type === "json_object",
      captureText: false,
      toToolCalls: noCalls,
    };
  }
  if (typeof choice === "object") {
    const tool = tools.find((candidate) => candidate.name === choice.name);
    if (tool === undefined) throw new InvalidRequestError(`tool_choice names '${choice.name}', which is not in tools`);
    return {
      messages: withInstruction(
        request.messages,
        `Call the function \`${tool.name}\`${tool.description ? ` (${tool.description})` : ""}. Reply with only its arguments, as a JSON object${tool.parameters ? ` matching this JSON schema: ${JSON.stringify(tool.parameters)}` : ""}.`,
      ),
      schema: tool.parameters ?? EMPTY_OBJECT_SCHEMA,
      json: false,
      captureText: true,
      toToolCalls: (text) => [{ name: tool.name, arguments: normaliseJson(text) }],
    };
  }
  if (choice === "required") {
    return {
      messages: withInstruction(
        request.messages,
        `Call one of these functions: ${tools.map(describeTool).join("; ")}. Reply with only a JSON object {"name": <function name>, "arguments": <arguments object>}.`,
      ),
      schema: {
        oneOf: tools.map((tool) => ({
          type: "object",
          properties: { name: { const: tool.name }, arguments: tool.parameters ?? EMPTY_OBJECT_SCHEMA },
        })),
      },
      json: false,
      captureText: true,
      toToolCalls: (text) => {
        const whole = parseJson(text) as { name?: unknown; arguments?: unknown } | undefined;
        const call =
          whole === undefined ? partialCall(text) : { name: whole.name, arguments: JSON.stringify(whole.arguments ?? {}) };
        const tool = tools.find((candidate) => candidate.name === call?.name);
        return tool && call ? [{ name: tool.name, arguments: call.arguments }] : [];
      },
    };
  }
  return {
    messages: request.messages,
    json: false,
    captureText: false,
    functions: Object.fromEntries(tools.map((tool) => [tool.name, { description: tool.description, params: tool.parameters }])),
    toToolCalls: noCalls,
  };
}

function describeTool(tool: ToolDefinition): string {
  return `\`${tool.name}\`${tool.description ? ` (${tool.description})` : ""}${tool.parameters ? ` with arguments ${JSON.stringify(tool.parameters)}` : ""}`;
}

function withInstruction(messages: ChatMessage[], instruction: string): ChatMessage[] {
  return [...messages, { role: "system", content: instruction }];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The name and the raw arguments text of a `{"name": …, "arguments": …}` object cut short: the
 * grammar writes `name` first, so the name is known once its string is closed, and whatever
 * follows `"arguments":` is the partial arguments text. Undefined while the name is unfinished.
 */
function partialCall(text: string): { name: string; arguments: string } | undefined {
  const name = /^\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(text);
  if (name?.[1] === undefined) return undefined;
  const rest = text.slice(name[0].length);
  const args = /^\s*,\s*"arguments"\s*:\s*/.exec(rest);
  return { name: JSON.parse(name[1]) as string, arguments: args ? rest.slice(args[0].length).trimEnd() : "" };
}

/** Compact JSON when the text parses (it does, under the grammar, unless cut by max_tokens); else the text as written. */
function normaliseJson(text: string): string {
  const parsed = parseJson(text);
  return parsed === undefined ? text.trimStart() : JSON.stringify(parsed);
}
