import { circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { webRTC } from "@libp2p/webrtc";
import { webSockets } from "@libp2p/websockets";
import type { ServiceFactoryMap } from "libp2p";
import { createLibp2p } from "libp2p";
import { baseLibp2pConfig } from "./base-libp2p-config.js";
import type { CreateLibp2pNodeOptions, IceServer, NetworkServices } from "./create-libp2p-node.js";

export type { CreateLibp2pNodeOptions, IceServer, NetworkServices };
/** A tab cannot listen on sockets; it is reached through a relay reservation, upgraded to WebRTC. */
export const DEFAULT_NODE_LISTEN: string[] = [];

/** The browser build: WebSockets out, WebRTC in and out, circuit relay for signalling. */
export async function createLibp2pNode<T extends ServiceMap>(options: CreateLibp2pNodeOptions<T>) {
  // A tab is a DHT client: it finds peers but does not store records for others.
  const base = await baseLibp2pConfig(options, { listen: DEFAULT_NODE_LISTEN, dhtClientMode: true });
  return createLibp2p({
    ...base,
    transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: options.iceServers ?? [] } }), circuitRelayTransport()],
    // Loopback and private addresses are what a local network uses; a browser may dial them.
    connectionGater: { denyDialMultiaddr: () => false },
    services: { ...base.services, ...options.services } as ServiceFactoryMap<T & NetworkServices>,
  }) as Promise<Libp2p<T & NetworkServices>>;
}
