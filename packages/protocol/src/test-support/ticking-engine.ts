import type * as Engine from "../inference-engine.js";

export interface TickingEngineOptions {
  /** Milliseconds from one token to the next (default 10). */
  tickMs?: number;
  /** The one model it serves (default `m`: chat, 512 tokens of context, 1 credit per token). */
  model?: Partial<Engine.ServedModel>;
  name?: string;
  /** The text of every token (default `" w"`). */
  text?: string;
  promptTokens?: number;
  /** Runs before token `index` of each request: throw to break the stream off there. */
  beforeToken?: (index: number) => void;
  /** The completion tokens `done` reports, given those produced (default: honestly, `produced`). */
  reportedCompletionTokens?: (produced: number) => number;
}

/**
 * A fake engine on a clock, for tests and benchmarks of everything around an engine: one token per
 * tick on a fixed schedule from the request's start (timer slack does not add up), `max_tokens` of
 * them, then `done`. A completion runs as a chat of its prompt; it serves no embeddings. It
 * counts the requests it runs at once and keeps each chat request it was given.
 */
export class TickingEngine implements Engine.InferenceEngine {
  readonly name: string;
  running = 0;
  maxRunning = 0;
  readonly served: Engine.ChatGeneration[] = [];
  readonly #model: Engine.ServedModel;

  constructor(readonly options: TickingEngineOptions = {}) {
    this.name = options.name ?? "ticking-test-engine";
    this.#model = { id: "m", contextSize: 512, pricePerToken: 1, kinds: ["chat"], ...options.model };
  }

  listModels(): Engine.ServedModel[] {
    return [this.#model];
  }

  async *generateChat(
    request: Engine.ChatGeneration,
    options: Engine.GenerateOptions = {},
  ): AsyncIterable<Engine.GenerationEvent> {
    const tickMs = this.options.tickMs ?? 10;
    this.served.push(request);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      const start = performance.now();
      let produced = 0;
      for (let index = 0; index < request.maxTokens; index++) {
        if (options.signal?.aborted) return;
        this.options.beforeToken?.(index);
        const due = start + (index + 1) * tickMs;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
        if (options.signal?.aborted) return;
        produced++;
        yield { type: "text", index: 0, text: this.options.text ?? " w", tokens: 1 };
      }
      const completionTokens = this.options.reportedCompletionTokens?.(produced) ?? produced;
      yield {
        type: "done",
        choices: [{ index: 0, finishReason: "length" }],
        usage: { promptTokens: this.options.promptTokens ?? 3, completionTokens },
      };
    } finally {
      this.running--;
    }
  }

  generateCompletion(
    request: Engine.CompletionGeneration,
    options?: Engine.GenerateOptions,
  ): AsyncIterable<Engine.GenerationEvent> {
    return this.generateChat({ ...request, messages: [{ role: "user", content: request.prompt }] }, options);
  }

  // biome-ignore lint/correctness/useYield: it serves no embeddings
  async *embed(): AsyncIterable<Engine.EmbeddingEvent> {
    throw new Error("the ticking engine serves no embeddings");
  }

  async close(): Promise<void> {}
}
