import type {
  ChatCompletionChunk,
  ChatCompletionRequestStreaming,
  Completion,
  CompletionCreateParamsStreaming,
  InitProgressReport,
  MLCEngineInterface,
  ModelRecord,
  ResponseFormat,
} from "@mlc-ai/web-llm";
import * as Protocol from "@opengateway/protocol";
import { toOpenAIMessage } from "./openai-message.js";

export interface WebLlmEngineOptions {
  /** The id clients ask for. */
  modelId: string;
  /** WebLLM's id for the same model (its ModelRecord's `model_id`). */
  mlcModelId: string;
  contextSize: number;
  pricePerToken?: number;
}

const DEFAULT_WEBLLM_CONTEXT_SIZE = 4096;

/**
 * WebLLM (TVM-compiled models on WebGPU) behind the protocol's engine interface: an adapter over
 * WebLLM's own OpenAI-style API (`chat.completions.create` / `completions.create` with
 * `stream: true`). WebLLM runs one generation per model at a time and can only interrupt the
 * current one, so requests are served strictly one after another.
 */
export class WebLlmEngine implements Protocol.InferenceEngine {
  readonly name = "webllm";
  readonly #engine: MLCEngineInterface;
  readonly #served: Protocol.ServedModel;
  readonly #mlcModelId: string;
  #turn: Promise<void> = Promise.resolve();

