// A FAKE WebLLM engine for tests (see the class comment), and the WebLlmEngine adapter over it.
import assert from "node:assert/strict";
import type {
  AppConfig,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionRequestBase,
  ChatCompletionRequestNonStreaming,
  ChatCompletionRequestStreaming,
  Completion,
  CompletionCreateParams,
  CompletionCreateParamsBase,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
  CreateEmbeddingResponse,
  EmbeddingCreateParams,
  InitProgressCallback,
  LogLevel,
  MLCEngineInterface,
  ResumeChatCompletionOptions,
  ResumeProbeResult,
  ResumeResult,
} from "@mlc-ai/web-llm";
import { Chat, Completions, Embeddings } from "@mlc-ai/web-llm";
import { WebLlmEngine } from "../engines/web-llm-engine.js";

const WORDS = ["Once", " upon", " a", " time", " there", " was", " a", " cat", "."];

/**
 * A FAKE WebLLM engine. WebLLM's real engine needs TVM-compiled model libraries and weights that
 * cannot be fetched on these machines, so the adapter is tested against WebLLM's own interface
 * (`MLCEngineInterface`) and its real request/response types, with WebLLM's real `Chat` /
 * `Completions` wrappers routing `chat.completions.create` into this fake. It streams a fixed
 * story one token per chunk, honours max_tokens, reports usage in a final chunk when asked, and
 * stops with finish_reason "abort" once interrupted, as WebLLM does.
 */
export class FakeMlcEngine implements MLCEngineInterface {
  readonly chat: Chat = new Chat(this);
  readonly completions: Completions = new Completions(this);
  readonly embeddings: Embeddings = new Embeddings(this);
  readonly chatRequests: ChatCompletionRequest[] = [];
  readonly completionRequests: CompletionCreateParams[] = [];
  interrupts = 0;
  running = 0;
  maxRunning = 0;
  #interrupted = false;

  chatCompletion(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  chatCompletion(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  chatCompletion(request: ChatCompletionRequestBase): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
  async chatCompletion(request: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    assert.equal(request.stream, true, "the adapter always streams");
    this.chatRequests.push(request);
    const promptTokens = request.messages.reduce((sum, message) => sum + String(message.content).split(" ").length, 0);
    return this.#stream(
      request.max_tokens ?? 16,
      promptTokens,
      request.stream_options?.include_usage === true,
      (text, finish): ChatCompletionChunk => ({
        id: "chatcmpl-fake",
        object: "chat.completion.chunk",
        created: 0,
        model: String(request.model),
        choices: text === null ? [] : [{ index: 0, delta: { content: text }, finish_reason: finish, logprobs: null }],
      }),
    );
  }

  completion(request: CompletionCreateParamsNonStreaming): Promise<Completion>;
  completion(request: CompletionCreateParamsStreaming): Promise<AsyncIterable<Completion>>;
  completion(request: CompletionCreateParamsBase): Promise<AsyncIterable<Completion> | Completion>;
  async completion(request: CompletionCreateParams): Promise<AsyncIterable<Completion> | Completion> {
    this.completionRequests.push(request);
    return this.#stream(
      request.max_tokens ?? 16,
      request.prompt.split(" ").length,
      request.stream_options?.include_usage === true,
      (text, finish): Completion => ({
        id: "cmpl-fake",
        object: "text_completion",
        created: 0,
        model: String(request.model),
        choices: text === null ? [] : [{ index: 0, text, finish_reason: finish }],
      }),
    );
  }

  async *#stream<T extends ChatCompletionChunk | Completion>(
    maxTokens: number,
    promptTokens: number,
    includeUsage: boolean,
    chunk: (text: string | null, finish: "stop" | "length" | "abort" | null) => T,
  ): AsyncGenerator<T> {
    this.#interrupted = false;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      let produced = 0;
      let finish: "stop" | "length" | "abort" = "stop";
      for (const word of WORDS) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (this.#interrupted) {
          finish = "abort";
          break;
        }
        if (produced === maxTokens) {
          finish = "length";
          break;
        }
        produced++;
        yield chunk(word, null);
      }
      yield chunk("", finish);
      if (includeUsage) {
        yield {
          ...chunk(null, null),
          usage: {
            prompt_tokens: promptTokens,
            completion_tokens: produced,
            total_tokens: promptTokens + produced,
            extra: {
              e2e_latency_s: 0,
              prefill_tokens_per_s: 0,
              decode_tokens_per_s: 0,
              time_to_first_token_s: 0,
              time_per_output_token_s: 0,
            },
          },
        };
      }
    } finally {
      this.running--;
    }
  }

  interruptGenerate(): void {
    this.interrupts++;
    this.#interrupted = true;
  }

  async unload(): Promise<void> {}

  // What the adapter never calls: the fake refuses, so a new dependency on it shows up here.
  #unused(): never {
    throw new Error("not part of what FakeMlcEngine fakes");
  }
  setInitProgressCallback(_callback: InitProgressCallback): void {
    this.#unused();
  }
  getInitProgressCallback(): InitProgressCallback | undefined {
    return this.#unused();
  }
  setAppConfig(_appConfig: AppConfig): void {
    this.#unused();
  }
  async reload(): Promise<void> {
    this.#unused();
  }
  async embedding(_request: EmbeddingCreateParams): Promise<CreateEmbeddingResponse> {
    return this.#unused();
  }
  async listResumableSessions(): Promise<ResumeProbeResult[]> {
    return this.#unused();
  }
  async resumeChatCompletion(
    _sessionId: string,
    _options?: ResumeChatCompletionOptions,
  ): Promise<ResumeResult | AsyncIterable<ChatCompletionChunk>> {
    return this.#unused();
  }
  async deleteResumableSession(): Promise<void> {
    this.#unused();
  }
  async runtimeStatsText(): Promise<string> {
    return this.#unused();
  }
  async resetChat(): Promise<void> {
    this.#unused();
  }
  async getMessage(): Promise<string> {
    return this.#unused();
  }
  async getMaxStorageBufferBindingSize(): Promise<number> {
    return this.#unused();
  }
  async getGPUVendor(): Promise<string> {
    return this.#unused();
  }
  async forwardTokensAndSample(): Promise<number> {
    return this.#unused();
  }
  setLogLevel(_logLevel: LogLevel): void {
    this.#unused();
  }
}

export function engineWithFake(): { engine: WebLlmEngine; fake: FakeMlcEngine } {
  const fake = new FakeMlcEngine();
  const engine = new WebLlmEngine(fake, { modelId: "tiny", mlcModelId: "Tiny-q4f16_1-MLC", contextSize: 1024, pricePerToken: 2 });
  return { engine, fake };
}
