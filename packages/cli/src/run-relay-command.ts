import { ADVERT_TOPIC, createLibp2pNode } from "@opengateway/p2p";
import { generateIdentity } from "@opengateway/protocol";
import { loadOrCreateIdentity } from "@opengateway/sdk";
import { reportReady } from "./process-ready.js";
import { onShutdown } from "./shutdown.js";

export interface RelayCommandOptions {
  listen: string[];
  bootstrap: string[];
  keyFile?: string;
  local: boolean;
}

/**
 * A bootstrap and relay node: the first address new peers dial, a DHT server, a relay for
 * browsers and NATed peers, and a forwarder of gossiped adverts. It serves no model.
 */
export async function runRelayCommand(options: RelayCommandOptions): Promise<void> {
  const identity = options.keyFile ? await loadOrCreateIdentity(options.keyFile) : generateIdentity();
  const node = await createLibp2pNode({
    identity,
    listen: options.listen,
    bootstrap: options.bootstrap,
    relay: true,
    localNetwork: options.local,
  });
  // Gossipsub only forwards topics a node subscribes to.
  node.services.pubsub.subscribe(ADVERT_TOPIC);
  const addresses = node.getMultiaddrs().map((address) => address.toString());
  process.stdout.write(
    `\n  OpenGateway bootstrap/relay node\n  peer id    ${identity.id}\n  addresses\n${addresses.map((a) => `    ${a}`).join("\n")}\n\n`,
  );
  reportReady({ type: "ready", role: "relay", peerId: identity.id, addresses });
  onShutdown(async () => {
    await node.stop();
  });
}
