import type { ModelCluster } from "@opengateway/protocol";
import { clusterForModelFile, clustersForMemory } from "@opengateway/protocol";
import type { ModelOffer } from "./model-offer.js";

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
/** wllama reads each GGUF file into one ArrayBuffer: larger models must be split. */
export const WLLAMA_MAX_FILE_BYTES = 2 * GIB;
/** 32-bit WebAssembly memory tops out at 4 GiB; keep headroom for the runtime itself. */
const WASM_MEMORY_BUDGET_BYTES = 3.5 * GIB;
/** What a browser reports when it will not say (Firefox, Safari): assume a small device. */
const UNKNOWN_DEVICE_MEMORY_BYTES = 2 * GIB;
/** Weights plus KV cache and compute buffers for a working context. */
const RUNTIME_OVERHEAD_FACTOR = 1.25;
const RUNTIME_OVERHEAD_BYTES = 64 * MIB;

export interface WebGpuProbe {
  /** A software adapter (SwiftShader, WARP): WebGPU works but is slower than WebAssembly. */
  isFallbackAdapter: boolean;
  features: string[];
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  vendor: string;
  architecture: string;
}

/** What this browser and device offer, asked of the browser rather than assumed. */
export interface DeviceProbe {
  /** null: no WebGPU, or no adapter granted. */
  webgpu: WebGpuProbe | null;
  /** `navigator.deviceMemory` in bytes (coarse, capped by browsers); null where the browser does not say. */
  deviceMemoryBytes: number | null;
  hardwareConcurrency: number;
  /** Threads in WebAssembly need SharedArrayBuffer, which needs cross-origin isolation (COOP/COEP). */
  crossOriginIsolated: boolean;
}

interface NavigatorLike {
  gpu?: { requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<GPUAdapter | null> };
  deviceMemory?: number;
  hardwareConcurrency?: number;
}

/** Probes WebGPU (adapter, features, limits), memory and threading, in a window or a worker. */
export async function probeDevice(
  options: { navigator?: NavigatorLike; crossOriginIsolated?: boolean; signal?: AbortSignal } = {},
): Promise<DeviceProbe> {
  const nav = options.navigator ?? (globalThis.navigator as unknown as NavigatorLike);
  let webgpu: WebGpuProbe | null = null;
  try {
    const adapter = await nav.gpu?.requestAdapter({ powerPreference: "high-performance" });
    options.signal?.throwIfAborted();
    if (adapter) {
      webgpu = {
        isFallbackAdapter: adapter.info.isFallbackAdapter === true,
        features: [...adapter.features].map(String).sort(),
        maxBufferSize: adapter.limits.maxBufferSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        vendor: adapter.info.vendor,
        architecture: adapter.info.architecture,
      };
    }
  } catch (error) {
    if (options.signal?.aborted) throw error;
    // A browser that exposes navigator.gpu but refuses an adapter simply has no WebGPU for us.
    webgpu = null;
  }
  return {
    webgpu,
    deviceMemoryBytes: typeof nav.deviceMemory === "number" ? nav.deviceMemory * GIB : null,
    hardwareConcurrency: nav.hardwareConcurrency ?? 1,
    crossOriginIsolated: options.crossOriginIsolated ?? globalThis.crossOriginIsolated === true,
  };
}

export type EngineKind = "webllm" | "wllama";

/** Why one offered model can or cannot be served here, and by which engine. */
export interface ModelVerdict {
  id: string;
  engine: EngineKind | null;
  reason: string;
}

export type EngineDecision =
  | {
      serve: true;
      engine: EngineKind;
      offer: ModelOffer;
      sizeBytes: number;
      /** Model clusters this tab joins: its model's, plus those its memory allows. */
      clusters: ModelCluster[];
      /** WebAssembly threads for wllama. */
      threads: number;
      verdicts: ModelVerdict[];
    }
  | { serve: false; reason: string; verdicts: ModelVerdict[] };

/** Memory this tab may give a model: a quarter of the device, and never more than 32-bit WebAssembly can hold. */
export function memoryBudgetBytes(probe: DeviceProbe): number {
  return Math.min((probe.deviceMemoryBytes ?? UNKNOWN_DEVICE_MEMORY_BYTES) / 4, WASM_MEMORY_BUDGET_BYTES);
}

