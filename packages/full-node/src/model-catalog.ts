import type { ModelCluster } from "@opengateway/protocol";
import { clusterForModelFile } from "@opengateway/protocol";
import type { HardwareProfile } from "./hardware-profile.js";

/** A model `opengateway setup` and `models recommend` can suggest: a 4-bit GGUF on Hugging Face. */
export interface CatalogModel {
  /** What clients ask for (the file name without `.gguf`). */
  readonly id: string;
  readonly uri: string;
  /** The GGUF file's size, which decides its cluster and the memory it needs. */
  readonly fileBytes: number;
  readonly summary: string;
}

const GB = 1e9;
const GIB = 1024 ** 3;

/** Instruction-tuned models at Q4_K_M, smallest first: one or two per cluster. */
export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    id: "Llama-3.2-1B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    fileBytes: 0.81 * GB,
    summary: "1B, fast on any CPU; browser-sized (cluster A)",
  },
  {
    id: "Qwen2.5-3B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Qwen2.5-3B-Instruct-GGUF/Qwen2.5-3B-Instruct-Q4_K_M.gguf",
    fileBytes: 1.93 * GB,
    summary: "3B, good on a laptop",
  },
  {
    id: "Meta-Llama-3.1-8B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
    fileBytes: 4.92 * GB,
    summary: "8B, the usual choice for an 8 GB GPU",
  },
  {
    id: "Qwen2.5-14B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Qwen2.5-14B-Instruct-GGUF/Qwen2.5-14B-Instruct-Q4_K_M.gguf",
    fileBytes: 8.99 * GB,
    summary: "14B, for a 12-16 GB GPU",
  },
  {
    id: "Qwen2.5-32B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Qwen2.5-32B-Instruct-GGUF/Qwen2.5-32B-Instruct-Q4_K_M.gguf",
    fileBytes: 19.85 * GB,
    summary: "32B, for a 24 GB GPU",
  },
  {
    id: "Llama-3.3-70B-Instruct-Q4_K_M",
    uri: "hf:bartowski/Llama-3.3-70B-Instruct-GGUF/Llama-3.3-70B-Instruct-Q4_K_M.gguf",
    fileBytes: 42.5 * GB,
    summary: "70B, for 48 GB of VRAM or more",
  },
];

/** Largest file a CPU-only machine is advised to serve: bigger ones answer at a word a second. */
const CPU_MAX_FILE_BYTES = 5.5 * GIB;

export interface ModelAssessment {
  readonly model: CatalogModel;
  readonly cluster: ModelCluster;
  /** Memory it needs to serve with a working context. */
  readonly memoryBytes: number;
  /** It fits the memory it would run in (VRAM with a GPU, else RAM) and the free disk. */
  readonly fits: boolean;
  /** Why it does not fit, or why it is not advised; null when it fits. */
  readonly reason: string | null;
}

/** The memory a model file needs when served: the weights plus room for the context and the runtime. */
export function modelMemoryBytes(fileBytes: number): number {
  return Math.ceil(fileBytes * 1.2 + 0.5 * GIB);
}

const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/**
 * What this machine can serve from the catalog, and which one to pick: the largest that fits
 * (on CPU, no larger than an 8B model). With a GPU a model runs in VRAM; on CPU in at most
 * three quarters of the RAM, leaving the rest to the system.
 */
export function assessModels(
  hardware: Pick<HardwareProfile, "gpu" | "totalMemoryBytes" | "freeDiskBytes">,
  catalog: readonly CatalogModel[] = MODEL_CATALOG,
): { models: ModelAssessment[]; recommended: CatalogModel | null } {
  const memory = hardware.gpu ? hardware.gpu.totalVramBytes : hardware.totalMemoryBytes * 0.75;
  const where = hardware.gpu ? "VRAM" : "usable RAM";
  const models = catalog.map((model): ModelAssessment => {
    const memoryBytes = modelMemoryBytes(model.fileBytes);
    let reason: string | null = null;
    if (memoryBytes > memory) reason = `needs ${gib(memoryBytes)} of ${where}; this machine has ${gib(memory)}`;
    else if (hardware.freeDiskBytes !== null && model.fileBytes + GIB > hardware.freeDiskBytes)
      reason = `needs ${gib(model.fileBytes + GIB)} of disk; ${gib(hardware.freeDiskBytes)} is free`;
    else if (!hardware.gpu && model.fileBytes > CPU_MAX_FILE_BYTES) reason = "too slow without a GPU";
    return { model, cluster: clusterForModelFile(model.fileBytes), memoryBytes, fits: reason === null, reason };
  });
  const recommended = models.filter((entry) => entry.fits).at(-1)?.model ?? null;
  return { models, recommended };
}
