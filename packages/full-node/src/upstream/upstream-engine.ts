import type * as Engine from "@opengateway/protocol";
import {
  CancelledError,
  DEFAULT_PRICE_PER_TOKEN,
  InsufficientCreditsError,
  InvalidRequestError,
  ModelNotFoundError,
  OverloadedError,
} from "@opengateway/protocol";
import {
  DEFAULT_UPSTREAM_CONTEXT_SIZE,
  DEFAULT_UPSTREAM_DISCOVERY_TIMEOUT_MS,
  DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
  DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
  DEFAULT_UPSTREAM_MAX_QUEUED_REQUESTS,
  DEFAULT_UPSTREAM_PARALLEL_REQUESTS,
} from "./constants.js";
import type { UpstreamServer } from "./discover-upstream.js";
import { discoverUpstream } from "./discover-upstream.js";
import type { ChoiceOutcome } from "./stream-upstream-choice.js";
import { streamUpstreamChoice } from "./stream-upstream-choice.js";
import type { ChoiceSettings, UpstreamRequestBody } from "./upstream-request-body.js";
import { chatRequestBody, completionRequestBody } from "./upstream-request-body.js";

export interface UpstreamEngineOptions {
  /** The upstream's OpenAI API root, e.g. `http://127.0.0.1:8080/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string;
  /** Requests sent at once; defaults to the upstream's own slots (llama-server's /props), else 4. */
  parallelRequests?: number;
  /** Requests waiting on a busy upstream before new ones are refused as overloaded. */
  maxQueuedRequests?: number;
  /** Context size of models the upstream says nothing about (llama-server says). */
  contextSize?: number;
  pricePerToken?: number;
  firstByteTimeoutMs?: number;
  idleTimeoutMs?: number;
  discoveryTimeoutMs?: number;
}

/**
 * Serves the network through an OpenAI-compatible server the node's owner already runs
 * (llama-server, Ollama, vLLM, LM Studio, an exo cluster) instead of loading a model: it serves
 * the upstream's models, streams every request through (`stream: true` with usage), stops at the
 * payer's reserve, and reports a down or stalled upstream as `engine_failed`, so the router moves
 * on as from any failing provider. `n` choices are n upstream requests, choice i with seed + i,
 * as on every engine, so each choice's usage is the upstream's own count.
 */
export class UpstreamEngine implements Engine.InferenceEngine {
  readonly name: string;
  readonly baseURL: string;
  readonly #server: UpstreamServer;
  readonly #models: readonly Engine.ServedModel[];
  readonly #headers: Record<string, string>;
  readonly #options: UpstreamEngineOptions;
  readonly #slots: number;
  readonly #closing = new AbortController();
  #active = 0;

