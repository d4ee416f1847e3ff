import { join } from "node:path";
import { lockDataDir } from "@opengateway/ledger/data-dir-lock";
import { ADVERT_TOPIC, createLibp2pNode } from "@opengateway/p2p";
import { sqliteLedgerReplica } from "@opengateway/p2p/sqlite-ledger-replica";
import { generateIdentity } from "@opengateway/protocol";
import { loadOrCreateIdentity } from "@opengateway/sdk";
import type { Logger } from "pino";
import { ledgerParamOverrides } from "./network-params.js";
import { reportReady } from "./process-ready.js";
import { onShutdown } from "./shutdown.js";

export interface RelayCommandOptions {
  listen: string[];
  bootstrap: string[];
  keyFile?: string;
  local: boolean;
  /** Find and answer peers on the LAN with mDNS (`--no-mdns` turns it off). */
  mdns: boolean;
  home: string;
  credits: boolean;
  ledgerFile?: string;
  ledgerSyncIntervalMs?: number;
  registrationDifficulty?: number;
}

/**
 * A bootstrap and relay node: the first address new peers dial, a DHT server, a relay for
 * browsers and NATed peers, a forwarder of gossiped adverts and ledger blocks, and a replica of
 * the ledger, so that a wallet or a tab that knows only this address can sync. It serves no model.
 */
export async function runRelayCommand(options: RelayCommandOptions, logger: Logger): Promise<void> {
  lockDataDir(options.home, "relay"); // one relay per home (its ledger file); held until exit
  const identity = options.keyFile ? await loadOrCreateIdentity(options.keyFile) : generateIdentity();
  const ledgerPath = options.ledgerFile ?? join(options.home, "relay-ledger.sqlite");
  const node = await createLibp2pNode({
    identity,
    listen: options.listen,
    bootstrap: options.bootstrap,
    relay: true,
    localNetwork: options.local,
    mdns: options.mdns,
    services: {
      ...(options.credits && {
        ledger: sqliteLedgerReplica({
          path: ledgerPath,
          params: ledgerParamOverrides(options),
          syncIntervalMs: options.ledgerSyncIntervalMs,
          logger,
        }),
      }),
    },
  });
  // Gossipsub only forwards topics a node subscribes to.
  node.services.pubsub.subscribe(ADVERT_TOPIC);
  const addresses = node.getMultiaddrs().map((address) => address.toString());
  process.stdout.write(
    `\n  OpenGateway bootstrap/relay node\n  peer id    ${identity.id}\n  ledger     ${options.credits ? ledgerPath : "none (--no-credits)"}\n  addresses\n${addresses.map((a) => `    ${a}`).join("\n")}\n\n`,
  );
  reportReady({ type: "ready", role: "relay", peerId: identity.id, addresses });
  // The ledger replica stops with the node: its sync, then its store.
  onShutdown(async () => {
    await node.stop();
  });
}
