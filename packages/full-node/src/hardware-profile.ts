import { availableParallelism, cpus, freemem, totalmem } from "node:os";
import type { ModelCluster } from "@opengateway/protocol";
import { clustersForMemory } from "@opengateway/protocol";

export interface HardwareProfile {
  cpuModel: string;
  cores: number;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
  /** Video memory when a GPU is in use (null on CPU). */
  gpu: { type: string; totalVramBytes: number } | null;
  /** Clusters whose models fit the memory this node can give them. */
  clusters: ModelCluster[];
}

/**
 * What this machine can serve. With a GPU the clusters follow its VRAM; on CPU they follow the
 * RAM the system has (models are memory-mapped, so total rather than momentarily free memory).
 */
export function hardwareProfile(gpu: HardwareProfile["gpu"]): HardwareProfile {
  const totalMemoryBytes = totalmem();
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    totalMemoryBytes,
    freeMemoryBytes: freemem(),
    gpu,
    clusters: clustersForMemory(gpu ? gpu.totalVramBytes : totalMemoryBytes),
  };
}
