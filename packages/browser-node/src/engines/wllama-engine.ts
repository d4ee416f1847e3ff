import type * as Engine from "@opengateway/protocol";
import {
  CancelledError,
  DEFAULT_PRICE_PER_TOKEN,
  EngineFailedError,
  errorMessage,
  InvalidRequestError,
  ModelNotFoundError,
  openAIToolChoice,
} from "@opengateway/protocol";
import type {
  ChatCompletionChunk,
  ChatCompletionParams,
  ChatCompletionTool,
  ChatCompletionToolFunctionParameters,
  RawCompletionChunk,
  RawCompletionParams,
  ResultTimings,
  Wllama,
} from "@wllama/wllama";
import { pushable } from "it-pushable";
import { toOpenAIMessage } from "./openai-message.js";

export interface WllamaEngineOptions {
  modelId: string;
  /** The GGUF file: the same file full nodes serve. */
  modelUrl: string;
  /** wllama's WebAssembly file (it ships in the package; the page's bundler gives its URL). */
  wasmUrl: string;
  /** 1 unless the page is cross-origin isolated (threads need SharedArrayBuffer). */
  threads: number;
  /** Requests generated at once, each in its own llama.cpp slot. */
  parallelRequests: number;
  /** Tokens of context per request; capped at the model's training context. */
  contextSize?: number;
  pricePerToken?: number;
  onProgress?: (progress: { loaded: number; total: number }) => void;
  signal?: AbortSignal;
}

const DEFAULT_CONTEXT_SIZE = 2048;

/** One generated choice as wllama streams it, reduced to what the protocol needs. */
type ChoicePart =
  | { type: "text"; text: string; tokens: number }
  | { type: "tool_calls"; calls: Engine.ToolCallRequest[] }
  | { type: "end"; finishReason: Engine.FinishReason; usage: Engine.Usage };

/**
 * Sampling settings sent to llama.cpp's server code inside wllama. OpenAI samples with
 * temperature and top_p only, so llama.cpp's other samplers (top-k, min-p, typical, repeat
 * penalty) are switched off explicitly rather than left at llama.cpp's defaults, unless the
 * request asks for them (top_k, min_p, repetition_penalty, as llama-server takes them).
 */
interface LlamaSamplingExtras {
  top_k: number;
  min_p: number;
  typical_p: number;
  repeat_penalty: number;
  stop?: string[];
  timings_per_token: boolean;
}

/**
 * llama.cpp compiled to WebAssembly (wllama), CPU only (`n_gpu_layers: 0`: the WebGPU path needs
 * a real adapter and is not what a fallback adapter should run). Serves chat and raw text
 * completions of one GGUF model, with several requests at once in separate slots.
 */
export class WllamaEngine implements Engine.InferenceEngine {
  readonly name = "wllama";
  readonly #wllama: Wllama;
  readonly #served: Engine.ServedModel;

  private constructor(wllama: Wllama, served: Engine.ServedModel) {
    this.#wllama = wllama;
    this.#served = served;
  }

  static async load(options: WllamaEngineOptions): Promise<WllamaEngine> {
    const { Wllama } = await import("@wllama/wllama");
    const wllama = new Wllama(
      { default: options.wasmUrl },
      { suppressNativeLog: true, logger: { debug: () => {}, log: () => {}, warn: console.warn, error: console.error } },
    );
    const parallel = Math.max(1, options.parallelRequests);
    const perRequest = options.contextSize ?? DEFAULT_CONTEXT_SIZE;
    const onAbort = (): void => void wllama.exit().catch(() => {});
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await wllama.loadModelFromUrl(options.modelUrl, {
        n_gpu_layers: 0,
        n_threads: options.threads,
        // Slots share one KV cache; each request may use its own share of it.
        n_ctx: perRequest * parallel,
        n_parallel: parallel,
        kv_unified: true,
        progressCallback: options.onProgress,
      });
      options.signal?.throwIfAborted();
      const info = wllama.getLoadedContextInfo();
      const contextSize = Math.min(info.n_ctx_train > 0 ? info.n_ctx_train : perRequest, Math.floor(info.n_ctx / parallel));
      return new WllamaEngine(wllama, {
        id: options.modelId,
        contextSize,
        pricePerToken: options.pricePerToken ?? DEFAULT_PRICE_PER_TOKEN,
        // Embeddings need a context loaded in embedding mode; this engine does not claim them.
        kinds: ["chat", "completion"],
      });
    } catch (error) {
      await wllama.exit().catch(() => {});
      throw options.signal?.aborted ? options.signal.reason : toEngineError(error);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  get threads(): number {
    return this.#wllama.getNumThreads();
  }

  listModels(): readonly Engine.ServedModel[] {
    return [this.#served];
  }

  generateChat(request: Engine.ChatGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    const messages = request.messages.map(toOpenAIMessage);
    return this.#generate(request, options, (index, signal, overBudget) =>
      this.#streamChat(
        {
          messages,
          ...wllamaSampling(request, index),
          ...toolingFor(request),
        } as ChatCompletionParams,
        signal,
        overBudget,
      ),
    );
  }

