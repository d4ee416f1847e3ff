import { basename } from "node:path";
import type { Llama, LlamaContext, LlamaModel } from "node-llama-cpp";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const MAX_DEFAULT_CONTEXT = 4096;

export interface ModelContextOptions {
  modelPath: string;
  threads: number;
  /** `false` = CPU only; `"auto"` = use a GPU where node-llama-cpp finds one. */
  gpu?: false | "auto";
  /** Context sequences: requests (or audits) evaluated at once. */
  sequences: number;
  /** Tokens of context per sequence; defaults to the model's training size, capped at 4096. */
  contextSize?: number;
  /** Tokens evaluated per batch; node-llama-cpp's default when unset. */
  batchSize?: number;
}

export interface ModelContext {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
}

/** Loads a GGUF file into a context, as the engine and the auditor both run it; frees everything if a step fails. */
export async function loadModelContext(options: ModelContextOptions): Promise<ModelContext> {
  const llama = await getLlama({
    gpu: options.gpu ?? false,
    build: "never",
    maxThreads: options.threads,
    logLevel: LlamaLogLevel.error,
  });
  try {
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const context = await model.createContext({
      sequences: options.sequences,
      contextSize: options.contextSize ?? Math.min(model.trainContextSize, MAX_DEFAULT_CONTEXT),
      batchSize: options.batchSize,
      threads: options.threads,
    });
    return { llama, model, context };
  } catch (error) {
    await llama.dispose();
    throw error;
  }
}

/** The id clients ask for by default: the file name without `.gguf`. */
export function modelIdFromPath(modelPath: string): string {
  return basename(modelPath).replace(/\.gguf$/i, "");
}
