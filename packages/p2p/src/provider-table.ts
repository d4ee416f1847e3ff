import { REPUTATION_MAX, REPUTATION_PAID_WORK_THRESHOLD } from "@opengateway/ledger";
import type { InferenceKind, NodeCapabilities } from "@opengateway/protocol";
import { ROUTER_UNMEASURED_TOKENS_PER_SECOND } from "./constants.js";

export interface ProviderEntry {
  readonly peerId: string;
  info: NodeCapabilities;
  /** Where the provider said it can be dialled (from its advert). */
  addresses: string[];
  lastSeen: number;
  /** After this the entry is dropped unless refreshed (adverts expire; direct queries last a while). */
  expiresAt: number;
  /** Requests this router has in flight on the provider right now. */
  inFlight: number;
  /** Consecutive failures; a provider that keeps failing is tried last. */
  failures: number;
  /** When this router last saw it fail (ms since epoch; 0 = never). */
  lastFailureAt: number;
}

export interface ServedModelView {
  id: string;
  contextSize: number;
  pricePerToken: number;
  /** Request kinds at least one provider serves for the model. */
  kinds: InferenceKind[];
  providers: number;
}

export interface CandidateFilter {
  kind?: InferenceKind;
  exclude?: ReadonlySet<string>;
  /** Only providers in this region (phase-1 routing); `null`/absent = any region. */
  region?: string | null;
  /** Only providers asking at most this many credits per token for the model. */
  maxPricePerToken?: number;
}

/** What this router knows about the providers it can reach, and how busy it keeps them. */
export class ProviderTable {
  readonly #entries = new Map<string, ProviderEntry>();
  readonly #now: () => number;
  readonly #reputationOf: ((peerId: string) => number) | undefined;
  readonly #random: () => number;

