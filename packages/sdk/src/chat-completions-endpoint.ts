import type { ChoiceEnd, InferenceReceipt, ToolCallRequest } from "@opengateway/protocol";
import { randomId } from "@opengateway/protocol";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageFunctionToolCall } from "openai/resources";
import type { ValidatedChatRequest } from "./chat-completion-request.js";
import { parseChatCompletionRequest } from "./chat-completion-request.js";
import { requireServes, servedModel } from "./models-endpoint.js";
import type { OpenAICall, OpenAIResult } from "./openai-endpoint.js";
import { jsonResult, openAIUsage } from "./openai-endpoint.js";
import { RoutedStream } from "./routed-stream.js";

/**
 * No `system_fingerprint` (OpenAI's spec allows it absent, never null): one answer can come from
 * several providers' backends when a stream fails over, so no single fingerprint would name it.
 */
type ChatAnswer = ChatCompletion & { opengateway: { receipts: InferenceReceipt[]; providers: string[] } };
/** The last chunk of each choice names every provider: the headers left before a failover could happen. */
type ChatChunk = ChatCompletionChunk & { opengateway?: { providers: string[] } };
type ChunkChoice = ChatCompletionChunk.Choice;

/** `POST /v1/chat/completions`, whole or streamed. */
export async function chatCompletionsEndpoint(raw: unknown, call: OpenAICall): Promise<OpenAIResult> {
  const served = servedModel(call.router, raw);
  const request = parseChatCompletionRequest(raw, { contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER });
  requireServes(call.router, served, request.model, "chat");
  const id = `chatcmpl-${randomId(18)}`;
  const stream = await RoutedStream.start(
    call,
    [{ kind: "chat", model: request.model, body: request.body, requestId: id.slice("chatcmpl-".length) }],
    id,
  );
  return request.stream ? streamed(stream, request, id, call.created) : await whole(stream, request, id, call.created);
}

async function whole(stream: RoutedStream, request: ValidatedChatRequest, id: string, created: number): Promise<OpenAIResult> {
  const content: string[] = [];
  const toolCalls: ChatCompletionMessageFunctionToolCall[][] = [];
  const done = await stream.drain((event) => {
    if (event.type === "delta") content[event.index] = (content[event.index] ?? "") + event.text;
    else if (event.type === "tool_calls") toolCalls[event.index] = event.calls.map(toOpenAIToolCall);
  });
  const answer: ChatAnswer = {
    id,
    object: "chat.completion",
    created,
    model: request.model,
    choices: done.choices.map((choice) => {
      const calls = toolCalls[choice.index];
      const text = content[choice.index] ?? "";
      return {
        index: choice.index,
        message: {
          role: "assistant",
          content: calls && text === "" ? null : text,
          refusal: null,
          annotations: [],
          ...(calls ? { tool_calls: calls } : {}),
        },
        logprobs: null,
        finish_reason: choice.finishReason,
      };
    }),
    usage: openAIUsage(done.usage),
    opengateway: { receipts: done.receipts, providers: done.providers },
  };
  return jsonResult(answer, { ...stream.headers, "x-opengateway-provider": done.providers.join(",") });
}

function streamed(stream: RoutedStream, request: ValidatedChatRequest, id: string, created: number): OpenAIResult {
  const chunk = (choices: ChunkChoice[], usage?: ChatChunk["usage"]): ChatChunk => ({
    id,
    object: "chat.completion.chunk",
    created,
    model: request.model,
    choices,
    // With include_usage every chunk says `usage: null`, except the usage-only chunk at the end.
    ...(request.includeUsage ? { usage: usage ?? null } : {}),
  });
  const choice = (index: number, delta: ChunkChoice["delta"], finishReason: ChoiceEnd["finishReason"] | null = null) =>
    chunk([{ index, delta, logprobs: null, finish_reason: finishReason }]);
  // Each choice opens with the assistant role, once.
  const opened = new Set<number>();
  const open = (index: number): ChatChunk[] => {
    if (opened.has(index)) return [];
    opened.add(index);
    return [choice(index, { role: "assistant", content: "", refusal: null })];
  };
  return {
    kind: "event-stream",
    headers: stream.headers,
    events: stream.chunks((event): ChatChunk[] => {
      switch (event.type) {
        case "delta":
          return [...open(event.index), ...(event.text === "" ? [] : [choice(event.index, { content: event.text })])];
        case "tool_calls":
          return [
            ...open(event.index),
            choice(event.index, {
              tool_calls: event.calls.map((call, position) => ({ index: position, ...toOpenAIToolCall(call) })),
            }),
          ];
        case "done":
          return [
            ...event.choices.flatMap((end) => [
              ...open(end.index),
              { ...choice(end.index, {}, end.finishReason), opengateway: { providers: event.providers } },
            ]),
            ...(request.includeUsage ? [chunk([], openAIUsage(event.usage))] : []),
          ];
        default:
          return [];
      }
    }),
  };
}

function toOpenAIToolCall(call: ToolCallRequest): ChatCompletionMessageFunctionToolCall {
  return { id: `call_${randomId(12)}`, type: "function", function: { name: call.name, arguments: call.arguments } };
}
