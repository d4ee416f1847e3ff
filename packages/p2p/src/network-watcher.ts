import type { Libp2p, PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { Logger } from "@opengateway/protocol";
import {
  capabilityAdvertSchema,
  INFERENCE_PROTOCOL,
  silentLogger,
  utf8Decode,
  verifyCapabilityAdvert,
} from "@opengateway/protocol";
import { ADVERT_TOPIC, DEFAULT_ADVERT_TTL_MS } from "./constants.js";
import type { NetworkServices } from "./create-libp2p-node.js";
import { fetchNodeInfo } from "./node-info.js";
import type { ProviderTable } from "./provider-table.js";

export interface NetworkWatcherOptions {
  /** How often directly connected providers are asked again for their load. */
  refreshIntervalMs?: number;
  /** Providers this watcher keeps a direct connection to (so routing needs no dial and survives the bootstrap node). */
  maxDirectProviders?: number;
  /** Where unreadable adverts and failed dials and node-info queries are logged (the peer is tried again later). */
  logger?: Logger;
}

const MAX_ADVERT_BYTES = 64 * 1024;

/**
 * Keeps a provider table in step with the network: signed capability adverts arrive over
 * gossipsub (from anywhere in the mesh, not only from peers we are connected to), connected peers
 * that speak the inference protocol are asked directly, and entries expire with their adverts.
 */
export class NetworkWatcher {
  readonly #node: Libp2p<NetworkServices>;
  readonly #table: ProviderTable;
  readonly #options: NetworkWatcherOptions;
  readonly #logger: Logger;
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(node: Libp2p<NetworkServices>, table: ProviderTable, options: NetworkWatcherOptions = {}) {
    this.#node = node;
    this.#table = table;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  start(): void {
    this.#node.addEventListener("peer:identify", this.#onIdentify);
    this.#node.addEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.services.pubsub.subscribe(ADVERT_TOPIC);
    this.#node.services.pubsub.addEventListener("message", this.#onMessage);
    this.#timer = setInterval(() => {
      this.#table.prune();
      void this.refreshAll();
    }, this.#options.refreshIntervalMs ?? 15_000);
    this.#timer.unref?.();
    for (const connection of this.#node.getConnections()) void this.refresh(connection.remotePeer);
  }

  stop(): void {
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
    this.#node.removeEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.services.pubsub.removeEventListener("message", this.#onMessage);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#controller.abort();
  }

  readonly #onIdentify = (event: CustomEvent<{ peerId: PeerId; protocols: string[] }>): void => {
    if (event.detail.protocols.includes(INFERENCE_PROTOCOL)) void this.refresh(event.detail.peerId);
  };

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    // A provider we were connected to is gone; if it is still alive its next advert brings it back.
    this.#table.remove(event.detail.toString());
  };

  readonly #onMessage = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
    if (event.detail.topic !== ADVERT_TOPIC || event.detail.data.length > MAX_ADVERT_BYTES) return;
    try {
      const advert = capabilityAdvertSchema.parse(JSON.parse(utf8Decode(event.detail.data)));
      verifyCapabilityAdvert(advert);
      if (advert.peer === this.#node.peerId.toString()) return;
      const known = this.#table.get(advert.peer) !== undefined;
      this.#table.upsert(advert.peer, advert.capabilities, { expiresAt: advert.expiresAt, addresses: advert.addresses });
      if (!known) void this.#connect(advert.peer, advert.addresses);
    } catch (error) {
      this.#logger.debug({ err: error }, "advert rejected");
    }
  };

  /** Stores the advert's addresses and opens a direct connection, bounded in number. */
  async #connect(peer: string, addresses: string[]): Promise<void> {
    try {
      const peerId = peerIdFromString(peer);
      const multiaddrs = addresses.flatMap((address) => {
        try {
          return [multiaddr(address)];
        } catch {
          return [];
        }
      });
      await this.#node.peerStore.merge(peerId, { multiaddrs });
      const direct = this.#table
        .entries()
        .filter((entry) => this.#node.getConnections(peerIdFromString(entry.peerId)).length > 0).length;
      if (direct < (this.#options.maxDirectProviders ?? 64) && this.#node.getConnections(peerId).length === 0) {
        await this.#node.dial(peerId, { signal: AbortSignal.any([this.#controller.signal, AbortSignal.timeout(10_000)]) });
      }
    } catch (error) {
      if (!this.#controller.signal.aborted) this.#logger.debug({ peerId: peer, err: error }, "could not dial provider");
    }
  }

  async refresh(peerId: PeerId): Promise<void> {
    try {
      const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(5_000)]);
      const info = await fetchNodeInfo(this.#node, peerId, { signal });
      this.#table.upsert(peerId.toString(), info, { expiresAt: Date.now() + DEFAULT_ADVERT_TTL_MS });
    } catch (error) {
      if (!this.#controller.signal.aborted) {
        this.#logger.debug({ peerId: peerId.toString(), err: error }, "node-info query failed");
      }
    }
  }

  async refreshAll(): Promise<void> {
    const peers = new Map<string, PeerId>();
    for (const connection of this.#node.getConnections()) peers.set(connection.remotePeer.toString(), connection.remotePeer);
    await Promise.all(
      [...peers.values()].filter((peer) => this.#table.get(peer.toString()) !== undefined).map((peer) => this.refresh(peer)),
    );
  }

  /** Resolves once some provider is known, or after the timeout. */
  async waitForProviders(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (this.#table.size === 0 && Date.now() < deadline && !options.signal?.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.#table.size > 0;
  }
}
