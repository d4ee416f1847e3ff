import { availableParallelism } from "node:os";
import type { Libp2p } from "@libp2p/interface";
import type { InferenceServedEvent } from "@opengateway/p2p";
import { createLibp2pNode, inferenceService, nodeInfoService } from "@opengateway/p2p";
import type { Identity } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import { LlamaCppEngine } from "./llama-cpp-engine.js";
import { modelIdFromSpec, resolveModel } from "./model-source.js";

export const FULL_NODE_AGENT = "opengateway-full-node/0.1.0";

export interface StartFullNodeOptions {
  /** Path to a GGUF file, or an `hf:` URI downloaded into `cacheDir`. */
  model: string;
  modelAlias?: string;
  cacheDir: string;
  listen?: string[];
  bootstrap?: string[];
  identity?: Identity;
  region?: string | null;
  /** Defaults to all cores but one (at least one): generation must not starve the network loop. */
  threads?: number;
  parallelRequests?: number;
  maxQueuedRequests?: number;
  contextSize?: number;
  gpu?: false | "auto";
  /** After the first token, streamed text is coalesced for this long into one frame. */
  deltaBatchMs?: number;
  onServed?: (event: InferenceServedEvent) => void;
  showDownloadProgress?: boolean;
}

export interface FullNode {
  readonly identity: Identity;
  readonly libp2p: Libp2p;
  readonly engine: LlamaCppEngine;
  readonly modelPath: string;
  addresses(): string[];
  stop(): Promise<void>;
}

export function defaultThreadCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Loads the model, then joins the network serving it over `/opengateway/infer/1.0.0`. */
export async function startFullNode(options: StartFullNodeOptions): Promise<FullNode> {
  const identity = options.identity ?? generateIdentity();
  const modelPath = await resolveModel(options.model, {
    cacheDir: options.cacheDir,
    showProgress: options.showDownloadProgress,
  });
  const engine = await LlamaCppEngine.load({
    modelPath,
    modelId: options.modelAlias ?? modelIdFromSpec(modelPath),
    threads: options.threads ?? defaultThreadCount(),
    parallelRequests: options.parallelRequests,
    maxQueuedRequests: options.maxQueuedRequests,
    contextSize: options.contextSize,
    gpu: options.gpu,
  });
  try {
    const libp2p = await createLibp2pNode({
      identity,
      listen: options.listen,
      bootstrap: options.bootstrap,
      services: {
        inference: inferenceService({ engine, identity, onServed: options.onServed, deltaBatchMs: options.deltaBatchMs }),
        nodeInfo: nodeInfoService({
          getInfo: () => ({
            v: 1,
            agent: FULL_NODE_AGENT,
            engine: engine.name,
            region: options.region ?? null,
            models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
            activeRequests: engine.activeRequests,
            maxConcurrentRequests: engine.parallelRequests,
          }),
        }),
      },
    });
    return {
      identity,
      libp2p,
      engine,
      modelPath,
      addresses: () => libp2p.getMultiaddrs().map((address) => address.toString()),
      stop: async () => {
        await libp2p.stop();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}
