import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import type { HardwareProfile } from "./hardware-profile.js";
import { hardwareProfile } from "./hardware-profile.js";

/**
 * The machine as node-llama-cpp sees it before any model is loaded: its GPU (CUDA, Metal or Vulkan)
 * and VRAM, or none, with the CPU, RAM and the free disk where models are cached.
 */
export async function probeHardware(options: { cacheDir: string; gpu?: false | "auto" }): Promise<HardwareProfile> {
  const llama = await getLlama({ gpu: options.gpu ?? "auto", build: "never", logLevel: LlamaLogLevel.error }).catch(() =>
    getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error }),
  );
  try {
    const gpu = llama.gpu === false ? null : { type: llama.gpu, totalVramBytes: (await llama.getVramState()).total };
    return hardwareProfile(gpu, options.cacheDir);
  } finally {
    await llama.dispose();
  }
}
