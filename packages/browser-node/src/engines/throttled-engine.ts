import type * as Engine from "@opengateway/protocol";
import { OverloadedError } from "@opengateway/protocol";

export interface ThrottledEngineOptions {
  maxConcurrentRequests: number;
  /** Called whenever the number of requests in progress changes. */
  onChange?: () => void;
  now?: () => number;
}

/** Window over which the live generation speed is measured. */
const LIVE_WINDOW_MS = 10_000;

/**
 * The contributor's throttle in front of the engine: at most N requests at once, and none at
 * all while contribution is paused (or the tab is hidden, if the contributor asked for that).
 * A refused request fails before any token as `overloaded`, so a router simply tries another
 * provider. It also measures the live generation speed from the tokens that pass through.
 */
export class ThrottledEngine implements Engine.InferenceEngine {
  readonly #inner: Engine.InferenceEngine;
  readonly #options: ThrottledEngineOptions;
  readonly #now: () => number;
  #maxConcurrent: number;
  #active = 0;
  #pausedBecause: string | null = null;
  /** Token counts of the last window, as [timestamp, tokens]. */
  readonly #recent: Array<[number, number]> = [];

  constructor(inner: Engine.InferenceEngine, options: ThrottledEngineOptions) {
    this.#inner = inner;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#maxConcurrent = Math.max(1, Math.floor(options.maxConcurrentRequests));
  }

  get name(): string {
    return this.#inner.name;
  }

  get activeRequests(): number {
    return this.#active;
  }

  get maxConcurrentRequests(): number {
    return this.#maxConcurrent;
  }

  set maxConcurrentRequests(value: number) {
    this.#maxConcurrent = Math.max(1, Math.floor(value));
  }

  /** Why new requests are refused, or null while they are taken. */
  get pausedBecause(): string | null {
    return this.#pausedBecause;
  }

  pause(reason: string): void {
    this.#pausedBecause = reason;
  }

  resume(): void {
    this.#pausedBecause = null;
  }

  /** Tokens generated per second over the last few seconds (0 when idle). */
  liveTokensPerSecond(): number {
    const now = this.#now();
    while (this.#recent.length > 0 && (this.#recent[0]?.[0] ?? now) < now - LIVE_WINDOW_MS) this.#recent.shift();
    const first = this.#recent[0];
    if (first === undefined) return 0;
    const tokens = this.#recent.reduce((sum, [, count]) => sum + count, 0);
    // A burst shorter than a second is measured over a second, not extrapolated.
    return tokens / Math.max(1, (now - first[0]) / 1000);
  }

  listModels(): readonly Engine.ServedModel[] {
    return this.#inner.listModels();
  }

  generateChat(request: Engine.ChatGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#gate(() => this.#inner.generateChat(request, options));
  }

  generateCompletion(request: Engine.CompletionGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#gate(() => this.#inner.generateCompletion(request, options));
  }

  embed(request: Engine.EmbeddingGeneration, options: Engine.GenerateOptions = {}): Engine.EmbeddingStream {
    return this.#gate(() => this.#inner.embed(request, options));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async *#gate<T extends Engine.GenerationEvent | Engine.EmbeddingEvent>(
    start: () => AsyncIterable<T>,
  ): AsyncGenerator<T, void, undefined> {
    if (this.#pausedBecause !== null)
      throw new OverloadedError(`this browser tab is not taking requests: ${this.#pausedBecause}`);
    if (this.#active >= this.#maxConcurrent) {
      throw new OverloadedError(`this browser tab serves at most ${this.#maxConcurrent} request(s) at once`);
    }
    this.#active++;
    this.#options.onChange?.();
    try {
      for await (const event of start()) {
        if (event.type === "text") this.#recent.push([this.#now(), event.tokens]);
        yield event;
      }
    } finally {
      this.#active--;
      this.#options.onChange?.();
    }
  }
}
