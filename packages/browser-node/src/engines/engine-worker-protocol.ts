import type {
  ChatGeneration,
  CompletionGeneration,
  EmbeddingEvent,
  EmbeddingGeneration,
  GenerationEvent,
  ServedModel,
} from "@opengateway/protocol";
import type { WebLlmModelSpec } from "./model-offer.js";
import type { WllamaEngineOptions } from "./wllama-engine.js";

/** What the worker loads: the engine the main thread chose, and everything that engine needs. */
export type EngineLoadSpec =
  // The wllama engine's own options, less the callbacks that cannot cross to the worker.
  | ({ engine: "wllama" } & Omit<WllamaEngineOptions, "onProgress" | "signal">)
  | {
      engine: "webllm";
      modelId: string;
      webllm: WebLlmModelSpec;
      contextSize?: number;
      pricePerToken?: number;
    };

export type WorkerGeneration =
  | { kind: "chat"; request: ChatGeneration }
  | { kind: "completion"; request: CompletionGeneration }
  | { kind: "embedding"; request: EmbeddingGeneration };

/** A failure as it crosses the worker boundary: the protocol code survives, so the typed error can be rebuilt. */
export interface RemoteError {
  name: string;
  message: string;
  code?: string;
}

/** Main thread → worker. Generation is pull-based: the worker yields one event per `next`. */
export type WorkerRequest =
  | { type: "load"; spec: EngineLoadSpec }
  | ({ type: "generate"; id: number; maxTotalTokens?: number } & WorkerGeneration)
  | { type: "next"; id: number }
  | { type: "cancel"; id: number }
  | { type: "close" };

/** Worker → main thread. */
export type WorkerResponse =
  | { type: "progress"; loaded: number; total: number }
  | { type: "loaded"; engine: string; models: ServedModel[] }
  | { type: "load-failed"; error: RemoteError }
  | { type: "event"; id: number; event: GenerationEvent | EmbeddingEvent }
  | { type: "end"; id: number }
  | { type: "error"; id: number; error: RemoteError }
  | { type: "closed" };
