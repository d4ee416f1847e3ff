/**
 * Recent generation speed, as an exponentially weighted average of tokens/s over finished
 * requests: what adverts report, so routers can prefer fast providers.
 */
export class ThroughputMeter {
  #tokensPerSecond: number | null = null;
  readonly #weight: number;

  constructor(options: { weight?: number } = {}) {
    this.#weight = options.weight ?? 0.2;
  }

  record(tokens: number, durationMs: number): void {
    if (tokens <= 0 || durationMs <= 0) return;
    const rate = (tokens * 1000) / durationMs;
    this.#tokensPerSecond =
      this.#tokensPerSecond === null ? rate : this.#tokensPerSecond * (1 - this.#weight) + rate * this.#weight;
  }

  get tokensPerSecond(): number | null {
    return this.#tokensPerSecond === null ? null : Math.round(this.#tokensPerSecond);
  }
}
