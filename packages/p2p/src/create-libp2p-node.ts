import { bootstrap } from "@libp2p/bootstrap";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { noise } from "@libp2p/noise";
import { ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { webSockets } from "@libp2p/websockets";
import { yamux } from "@libp2p/yamux";
import type { Identity } from "@opengateway/protocol";
import type { ServiceFactoryMap } from "libp2p";
import { createLibp2p } from "libp2p";

export interface CreateLibp2pNodeOptions<T extends ServiceMap> {
  /** The node's OpenGateway identity doubles as its libp2p key, so peer id = identity id. */
  identity: Identity;
  listen?: string[];
  /** Multiaddrs (with /p2p/ peer ids) to discover peers from. */
  bootstrap?: string[];
  services?: ServiceFactoryMap<T>;
}

export const DEFAULT_NODE_LISTEN = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"];

/** A Node.js libp2p peer speaking TCP and WebSockets, Noise-encrypted, yamux-multiplexed. */
export async function createLibp2pNode<T extends ServiceMap>(options: CreateLibp2pNodeOptions<T>) {
  const privateKey = await generateKeyPairFromSeed("Ed25519", options.identity.seed);
  const bootstrapList = options.bootstrap ?? [];
  return createLibp2p({
    privateKey,
    addresses: { listen: options.listen ?? DEFAULT_NODE_LISTEN },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
    // Long generations must not be cut because one ping was slow.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 64 }),
      ...options.services,
    } as ServiceFactoryMap<T & { identify: unknown; ping: unknown }>,
  }) as Promise<Libp2p<T & { identify: unknown; ping: unknown }>>;
}
