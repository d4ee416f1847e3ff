import type { ChatBody } from "./chat-body.js";
import type { CompletionBody } from "./completion-body.js";
import type { EmbeddingBody } from "./embedding-body.js";
import type { InferenceKind } from "./inference-request.js";
import type { FinishReason, Usage } from "./usage.js";

/** A model as an engine serves it. */
export interface ServedModel {
  /** The id clients ask for (the GGUF file's name without `.gguf`, unless aliased). */
  readonly id: string;
  readonly contextSize: number;
  /** Credits per token. */
  readonly pricePerToken: number;
  /** The kinds of request this engine serves for the model. */
  readonly kinds: readonly InferenceKind[];
}

export interface ChatGeneration extends ChatBody {
  readonly model: string;
}

export interface CompletionGeneration extends CompletionBody {
  readonly model: string;
}

export interface EmbeddingGeneration extends EmbeddingBody {
  readonly model: string;
}

export interface ToolCallRequest {
  readonly name: string;
  /** JSON text of the arguments object. */
  readonly arguments: string;
}

export interface ChoiceEnd {
  readonly index: number;
  readonly finishReason: FinishReason;
}

export type GenerationEvent =
  | { readonly type: "text"; readonly index: number; readonly text: string; readonly tokens: number }
  | { readonly type: "tool_calls"; readonly index: number; readonly calls: readonly ToolCallRequest[] }
  | { readonly type: "done"; readonly choices: readonly ChoiceEnd[]; readonly usage: Usage };

export type EmbeddingEvent =
  | { readonly type: "embedding"; readonly index: number; readonly embedding: readonly number[] }
  | { readonly type: "done"; readonly usage: Usage };

/** What an engine's generate methods return: a pull-based stream, cancelled by leaving the loop. */
export type GenerationStream = AsyncGenerator<GenerationEvent, void, undefined>;
export type EmbeddingStream = AsyncGenerator<EmbeddingEvent, void, undefined>;

export interface GenerateOptions {
  /** Aborting stops generation and frees the engine's slot. */
  readonly signal?: AbortSignal;
  /**
   * Stop generating (finish reason `length`) once the prompt plus the completion tokens of all
   * choices reach this many: the payer's `maxCredits` at this provider's price. An engine that
   * cannot count the prompt as it goes may ignore it; the provider never charges past maxCredits.
   */
  readonly maxTotalTokens?: number;
}

/**
 * The contract every engine implements (node-llama-cpp on full nodes; wllama and WebLLM in
 * browsers). Streaming is pull-based: the consumer iterates, and leaving the loop early
 * (break, throw, return) cancels the work just like aborting the signal. The last event is
 * always `done`, unless the iterator throws. An engine that cannot serve a request (an unknown
 * model, a kind or parameter it lacks) throws the matching typed error before any event.
 */
export interface InferenceEngine {
  readonly name: string;
  listModels(): readonly ServedModel[];
  generateChat(request: ChatGeneration, options?: GenerateOptions): AsyncIterable<GenerationEvent>;
  generateCompletion(request: CompletionGeneration, options?: GenerateOptions): AsyncIterable<GenerationEvent>;
  embed(request: EmbeddingGeneration, options?: GenerateOptions): AsyncIterable<EmbeddingEvent>;
  close(): Promise<void>;
}
