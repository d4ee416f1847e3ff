import { bootstrap } from "@libp2p/bootstrap";
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import { gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from "@libp2p/kad-dht";
import { noise } from "@libp2p/noise";
import { ping } from "@libp2p/ping";
import { webRTC } from "@libp2p/webrtc";
import { webSockets } from "@libp2p/websockets";
import { yamux } from "@libp2p/yamux";
import type { ServiceFactoryMap } from "libp2p";
import { createLibp2p } from "libp2p";
import { KAD_DHT_PROTOCOL } from "./constants.js";
import type { CreateLibp2pNodeOptions, IceServer, NetworkServices } from "./create-libp2p-node.js";

export type { CreateLibp2pNodeOptions, IceServer, NetworkServices };
/** A tab cannot listen on sockets; it is reached through a relay reservation, upgraded to WebRTC. */
export const DEFAULT_NODE_LISTEN: string[] = [];

/** The browser build: WebSockets out, WebRTC in and out, circuit relay for signalling. */
export async function createLibp2pNode<T extends ServiceMap>(options: CreateLibp2pNodeOptions<T>) {
  const privateKey = await generateKeyPairFromSeed("Ed25519", options.identity.seed);
  const bootstrapList = options.bootstrap ?? [];
  return createLibp2p({
    privateKey,
    addresses: { listen: options.listen ?? DEFAULT_NODE_LISTEN },
    transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: options.iceServers ?? [] } }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
    connectionMonitor: { abortConnectionOnPingFailure: false },
    // Loopback and private addresses are what a local network uses; a browser may dial them.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 64 }),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
      // A tab is a DHT client: it finds peers but does not store records for others.
      dht: kadDHT({
        protocol: KAD_DHT_PROTOCOL,
        clientMode: true,
        peerInfoMapper: options.localNetwork ? passthroughMapper : removePrivateAddressesMapper,
      }),
      ...options.services,
    } as ServiceFactoryMap<T & NetworkServices>,
  }) as Promise<Libp2p<T & NetworkServices>>;
}
