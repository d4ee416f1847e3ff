import { basename } from "node:path";
import type { ChatGeneration, GenerateOptions, GenerationEvent, InferenceEngine, ServedModel } from "@opengateway/protocol";
import { CancelledError, DEFAULT_PRICE_PER_TOKEN, EngineFailedError, ModelNotFoundError } from "@opengateway/protocol";
import { pushable } from "it-pushable";
import type { ChatHistoryItem, Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { GeneralChatWrapper, getLlama, LlamaChat, LlamaLogLevel, resolveChatWrapper } from "node-llama-cpp";
import { SequencePool } from "./sequence-pool.js";

export interface LlamaCppEngineOptions {
  modelPath: string;
  /** The id clients ask for; defaults to the file name without `.gguf`. */
  modelId?: string;
  /** Requests generated at once, each on its own context sequence. */
  parallelRequests?: number;
  /** Requests waiting for a sequence before new ones are refused as overloaded. */
  maxQueuedRequests?: number;
  /** Tokens of context per sequence; defaults to the model's training size, capped at 4096. */
  contextSize?: number;
  /** CPU threads for generation. */
  threads: number;
  /** `false` = CPU only; `"auto"` = use a GPU where node-llama-cpp finds one. */
  gpu?: false | "auto";
  pricePerToken?: number;
}

interface Slot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
}

const MAX_DEFAULT_CONTEXT = 4096;

/** Serves one GGUF model with node-llama-cpp: several requests at once, a bounded queue past that. */
export class LlamaCppEngine implements InferenceEngine {
  readonly name = "node-llama-cpp";
  readonly #llama: Llama;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #pool: SequencePool<Slot>;
  readonly #served: ServedModel;

  private constructor(llama: Llama, model: LlamaModel, context: LlamaContext, pool: SequencePool<Slot>, served: ServedModel) {
    this.#llama = llama;
    this.#model = model;
    this.#context = context;
    this.#pool = pool;
    this.#served = served;
  }

  static async load(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
    const parallel = options.parallelRequests ?? 4;
    const llama = await getLlama({
      gpu: options.gpu ?? false,
      build: "never",
      maxThreads: options.threads,
      logLevel: LlamaLogLevel.error,
    });
    try {
      const model = await llama.loadModel({ modelPath: options.modelPath });
      const contextSize = options.contextSize ?? Math.min(model.trainContextSize, MAX_DEFAULT_CONTEXT);
      const context = await model.createContext({ sequences: parallel, contextSize, threads: options.threads });
      // Models without a chat template (like the tiny test model) get a plain, general format.
      const chatWrapper = model.fileInfo.metadata?.tokenizer?.chat_template
        ? resolveChatWrapper(model, { fallbackToOtherWrappersOnJinjaError: true })
        : new GeneralChatWrapper();
      const slots: Slot[] = [];
      for (let i = 0; i < parallel; i++) {
        const sequence = context.getSequence();
        slots.push({
          sequence,
          chat: new LlamaChat({ contextSequence: sequence, chatWrapper: chatWrapper ?? new GeneralChatWrapper() }),
        });
      }
      const pool = new SequencePool(slots, { maxQueue: options.maxQueuedRequests ?? 64 });
      const served: ServedModel = {
        id: options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, ""),
        contextSize: context.contextSize,
        pricePerToken: options.pricePerToken ?? DEFAULT_PRICE_PER_TOKEN,
      };
      return new LlamaCppEngine(llama, model, context, pool, served);
    } catch (error) {
      await llama.dispose();
      throw error;
    }
  }

  get parallelRequests(): number {
    return this.#pool.size;
  }

  get activeRequests(): number {
    return this.#pool.active;
  }

  get queuedRequests(): number {
    return this.#pool.queued;
  }

  listModels(): readonly ServedModel[] {
    return [this.#served];
  }

  async *generateChat(request: ChatGeneration, options: GenerateOptions = {}): AsyncGenerator<GenerationEvent, void, undefined> {
    if (request.model !== this.#served.id) throw new ModelNotFoundError(`model '${request.model}' is not served here`);
    const controller = new AbortController();
    const abortFromCaller = (): void => controller.abort(options.signal?.reason ?? new CancelledError());
    options.signal?.addEventListener("abort", abortFromCaller, { once: true });
    if (options.signal?.aborted) abortFromCaller();
    const lease = await this.#pool.acquire({ signal: controller.signal });
    const events = pushable<GenerationEvent>({ objectMode: true });
    const run = this.#run(lease.value, request, controller.signal, events)
      .then(() => events.end())
      .catch((error: unknown) => events.end(error instanceof Error ? error : new EngineFailedError(String(error))))
      .finally(() => lease.release());
    try {
      yield* events;
    } finally {
      // Reached on completion, on a thrown error, and when the consumer leaves the loop early.
      options.signal?.removeEventListener("abort", abortFromCaller);
      controller.abort(new CancelledError("the consumer stopped reading"));
      await run;
    }
  }

  async #run(
    slot: Slot,
    request: ChatGeneration,
    signal: AbortSignal,
    events: { push(event: GenerationEvent): void },
  ): Promise<void> {
    await slot.sequence.clearHistory();
    const meterBefore = slot.sequence.tokenMeter.getState();
    let tokensSinceText = 0;
    const response = await slot.chat.generateResponse(toChatHistory(request), {
      signal,
      stopOnAbortSignal: true,
      maxTokens: request.maxTokens,
      temperature: request.temperature,
      topP: request.topP,
      seed: request.seed,
      customStopTriggers: request.stop.length > 0 ? request.stop : undefined,
      onToken: (tokens) => {
        tokensSinceText += tokens.length;
      },
      onTextChunk: (text) => {
        if (text === "") return;
        events.push({ type: "text", text, tokens: tokensSinceText });
        tokensSinceText = 0;
      },
    });
    if (response.metadata.stopReason === "abort" || signal.aborted) return;
    // Usage comes from the sequence's token meter: exactly what was evaluated and generated.
    const used = slot.sequence.tokenMeter.diff(meterBefore);
    events.push({
      type: "done",
      finishReason: response.metadata.stopReason === "maxTokens" ? "length" : "stop",
      usage: { promptTokens: used.usedInputTokens, completionTokens: Math.min(used.usedOutputTokens, request.maxTokens) },
    });
  }

  async close(): Promise<void> {
    await this.#context.dispose();
    await this.#model.dispose();
    await this.#llama.dispose();
  }
}

function toChatHistory(request: ChatGeneration): ChatHistoryItem[] {
  const history = request.messages.map((message): ChatHistoryItem => {
    if (message.role === "system") return { type: "system", text: message.content };
    if (message.role === "user") return { type: "user", text: message.content };
    return { type: "model", response: [message.content] };
  });
  // An empty model turn at the end is where generation continues.
  history.push({ type: "model", response: [] });
  return history;
}
