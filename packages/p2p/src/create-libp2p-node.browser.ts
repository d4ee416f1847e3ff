import { bootstrap } from "@libp2p/bootstrap";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { noise } from "@libp2p/noise";
import { ping } from "@libp2p/ping";
import { webSockets } from "@libp2p/websockets";
import { yamux } from "@libp2p/yamux";
import type { ServiceFactoryMap } from "libp2p";
import { createLibp2p } from "libp2p";
import type { CreateLibp2pNodeOptions } from "./create-libp2p-node.js";

export type { CreateLibp2pNodeOptions };
export const DEFAULT_NODE_LISTEN: string[] = [];

/** The browser build: dials out over WebSockets (WebRTC and relay listening arrive with the browser node). */
export async function createLibp2pNode<T extends ServiceMap>(options: CreateLibp2pNodeOptions<T>) {
  const privateKey = await generateKeyPairFromSeed("Ed25519", options.identity.seed);
  const bootstrapList = options.bootstrap ?? [];
  return createLibp2p({
    privateKey,
    addresses: { listen: options.listen ?? [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
    connectionMonitor: { abortConnectionOnPingFailure: false },
    // Loopback and private addresses are what a local network uses; a browser may dial them.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 64 }),
      ...options.services,
    } as ServiceFactoryMap<T & { identify: unknown; ping: unknown }>,
  }) as Promise<Libp2p<T & { identify: unknown; ping: unknown }>>;
}