  private constructor(options: UpstreamEngineOptions, server: UpstreamServer, headers: Record<string, string>) {
    this.baseURL = options.baseURL;
    this.#options = options;
    this.#server = server;
    this.#headers = headers;
    this.#slots = options.parallelRequests ?? server.slots ?? DEFAULT_UPSTREAM_PARALLEL_REQUESTS;
    this.name = (server.llamaServer ? `upstream llama-server ${server.build ?? ""}` : "upstream openai-compatible")
      .trim()
      .slice(0, 64);
    this.#models = server.models.map((model) => ({
      id: model.id,
      contextSize: model.contextSize ?? options.contextSize ?? DEFAULT_UPSTREAM_CONTEXT_SIZE,
      pricePerToken: options.pricePerToken ?? DEFAULT_PRICE_PER_TOKEN,
      kinds: ["chat", "completion"],
    }));
  }

  /** Asks the upstream what it serves; fails (typed) when it is unreachable or serves no model. */
  static async connect(options: UpstreamEngineOptions, { signal }: { signal?: AbortSignal } = {}): Promise<UpstreamEngine> {
    const baseURL = options.baseURL.replace(/\/+$/, "");
    const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    const timeout = AbortSignal.timeout(options.discoveryTimeoutMs ?? DEFAULT_UPSTREAM_DISCOVERY_TIMEOUT_MS);
    const server = await discoverUpstream(baseURL, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (server.models.length === 0) throw new ModelNotFoundError(`the upstream at ${baseURL} lists no models`);
    return new UpstreamEngine({ ...options, baseURL }, server, headers);
  }

  get parallelRequests(): number {
    return this.#slots;
  }

  get activeRequests(): number {
    return Math.min(this.#active, this.#slots);
  }

  get queuedRequests(): number {
    return Math.max(0, this.#active - this.#slots);
  }

  /** The largest model file the upstream reports (llama-server does), for the node's cluster. */
  get modelSizeBytes(): number | undefined {
    const sizes = this.#server.models.flatMap((model) => (model.sizeBytes ? [model.sizeBytes] : []));
    return sizes.length > 0 ? Math.max(...sizes) : undefined;
  }

  /** The upstream's GPU is not the node's to report. */
  async gpuInfo(): Promise<null> {
    return null;
  }

  listModels(): readonly Engine.ServedModel[] {
    return this.#models;
  }

  async *generateChat(request: Engine.ChatGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    if (request.tools && request.tools.length > 0 && request.toolChoice !== "none" && this.#server.supportsTools === false) {
      throw new InvalidRequestError(
        "this node's upstream cannot call tools: its chat template has no tool support (llama-server needs --jinja)",
      );
    }
    yield* this.#generate(request, "/chat/completions", (choice) => chatRequestBody(request, choice), options);
  }

  generateCompletion(request: Engine.CompletionGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#generate(request, "/completions", (choice) => completionRequestBody(request, choice), options);
  }

  // biome-ignore lint/correctness/useYield: it refuses before any event, as the contract asks of a missing kind
  async *embed(): Engine.EmbeddingStream {
    throw new InvalidRequestError("this node's upstream serves no embeddings");
  }

  async *#generate(
    request: Engine.ChatGeneration | Engine.CompletionGeneration,
    path: string,
    bodyFor: (choice: ChoiceSettings) => UpstreamRequestBody,
    options: Engine.GenerateOptions,
  ): Engine.GenerationStream {
    if (!this.#models.some((model) => model.id === request.model)) {
      throw new ModelNotFoundError(`model '${request.model}' is not served here`);
    }
    if (this.#active >= this.#slots + (this.#options.maxQueuedRequests ?? DEFAULT_UPSTREAM_MAX_QUEUED_REQUESTS)) {
      throw new OverloadedError("the upstream's slots and this node's queue are full");
    }
    const { maxTotalTokens } = options;
    // A prompt is at least one token: a reserve of one token or less pays for nothing.
    if (maxTotalTokens !== undefined && maxTotalTokens <= 1) {
      throw new InsufficientCreditsError(`the request's maxCredits pays for ${maxTotalTokens} tokens in all`);
    }
    const signal = AbortSignal.any([options.signal ?? new AbortController().signal, this.#closing.signal]);
    this.#active++;
    try {
      const choices: Engine.ChoiceEnd[] = [];
      let promptTokens: number | undefined;
      let completionTokens = 0;
      for (let index = 0; index < (request.n ?? 1); index++) {
        const limit = maxTotalTokens === undefined ? undefined : maxTotalTokens - completionTokens;
        const room = limit === undefined ? request.maxTokens : Math.min(request.maxTokens, limit - (promptTokens ?? 1));
        if (room < 1) {
          // The reserve is spent: the remaining choices are empty, cut by length.
          choices.push({ index, finishReason: "length" });
          continue;
        }
        const outcome: ChoiceOutcome | undefined = yield* streamUpstreamChoice(
          bodyFor({ index, maxTokens: room, llamaServerTimings: this.#server.llamaServer }),
          {
            url: `${this.baseURL}${path}`,
            headers: this.#headers,
            upstream: this.baseURL,
            index,
            signal,
            firstByteTimeoutMs: this.#options.firstByteTimeoutMs ?? DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
            idleTimeoutMs: this.#options.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
            limit,
            refuseUnaffordablePrompt: index === 0,
          },
        );
        if (outcome === undefined) return;
        // The prompt is the same for every choice: usage counts it once.
        promptTokens ??= outcome.promptTokens;
        completionTokens += Math.min(outcome.completionTokens, request.maxTokens);
        choices.push({ index, finishReason: outcome.finishReason });
      }
      yield { type: "done", choices, usage: { promptTokens: promptTokens ?? 0, completionTokens } };
    } finally {
      this.#active--;
    }
  }

  /** Cancels every request in flight; the upstream itself keeps running. */
  async close(): Promise<void> {
    this.#closing.abort(new CancelledError("the node is stopping"));
  }
}
