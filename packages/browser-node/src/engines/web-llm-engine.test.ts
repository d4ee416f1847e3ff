import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
import type { GenerationEvent } from "@opengateway/protocol";
import { InvalidRequestError, ModelNotFoundError } from "@opengateway/protocol";
import { WebLlmEngine } from "./web-llm-engine.js";

const WORDS = ["Once", " upon", " a", " time", " there", " was", " a", " cat", "."];

/**
 * A FAKE WebLLM engine. WebLLM's real engine needs TVM-compiled model libraries and weights that
 * cannot be fetched on these machines, so the adapter is tested against WebLLM's own interface
 * (`MLCEngineInterface`) and its real request/response types, with WebLLM's real `Chat` /
 * `Completions` wrappers routing `chat.completions.create` into this fake. It streams a fixed
 * story one token per chunk, honours max_tokens, reports usage in a final chunk when asked, and
 * stops with finish_reason "abort" once interrupted, as WebLLM does.
 */
class FakeMlcEngine implements MLCEngineInterface {
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

function engineWithFake(): { engine: WebLlmEngine; fake: FakeMlcEngine } {
  const fake = new FakeMlcEngine();
  const engine = new WebLlmEngine(fake, { modelId: "tiny", mlcModelId: "Tiny-q4f16_1-MLC", contextSize: 1024, pricePerToken: 2 });
  return { engine, fake };
}

async function all(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const collected: GenerationEvent[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

const sampling = { maxTokens: 5, temperature: 0.7, topP: 0.9, seed: 41, stop: ["\n\n"] };

describe("WebLlmEngine over WebLLM's engine interface (with FakeMlcEngine)", () => {
  it("maps the protocol's chat request onto WebLLM's streaming request, OpenAI defaults explicit", async () => {
    const { engine, fake } = engineWithFake();
    const events = await all(
      engine.generateChat({
        model: "tiny",
        messages: [
          { role: "system", content: "Be brief" },
          { role: "user", content: "Tell a story" },
          { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "look", arguments: "{}" }] },
          { role: "tool", content: "sunny", toolCallId: "c1" },
        ],
        ...sampling,
        responseFormat: { type: "json_schema", name: "s", schema: { type: "object" } },
      }),
    );
    const request = fake.chatRequests[0];
    assert.ok(request);
    assert.equal(request.model, "Tiny-q4f16_1-MLC");
    assert.equal(request.max_tokens, 5);
    assert.equal(request.temperature, 0.7);
    assert.equal(request.top_p, 0.9);
    assert.equal(request.seed, 41);
    assert.deepEqual(request.stop, ["\n\n"]);
    assert.equal(request.presence_penalty, 0);
    assert.equal(request.frequency_penalty, 0);
    assert.deepEqual(request.stream_options, { include_usage: true });
    assert.deepEqual(request.response_format, { type: "json_object", schema: '{"type":"object"}' });
    assert.deepEqual(request.messages[2], {
      role: "assistant",
      content: "",
      tool_calls: [{ id: "c1", type: "function", function: { name: "look", arguments: "{}" } }],
    });
    assert.deepEqual(request.messages[3], { role: "tool", content: "sunny", tool_call_id: "c1" });
    const text = events.flatMap((event) => (event.type === "text" ? [event.text] : [])).join("");
    assert.equal(text, "Once upon a time there");
    assert.deepEqual(events.at(-1), {
      type: "done",
      choices: [{ index: 0, finishReason: "length" }],
      usage: { promptTokens: 7, completionTokens: 5 },
    });
    assert.deepEqual(engine.listModels(), [{ id: "tiny", contextSize: 1024, pricePerToken: 2, kinds: ["chat", "completion"] }]);
  });

  it("generates n choices one after another with seed + i, counting the prompt once", async () => {
    const { engine, fake } = engineWithFake();
    const events = await all(engine.generateCompletion({ model: "tiny", prompt: "Once upon", n: 2, ...sampling, maxTokens: 20 }));
    assert.deepEqual(
      fake.completionRequests.map((request) => [request.prompt, request.seed, request.stream]),
      [
        ["Once upon", 41, true],
        ["Once upon", 42, true],
      ],
    );
    assert.deepEqual(events.at(-1), {
      type: "done",
      choices: [
        { index: 0, finishReason: "stop" },
        { index: 1, finishReason: "stop" },
      ],
      usage: { promptTokens: 2, completionTokens: 18 },
    });
    assert.ok(events.some((event) => event.type === "text" && event.index === 1));
  });

  it("interrupts WebLLM when the consumer leaves early or aborts, and serves requests one at a time", async () => {
    const { engine, fake } = engineWithFake();
    for await (const event of engine.generateChat({ model: "tiny", messages: [{ role: "user", content: "Hi" }], ...sampling })) {
      if (event.type === "text") break;
    }
    assert.equal(fake.interrupts, 1);

    const controller = new AbortController();
    const aborted: GenerationEvent[] = [];
    for await (const event of engine.generateChat(
      { model: "tiny", messages: [{ role: "user", content: "Hi" }], ...sampling, maxTokens: 9 },
      { signal: controller.signal },
    )) {
      aborted.push(event);
      if (aborted.length === 2) controller.abort();
    }
    assert.ok(fake.interrupts >= 2);
    assert.ok(!aborted.some((event) => event.type === "done"), "an aborted generation reports no result");

    const together = await Promise.all([
      all(engine.generateCompletion({ model: "tiny", prompt: "a", ...sampling })),
      all(engine.generateCompletion({ model: "tiny", prompt: "b", ...sampling })),
    ]);
    assert.equal(fake.maxRunning, 1, "WebLLM never sees two generations at once");
    assert.ok(together.every((events) => events.at(-1)?.type === "done"));
  });

  it("refuses what it cannot serve before any event", async () => {
    const { engine, fake } = engineWithFake();
    await assert.rejects(
      all(engine.generateChat({ model: "other", messages: [{ role: "user", content: "x" }], ...sampling })),
      ModelNotFoundError,
    );
    await assert.rejects(
      all(
        engine.generateChat({
          model: "tiny",
          messages: [{ role: "user", content: "x" }],
          ...sampling,
          tools: [{ name: "look" }],
        }),
      ),
      InvalidRequestError,
    );
    const embeddings = engine.embed({ model: "tiny", input: ["x"] });
    await assert.rejects(async () => {
      for await (const _ of embeddings) assert.fail("no embedding expected");
    }, InvalidRequestError);
    assert.equal(fake.chatRequests.length, 0);
  });
});
