import type { GenerationEvent, InferenceEngine, ServedModel } from "@opengateway/protocol";

/** A stand-in engine serving one model: chat and completion both run `generate`; it embeds nothing. */
export function generatorEngine(
  name: string,
  model: ServedModel,
  generate: () => AsyncGenerator<GenerationEvent>,
): InferenceEngine {
  return {
    name,
    listModels: () => [model],
    generateChat: generate,
    generateCompletion: generate,
    embed: () => {
      throw new Error("unused");
    },
    close: async () => {},
  };
}
