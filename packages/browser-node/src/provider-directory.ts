import type { Libp2p, PeerId } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import type { NetworkServices } from "@opengateway/p2p";
import { ADVERT_TOPIC, fetchNodeInfo } from "@opengateway/p2p";
import type { InferenceKind, NodeCapabilities } from "@opengateway/protocol";
import {
  capabilityAdvertSchema,
  INFERENCE_PROTOCOL,
  NoProviderError,
  utf8Decode,
  verifyCapabilityAdvert,
} from "@opengateway/protocol";

export interface KnownProvider {
  peerId: string;
  info: NodeCapabilities;
  /** Where its advert said it can be dialled. */
  addresses: string[];
  updatedAt: number;
}

const MAX_ADVERT_BYTES = 64 * 1024;
const NODE_INFO_TIMEOUT_MS = 5_000;

/**
 * The providers this tab knows of, for its own chat box: connected peers that speak the
 * inference protocol (asked directly), and providers anywhere that gossip a signed advert.
 */
export class ProviderDirectory {
  readonly #node: Libp2p<NetworkServices>;
  readonly #providers = new Map<string, KnownProvider>();
  readonly #peers = new Map<string, PeerId>();
  readonly #onChange: () => void;
  readonly #controller = new AbortController();

  constructor(node: Libp2p<NetworkServices>, options: { onChange?: () => void } = {}) {
    this.#node = node;
    this.#onChange = options.onChange ?? (() => {});
  }

  start(): void {
    this.#node.addEventListener("peer:identify", this.#onIdentify);
    this.#node.addEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.services.pubsub.subscribe(ADVERT_TOPIC);
    this.#node.services.pubsub.addEventListener("message", this.#onMessage);
  }

  stop(): void {
    this.#controller.abort();
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
    this.#node.removeEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.services.pubsub.removeEventListener("message", this.#onMessage);
  }

  list(): KnownProvider[] {
    return [...this.#providers.values()];
  }

  /**
   * The least busy provider (other than this tab) serving a model for this kind of request,
   * connected to if it is not already.
   */
  async pick(
    kind: InferenceKind,
    model: string | undefined,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ peer: PeerId; provider: KnownProvider; model: string }> {
    const candidates = this.list()
      .filter((provider) => provider.peerId !== this.#node.peerId.toString())
      .flatMap((provider) => {
        const served = provider.info.models.find(
          (entry) => (model === undefined || entry.id === model) && entry.kinds.includes(kind),
        );
        return served ? [{ provider, model: served.id }] : [];
      })
      .sort(
        (a, b) =>
          a.provider.info.activeRequests / a.provider.info.maxConcurrentRequests -
          b.provider.info.activeRequests / b.provider.info.maxConcurrentRequests,
      );
    for (const candidate of candidates) {
      const peer = await this.#reach(candidate.provider, options.signal).catch(() => undefined);
      if (peer !== undefined) return { peer, provider: candidate.provider, model: candidate.model };
    }
    throw new NoProviderError(model ? `no known provider serves '${model}'` : "no known provider serves a model");
  }

  async #reach(provider: KnownProvider, signal: AbortSignal | undefined): Promise<PeerId> {
    const known = this.#peers.get(provider.peerId);
    if (known !== undefined && this.#node.getConnections(known).length > 0) return known;
    for (const address of provider.addresses) {
      try {
        const connection = await this.#node.dial(multiaddr(address), { signal });
        this.#peers.set(provider.peerId, connection.remotePeer);
        return connection.remotePeer;
      } catch {
        // Try the provider's next address.
      }
    }
    throw new NoProviderError(`provider ${provider.peerId} cannot be reached`);
  }

  readonly #onIdentify = (event: CustomEvent<{ peerId: PeerId; protocols: string[] }>): void => {
    if (!event.detail.protocols.includes(INFERENCE_PROTOCOL)) return;
    this.#peers.set(event.detail.peerId.toString(), event.detail.peerId);
    void this.refresh(event.detail.peerId);
  };

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail.toString();
    // Known only through its connection: gone with it. Advertised providers stay until re-dialled.
    if (this.#providers.get(peerId)?.addresses.length === 0 && this.#providers.delete(peerId)) this.#onChange();
  };

  readonly #onMessage = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
    if (event.detail.topic !== ADVERT_TOPIC || event.detail.data.length > MAX_ADVERT_BYTES) return;
    try {
      const advert = capabilityAdvertSchema.parse(JSON.parse(utf8Decode(event.detail.data)));
      verifyCapabilityAdvert(advert);
      if (advert.peer === this.#node.peerId.toString()) return;
      this.#providers.set(advert.peer, {
        peerId: advert.peer,
        info: advert.capabilities,
        addresses: advert.addresses,
        updatedAt: Date.now(),
      });
      this.#onChange();
    } catch {
      // An advert that does not verify is ignored, like any other noise on the topic.
    }
  };

  /** Asks a connected peer what it serves now. */
  async refresh(peer: PeerId): Promise<void> {
    try {
      const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(NODE_INFO_TIMEOUT_MS)]);
      const info = await fetchNodeInfo(this.#node, peer, { signal });
      const known = this.#providers.get(peer.toString());
      this.#providers.set(peer.toString(), {
        peerId: peer.toString(),
        info,
        addresses: known?.addresses ?? [],
        updatedAt: Date.now(),
      });
      this.#onChange();
    } catch {
      // A peer that will not say what it serves is not a provider we can use.
    }
  }
}