/**
 * Picks the first offered model this tab can really serve, and its engine: WebLLM only on a real
 * (non-fallback) WebGPU adapter with the model's required features and limits, and only where the
 * operator configured WebLLM artifacts; wllama (WebAssembly) otherwise, if the GGUF file fits.
 */
export function chooseEngine(probe: DeviceProbe, offers: readonly ModelOffer[]): EngineDecision {
  const budget = memoryBudgetBytes(probe);
  const verdicts: ModelVerdict[] = [];
  for (const offer of offers) {
    const webllm = webLlmVerdict(probe, offer);
    const wllama = webllm.ok ? undefined : wllamaVerdict(offer, budget);
    const verdict: ModelVerdict = webllm.ok
      ? { id: offer.id, engine: "webllm", reason: webllm.reason }
      : wllama?.ok
        ? { id: offer.id, engine: "wllama", reason: `${wllama.reason} (WebLLM: ${webllm.reason})` }
        : { id: offer.id, engine: null, reason: `WebLLM: ${webllm.reason}; wllama: ${wllama?.reason ?? "not tried"}` };
    verdicts.push(verdict);
  }
  const chosen = verdicts.find((verdict) => verdict.engine !== null);
  const offer = offers.find((candidate) => candidate.id === chosen?.id);
  if (chosen?.engine == null || offer === undefined) {
    return {
      serve: false,
      reason: offers.length === 0 ? "no models are configured" : "no offered model fits this device",
      verdicts,
    };
  }
  const sizeBytes =
    chosen.engine === "webllm"
      ? (offer.webllm?.record.vram_required_MB ?? 0) * MIB || (offer.sizeBytes ?? 0)
      : (offer.sizeBytes ?? 0);
  return {
    serve: true,
    engine: chosen.engine,
    offer,
    sizeBytes,
    clusters: [...new Set<ModelCluster>([clusterForModelFile(sizeBytes), ...clustersForMemory(budget)])].sort(),
    threads: probe.crossOriginIsolated ? Math.max(1, Math.min(4, Math.floor(probe.hardwareConcurrency / 2))) : 1,
    verdicts,
  };
}

function webLlmVerdict(probe: DeviceProbe, offer: ModelOffer): { ok: boolean; reason: string } {
  const record = offer.webllm?.record;
  if (record === undefined) return { ok: false, reason: "no WebLLM artifacts configured" };
  const gpu = probe.webgpu;
  if (gpu === null) return { ok: false, reason: "no WebGPU adapter" };
  if (gpu.isFallbackAdapter) return { ok: false, reason: "the WebGPU adapter is a software fallback" };
  const missing = (record.required_features ?? []).filter((feature: string) => !gpu.features.includes(feature));
  if (missing.length > 0) return { ok: false, reason: `the adapter lacks ${missing.join(", ")}` };
  if (record.buffer_size_required_bytes !== undefined && record.buffer_size_required_bytes > gpu.maxStorageBufferBindingSize) {
    return { ok: false, reason: "the adapter's storage buffers are too small" };
  }
  const vram = (record.vram_required_MB ?? 0) * MIB;
  // WebGPU does not report video memory; the device's memory is the only honest bound we have.
  if (vram > (probe.deviceMemoryBytes ?? UNKNOWN_DEVICE_MEMORY_BYTES) / 2) {
    return { ok: false, reason: `needs ${Math.round(vram / MIB)} MiB of GPU memory` };
  }
  return { ok: true, reason: `WebGPU adapter ${gpu.vendor || "unknown vendor"} has what ${record.model_id} needs` };
}

function wllamaVerdict(offer: ModelOffer, budget: number): { ok: boolean; reason: string } {
  if (offer.url === undefined) return { ok: false, reason: "no GGUF URL configured" };
  if (offer.sizeBytes === undefined) return { ok: false, reason: "the GGUF file's size is unknown" };
  if (offer.sizeBytes > WLLAMA_MAX_FILE_BYTES) return { ok: false, reason: "the GGUF file is over 2 GiB (split it)" };
  const needed = offer.sizeBytes * RUNTIME_OVERHEAD_FACTOR + RUNTIME_OVERHEAD_BYTES;
  if (needed > budget) {
    return { ok: false, reason: `needs about ${Math.ceil(needed / MIB)} MiB, this tab may use ${Math.floor(budget / MIB)} MiB` };
  }
  return { ok: true, reason: "wllama (WebAssembly, CPU)" };
}