  generateCompletion(request: Engine.CompletionGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#generate(request, options, (index, signal, overBudget) =>
      this.#streamCompletion(
        { prompt: request.prompt, ...wllamaSampling(request, index) } as RawCompletionParams,
        signal,
        overBudget,
      ),
    );
  }

  // biome-ignore lint/correctness/useYield: refuses before any event, as the interface asks.
  async *embed(request: Engine.EmbeddingGeneration, _options: Engine.GenerateOptions = {}): Engine.EmbeddingStream {
    this.#checkModel(request.model);
    throw new InvalidRequestError(`model '${request.model}' does not serve embedding requests in this browser engine`);
  }

  async close(): Promise<void> {
    await this.#wllama.exit();
  }

  #checkModel(model: string): void {
    if (model !== this.#served.id) throw new ModelNotFoundError(`model '${model}' is not served here`);
  }

  /**
   * Generates `n` choices one after another (choice i with seed + i). Usage counts the prompt
   * once and every choice's completion tokens, as llama.cpp counted them.
   */
  async *#generate(
    request: Engine.SamplingParams & { model: string },
    options: Engine.GenerateOptions,
    choice: (index: number, signal: AbortSignal, overBudget: OverBudget) => AsyncIterable<ChoicePart>,
  ): Engine.GenerationStream {
    this.#checkModel(request.model);
    if (request.maxTokens > this.#served.contextSize) {
      throw new InvalidRequestError(`maxTokens ${request.maxTokens} exceeds the model's context of ${this.#served.contextSize}`);
    }
    const controller = new AbortController();
    const abort = (): void => controller.abort(options.signal?.reason ?? new CancelledError());
    options.signal?.addEventListener("abort", abort, { once: true });
    if (options.signal?.aborted) abort();
    try {
      const choices: Engine.ChoiceEnd[] = [];
      let promptTokens = 0;
      let completionTokens = 0;
      const limit = options.maxTotalTokens ?? Number.POSITIVE_INFINITY;
      for (let index = 0; index < (request.n ?? 1); index++) {
        if (index > 0 && promptTokens + completionTokens >= limit) {
          // The payer's reserve is spent: the remaining choices are empty, cut by length.
          choices.push({ index, finishReason: "length" });
          continue;
        }
        // The prompt is paid once, with the first choice; later choices spend what is left.
        const overBudget: OverBudget = (prompt, predicted) =>
          (index === 0 ? prompt : promptTokens + completionTokens) + predicted >= limit;
        let end: Extract<ChoicePart, { type: "end" }> | undefined;
        for await (const part of choice(index, controller.signal, overBudget)) {
          if (part.type === "text") yield { type: "text", index, text: part.text, tokens: part.tokens };
          else if (part.type === "tool_calls") yield { type: "tool_calls", index, calls: part.calls };
          else end = part;
        }
        // Aborted: the consumer is gone or asked to stop; no result to report.
        if (end === undefined || controller.signal.aborted) return;
        if (index === 0) promptTokens = end.usage.promptTokens;
        completionTokens += Math.min(end.usage.completionTokens, request.maxTokens);
        choices.push({ index, finishReason: end.finishReason });
      }
      yield { type: "done", choices, usage: { promptTokens, completionTokens } };
    } finally {
      // Reached on completion, on errors, and when the consumer leaves the loop early.
      options.signal?.removeEventListener("abort", abort);
      controller.abort(new CancelledError("the consumer stopped reading"));
    }
  }

  #streamCompletion(params: RawCompletionParams, signal: AbortSignal, overBudget: OverBudget): AsyncIterable<ChoicePart> {
    return streamChoice<RawCompletionChunk>((streaming) => this.#wllama.createCompletion({ ...params, ...streaming }), {
      signal,
      overBudget,
      textOf: (choice) => choice?.text,
    });
  }

  #streamChat(params: ChatCompletionParams, signal: AbortSignal, overBudget: OverBudget): AsyncIterable<ChoicePart> {
    const toolCalls = new ToolCallCollector();
    return streamChoice<ChatCompletionChunk>((streaming) => this.#wllama.createChatCompletion({ ...params, ...streaming }), {
      signal,
      overBudget,
      textOf: (choice) => {
        if (choice?.delta.tool_calls) toolCalls.add(choice.delta.tool_calls);
        return choice?.delta.content;
      },
      toolCallsAtEnd: () => toolCalls.calls(),
    });
  }
}

