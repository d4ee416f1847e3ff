import type { NodeInfo } from "@opengateway/p2p";
import type { InferenceKind } from "@opengateway/protocol";

export interface ProviderEntry {
  readonly peerId: string;
  info: NodeInfo;
  lastSeen: number;
  /** Requests this router has in flight on the provider right now. */
  inFlight: number;
  /** Consecutive failures; a provider that keeps failing is tried last. */
  failures: number;
}

export interface ServedModelView {
  id: string;
  contextSize: number;
  pricePerToken: number;
  /** Request kinds at least one provider serves for the model. */
  kinds: InferenceKind[];
  providers: number;
}

/** What this router knows about the providers it can reach, and how busy it keeps them. */
export class ProviderTable {
  readonly #entries = new Map<string, ProviderEntry>();

  upsert(peerId: string, info: NodeInfo, now = Date.now()): void {
    const known = this.#entries.get(peerId);
    if (known) {
      known.info = info;
      known.lastSeen = now;
    } else {
      this.#entries.set(peerId, { peerId, info, lastSeen: now, inFlight: 0, failures: 0 });
    }
  }

  remove(peerId: string): void {
    this.#entries.delete(peerId);
  }

  get(peerId: string): ProviderEntry | undefined {
    return this.#entries.get(peerId);
  }

  get size(): number {
    return this.#entries.size;
  }

  entries(): ProviderEntry[] {
    return [...this.#entries.values()];
  }

  /** Models served by at least one known provider, merged across providers. */
  models(): ServedModelView[] {
    const byId = new Map<string, ServedModelView>();
    for (const entry of this.#entries.values()) {
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

  /**
   * Providers of a model, best first: fewest failures, then lowest load (in flight relative to
   * the provider's parallel capacity), ties broken at random so equal nodes share the work.
   */
  candidatesFor(model: string, exclude: ReadonlySet<string> = new Set(), kind?: InferenceKind): ProviderEntry[] {
    return this.entries()
      .filter(
        (entry) =>
          !exclude.has(entry.peerId) &&
          entry.info.models.some((m) => m.id === model && (kind === undefined || m.kinds.includes(kind))),
      )
      .map((entry) => ({ entry, load: entry.inFlight / entry.info.maxConcurrentRequests, tie: Math.random() }))
      .sort((a, b) => a.entry.failures - b.entry.failures || a.load - b.load || a.tie - b.tie)
      .map(({ entry }) => entry);
  }
}
