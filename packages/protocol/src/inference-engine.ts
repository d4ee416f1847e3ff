import type { ChatBody } from "./chat-body.js";
import type { FinishReason, Usage } from "./usage.js";

/** A model as an engine serves it. */
export interface ServedModel {
  /** The id clients ask for (the GGUF file's name without `.gguf`, unless aliased). */
  readonly id: string;
  readonly contextSize: number;
  /** Credits per token. */
  readonly pricePerToken: number;
}

export interface ChatGeneration extends ChatBody {
  readonly model: string;
}

export type GenerationEvent =
  | { readonly type: "text"; readonly text: string; readonly tokens: number }
  | { readonly type: "done"; readonly finishReason: FinishReason; readonly usage: Usage };

export interface GenerateOptions {
  /** Aborting stops generation and frees the engine's slot. */
  readonly signal?: AbortSignal;
}

/**
 * The contract every engine implements (node-llama-cpp on full nodes; wllama and WebLLM in
 * browsers). Streaming is pull-based: the consumer iterates, and leaving the loop early
 * (break, throw, return) cancels the generation just like aborting the signal.
 * The last event is always `done`, unless the iterator throws.
 */
export interface InferenceEngine {
  readonly name: string;
  listModels(): readonly ServedModel[];
  generateChat(request: ChatGeneration, options?: GenerateOptions): AsyncIterable<GenerationEvent>;
  close(): Promise<void>;
}