  constructor(engine: MLCEngineInterface, options: WebLlmEngineOptions) {
    this.#engine = engine;
    this.#mlcModelId = options.mlcModelId;
    this.#served = {
      id: options.modelId,
      contextSize: options.contextSize,
      pricePerToken: options.pricePerToken ?? Protocol.DEFAULT_PRICE_PER_TOKEN,
      kinds: ["chat", "completion"],
    };
  }

  /** Downloads (or takes from the cache) the model's library and weights and compiles it for this GPU. */
  static async load(options: {
    modelId: string;
    record: ModelRecord;
    contextSize?: number;
    pricePerToken?: number;
    onProgress?: (progress: { loaded: number; total: number }) => void;
  }): Promise<WebLlmEngine> {
    const { CreateMLCEngine } = await import("@mlc-ai/web-llm");
    const contextSize = options.contextSize ?? options.record.overrides?.context_window_size ?? DEFAULT_WEBLLM_CONTEXT_SIZE;
    const engine = await CreateMLCEngine(options.record.model_id, {
      appConfig: { model_list: [options.record] },
      initProgressCallback: (report: InitProgressReport) =>
        options.onProgress?.({ loaded: Math.round(report.progress * 1000), total: 1000 }),
      logLevel: "WARN",
    });
    return new WebLlmEngine(engine, {
      modelId: options.modelId,
      mlcModelId: options.record.model_id,
      contextSize,
      pricePerToken: options.pricePerToken,
    });
  }

  /** One request at a time: WebLLM's interrupt stops whatever runs, so it must be ours. */
  readonly parallelRequests = 1;

  listModels(): readonly Protocol.ServedModel[] {
    return [this.#served];
  }

  generateChat(request: Protocol.ChatGeneration, options: Protocol.GenerateOptions = {}): Protocol.GenerationStream {
    if (request.tools !== undefined && request.tools.length > 0) {
      return refuse(new Protocol.InvalidRequestError("tool calls are not served by the WebLLM engine here"));
    }
    return this.#generate(request, options, async (index) => {
      const params: ChatCompletionRequestStreaming = {
        ...this.#sampling(request, index),
        messages: request.messages.map(toOpenAIMessage),
        ...(request.responseFormat ? { response_format: toResponseFormat(request.responseFormat) } : {}),
      };
      const chunks = await this.#engine.chat.completions.create(params);
      return mapChunks(chunks, (chunk: ChatCompletionChunk) => ({
        text: chunk.choices[0]?.delta.content ?? "",
        finishReason: chunk.choices[0]?.finish_reason ?? null,
        usage: chunk.usage,
      }));
    });
  }

  generateCompletion(request: Protocol.CompletionGeneration, options: Protocol.GenerateOptions = {}): Protocol.GenerationStream {
    return this.#generate(request, options, async (index) => {
      const params: CompletionCreateParamsStreaming = { ...this.#sampling(request, index), prompt: request.prompt };
      const chunks = await this.#engine.completions.create(params);
      return mapChunks(chunks, (chunk: Completion) => ({
        text: chunk.choices[0]?.text ?? "",
        finishReason: chunk.choices[0]?.finish_reason ?? null,
        usage: chunk.usage,
      }));
    });
  }

  embed(request: Protocol.EmbeddingGeneration, _options: Protocol.GenerateOptions = {}): Protocol.EmbeddingStream {
    if (request.model !== this.#served.id)
      return refuse(new Protocol.ModelNotFoundError(`model '${request.model}' is not served here`));
    return refuse(
      new Protocol.InvalidRequestError(`model '${request.model}' does not serve embedding requests in this browser engine`),
    );
  }

  async close(): Promise<void> {
    await this.#engine.unload();
  }

  /**
   * OpenAI's sampling settings map one to one, and repetition_penalty too; WebLLM has no top-k or
   * min-p sampler, so those are not honoured here. Usage comes in the stream's last chunk.
   */
  #sampling(request: Protocol.SamplingParams, index: number) {
    return {
      stream: true as const,
      stream_options: { include_usage: true },
      model: this.#mlcModelId,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      top_p: request.topP,
      seed: (request.seed + index) >>> 0,
      stop: request.stop.length > 0 ? [...request.stop] : null,
      presence_penalty: request.presencePenalty ?? 0,
      frequency_penalty: request.frequencyPenalty ?? 0,
      ...(request.repetitionPenalty !== undefined ? { repetition_penalty: request.repetitionPenalty } : {}),
      logit_bias: request.logitBias && Object.keys(request.logitBias).length > 0 ? { ...request.logitBias } : null,
    };
  }

  async *#generate(
    request: Protocol.SamplingParams & { model: string },
    options: Protocol.GenerateOptions,
    start: (index: number) => Promise<AsyncIterable<StreamPart>>,
  ): Protocol.GenerationStream {
    if (request.model !== this.#served.id) throw new Protocol.ModelNotFoundError(`model '${request.model}' is not served here`);
    options.signal?.throwIfAborted();
    const release = await this.#takeTurn(options.signal);
    // WebLLM stops at the next token once interrupted; the stream then ends with finish_reason "abort".
    const interrupt = (): void => this.#engine.interruptGenerate();
    options.signal?.addEventListener("abort", interrupt, { once: true });
    let finished = false;
    try {
      const choices: Protocol.ChoiceEnd[] = [];
      let promptTokens = 0;
      let completionTokens = 0;
      for (let index = 0; index < (request.n ?? 1); index++) {
        let finishReason: Protocol.FinishReason | "abort" | null = null;
        let usage: Protocol.Usage | undefined;
        for await (const part of await start(index)) {
          if (options.signal?.aborted) break;
          if (part.text) yield { type: "text", index, text: part.text, tokens: 1 };
          if (part.finishReason) finishReason = part.finishReason;
          if (part.usage) usage = { promptTokens: part.usage.prompt_tokens, completionTokens: part.usage.completion_tokens };
        }
        if (options.signal?.aborted || finishReason === "abort") return;
        if (finishReason === null || usage === undefined)
          throw new Protocol.EngineFailedError("WebLLM ended a stream without a result");
        if (index === 0) promptTokens = usage.promptTokens;
        completionTokens += Math.min(usage.completionTokens, request.maxTokens);
        choices.push({ index, finishReason });
      }
      finished = true;
      yield { type: "done", choices, usage: { promptTokens, completionTokens } };
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error instanceof Error && "code" in error
        ? error
        : new Protocol.EngineFailedError(Protocol.errorMessage(error), { cause: error });
    } finally {
      options.signal?.removeEventListener("abort", interrupt);
      // The consumer left early: stop generating before the next request takes its turn.
      if (!finished) this.#engine.interruptGenerate();
      release();
    }
  }

  async #takeTurn(signal: AbortSignal | undefined): Promise<() => void> {
    const previous = this.#turn;
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    if (signal === undefined) {
      await previous;
      return release;
    }
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason ?? new Protocol.CancelledError()), { once: true });
    });
    try {
      await Promise.race([previous, aborted]);
    } catch (error) {
      // Our slot in line is handed on only once the one before us is done.
      void previous.then(release);
      throw error;
    }
    return release;
  }
}

interface StreamPart {
  text: string;
  finishReason: Protocol.FinishReason | "abort" | null;
  usage: { prompt_tokens: number; completion_tokens: number } | undefined;
}

async function* mapChunks<T>(chunks: AsyncIterable<T>, map: (chunk: T) => StreamPart): AsyncGenerator<StreamPart> {
  for await (const chunk of chunks) yield map(chunk);
}

// biome-ignore lint/correctness/useYield: refuses before any event, as the interface asks.
async function* refuse<T>(error: Error): AsyncGenerator<T, void, undefined> {
  throw error;
}

function toResponseFormat(format: NonNullable<Protocol.ChatGeneration["responseFormat"]>): ResponseFormat {
  if (format.type === "text") return { type: "text" };
  if (format.type === "json_object") return { type: "json_object" };
  // WebLLM takes a JSON schema as a string on its json_object format.
  return { type: "json_object", schema: JSON.stringify(format.schema) };
}
