import type * as Engine from "@opengateway/protocol";
import {
  CancelledError,
  DEFAULT_PRICE_PER_TOKEN,
  EngineFailedError,
  errorMessage,
  InsufficientCreditsError,
  InvalidRequestError,
  ModelNotFoundError,
} from "@opengateway/protocol";
import { pushable } from "it-pushable";
import type {
  ChatHistoryItem,
  ChatModelFunctions,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaEmbeddingContext,
  LlamaGrammar,
  LlamaModel,
  Token,
} from "node-llama-cpp";
import { LlamaChat, LlamaCompletion, TokenBias } from "node-llama-cpp";
import { toChatHistory } from "./chat-history.js";
import { chatWrapperFor, renderChatPrompt } from "./chat-prompt.js";
import { ENGINE_TOP_K } from "./constants.js";
import { loadModelContext, modelIdFromPath } from "./model-context.js";
import type { Lease } from "./sequence-pool.js";
import { SequencePool } from "./sequence-pool.js";
import { planToolUse } from "./tool-use-plan.js";

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

type Push = (event: Engine.GenerationEvent) => void;
interface ChoicesResult {
  choices: Engine.ChoiceEnd[];
  usage: Engine.Usage;
}

/** How far back the repetition, presence and frequency penalties look. */
const PENALTY_WINDOW_TOKENS = 256;

/**
 * Serves one GGUF model with node-llama-cpp: chat (with n choices, penalties, logit bias, JSON
 * and JSON-schema output, tool calls), raw text completion and embeddings. Several requests run
 * at once on separate context sequences; a bounded queue holds the rest.
 */
export class LlamaCppEngine implements Engine.InferenceEngine {
  readonly name = "node-llama-cpp";
  readonly #llama: Llama;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #pool: SequencePool<Slot>;
  readonly #served: Engine.ServedModel;
  readonly #threads: number;
  #embedding: Promise<SequencePool<LlamaEmbeddingContext>> | undefined;
  #jsonGrammar: Promise<LlamaGrammar> | undefined;

  private constructor(
    llama: Llama,
    model: LlamaModel,
    context: LlamaContext,
    pool: SequencePool<Slot>,
    served: Engine.ServedModel,
    threads: number,
  ) {
    this.#llama = llama;
    this.#model = model;
    this.#context = context;
    this.#pool = pool;
    this.#served = served;
    this.#threads = threads;
  }

