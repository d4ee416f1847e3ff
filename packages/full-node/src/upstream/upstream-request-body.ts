import type { ChatGeneration, ChatMessage, CompletionGeneration, SamplingParams } from "@opengateway/protocol";
import { openAIToolChoice } from "@opengateway/protocol";

/** One choice's request as OpenAI's API spells it: always streamed, with usage at the end. */
export type UpstreamRequestBody = Record<string, unknown>;

export interface ChoiceSettings {
  /** Which choice: its seed is the request's seed + index, as on every engine. */
  readonly index: number;
  /** Completion tokens this choice may use: the request's max_tokens, or less where the reserve is nearer. */
  readonly maxTokens: number;
  /** Ask llama-server for per-token timings: exact prompt and completion counts while streaming. */
  readonly llamaServerTimings: boolean;
}

export function chatRequestBody(request: ChatGeneration, choice: ChoiceSettings): UpstreamRequestBody {
  const body: UpstreamRequestBody = { ...samplingFields(request, choice), messages: request.messages.map(toOpenAIMessage) };
  if (request.tools !== undefined) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.parameters ?? { type: "object" } },
    }));
  }
  if (request.toolChoice !== undefined) body.tool_choice = openAIToolChoice(request.toolChoice);
  const format = request.responseFormat;
  if (format?.type === "json_schema") {
    body.response_format = { type: "json_schema", json_schema: { name: format.name, schema: format.schema, strict: true } };
  } else if (format !== undefined) {
    body.response_format = { type: format.type };
  }
  // continueFinal: the conversation ends with the assistant turn to continue; llama-server,
  // Ollama and LM Studio continue a final assistant message instead of answering it.
  return body;
}

export function completionRequestBody(request: CompletionGeneration, choice: ChoiceSettings): UpstreamRequestBody {
  return { ...samplingFields(request, choice), prompt: request.prompt };
}

function samplingFields(request: SamplingParams & { model: string }, choice: ChoiceSettings): UpstreamRequestBody {
  return {
    model: request.model,
    max_tokens: choice.maxTokens,
    temperature: request.temperature,
    top_p: request.topP,
    seed: (request.seed + choice.index) >>> 0,
    ...(request.stop.length > 0 ? { stop: request.stop } : {}),
    ...(request.presencePenalty !== undefined ? { presence_penalty: request.presencePenalty } : {}),
    ...(request.frequencyPenalty !== undefined ? { frequency_penalty: request.frequencyPenalty } : {}),
    ...(request.logitBias !== undefined ? { logit_bias: request.logitBias } : {}),
    // llama-server, vLLM and Ollama take these names; 0 = all tokens in llama-server, vLLM wants -1.
    ...(request.topK !== undefined ? { top_k: request.topK === 0 ? -1 : request.topK } : {}),
    ...(request.minP !== undefined ? { min_p: request.minP } : {}),
    ...(request.repetitionPenalty !== undefined
      ? { repetition_penalty: request.repetitionPenalty, repeat_penalty: request.repetitionPenalty }
      : {}),
    stream: true,
    stream_options: { include_usage: true },
    ...(choice.llamaServerTimings ? { timings_per_token: true } : {}),
  };
}

function toOpenAIMessage(message: ChatMessage): Record<string, unknown> {
  return {
    role: message.role,
    content: message.content,
    ...(message.toolCalls
      ? {
          tool_calls: message.toolCalls.map((call) => ({
            id: call.id,
            type: "function",
            function: { name: call.name, arguments: call.arguments },
          })),
        }
      : {}),
    ...(message.toolCallId !== undefined ? { tool_call_id: message.toolCallId } : {}),
  };
}