  /**
   * `reputationOf`: a provider's reputation, 0–1000 (a ledger's `reputation(id).score`). With it,
   * providers below the paid-work threshold are never candidates, and a better one gets more work.
   * `random`: uniform in [0, 1), for the weighted choice (seeded in tests).
   */
  constructor(options: { now?: () => number; reputationOf?: (peerId: string) => number; random?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#reputationOf = options.reputationOf;
    this.#random = options.random ?? Math.random;
  }

  upsert(peerId: string, info: NodeCapabilities, options: { expiresAt: number; addresses?: string[] }): void {
    const now = this.#now();
    const known = this.#entries.get(peerId);
    if (known) {
      known.info = info;
      known.lastSeen = now;
      known.expiresAt = Math.max(known.expiresAt, options.expiresAt);
      if (options.addresses && options.addresses.length > 0) known.addresses = options.addresses;
    } else {
      this.#entries.set(peerId, {
        peerId,
        info,
        addresses: options.addresses ?? [],
        lastSeen: now,
        expiresAt: options.expiresAt,
        inFlight: 0,
        failures: 0,
        lastFailureAt: 0,
      });
    }
  }

  remove(peerId: string): void {
    this.#entries.delete(peerId);
  }

  get(peerId: string): ProviderEntry | undefined {
    const entry = this.#entries.get(peerId);
    return entry && entry.expiresAt > this.#now() ? entry : undefined;
  }

  /** Drops expired entries (a provider that stopped advertising is gone). */
  prune(): void {
    const now = this.#now();
    for (const [peerId, entry] of this.#entries) if (entry.expiresAt <= now && entry.inFlight === 0) this.#entries.delete(peerId);
  }

  get size(): number {
    return this.entries().length;
  }

  entries(): ProviderEntry[] {
    const now = this.#now();
    return [...this.#entries.values()].filter((entry) => entry.expiresAt > now);
  }

  /** Models served by at least one known provider, merged across providers. */
  models(): ServedModelView[] {
    const byId = new Map<string, ServedModelView>();
    for (const entry of this.entries()) {
      for (const model of entry.info.models) {
        const view = byId.get(model.id);
        if (view) {
          view.providers++;
          view.contextSize = Math.min(view.contextSize, model.contextSize);
          view.pricePerToken = Math.max(view.pricePerToken, model.pricePerToken);
          for (const kind of model.kinds) if (!view.kinds.includes(kind)) view.kinds.push(kind);
        } else {
          byId.set(model.id, { ...model, kinds: [...model.kinds], providers: 1 });
        }
      }
    }
    return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Providers that could serve a model under the filter, ignoring how busy they are. */
  providersOf(model: string, filter: CandidateFilter = {}): ProviderEntry[] {
    return this.entries().filter(
      (entry) =>
        !filter.exclude?.has(entry.peerId) &&
        (filter.region == null || entry.info.region === filter.region) &&
        entry.info.models.some(
          (m) =>
            m.id === model &&
            (filter.kind === undefined || m.kinds.includes(filter.kind)) &&
            m.pricePerToken <= (filter.maxPricePerToken ?? Number.POSITIVE_INFINITY),
        ),
    );
  }

  /**
   * Providers with room for one more request, in the order to try them: fewest failures first, then
   * price (within a factor of two of the cheapest counts as equal, so price decides only between
   * tiers; a dear provider is used only while cheaper ones are full), then a weighted random order
   * in which each provider comes first with a chance proportional to what it can serve right now:
   * its advertised tokens/s × its free slots × its reputation (out of 1000), per credit within the
   * tier. So every contributor with room earns under light load too, in proportion to its capacity
   * (a slow tab a little, a fast full node most), instead of the fastest taking every request.
   * Below the paid-work reputation threshold, never.
   */
  candidatesFor(model: string, filter: CandidateFilter = {}): ProviderEntry[] {
    const reputationOf = this.#reputationOf ?? (() => REPUTATION_MAX);
    const open = this.providersOf(model, filter).filter(
      (entry) => entry.inFlight < capacityOf(entry) && reputationOf(entry.peerId) >= REPUTATION_PAID_WORK_THRESHOLD,
    );
    const priceOf = (entry: ProviderEntry): number => entry.info.models.find((m) => m.id === model)?.pricePerToken ?? 0;
    const cheapest = Math.min(...open.map(priceOf));
    // A provider that has not measured its speed yet counts as a typical one of the others (capped).
    const unmeasured = Math.min(
      ROUTER_UNMEASURED_TOKENS_PER_SECOND,
      median(open.map((entry) => entry.info.tokensPerSecond ?? 0).filter((speed) => speed > 0)) ??
        ROUTER_UNMEASURED_TOKENS_PER_SECOND,
    );
    return open
      .map((entry) => {
        const price = priceOf(entry);
        // A free provider (or only free ones) shares the cheapest tier.
        const ratio = cheapest > 0 ? price / cheapest : price > 0 ? Number.POSITIVE_INFINITY : 1;
        const busy = Math.max(entry.inFlight, entry.info.activeRequests);
        const free = Math.max(0, capacityOf(entry) - busy);
        const speed = entry.info.tokensPerSecond || unmeasured;
        const weight = (speed * free * (reputationOf(entry.peerId) / REPUTATION_MAX)) / Math.max(ratio, 1);
        return {
          entry,
          tier: Math.floor(Math.log2(ratio)),
          // Weighted random order (Efraimidis–Spirakis): the largest log(u)/w first. One that
          // reports every slot taken (by other routers) comes after all with room.
          key: weight > 0 ? Math.log(1 - this.#random()) / weight : Number.NEGATIVE_INFINITY,
          load: busy / capacityOf(entry),
          tie: this.#random(),
        };
      })
      .sort((a, b) => a.entry.failures - b.entry.failures || a.tier - b.tier || b.key - a.key || a.load - b.load || a.tie - b.tie)
      .map(({ entry }) => entry);
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Requests a router sends one provider at once: its parallel slots. More would wait silently in
 * the provider's queue, where a long answer ahead of them looks like a hung provider; they wait in
 * the router's queue instead, where the wait is bounded and ends in an honest 429.
 */
export function capacityOf(entry: ProviderEntry): number {
  return Math.max(1, entry.info.maxConcurrentRequests);
}
