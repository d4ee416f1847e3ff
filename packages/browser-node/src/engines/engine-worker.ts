/**
 * The engine's Web Worker: generation never blocks the page (or the libp2p node on its main
 * thread). It serves the engine the main thread chose (serve-engine-worker.ts).
 */
import type { EngineLoadSpec } from "./engine-worker-protocol.js";
import type { WorkerScope } from "./serve-engine-worker.js";
import { serveEngineWorker } from "./serve-engine-worker.js";
import { WebLlmEngine } from "./web-llm-engine.js";
import { WllamaEngine } from "./wllama-engine.js";

function loadEngine(spec: EngineLoadSpec, onProgress: (progress: { loaded: number; total: number }) => void) {
  return spec.engine === "wllama"
    ? WllamaEngine.load({
        modelId: spec.modelId,
        modelUrl: spec.modelUrl,
        wasmUrl: spec.wasmUrl,
        threads: spec.threads,
        parallelRequests: spec.parallelRequests,
        contextSize: spec.contextSize,
        pricePerToken: spec.pricePerToken,
        onProgress,
      })
    : WebLlmEngine.load({
        modelId: spec.modelId,
        record: spec.webllm.record,
        contextSize: spec.contextSize,
        pricePerToken: spec.pricePerToken,
        onProgress,
      });
}

serveEngineWorker(globalThis as unknown as WorkerScope, loadEngine);
