import { EngineFailedError } from "@opengateway/protocol";

/**
 * Aborts its signal when the upstream stays silent too long: `firstMs` until the first sign of
 * life, `idleMs` between events after that. A slow or hung upstream then fails like a dead one,
 * and the router moves the request on.
 */
export class StallTimer {
  readonly #controller = new AbortController();
  readonly #idleMs: number;
  readonly #describe: string;
  #timer: ReturnType<typeof setTimeout>;

  constructor(options: { firstMs: number; idleMs: number; upstream: string }) {
    this.#idleMs = options.idleMs;
    this.#describe = options.upstream;
    this.#timer = this.#arm(options.firstMs, "no answer");
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The upstream showed life: the idle limit starts again. */
  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = this.#arm(this.#idleMs, "silence");
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #arm(ms: number, what: string): ReturnType<typeof setTimeout> {
    return setTimeout(
      () => this.#controller.abort(new EngineFailedError(`the upstream at ${this.#describe} timed out: ${what} for ${ms} ms`)),
      ms,
    );
  }
}
