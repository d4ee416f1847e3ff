import type { DeviceProbe, EngineDecision } from "./engine-choice.js";
import { chooseEngine } from "./engine-choice.js";
import type { EngineLoadSpec } from "./engine-worker-protocol.js";
import { measureTokensPerSecond } from "./measure-tokens-per-second.js";
import type { ModelOffer } from "./model-offer.js";
import type { WorkerLike } from "./worker-engine.js";
import { WorkerEngine } from "./worker-engine.js";

export interface LoadEngineOptions {
  probe: DeviceProbe;
  /** Models the operator offers; the first one this device really can serve is loaded. */
  offers: readonly ModelOffer[];
  /** URL of wllama's WebAssembly file. */
  wllamaWasmUrl: string;
  /** The contributor's parallel requests: wllama keeps as many sequences (at least two). */
  maxConcurrentRequests: number;
  createWorker?: () => WorkerLike;
  signal: AbortSignal;
  /** The engine and model chosen (or why none can be), before anything is downloaded. */
  onDecision?: (decision: EngineDecision) => void;
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** The model is loaded; a warm-up generation measures its speed next. */
  onWarmingUp?: () => void;
}

export interface LoadedEngine {
  engine: WorkerEngine;
  /** Measured by the warm-up generation. */
  tokensPerSecond: number;
}

/**
 * Chooses what this tab can really serve (file sizes probed, not assumed), loads it in the engine
 * worker and times a warm-up generation. Undefined when the device can serve none of the offers.
 */
export async function loadEngine(options: LoadEngineOptions): Promise<LoadedEngine | undefined> {
  const { signal } = options;
  const offers = await Promise.all(options.offers.map((offer) => withProbedSize(offer, signal)));
  const decision = chooseEngine(options.probe, offers);
  options.onDecision?.(decision);
  if (!decision.serve) return undefined;
  const engine = await WorkerEngine.start({
    spec: loadSpec(decision, options),
    worker: options.createWorker?.(),
    signal,
    onProgress: options.onProgress,
  });
  try {
    options.onWarmingUp?.();
    const speed = await measureTokensPerSecond(engine, { model: decision.offer.id, signal });
    return { engine, tokensPerSecond: speed.tokensPerSecond };
  } catch (error) {
    await engine.close().catch(() => {});
    throw error;
  }
}

function loadSpec(
  decision: Extract<EngineDecision, { serve: true }>,
  options: Pick<LoadEngineOptions, "wllamaWasmUrl" | "maxConcurrentRequests">,
): EngineLoadSpec {
  const { offer } = decision;
  if (decision.engine === "webllm" && offer.webllm) {
    return {
      engine: "webllm",
      modelId: offer.id,
      webllm: offer.webllm,
      contextSize: offer.contextSize,
      pricePerToken: offer.pricePerToken,
    };
  }
  return {
    engine: "wllama",
    modelId: offer.id,
    modelUrl: new URL(offer.url ?? "", globalThis.location?.href).href,
    wasmUrl: new URL(options.wllamaWasmUrl, globalThis.location?.href).href,
    threads: decision.threads,
    parallelRequests: Math.max(2, options.maxConcurrentRequests),
    contextSize: offer.contextSize,
    pricePerToken: offer.pricePerToken,
  };
}

/** The offered GGUF file's size, asked of its server when the config does not say: sizes are probed, not assumed. */
async function withProbedSize(offer: ModelOffer, signal: AbortSignal): Promise<ModelOffer> {
  if (offer.sizeBytes !== undefined || offer.url === undefined) return offer;
  try {
    const response = await fetch(new URL(offer.url, globalThis.location?.href), { method: "HEAD", signal });
    const length = Number(response.headers.get("content-length"));
    return response.ok && Number.isFinite(length) && length > 0 ? { ...offer, sizeBytes: length } : offer;
  } catch {
    return offer;
  }
}
