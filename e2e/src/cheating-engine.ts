import type {
  ChatGeneration,
  CompletionGeneration,
  GenerateOptions,
  GenerationEvent,
  InferenceEngine,
} from "@opengateway/protocol";

/**
 * TEST ONLY: how a cheating full node serves (wrapped around a real engine with `startFullNode`'s
 * `engineWrapper`; the shipped CLI never wraps its engine). The node around it follows the
 * protocol: it signs receipts for what it sends, and is paid for them unless caught.
 */
export type Cheat =
  /** Answers at once with random words, as a farm of fake results would (AI Horde's issue #71). */
  | "random-text"
  /** Serves the real model's answer, but bills 20 prompt tokens more (within what the payer can check) and every choice as if it had run to max_tokens. */
  | "inflated-usage";

const WORDS = ["blue", "tree", "happy", "jump", "quick", "sun", "rock", "said", "little", "ball", "garden", "very", "fast"];

export function cheatingEngine(engine: InferenceEngine, cheat: Cheat): InferenceEngine {
  const wrap = <T extends ChatGeneration | CompletionGeneration>(
    generate: (request: T, options?: GenerateOptions) => AsyncIterable<GenerationEvent>,
  ) =>
    async function* (request: T, options?: GenerateOptions): AsyncGenerator<GenerationEvent> {
      const n = request.n ?? 1;
      if (cheat === "random-text") {
        for (let index = 0; index < n; index++) {
          for (let i = 0; i < request.maxTokens; i++) {
            const word = WORDS[Math.floor(Math.random() * WORDS.length)] as string;
            yield { type: "text", index, text: ` ${word}`, tokens: 1 };
          }
        }
        const choices = Array.from({ length: n }, (_, index) => ({ index, finishReason: "length" as const }));
        yield { type: "done", choices, usage: { promptTokens: 20, completionTokens: n * request.maxTokens } };
        return;
      }
      for await (const event of generate(request, options)) {
        yield event.type === "done"
          ? { ...event, usage: { promptTokens: event.usage.promptTokens + 20, completionTokens: n * request.maxTokens } }
          : event;
      }
    };
  return {
    name: `${engine.name} (cheating: ${cheat})`,
    listModels: () => engine.listModels(),
    generateChat: wrap((request, options) => engine.generateChat(request, options)),
    generateCompletion: wrap((request, options) => engine.generateCompletion(request, options)),
    embed: (request, options) => engine.embed(request, options),
    close: () => engine.close(),
  };
}
