import { bootstrap } from "@libp2p/bootstrap";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import type { GossipSub } from "@libp2p/gossipsub";
import { gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from "@libp2p/kad-dht";
import { noise } from "@libp2p/noise";
import { ping } from "@libp2p/ping";
import { yamux } from "@libp2p/yamux";
import type { Identity } from "@opengateway/protocol";
import type { Libp2pOptions, ServiceFactoryMap } from "libp2p";
import { KAD_DHT_PROTOCOL } from "./constants.js";

/** The services every OpenGateway node runs. */
export type NetworkServices = {
  identify: unknown;
  ping: unknown;
  pubsub: GossipSub;
  dht: unknown;
};

/**
 * What every peer shares, in Node and in a browser tab alike: its key, encryption, muxing, bootstrap
 * discovery and base services. The builds add their transports; only the DHT's mode and the default
 * listen addresses differ.
 */
export async function baseLibp2pConfig(
  options: { identity: Identity; listen?: string[]; bootstrap?: string[]; localNetwork?: boolean },
  defaults: { listen: string[]; dhtClientMode: boolean },
): Promise<Libp2pOptions<NetworkServices> & { services: ServiceFactoryMap<NetworkServices> }> {
  const bootstrapList = options.bootstrap ?? [];
  return {
    privateKey: await generateKeyPairFromSeed("Ed25519", options.identity.seed),
    addresses: { listen: options.listen ?? defaults.listen },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : [],
    // Long generations must not be cut because one ping was slow.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 64 }),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
      dht: kadDHT({
        protocol: KAD_DHT_PROTOCOL,
        clientMode: defaults.dhtClientMode,
        // Loopback and private addresses are kept only on a local network.
        peerInfoMapper: options.localNetwork ? passthroughMapper : removePrivateAddressesMapper,
      }),
    } as ServiceFactoryMap<NetworkServices>,
  };
}
