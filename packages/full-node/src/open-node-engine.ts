import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { LlamaCppEngine } from "./llama-cpp-engine.js";
import type { DownloadProgress } from "./model-source.js";
import { modelIdFromSpec, resolveModel } from "./model-source.js";
import type { UpstreamEngineOptions } from "./upstream/upstream-engine.js";
import { UpstreamEngine } from "./upstream/upstream-engine.js";

/** The engines a full node serves with: a model it loads itself, or an OpenAI-compatible server in front of it. */
export type NodeEngine = LlamaCppEngine | UpstreamEngine;

export interface NodeEngineOptions {
  /** Path to a GGUF file, or an `hf:` URI downloaded into `cacheDir`. Absent with `upstream`. */
  model?: string;
  modelAlias?: string;
  /** Serve through this OpenAI-compatible server instead of loading `model`. */
  upstream?: Omit<UpstreamEngineOptions, "parallelRequests" | "maxQueuedRequests" | "contextSize" | "pricePerToken">;
  cacheDir: string;
  /** Defaults to all cores but one (at least one): generation must not starve the network loop. */
  threads?: number;
  parallelRequests?: number;
  maxQueuedRequests?: number;
  contextSize?: number;
  gpu?: false | "auto";
  pricePerToken?: number;
  showDownloadProgress?: boolean;
  /** Reports a model download (instead of node-llama-cpp's own bar). */
  onDownloadProgress?: (progress: DownloadProgress) => void;
}

export interface OpenedNodeEngine {
  readonly engine: NodeEngine;
  /** The GGUF file served, or the upstream's URL. */
  readonly modelPath: string;
  /** The model file's size (what decides the node's cluster); 0 where an upstream does not say. */
  readonly modelBytes: number;
}

/** All cores but one (at least one): generation must not starve the network loop. */
export function defaultThreadCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Loads the node's model, or connects to its upstream. */
export async function openNodeEngine(
  options: NodeEngineOptions,
  { signal }: { signal?: AbortSignal } = {},
): Promise<OpenedNodeEngine> {
  const shared = {
    parallelRequests: options.parallelRequests,
    maxQueuedRequests: options.maxQueuedRequests,
    contextSize: options.contextSize,
    pricePerToken: options.pricePerToken,
  };
  if (options.upstream !== undefined) {
    if (options.model !== undefined) throw new Error("a node serves either a model file or an upstream, not both");
    const engine = await UpstreamEngine.connect({ ...options.upstream, ...shared }, { signal });
    return { engine, modelPath: engine.baseURL, modelBytes: engine.modelSizeBytes ?? 0 };
  }
  if (options.model === undefined) throw new Error("a node needs a model file or an upstream");
  const modelPath = await resolveModel(options.model, {
    cacheDir: options.cacheDir,
    showProgress: options.showDownloadProgress,
    onProgress: options.onDownloadProgress,
    signal,
  });
  const engine = await LlamaCppEngine.load({
    modelPath,
    modelId: options.modelAlias ?? modelIdFromSpec(modelPath),
    threads: options.threads ?? defaultThreadCount(),
    gpu: options.gpu,
    ...shared,
  });
  return { engine, modelPath, modelBytes: (await stat(modelPath)).size };
}