/** How one wllama stream is read: the chat and the completion differ only in where a chunk's text is. */
interface ChoiceReading<C extends RawCompletionChunk | ChatCompletionChunk> {
  signal: AbortSignal;
  overBudget: OverBudget;
  textOf: (choice: C["choices"][number] | undefined) => string | null | undefined;
  /** Tool calls gathered over the stream, sent once before the end. */
  toolCallsAtEnd?: () => Engine.ToolCallRequest[];
}

/** Runs one wllama streaming call and turns its chunks into one choice's parts. */
async function* streamChoice<C extends RawCompletionChunk | ChatCompletionChunk>(
  run: (streaming: { stream: true; abortSignal: AbortSignal; onData: (chunk: C) => void }) => Promise<unknown>,
  { signal, overBudget, textOf, toolCallsAtEnd = () => [] }: ChoiceReading<C>,
): AsyncGenerator<ChoicePart, void, undefined> {
  const queue = pushable<C>({ objectMode: true });
  const budget = new AbortController();
  const running = run({
    stream: true,
    abortSignal: AbortSignal.any([signal, budget.signal]),
    onData: (chunk) => queue.push(chunk),
  })
    .then(() => queue.end())
    .catch((error: Error) => queue.end(error));
  const meter = new TokenMeter();
  try {
    for await (const chunk of queue) {
      const choice: C["choices"][number] | undefined = chunk.choices[0];
      meter.advance(chunk.timings);
      const text = textOf(choice);
      if (text) yield { type: "text", text, tokens: meter.take() };
      const finishReason = choiceEnd(choice?.finish_reason, meter, overBudget, budget);
      if (finishReason) {
        const calls = toolCallsAtEnd();
        if (calls.length > 0) yield { type: "tool_calls", calls };
        yield { type: "end", finishReason, usage: meter.usage(chunk.usage) };
        return;
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    throw toEngineError(error);
  } finally {
    await running;
  }
}

/** One choice's sampling settings as llama.cpp's server code in wllama takes them. */
export function wllamaSampling(request: Engine.SamplingParams, index: number): Record<string, unknown> {
  const extras: LlamaSamplingExtras = {
    top_k: request.topK ?? 0,
    min_p: request.minP ?? 0,
    typical_p: 1,
    repeat_penalty: request.repetitionPenalty ?? 1,
    stop: request.stop.length > 0 ? [...request.stop] : undefined,
    timings_per_token: true,
  };
  return {
    max_tokens: request.maxTokens,
    temperature: request.temperature,
    top_p: request.topP,
    seed: (request.seed + index) >>> 0,
    presence_penalty: request.presencePenalty ?? 0,
    frequency_penalty: request.frequencyPenalty ?? 0,
    ...(request.logitBias && Object.keys(request.logitBias).length > 0 ? { logit_bias: { ...request.logitBias } } : {}),
    ...extras,
  };
}

function toolingFor(request: Engine.ChatGeneration): Partial<ChatCompletionParams> {
  const tooling: Partial<ChatCompletionParams> = {};
  if (request.tools && request.tools.length > 0) {
    tooling.tools = request.tools.map(
      (tool): ChatCompletionTool => ({
        type: "function",
        function: {
          name: tool.name,
          description: tool.description,
          parameters: tool.parameters as ChatCompletionToolFunctionParameters | undefined,
        },
      }),
    );
  }
  if (request.toolChoice !== undefined) tooling.tool_choice = openAIToolChoice(request.toolChoice);
  const format = request.responseFormat;
  if (format !== undefined && format.type !== "text") {
    tooling.response_format =
      format.type === "json_object"
        ? { type: "json_object" }
        : { type: "json_schema", json_schema: { name: format.name, schema: format.schema, strict: true } };
  }
  return tooling;
}

/**
 * Whether the choice ends with this chunk: llama.cpp's own finish reason, or the payer's reserve
 * spent (generation is then stopped, and the choice ends cut by length); undefined while it goes on.
 */
function choiceEnd(
  reason: string | null | undefined,
  meter: TokenMeter,
  overBudget: OverBudget,
  budget: AbortController,
): Engine.FinishReason | undefined {
  if (reason) return toFinishReason(reason);
  if (!overBudget(meter.prompt, meter.predicted)) return undefined;
  budget.abort();
  return "length";
}

function toFinishReason(reason: string): Engine.FinishReason {
  if (reason === "length" || reason === "tool_calls") return reason;
  return "stop";
}

/** Whether a choice that has evaluated `prompt` tokens and generated `predicted` has spent the payer's reserve. */
type OverBudget = (prompt: number, predicted: number) => boolean;

/**
 * Counts generated tokens from llama.cpp's own per-token timings (`predicted_n`), never by
 * re-tokenizing text: a chunk held back while a stop string might be matching carries its
 * tokens over to the next text that is sent.
 */
class TokenMeter {
  #predicted = 0;
  #pending = 0;
  #prompt = 0;

  get prompt(): number {
    return this.#prompt;
  }

  get predicted(): number {
    return this.#predicted;
  }

  advance(timings: ResultTimings | undefined): void {
    if (timings === undefined) {
      this.#pending += 1;
      return;
    }
    this.#prompt = timings.prompt_n + timings.cache_n;
    this.#pending += Math.max(0, timings.predicted_n - this.#predicted);
    this.#predicted = Math.max(this.#predicted, timings.predicted_n);
  }

  /** Tokens to report with the text being sent now (those held back included). */
  take(): number {
    const tokens = this.#pending;
    this.#pending = 0;
    return tokens;
  }

  usage(reported: { prompt_tokens: number; completion_tokens: number } | null | undefined): Engine.Usage {
    if (reported) return { promptTokens: reported.prompt_tokens, completionTokens: reported.completion_tokens };
    return { promptTokens: this.#prompt, completionTokens: this.#predicted };
  }
}

/** Tool calls stream as fragments keyed by index; they are reported whole, once the choice ends. */
class ToolCallCollector {
  readonly #calls = new Map<number, { name: string; arguments: string }>();

  add(fragments: NonNullable<ChatCompletionChunk["choices"][number]["delta"]["tool_calls"]>): void {
    for (const fragment of fragments) {
      const call = this.#calls.get(fragment.index) ?? { name: "", arguments: "" };
      call.name += fragment.function?.name ?? "";
      call.arguments += fragment.function?.arguments ?? "";
      this.#calls.set(fragment.index, call);
    }
  }

  calls(): Engine.ToolCallRequest[] {
    return [...this.#calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
  }
}

function toEngineError(error: unknown): Error {
  if (error instanceof Error && "code" in error) return error;
  const message = errorMessage(error);
  // llama.cpp refuses a prompt longer than the context before generating: the request's fault.
  if (/exceeds the available context size/.test(message)) return new InvalidRequestError(message);
  return new EngineFailedError(message, { cause: error });
}
