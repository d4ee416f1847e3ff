import type { GossipSub } from "@libp2p/gossipsub";
import type { AbortOptions, ComponentLogger, Connection, PeerId, Startable, Stream } from "@libp2p/interface";
import { serviceCapabilities, serviceDependencies } from "@libp2p/interface";
import type { LedgerParams, LedgerStore } from "@opengateway/ledger";
import { ChainWriter, Ledger, ledgerParams } from "@opengateway/ledger";
import type { Logger } from "@opengateway/protocol";
import { componentLogger } from "./component-logger.js";
import { DEFAULT_FIRST_SYNC_WAIT_MS } from "./constants.js";
import type { LedgerSyncNode } from "./ledger-sync.js";
import { LedgerSync } from "./ledger-sync.js";
import type { ProtocolServiceComponents } from "./service-components.js";

export interface LedgerReplicaInit {
  /** The network's ledger parameters. */
  params?: Partial<LedgerParams>;
  /** Opens the store the replica is kept in, when the node starts (it is closed when the node stops). Absent: in memory. */
  openStore?: () => Promise<LedgerStore>;
  /** How often every peer that keeps a ledger is reconciled with (default 10 min; new peers at once). */
  syncIntervalMs?: number;
  /** How long the first reconciliation waits for a peer that keeps a ledger (default 5 s; the first node of a network has none). */
  firstSyncWaitMs?: number;
  /** Default: libp2p's logger, as `opengateway:ledger-replica`. */
  logger?: Logger;
}

/** The libp2p components the replica uses (gossipsub included, as the `pubsub` service). */
export interface LedgerReplicaComponents extends ProtocolServiceComponents {
  peerId: PeerId;
  logger: ComponentLogger;
  events: Pick<LedgerSyncNode, "addEventListener" | "removeEventListener">;
  peerStore: LedgerSyncNode["peerStore"];
  connectionManager: {
    getConnections(): Connection[];
    openStream(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream>;
  };
  pubsub: GossipSub;
}

interface Opened {
  readonly store: LedgerStore | undefined;
  readonly ledger: Ledger;
  readonly sync: LedgerSync;
  readonly writer: ChainWriter;
}

/**
 * A peer's copy of the credit ledger, as a libp2p service: when the node starts it opens the
 * store and loads the ledger, then keeps it current (gossip and reconciliation, `LedgerSync`) and
 * reconciles once with the first peers that keep one; `writer` is the peer's one `ChainWriter`,
 * which signs nothing before that first reconciliation ended (`ready`). When the node stops:
 * sync, then save, then close the store. The roles (a full node's earnings, a gateway's or a
 * client's wallet, a relay's replica, a wallet command) build on `ledger`, `writer` and `sync`.
 */
export class LedgerReplica implements Startable {
  readonly #components: LedgerReplicaComponents;
  readonly #init: LedgerReplicaInit;
  readonly #logger: Logger;
  #opened: Opened | undefined;
  #stopController = new AbortController();
  #firstSync: Promise<boolean> = Promise.resolve(false);
  #endFirstSync: (reconciled: boolean) => void = () => {};

  constructor(components: LedgerReplicaComponents, init: LedgerReplicaInit = {}) {
    this.#components = components;
    this.#init = init;
    this.#logger = init.logger ?? componentLogger(components.logger, "opengateway:ledger-replica");
  }

  readonly [Symbol.toStringTag] = "@opengateway/ledger-replica";
  readonly [serviceCapabilities] = ["@opengateway/ledger-replica"];
  readonly [serviceDependencies] = ["@libp2p/pubsub"];

  get ledger(): Ledger {
    return this.#open().ledger;
  }

  get writer(): ChainWriter {
    return this.#open().writer;
  }

  get sync(): LedgerSync {
    return this.#open().sync;
  }

  /**
   * Settles once the first reconciliation ended (true when a peer answered, false when none was
   * found in time or the node stopped): nothing is signed on this peer's chains before.
   */
  get ready(): Promise<boolean> {
    return this.#firstSync;
  }

  isStarted(): boolean {
    return this.#opened !== undefined;
  }

  /** Opens the store and loads the ledger (a libp2p node starts once this is done). */
  async start(): Promise<void> {
    if (this.#opened) return;
    this.#stopController = new AbortController();
    this.#firstSync = new Promise<boolean>((resolve) => {
      this.#endFirstSync = resolve;
    });
    const params = ledgerParams(this.#init.params ?? {});
    const store = await this.#init.openStore?.();
    try {
      const ledger = store ? await Ledger.load(store, { params }) : new Ledger({ params });
      const sync = new LedgerSync(this.#syncNode(), ledger, { intervalMs: this.#init.syncIntervalMs, logger: this.#logger });
      const writer = new ChainWriter(ledger, {
        publish: (block, options) => sync.publish(block, options),
        ready: this.#firstSync,
      });
      this.#opened = { store, ledger, sync, writer };
    } catch (error) {
      await store?.close();
      throw error;
    }
  }

  /** Joins the gossip topic (gossipsub has started by now) and reconciles with the first peers. */
  async afterStart(): Promise<void> {
    const { sync } = this.#open();
    await sync.start();
    const signal = this.#stopController.signal;
    sync
      .reconcileWithFirstPeers({ waitMs: this.#init.firstSyncWaitMs ?? DEFAULT_FIRST_SYNC_WAIT_MS, signal })
      .catch((error: unknown) => {
        this.#logger.debug({ err: error }, "first ledger reconciliation failed");
        return false;
      })
      .then(this.#endFirstSync);
  }

  /** Stops the sync while gossipsub still runs. */
  async beforeStop(): Promise<void> {
    this.#stopController.abort();
    await this.#opened?.sync.stop();
    this.#endFirstSync(false);
  }

  /** Saves what is unsaved and closes the store, once nothing on the node can write any more. */
  async afterStop(): Promise<void> {
    const opened = this.#opened;
    if (!opened) return;
    this.#opened = undefined;
    await opened.ledger.save().catch((error: unknown) => this.#logger.warn({ err: error }, "could not save the ledger"));
    await opened.store?.close();
  }

  /** Nothing between: the sync stopped before the node's services, the store closes after them. */
  async stop(): Promise<void> {}

  #open(): Opened {
    if (!this.#opened) throw new Error("the ledger replica is not started: start its libp2p node first");
    return this.#opened;
  }

  /** LedgerSync's view of this node, from the components (a service has no `Libp2p` handle). */
  #syncNode(): LedgerSyncNode {
    const components = this.#components;
    return {
      peerId: components.peerId,
      services: { pubsub: components.pubsub },
      peerStore: components.peerStore,
      handle: (protocol, handler, options) => components.registrar.handle(protocol, handler, options),
      unhandle: (protocol) => components.registrar.unhandle(protocol),
      dialProtocol: (peer, protocol, options) => components.connectionManager.openStream(peer, protocol, options),
      getPeers: () => {
        const peers = new Map<string, PeerId>();
        for (const connection of components.connectionManager.getConnections()) {
          peers.set(connection.remotePeer.toString(), connection.remotePeer);
        }
        return [...peers.values()];
      },
      addEventListener: (type, listener) => components.events.addEventListener(type, listener),
      removeEventListener: (type, listener) => components.events.removeEventListener(type, listener),
    };
  }
}

/** The `ledgerReplica` service (by convention under the `ledger` key of a node's services). */
export function ledgerReplica(init: LedgerReplicaInit = {}): (components: LedgerReplicaComponents) => LedgerReplica {
  return (components) => new LedgerReplica(components, init);
}
