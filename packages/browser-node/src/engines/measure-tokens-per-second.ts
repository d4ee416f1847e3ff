import type { InferenceEngine } from "@opengateway/protocol";

export interface SpeedMeasurement {
  tokensPerSecond: number;
  completionTokens: number;
  /** From the request to the first generated text. */
  firstTokenMs: number;
  totalMs: number;
}

const WARM_UP_PROMPT = "Once upon a time";

/**
 * A short real generation on the loaded model, timed end to end (prompt included, so the figure
 * advertised is what a client would see, not a best case). An untimed first run warms the
 * engine (its first generation pays one-off set-up no later request pays).
 */
export async function measureTokensPerSecond(
  engine: InferenceEngine,
  options: { model: string; maxTokens?: number; signal?: AbortSignal; now?: () => number },
): Promise<SpeedMeasurement> {
  const now = options.now ?? (() => performance.now());
  const model = engine.listModels().find((candidate) => candidate.id === options.model);
  const maxTokens = Math.max(1, Math.min(options.maxTokens ?? 128, (model?.contextSize ?? 128) - 16));
  const warmUp = {
    model: options.model,
    prompt: WARM_UP_PROMPT,
    maxTokens: Math.min(8, maxTokens),
    temperature: 0,
    topP: 1,
    seed: 0,
    stop: [],
  };
  for await (const _ of engine.generateCompletion(warmUp, { signal: options.signal })) {
    // Only its side effect matters: the engine is warm afterwards.
  }
  const started = now();
  let firstTokenAt: number | undefined;
  let completionTokens = 0;
  for await (const event of engine.generateCompletion(
    { model: options.model, prompt: WARM_UP_PROMPT, maxTokens, temperature: 0, topP: 1, seed: 0, stop: [] },
    { signal: options.signal },
  )) {
    if (event.type === "text") firstTokenAt ??= now();
    if (event.type === "done") completionTokens = event.usage.completionTokens;
  }
  const totalMs = Math.max(1, now() - started);
  return {
    tokensPerSecond: Math.round((completionTokens * 1000) / totalMs),
    completionTokens,
    firstTokenMs: (firstTokenAt ?? now()) - started,
    totalMs,
  };
}
