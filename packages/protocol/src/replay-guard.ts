import { DEFAULT_CLOCK_SKEW_MS } from "./constants.js";
import { OverloadedError, ReplayedNonceError } from "./errors.js";

export interface ReplayGuardOptions {
  /** Hard cap on remembered nonces; past it new requests are refused rather than risking a replay. */
  maxEntries?: number;
  /** Most nonces one payer may hold at once (default 5% of maxEntries): one key cannot fill the guard. */
  maxEntriesPerPayer?: number;
  /**
   * Most nonces the requests of one peer may hold at once (default 25% of maxEntries): a gateway
   * signs for many payers from one peer, so this is larger than a payer's share, but one peer still
   * cannot fill the guard.
   */
  maxEntriesPerPeer?: number;
  clockSkewMs?: number;
}

interface Entry {
  until: number;
  payer: string;
  peer: string | undefined;
}

/**
 * Remembers each (payer, nonce) until the request it came with has expired. Requests
 * carry a bounded validity, so memory stays bounded by the request rate; per-payer and per-peer
 * quotas keep one key or one peer from taking every slot.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, Entry>();
  readonly #perPayer = new Map<string, number>();
  readonly #perPeer = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #maxPerPayer: number;
  readonly #maxPerPeer: number;
  readonly #clockSkewMs: number;
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayGuardOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 200_000;
    this.#maxPerPayer = options.maxEntriesPerPayer ?? Math.max(1, Math.floor(this.#maxEntries / 20));
    this.#maxPerPeer = options.maxEntriesPerPeer ?? Math.max(1, Math.floor(this.#maxEntries / 4));
    this.#clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Nonces this payer holds now. */
  countFor(payer: string): number {
    return this.#perPayer.get(payer) ?? 0;
  }

  /**
   * Records the nonce, or throws if it was seen and has not expired. `peer` (the connection the
   * request came over) is counted against its quota too.
   */
  check(payer: string, nonce: string, expiresAt: number, now = Date.now(), peer?: string): void {
    const key = `${payer}/${nonce}`;
    const known = this.#seen.get(key);
    if (known !== undefined && known.until > now) throw new ReplayedNonceError();
    if (known !== undefined) this.#forget(key, known);
    const full = () =>
      this.#seen.size >= this.#maxEntries ||
      this.countFor(payer) >= this.#maxPerPayer ||
      (peer !== undefined && (this.#perPeer.get(peer) ?? 0) >= this.#maxPerPeer);
    // At most one sweep a second: a payer knocking at its quota must not buy a full scan per request.
    if (full() && now - this.#prunedAt >= 1_000) this.prune(now);
    if (this.#seen.size >= this.#maxEntries) throw new OverloadedError("replay guard is full");
    if (this.countFor(payer) >= this.#maxPerPayer) throw new OverloadedError("too many requests in flight from this payer");
    if (peer !== undefined && (this.#perPeer.get(peer) ?? 0) >= this.#maxPerPeer) {
      throw new OverloadedError("too many requests in flight from this peer");
    }
    // Kept past expiry by the skew: a verifier with a slow clock still refuses the replay.
    this.#seen.set(key, { until: expiresAt + this.#clockSkewMs, payer, peer });
    this.#perPayer.set(payer, this.countFor(payer) + 1);
    if (peer !== undefined) this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
  }

  prune(now = Date.now()): void {
    this.#prunedAt = now;
    for (const [key, entry] of this.#seen) if (entry.until <= now) this.#forget(key, entry);
  }

  #forget(key: string, entry: Entry): void {
    this.#seen.delete(key);
    decrement(this.#perPayer, entry.payer);
    if (entry.peer !== undefined) decrement(this.#perPeer, entry.peer);
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}
