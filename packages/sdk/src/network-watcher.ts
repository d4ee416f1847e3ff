import type { Libp2p, PeerId } from "@libp2p/interface";
import { fetchNodeInfo } from "@opengateway/p2p";
import { INFERENCE_PROTOCOL } from "@opengateway/protocol";
import type { ProviderTable } from "./provider-table.js";

export interface NetworkWatcherOptions {
  /** How often known providers are asked again for their models and load. */
  refreshIntervalMs?: number;
  onError?: (peerId: string, error: unknown) => void;
}

/**
 * Keeps a provider table in step with the libp2p node: a peer that identifies with the
 * inference protocol is asked what it serves; a peer that disconnects is dropped.
 */
export class NetworkWatcher {
  readonly #node: Libp2p;
  readonly #table: ProviderTable;
  readonly #options: NetworkWatcherOptions;
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(node: Libp2p, table: ProviderTable, options: NetworkWatcherOptions = {}) {
    this.#node = node;
    this.#table = table;
    this.#options = options;
  }

  start(): void {
    this.#node.addEventListener("peer:identify", this.#onIdentify);
    this.#node.addEventListener("peer:disconnect", this.#onDisconnect);
    this.#timer = setInterval(() => void this.refreshAll(), this.#options.refreshIntervalMs ?? 15_000);
    this.#timer.unref?.();
    for (const connection of this.#node.getConnections()) void this.refresh(connection.remotePeer);
  }

  stop(): void {
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
    this.#node.removeEventListener("peer:disconnect", this.#onDisconnect);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#controller.abort();
  }

  readonly #onIdentify = (event: CustomEvent<{ peerId: PeerId; protocols: string[] }>): void => {
    if (event.detail.protocols.includes(INFERENCE_PROTOCOL)) void this.refresh(event.detail.peerId);
  };

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    this.#table.remove(event.detail.toString());
  };

  async refresh(peerId: PeerId): Promise<void> {
    try {
      const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(5_000)]);
      const info = await fetchNodeInfo(this.#node, peerId, { signal });
      this.#table.upsert(peerId.toString(), info);
    } catch (error) {
      if (!this.#controller.signal.aborted) this.#options.onError?.(peerId.toString(), error);
    }
  }

  async refreshAll(): Promise<void> {
    const peers = new Map<string, PeerId>();
    for (const connection of this.#node.getConnections()) peers.set(connection.remotePeer.toString(), connection.remotePeer);
    await Promise.all([...peers.values()].map((peer) => this.refresh(peer)));
  }

  /** Resolves once some provider serves a model, or after the timeout. */
  async waitForProviders(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (this.#table.size === 0 && Date.now() < deadline && !options.signal?.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.#table.size > 0;
  }
}
