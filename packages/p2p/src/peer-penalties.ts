export interface PeerPenaltiesOptions {
  /** Strikes within `windowMs` that ban a peer. */
  banAfter: number;
  windowMs: number;
  banMs: number;
  /** Token bucket per peer: sustained rate and burst. */
  ratePerSecond: number;
  burst: number;
  now?: () => number;
}

interface PeerRecord {
  strikes: number;
  windowStart: number;
  bannedUntil: number;
  tokens: number;
  refilledAt: number;
}

/** Entries kept before idle ones are dropped: the table itself must not grow with a sybil's peer ids. */
export const MAX_PENALISED_PEERS = 10_000;

/**
 * A small per-peer counter: a rate limit (token bucket) and strikes for invalid data that ban a
 * peer for a while once they pile up inside a window.
 */
export class PeerPenalties {
  readonly #peers = new Map<string, PeerRecord>();
  readonly #options: PeerPenaltiesOptions;
  readonly #now: () => number;

  constructor(options: PeerPenaltiesOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  isBanned(peer: string): boolean {
    return (this.#peers.get(peer)?.bannedUntil ?? 0) > this.#now();
  }

  /** Counts invalid data from `peer`; true once the peer is banned. */
  strike(peer: string, weight = 1): boolean {
    const now = this.#now();
    const record = this.#record(peer, now);
    if (now - record.windowStart > this.#options.windowMs) {
      record.windowStart = now;
      record.strikes = 0;
    }
    record.strikes += weight;
    if (record.strikes >= this.#options.banAfter) record.bannedUntil = now + this.#options.banMs;
    return record.bannedUntil > now;
  }

  /** Takes one unit of the peer's rate; false when it is over its rate. */
  take(peer: string): boolean {
    const now = this.#now();
    const record = this.#record(peer, now);
    const refill = ((now - record.refilledAt) / 1000) * this.#options.ratePerSecond;
    record.tokens = Math.min(this.#options.burst, record.tokens + refill);
    record.refilledAt = now;
    if (record.tokens < 1) return false;
    record.tokens--;
    return true;
  }

  /** Peers the table holds a record for (bounded by MAX_PENALISED_PEERS). */
  get trackedPeers(): number {
    return this.#peers.size;
  }

  get bannedCount(): number {
    const now = this.#now();
    let count = 0;
    for (const record of this.#peers.values()) if (record.bannedUntil > now) count++;
    return count;
  }

  #record(peer: string, now: number): PeerRecord {
    let record = this.#peers.get(peer);
    if (record === undefined) {
      if (this.#peers.size >= MAX_PENALISED_PEERS) this.#prune(now);
      record = { strikes: 0, windowStart: now, bannedUntil: 0, tokens: this.#options.burst, refilledAt: now };
      this.#peers.set(peer, record);
    }
    return record;
  }

  /**
   * Forgets idle peers; if the table is still full (a sybil's fresh ids), forgets the oldest down to
   * 90% so that the bound holds and the scan is not repeated on every new id.
   */
  #prune(now: number): void {
    for (const [peer, record] of this.#peers) {
      if (record.bannedUntil <= now && now - record.windowStart > this.#options.windowMs) this.#peers.delete(peer);
    }
    for (const peer of this.#peers.keys()) {
      if (this.#peers.size < MAX_PENALISED_PEERS * 0.9) break;
      this.#peers.delete(peer);
    }
  }
}
