import { circuitRelayServer, circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { tcp } from "@libp2p/tcp";
import { webRTC } from "@libp2p/webrtc";
import { webSockets } from "@libp2p/websockets";
import type { Identity } from "@opengateway/protocol";
import type { ServiceFactoryMap } from "libp2p";
import { createLibp2p } from "libp2p";
import type { NetworkServices } from "./base-libp2p-config.js";
import { baseLibp2pConfig } from "./base-libp2p-config.js";
import type { LanDiscoveryInit } from "./lan-discovery.js";
import { lanDiscovery } from "./lan-discovery.js";

export type { NetworkServices };

/** One STUN/TURN server, as RTCPeerConnection takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface CreateLibp2pNodeOptions<T extends ServiceMap> {
  /** The node's OpenGateway identity doubles as its libp2p key, so peer id = identity id. */
  identity: Identity;
  listen?: string[];
  /** Multiaddrs (with /p2p/ peer ids) to discover peers from. */
  bootstrap?: string[];
  /** Act as a circuit relay v2 server: browsers and peers behind NAT reserve a slot and are reached through us. */
  relay?: boolean;
  /**
   * ICE servers for WebRTC. Always explicit: the library default is a list of public STUN servers.
   * Empty works when peers share a network (a LAN, or a test's network namespace).
   */
  iceServers?: IceServer[];
  /**
   * Devnet/LAN mode: accept loopback and private addresses in the DHT (which otherwise strips
   * them, leaving empty routing tables on one machine). Off by default.
   */
  localNetwork?: boolean;
  /**
   * Find and dial OpenGateway peers on the LAN with mDNS (multicast on every interface: off
   * unless asked for; the CLI turns it on for its roles). Object: the discovery's settings.
   */
  mdns?: boolean | LanDiscoveryInit;
  /** Answer DHT queries for others (servers), or only ask (clients: gateways, SDKs). */
  dhtMode?: "server" | "client";
  /**
   * More services. Each one's components include the network services (gossipsub as `pubsub`) and
   * the others given here, optional ones typed as present: a factory that reads one checks it was given.
   */
  services?: { [K in keyof T]: (components: Libp2pComponents & NetworkServices & Required<T>) => T[K] };
}

/** What libp2p hands a service factory. */
type Libp2pComponents = Parameters<ServiceFactoryMap[string]>[0];

export const DEFAULT_NODE_LISTEN = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"];
/** Relay limits: inference streams are long and busy, so relayed connections only carry WebRTC signalling. */
const RELAY_MAX_RESERVATIONS = 256;

/**
 * A Node.js libp2p peer: TCP and WebSockets (Noise, yamux), WebRTC through circuit-relay
 * signalling (so it can reach browser tabs directly), optionally a relay server itself.
 */
export async function createLibp2pNode<T extends ServiceMap>(options: CreateLibp2pNodeOptions<T>) {
  const base = await baseLibp2pConfig(options, {
    listen: DEFAULT_NODE_LISTEN,
    dhtClientMode: (options.dhtMode ?? "server") === "client",
  });
  return createLibp2p({
    ...base,
    peerDiscovery: [
      ...(base.peerDiscovery ?? []),
      ...(options.mdns ? [lanDiscovery(options.mdns === true ? {} : options.mdns)] : []),
    ],
    transports: [
      tcp(),
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: options.iceServers ?? [] } }),
      circuitRelayTransport(),
    ],
    services: {
      ...base.services,
      ...(options.relay ? { relay: circuitRelayServer({ reservations: { maxReservations: RELAY_MAX_RESERVATIONS } }) } : {}),
      ...options.services,
    } as ServiceFactoryMap<T & NetworkServices>,
  }) as Promise<Libp2p<T & NetworkServices>>;
}
