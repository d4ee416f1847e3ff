/**
 * Model clusters by size: A (≤ 1B parameters, browser-capable), B (≤ 8B), C (≤ 34B), D (larger).
 * Sizes are judged from the model file (about 0.6 bytes per parameter at 4-bit quantisation),
 * and a node joins every cluster whose models fit the memory it can give them.
 */
export const MODEL_CLUSTERS = ["A", "B", "C", "D"] as const;
export type ModelCluster = (typeof MODEL_CLUSTERS)[number];

const GIB = 1024 ** 3;
/** Largest model file in each cluster (D has no upper bound). */
const CLUSTER_MAX_FILE_BYTES: Record<Exclude<ModelCluster, "D">, number> = { A: 0.8 * GIB, B: 5.5 * GIB, C: 22 * GIB };
/** Memory needed to serve a cluster's largest model with a working context. */
const CLUSTER_MEMORY_BYTES: Record<ModelCluster, number> = { A: 1.5 * GIB, B: 8 * GIB, C: 28 * GIB, D: 64 * GIB };

export function clusterForModelFile(bytes: number): ModelCluster {
  if (bytes <= CLUSTER_MAX_FILE_BYTES.A) return "A";
  if (bytes <= CLUSTER_MAX_FILE_BYTES.B) return "B";
  if (bytes <= CLUSTER_MAX_FILE_BYTES.C) return "C";
  return "D";
}

/** Every cluster whose largest models fit in the given memory (RAM, or VRAM with a GPU). */
export function clustersForMemory(availableBytes: number): ModelCluster[] {
  return MODEL_CLUSTERS.filter((cluster) => CLUSTER_MEMORY_BYTES[cluster] <= availableBytes);
}
