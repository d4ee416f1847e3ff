import { statfsSync } from "node:fs";
import { availableParallelism, cpus, freemem, totalmem } from "node:os";
import { dirname, resolve } from "node:path";
import type { ModelCluster } from "@opengateway/protocol";
import { clustersForMemory } from "@opengateway/protocol";

export interface HardwareProfile {
  cpuModel: string;
  cores: number;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
  /** Free disk space where models are cached (null when it cannot be read). */
  freeDiskBytes: number | null;
  /** Video memory when a GPU is in use (null on CPU). */
  gpu: { type: string; totalVramBytes: number } | null;
  /** Clusters whose models fit the memory this node can give them. */
  clusters: ModelCluster[];
}

/**
 * What this machine can serve. With a GPU the clusters follow its VRAM; on CPU they follow the
 * RAM the system has (models are memory-mapped, so total rather than momentarily free memory).
 */
export function hardwareProfile(gpu: HardwareProfile["gpu"], modelCacheDir = "."): HardwareProfile {
  const totalMemoryBytes = totalmem();
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    totalMemoryBytes,
    freeMemoryBytes: freemem(),
    freeDiskBytes: freeDisk(modelCacheDir),
    gpu,
    clusters: clustersForMemory(gpu ? gpu.totalVramBytes : totalMemoryBytes),
  };
}

/** Free space on the file system that holds `path` (or its nearest existing parent). */
function freeDisk(path: string): number | null {
  for (let current = resolve(path); ; current = dirname(current)) {
    try {
      const stats = statfsSync(current);
      return stats.bavail * stats.bsize;
    } catch {
      if (dirname(current) === current) return null;
    }
  }
}
