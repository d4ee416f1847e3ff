import type { PeerDiscovery, PeerId, PeerInfo } from "@libp2p/interface";
import type { MulticastDNSComponents } from "@libp2p/mdns";
import { mdns } from "@libp2p/mdns";
import type { Multiaddr } from "@multiformats/multiaddr";
import { DEFAULT_MDNS_INTERVAL_MS, MDNS_SERVICE_TAG } from "./constants.js";

export interface LanDiscoveryInit {
  /** How often to ask the LAN (default DEFAULT_MDNS_INTERVAL_MS). */
  intervalMs?: number;
  /** UDP port and multicast group: the mDNS standard's unless a test gives its own. */
  port?: number;
  ip?: string;
}

/** The part of libp2p's components this discovery dials with. */
interface DialingComponents extends MulticastDNSComponents {
  connectionManager: {
    openConnection(peer: Multiaddr[], options?: { signal?: AbortSignal }): Promise<unknown>;
    getConnections(peer?: PeerId): unknown[];
  };
}

const DIAL_TIMEOUT_MS = 10_000;

/**
 * Peers on the same LAN, found with mDNS (libp2p's `@libp2p/mdns`, under this network's own
 * service name) and dialled at once. libp2p only files discovered peers in its peer store, and a
 * LAN peer is worth a connection as much as a bootstrap peer: it serves, routes and keeps the
 * ledger. Each answer to the periodic question finds a peer again, so a dropped connection comes
 * back within one interval.
 */
export function lanDiscovery(init: LanDiscoveryInit = {}): (components: DialingComponents) => PeerDiscovery {
  const discover = mdns({
    serviceTag: MDNS_SERVICE_TAG,
    interval: init.intervalMs ?? DEFAULT_MDNS_INTERVAL_MS,
    ...(init.port !== undefined && { port: init.port }),
    ...(init.ip !== undefined && { ip: init.ip }),
  });
  return (components) => {
    const discovery = discover(components);
    const dialing = new Set<string>();
    discovery.addEventListener("peer", (event: CustomEvent<PeerInfo>) => {
      const { id: peer, multiaddrs } = event.detail;
      const key = peer.toString();
      if (multiaddrs.length === 0 || dialing.has(key) || components.connectionManager.getConnections(peer).length > 0) return;
      dialing.add(key);
      // The addresses themselves, with the peer id to check: libp2p files them in its peer store
      // only after this listener (registered first) has run. A failed dial waits for the next answer.
      components.connectionManager
        .openConnection(
          multiaddrs.map((address) => address.encapsulate(`/p2p/${key}`)),
          { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) },
        )
        .catch(() => undefined)
        .finally(() => dialing.delete(key));
    });
    return discovery;
  };
}
