import { DEFAULT_CLOCK_SKEW_MS } from "./constants.js";
import { OverloadedError, ReplayedNonceError } from "./errors.js";

export interface ReplayGuardOptions {
  /** Hard cap on remembered nonces; past it new requests are refused rather than risking a replay. */
  maxEntries?: number;
  clockSkewMs?: number;
}

/**
 * Remembers each (payer, nonce) until the request it came with has expired. Requests
 * carry a bounded validity, so memory stays bounded by the request rate.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #clockSkewMs: number;

  constructor(options: ReplayGuardOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 200_000;
    this.#clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Records the nonce, or throws if it was seen and has not expired. */
  check(payer: string, nonce: string, expiresAt: number, now = Date.now()): void {
    const key = `${payer}/${nonce}`;
    const known = this.#seen.get(key);
    if (known !== undefined && known > now) throw new ReplayedNonceError();
    if (this.#seen.size >= this.#maxEntries) this.prune(now);
    if (this.#seen.size >= this.#maxEntries) throw new OverloadedError("replay guard is full");
    // Kept past expiry by the skew: a verifier with a slow clock still refuses the replay.
    this.#seen.set(key, expiresAt + this.#clockSkewMs);
  }

  prune(now = Date.now()): void {
    for (const [key, until] of this.#seen) if (until <= now) this.#seen.delete(key);
  }
}