  static async load(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
    const parallel = options.parallelRequests ?? 4;
    const { llama, model, context } = await loadModelContext({ ...options, sequences: parallel });
    try {
      const chatWrapper = chatWrapperFor(model);
      const slots: Slot[] = [];
      for (let i = 0; i < parallel; i++) {
        const sequence = context.getSequence();
        slots.push({ sequence, chat: new LlamaChat({ contextSequence: sequence, chatWrapper }) });
      }
      const pool = new SequencePool(slots, { maxQueue: options.maxQueuedRequests ?? 64 });
      const served: Engine.ServedModel = {
        id: options.modelId ?? modelIdFromPath(options.modelPath),
        contextSize: context.contextSize,
        pricePerToken: options.pricePerToken ?? DEFAULT_PRICE_PER_TOKEN,
        kinds: ["chat", "completion", "embedding"],
      };
      return new LlamaCppEngine(llama, model, context, pool, served, options.threads);
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

  /** The GPU generation runs on, with its video memory; null on CPU. */
  async gpuInfo(): Promise<{ type: string; totalVramBytes: number } | null> {
    const type = this.#llama.gpu;
    if (type === false) return null;
    const vram = await this.#llama.getVramState();
    return { type, totalVramBytes: vram.total };
  }

  /** Token ids of a text in this model's vocabulary (what OpenAI's logit_bias keys refer to). */
  tokenize(text: string): number[] {
    return [...this.#model.tokenize(text)];
  }

  detokenize(tokens: readonly number[]): string {
    return this.#model.detokenize(tokens as Token[]);
  }

  listModels(): readonly Engine.ServedModel[] {
    return [this.#served];
  }

  generateChat(request: Engine.ChatGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#stream(request.model, options, (slot, push, signal) => this.#runChat(slot, request, push, signal, options));
  }

  generateCompletion(request: Engine.CompletionGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#stream(request.model, options, (slot, push, signal) =>
      this.#runCompletion(slot, request, push, signal, options),
    );
  }

  async *embed(request: Engine.EmbeddingGeneration, options: Engine.GenerateOptions = {}): Engine.EmbeddingStream {
    this.#checkModel(request.model);
    this.#embedding ??= this.#model
      .createEmbeddingContext({ threads: this.#threads })
      .then((context) => new SequencePool([context], { maxQueue: 64 }));
    const lease = await (await this.#embedding).acquire({ signal: options.signal });
    try {
      let promptTokens = 0;
      for (const [index, input] of request.input.entries()) {
        options.signal?.throwIfAborted();
        promptTokens += this.#model.tokenize(input).length;
        const embedding = await lease.value.getEmbeddingFor(input);
        yield { type: "embedding", index, embedding: embedding.vector };
      }
      yield { type: "done", usage: { promptTokens, completionTokens: 0 } };
    } finally {
      lease.release();
    }
  }

  #checkModel(model: string): void {
    if (model !== this.#served.id) throw new ModelNotFoundError(`model '${model}' is not served here`);
  }

  /** Runs generation for one request on a leased sequence, as a pull-based event stream. */
  async *#stream(
    model: string,
    options: Engine.GenerateOptions,
    run: (slot: Slot, push: Push, signal: AbortSignal) => Promise<ChoicesResult | undefined>,
  ): Engine.GenerationStream {
    this.#checkModel(model);
    const controller = new AbortController();
    const abortFromCaller = (): void => controller.abort(options.signal?.reason ?? new CancelledError());
    options.signal?.addEventListener("abort", abortFromCaller, { once: true });
    if (options.signal?.aborted) abortFromCaller();
    let lease: Lease<Slot>;
    try {
      lease = await this.#pool.acquire({ signal: controller.signal });
    } catch (error) {
      options.signal?.removeEventListener("abort", abortFromCaller);
      throw error;
    }
    const events = pushable<Engine.GenerationEvent>({ objectMode: true });
    const running = run(lease.value, (event) => events.push(event), controller.signal)
      .then((result) => {
        if (result !== undefined && !controller.signal.aborted) events.push({ type: "done", ...result });
        events.end();
      })
      .catch((error: unknown) => events.end(toEngineError(error)))
      .finally(() => lease.release());
    try {
      yield* events;
    } finally {
      // Reached on completion, on a thrown error, and when the consumer leaves the loop early.
      options.signal?.removeEventListener("abort", abortFromCaller);
      controller.abort(new CancelledError("the consumer stopped reading"));
      await running;
    }
  }

  async #runChat(
    slot: Slot,
    request: Engine.ChatGeneration,
    push: Push,
    signal: AbortSignal,
    options: Engine.GenerateOptions,
  ): Promise<ChoicesResult | undefined> {
    const plan = planToolUse(request);
    const grammar = await this.#grammarFor(plan.schema, plan.json);
    const functions = plan.functions as ChatModelFunctions | undefined;
    // A tool whose parameter schema cannot be enforced is the client's error, found before generating.
    for (const tool of Object.values(plan.functions ?? {}))
      if (tool.params !== undefined) await this.#grammarFor(tool.params, false);
    const history = toChatHistory(plan.messages, { continueFinal: request.continueFinal });
    // The prompt as the chat template renders it, counted before anything is evaluated.
    const { contextText } = renderChatPrompt(slot.chat.chatWrapper, history, functions);
    const promptTokens = contextText.tokenize(this.#model.tokenizer).length;
    if (options.maxTotalTokens !== undefined) refuseUnaffordablePrompt(promptTokens, options.maxTotalTokens);
    return this.#runChoices(
      slot,
      { ...request, maxTokens: this.#clampToContext(request.maxTokens, promptTokens) },
      signal,
      options.maxTotalTokens,
      async (index, sampling) => {
        let textSoFar = "";
        // Auto tool calls' arguments as generated: only a finished call is in the response.
        const generatedCalls: { name: string; arguments: string }[] = [];
        const common = {
          ...sampling,
          onTextChunk: plan.captureText
            ? (text: string) => {
                textSoFar += text;
              }
            : sampling.onTextChunk,
        };
        // node-llama-cpp takes either a grammar or functions, never both.
        const response = functions
          ? await slot.chat.generateResponse(history, {
              ...common,
              functions,
              documentFunctionParams: true,
              onFunctionCallParamsChunk: (chunk) => {
                generatedCalls[chunk.callIndex] ??= { name: chunk.functionName, arguments: "" };
                const call = generatedCalls[chunk.callIndex];
                if (call) call.arguments += chunk.paramsChunk;
              },
            })
          : await slot.chat.generateResponse(history, { ...common, grammar });
        if (response.metadata.stopReason === "abort") return undefined;
        const cut = response.metadata.stopReason === "maxTokens";
        if (plan.captureText) {
          const calls = plan.toToolCalls(textSoFar);
          if (calls.length > 0) push({ type: "tool_calls", index, calls });
          // Cut by max_tokens, the call's arguments are incomplete: say so, as OpenAI does.
          return cut ? "length" : calls.length > 0 ? "tool_calls" : "stop";
        }
        const calls = (response.functionCalls ?? []).map((call) => ({
          name: call.functionName,
          arguments: JSON.stringify(call.params ?? {}),
        }));
        // A call cut by max_tokens has a name and part of its arguments: passed on as they are.
        const partial = cut ? generatedCalls[calls.length] : undefined;
        if (partial !== undefined) calls.push(partial);
        if (calls.length > 0) {
          push({ type: "tool_calls", index, calls });
          return cut ? "length" : "tool_calls";
        }
        return cut ? "length" : "stop";
      },
      push,
    );
  }

  async #runCompletion(
    slot: Slot,
    request: Engine.CompletionGeneration,
    push: Push,
    signal: AbortSignal,
    options: Engine.GenerateOptions,
  ): Promise<ChoicesResult | undefined> {
    const promptTokens = this.#model.tokenize(request.prompt).length;
    if (options.maxTotalTokens !== undefined) refuseUnaffordablePrompt(promptTokens, options.maxTotalTokens);
    const clamped = { ...request, maxTokens: this.#clampToContext(request.maxTokens, promptTokens) };
    const completion = new LlamaCompletion({ contextSequence: slot.sequence });
    try {
      return await this.#runChoices(
        slot,
        clamped,
        signal,
        options.maxTotalTokens,
        async (_index, sampling) => {
          const response = await completion.generateCompletionWithMeta(clamped.prompt, sampling);
          if (response.metadata.stopReason === "abort") return undefined;
          return response.metadata.stopReason === "maxTokens" ? "length" : "stop";
        },
        push,
      );
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  }

  /**
   * The completion tokens that fit beside the prompt in one sequence's context, as llama-server
   * and OpenAI's own limit do: asking for more ends with "length" where the context ends. Past it
   * node-llama-cpp would shift the context and evaluate the prompt again and again, and usage would
   * count every evaluation as prompt tokens (issue 14: 1,829 for a 28-token prompt).
   */
  #clampToContext(maxTokens: number, promptTokens: number): number {
    // Margin for the tokens the count above does not see (BOS, the template's end of turn).
    const room = this.#served.contextSize - promptTokens - 2;
    if (room < 1) {
      throw new InvalidRequestError(
        `This model's maximum context length is ${this.#served.contextSize} tokens; the prompt alone is ${promptTokens} tokens`,
      );
    }
    return Math.min(maxTokens, room);
  }

  /**
   * Generates `n` choices one after another on the same sequence (choice i with seed + i). The
   * prompt is evaluated once; usage counts it once and adds every choice's completion tokens,
   * all read from the sequence's token meter.
   */
  async #runChoices(
    slot: Slot,
    request: Engine.SamplingParams,
    signal: AbortSignal,
    maxTotalTokens: number | undefined,
    generate: (index: number, sampling: SamplingOptions) => Promise<Engine.FinishReason | undefined>,
    push: Push,
  ): Promise<ChoicesResult | undefined> {
    await slot.sequence.clearHistory();
    const tokenBias = this.#tokenBias(request.logitBias);
    const choices: Engine.ChoiceEnd[] = [];
    let promptTokens = 0;
    let completionTokens = 0;
    for (let index = 0; index < (request.n ?? 1); index++) {
      if (maxTotalTokens !== undefined && index > 0 && promptTokens + completionTokens >= maxTotalTokens) {
        // The reserve is spent: the remaining choices are empty, cut by length.
        choices.push({ index, finishReason: "length" });
        continue;
      }
      const meterBefore = slot.sequence.tokenMeter.getState();
      let tokensSinceText = 0;
      // The payer's reserve: once the prompt and every choice's tokens reach it, generation stops ("length").
      const budget = new AbortController();
      let generated = 0;
      let evaluatedPrompt: number | undefined;
      const finishReason = await generate(index, {
        signal: maxTotalTokens === undefined ? signal : AbortSignal.any([signal, budget.signal]),
        stopOnAbortSignal: true,
        maxTokens: request.maxTokens,
        temperature: request.temperature,
        topP: request.topP,
        topK: request.topK ?? ENGINE_TOP_K,
        ...(request.minP !== undefined ? { minP: request.minP } : {}),
        seed: (request.seed + index) >>> 0,
        customStopTriggers: request.stop.length > 0 ? request.stop : undefined,
        repeatPenalty: penaltiesFor(request),
        tokenBias,
        onToken: (tokens) => {
          tokensSinceText += tokens.length;
          // The prompt has been evaluated by the first sampled token; only the first choice pays for it.
          evaluatedPrompt ??= index === 0 ? slot.sequence.tokenMeter.diff(meterBefore).usedInputTokens : promptTokens;
          generated += tokens.length;
          if (maxTotalTokens === undefined) return;
          if (evaluatedPrompt + completionTokens + generated >= maxTotalTokens) budget.abort();
        },
        onTextChunk: (text) => {
          if (text === "") return;
          push({ type: "text", index, text, tokens: tokensSinceText });
          tokensSinceText = 0;
        },
      });
      if (signal.aborted) return undefined;
      const stoppedByBudget = budget.signal.aborted;
      if (finishReason === undefined && !stoppedByBudget) return undefined;
      const used = slot.sequence.tokenMeter.diff(meterBefore);
      // The prompt as evaluated before the first token: the meter's total would also count what a
      // context shift evaluated again, and the payer pays for the prompt once.
      if (index === 0) promptTokens = evaluatedPrompt ?? used.usedInputTokens;
      completionTokens += Math.min(used.usedOutputTokens, request.maxTokens);
      choices.push({ index, finishReason: stoppedByBudget ? "length" : (finishReason ?? "length") });
    }
    return { choices, usage: { promptTokens, completionTokens } };
  }

  #tokenBias(logitBias: Record<string, number> | undefined): TokenBias | undefined {
    if (logitBias === undefined || Object.keys(logitBias).length === 0) return undefined;
    const vocabularySize = vocabularySizeOf(this.#model);
    const bias = new TokenBias(this.#model.tokenizer);
    for (const [token, value] of Object.entries(logitBias)) {
      const id = Number(token);
      if (vocabularySize !== undefined && id >= vocabularySize) {
        throw new InvalidRequestError(`logit_bias token ${token} is outside the model's vocabulary of ${vocabularySize}`);
      }
      // OpenAI: -100 bans a token outright; other values are added to its logit.
      bias.set(id as never, value <= -100 ? "never" : { logit: value });
    }
    return bias;
  }

  async #grammarFor(schema: unknown, json: boolean): Promise<LlamaGrammar | undefined> {
    if (schema !== undefined) {
      try {
        return await this.#llama.createGrammarForJsonSchema(schema as never);
      } catch (error) {
        throw new InvalidRequestError(`the JSON schema cannot be enforced: ${errorMessage(error)}`);
      }
    }
    if (!json) return undefined;
    this.#jsonGrammar ??= this.#llama.getGrammarFor("json");
    return this.#jsonGrammar;
  }

  async close(): Promise<void> {
    const embedding = await this.#embedding?.catch(() => undefined);
    if (embedding) {
      const lease = await embedding.acquire();
      await lease.value.dispose();
    }
    await this.#context.dispose();
    await this.#model.dispose();
    await this.#llama.dispose();
  }
}

/** The sampling options both LlamaChat and LlamaCompletion take. */
interface SamplingOptions {
  signal: AbortSignal;
  stopOnAbortSignal: true;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP?: number;
  seed: number;
  customStopTriggers: string[] | undefined;
  repeatPenalty: false | { penalty: number; presencePenalty: number; frequencyPenalty: number; lastTokens: number };
  tokenBias: TokenBias | undefined;
  onToken: (tokens: Token[]) => void;
  onTextChunk: (text: string) => void;
}

/** OpenAI has no repeat penalty by default; node-llama-cpp does, so it is switched off unless asked for. */
function penaltiesFor(request: Engine.SamplingParams): SamplingOptions["repeatPenalty"] {
  const penalty = request.repetitionPenalty ?? 1;
  const presencePenalty = request.presencePenalty ?? 0;
  const frequencyPenalty = request.frequencyPenalty ?? 0;
  if (penalty === 1 && presencePenalty === 0 && frequencyPenalty === 0) return false;
  return { penalty, presencePenalty, frequencyPenalty, lastTokens: PENALTY_WINDOW_TOKENS };
}

function vocabularySizeOf(model: LlamaModel): number | undefined {
  const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } } | undefined)?.tokenizer?.ggml
    ?.tokens;
  return Array.isArray(tokens) ? tokens.length : undefined;
}

/**
 * A prompt that alone costs what the payer reserved is refused before it is evaluated: otherwise a
 * payer could have long prompts evaluated for nothing (maxCredits 0) and the provider would stop
 * after one token, unpaid for the work.
 */
function refuseUnaffordablePrompt(promptTokens: number, maxTotalTokens: number): void {
  if (promptTokens >= maxTotalTokens) {
    throw new InsufficientCreditsError(
      `the prompt is ${promptTokens} tokens; the request's maxCredits pays for ${maxTotalTokens} tokens in all`,
    );
  }
}

function toEngineError(error: unknown): Error {
  if (error instanceof Error && "code" in error) return error;
  return new EngineFailedError(errorMessage(error), { cause: error });
}

export type { ChatHistoryItem };
