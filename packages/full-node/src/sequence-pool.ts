import { CancelledError, OverloadedError } from "@opengateway/protocol";

export interface Lease<T> {
  readonly value: T;
  release(): void;
}

interface Waiter<T> {
  resolve: (lease: Lease<T>) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort: () => void;
}

/**
 * Hands out a fixed set of slots (context sequences) one request at a time, queueing
 * up to `maxQueue` waiters in arrival order and refusing past that.
 */
export class SequencePool<T> {
  readonly #free: T[];
  readonly #waiters: Waiter<T>[] = [];
  readonly #maxQueue: number;
  readonly size: number;

  constructor(slots: readonly T[], options: { maxQueue: number }) {
    this.#free = [...slots];
    this.size = slots.length;
    this.#maxQueue = options.maxQueue;
  }

  get active(): number {
    return this.size - this.#free.length;
  }

  get queued(): number {
    return this.#waiters.length;
  }

  acquire(options: { signal?: AbortSignal } = {}): Promise<Lease<T>> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason ?? new CancelledError());
    const slot = this.#free.pop();
    if (slot !== undefined) return Promise.resolve(this.#lease(slot));
    if (this.#waiters.length >= this.#maxQueue) {
      return Promise.reject(new OverloadedError(`all ${this.size} slots are busy and ${this.#maxQueue} requests are queued`));
    }
    return new Promise<Lease<T>>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(signal?.reason ?? new CancelledError());
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #lease(slot: T): Lease<T> {
    let released = false;
    return {
      value: slot,
      release: () => {
        if (released) return;
        released = true;
        const waiter = this.#waiters.shift();
        if (waiter === undefined) {
          this.#free.push(slot);
          return;
        }
        waiter.signal?.removeEventListener("abort", waiter.onAbort);
        waiter.resolve(this.#lease(slot));
      },
    };
  }
}
