import type { FinishReason, GenerationEvent, ToolCallRequest } from "@opengateway/protocol";
import { EngineFailedError, InsufficientCreditsError } from "@opengateway/protocol";
import { serverSentData } from "./server-sent-events.js";
import { StallTimer } from "./stall-timer.js";
import { errorFromUpstreamFailure, errorFromUpstreamStatus, upstreamMessage } from "./upstream-errors.js";
import type { UpstreamRequestBody } from "./upstream-request-body.js";

const MAX_SEND_ATTEMPTS = 4;

export interface UpstreamChoiceOptions {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** The upstream as error messages name it. */
  readonly upstream: string;
  readonly index: number;
  /** The caller's signal: aborting cancels the upstream request (the upstream frees its slot). */
  readonly signal: AbortSignal;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /**
   * Stop (finish reason `length`) once the prompt and this choice's tokens reach this many: the
   * payer's reserve less what earlier choices used. Checked as exact counts arrive (llama-server's
   * per-token timings), else counting one token per streamed piece of text.
   */
  readonly limit?: number;
  /** The first choice refuses a prompt that alone reaches the limit, before any of its text goes out. */
  readonly refuseUnaffordablePrompt: boolean;
}

/** How one choice ended; undefined when the caller aborted it. */
export interface ChoiceOutcome {
  readonly finishReason: FinishReason;
  /** As the upstream reported it; undefined where it reports no usage. */
  readonly promptTokens: number | undefined;
  readonly completionTokens: number;
}

interface StreamChunk {
  choices?: {
    delta?: { content?: unknown; tool_calls?: ToolCallDelta[] };
    text?: unknown;
    finish_reason?: unknown;
  }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  timings?: { prompt_n?: unknown; cache_n?: unknown; predicted_n?: unknown };
  error?: unknown;
}

interface ToolCallDelta {
  index?: number;
  function?: { name?: unknown; arguments?: unknown };
}

/**
 * Streams one choice from an OpenAI-compatible upstream (`stream: true`, usage in the last chunk)
 * as engine events, and returns how it ended. Every way the upstream can fail (refused, an error
 * status, an error event, a stall, a stream cut short) throws a typed error; the caller leaving
 * the loop or aborting cancels the upstream request.
 */
export async function* streamUpstreamChoice(
  body: UpstreamRequestBody,
  options: UpstreamChoiceOptions,
): AsyncGenerator<GenerationEvent, ChoiceOutcome | undefined, undefined> {
  const stall = new StallTimer({
    firstMs: options.firstByteTimeoutMs,
    idleMs: options.idleTimeoutMs,
    upstream: options.upstream,
  });
  const finished = new AbortController();
  const signal = AbortSignal.any([options.signal, stall.signal, finished.signal]);
  let finishReason: FinishReason | undefined;
  let promptTokens: number | undefined;
  let completionTokens = 0;
  let reportedUsage = false;
  const toolCalls: { name: string; arguments: string }[] = [];
  try {
    const response = await post(options.url, body, options.headers, signal);
    stall.touch();
    if (!response.ok || response.body === null) {
      throw errorFromUpstreamStatus(response.status, await response.text(), options.upstream);
    }
    for await (const payload of serverSentData(response.body)) {
      stall.touch();
      const chunk = JSON.parse(payload) as StreamChunk;
      if (chunk.error !== undefined) {
        throw new EngineFailedError(`the upstream at ${options.upstream} failed mid-stream: ${upstreamMessage(payload)}`);
      }
      const before = completionTokens;
      if (chunk.timings) {
        promptTokens = count(chunk.timings.prompt_n) + count(chunk.timings.cache_n);
        completionTokens = count(chunk.timings.predicted_n);
      }
      if (chunk.usage) {
        reportedUsage = true;
        promptTokens = count(chunk.usage.prompt_tokens);
        completionTokens = count(chunk.usage.completion_tokens);
      }
      const choice = chunk.choices?.[0];
      const text = typeof choice?.delta?.content === "string" ? choice.delta.content : choice?.text;
      for (const call of choice?.delta?.tool_calls ?? []) addToolCallDelta(toolCalls, call);
      if (typeof text === "string" && text !== "") {
        // Without exact counts, every streamed piece is a token (llama-server, vLLM and Ollama send one per token).
        if (chunk.timings === undefined && !reportedUsage) completionTokens++;
        if (
          options.limit !== undefined &&
          options.refuseUnaffordablePrompt &&
          promptTokens !== undefined &&
          promptTokens >= options.limit
        ) {
          throw new InsufficientCreditsError(
            `the prompt is ${promptTokens} tokens; the request's maxCredits pays for ${options.limit} tokens in all`,
          );
        }
        yield { type: "text", index: options.index, text, tokens: Math.max(1, completionTokens - before) };
      }
      if (typeof choice?.finish_reason === "string") finishReason = toFinishReason(choice.finish_reason);
      if (options.limit !== undefined && (promptTokens ?? 1) + completionTokens >= options.limit && finishReason === undefined) {
        // The payer's reserve is spent: stop the upstream here.
        finishReason = "length";
        break;
      }
    }
  } catch (error) {
    if (options.signal.aborted) return undefined;
    throw errorFromUpstreamFailure(stall.signal.aborted ? stall.signal.reason : error, options.upstream);
  } finally {
    stall.stop();
    finished.abort();
  }
  if (finishReason === undefined) {
    throw new EngineFailedError(`the upstream at ${options.upstream} ended the stream before the answer was finished`);
  }
  if (toolCalls.length > 0) {
    yield { type: "tool_calls", index: options.index, calls: toolCalls satisfies ToolCallRequest[] };
    if (finishReason === "stop") finishReason = "tool_calls";
  }
  return { finishReason, promptTokens, completionTokens };
}

/**
 * Sends the request, again if a kept-alive connection turns out closed before any answer:
 * servers close idle or well-used connections (llama-server after 100 requests), and a request
 * sent on one in that instant never reached the server.
 */
async function post(
  url: string,
  body: UpstreamRequestBody,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<Response> {
  const init = {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
      // Several pooled connections can close at once: a few tries, each on the next connection.
      if (signal.aborted || attempt >= MAX_SEND_ATTEMPTS || (code !== "UND_ERR_SOCKET" && code !== "ECONNRESET")) throw error;
    }
  }
}

/** OpenAI streams a tool call as pieces: the name first, the arguments' JSON text in slices. */
function addToolCallDelta(calls: { name: string; arguments: string }[], delta: ToolCallDelta): void {
  const index = delta.index ?? Math.max(0, calls.length - 1);
  calls[index] ??= { name: "", arguments: "" };
  const call = calls[index];
  if (typeof delta.function?.name === "string") call.name += delta.function.name;
  if (typeof delta.function?.arguments === "string") call.arguments += delta.function.arguments;
}

function toFinishReason(reason: string): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call") return "tool_calls";
  return "stop";
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
