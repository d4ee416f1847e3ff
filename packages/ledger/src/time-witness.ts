import type { Identity } from "@opengateway/protocol";
import type { ChainWriter } from "./chain-writer.js";
import { DEFAULT_WITNESS_INTERVAL_MS, DEFAULT_WITNESS_MAX_LAG_MS } from "./constants.js";
import { MAX_WITNESSED_OPENS } from "./ledger-block.js";

export interface TimeWitnessOptions {
  /** Opens that arrive later than this after their timestamp are never stated (default 60 s). */
  maxLagMs?: number;
  /** How often the opens seen are written down (default 1 s). */
  intervalMs?: number;
  now?: () => number;
  /** A write that failed (the sightings stay queued for the next pass). */
  onError?: (error: unknown) => void;
}

/**
 * Runs on a node whose identity is one of the network's time witnesses: states, in `witness`
 * blocks on its own chain, when each open block reached it. It states only opens that arrived
 * within `maxLagMs` of their timestamp, so a backdated open never gets this witness's word, and
 * an open counts (applies, wins a fingerprint contest) from when a quorum of witnesses saw it.
 */
export class TimeWitness {
  readonly #writer: ChainWriter;
  readonly #identity: Identity;
  readonly #options: TimeWitnessOptions;
  /** Open hash → when this witness saw it (not written yet). */
  readonly #seen = new Map<string, number>();
  #unsubscribe: (() => void) | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #flushing: Promise<number> | null = null;

  constructor(writer: ChainWriter, identity: Identity, options: TimeWitnessOptions = {}) {
    this.#writer = writer;
    this.#identity = identity;
    this.#options = options;
  }

  /** Whether this identity is one of the ledger's time witnesses (else it states nothing). */
  get isWitness(): boolean {
    return this.#writer.ledger.params.timeWitnesses.includes(this.#identity.id);
  }

  start(): void {
    if (this.#unsubscribe !== null || !this.isWitness) return;
    const maxLag = this.#options.maxLagMs ?? DEFAULT_WITNESS_MAX_LAG_MS;
    this.#unsubscribe = this.#writer.ledger.onOpenSeen((open, hash, now) => {
      if (open.account === this.#identity.id || now - open.timestamp > maxLag || this.#seen.has(hash)) return;
      this.#seen.set(hash, now);
    });
    this.#timer = setInterval(() => {
      this.flush().catch((error: unknown) => this.#options.onError?.(error));
    }, this.#options.intervalMs ?? DEFAULT_WITNESS_INTERVAL_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Writes what was seen since the last pass (a block per 32 opens); returns how many opens it stated. */
  flush(options: { signal?: AbortSignal } = {}): Promise<number> {
    if (this.#flushing !== null) return this.#flushing;
    const run = this.#flush(options).finally(() => {
      this.#flushing = null;
    });
    this.#flushing = run;
    return run;
  }

  async #flush(options: { signal?: AbortSignal }): Promise<number> {
    let stated = 0;
    while (this.#seen.size > 0) {
      const batch = [...this.#seen]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .slice(0, MAX_WITNESSED_OPENS)
        .map(([open, seenAt]) => ({ open, seenAt }));
      await this.#writer.append(this.#identity, { kind: "witness", opens: batch }, options);
      for (const { open } of batch) this.#seen.delete(open);
      stated += batch.length;
    }
    return stated;
  }
}
