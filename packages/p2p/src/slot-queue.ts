/** One request waiting for a provider slot. */
export interface SlotWaiter {
  readonly resume: boolean;
  wake?: () => void;
}

/**
 * The router's waiting room: requests that found every provider slot taken. When a slot frees,
 * every waiter is woken in priority order (streams resuming first, then the rest first come first
 * served) and re-tries in that order, so a woken waiter takes the slot before a newcomer can.
 */
export class SlotQueue {
  readonly #resuming: SlotWaiter[] = [];
  readonly #fresh: SlotWaiter[] = [];

  get size(): number {
    return this.#resuming.length + this.#fresh.length;
  }

  add(resume: boolean): SlotWaiter {
    const waiter: SlotWaiter = { resume };
    (resume ? this.#resuming : this.#fresh).push(waiter);
    return waiter;
  }

  remove(waiter: SlotWaiter): void {
    const list = waiter.resume ? this.#resuming : this.#fresh;
    const index = list.indexOf(waiter);
    if (index >= 0) list.splice(index, 1);
  }

  /** Resolves when a slot may have freed, after `ms`, or rejects when `signal` aborts. */
  wait(waiter: SlotWaiter, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        waiter.wake = undefined;
      };
      const done = (): void => {
        settle();
        resolve();
      };
      const onAbort = (): void => {
        settle();
        reject(signal?.reason);
      };
      const timer = setTimeout(done, ms);
      waiter.wake = done;
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** A slot may have freed: wake every waiter, resuming streams first. */
  notify(): void {
    for (const waiter of [...this.#resuming, ...this.#fresh]) waiter.wake?.();
  }
}
