import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Ledger, ledgerParams } from "@opengateway/ledger";
import { SqliteLedgerStore } from "@opengateway/ledger/sqlite";
import { ADVERT_TOPIC, createLibp2pNode, LedgerSync } from "@opengateway/p2p";
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
  const replica = options.credits ? await startLedgerReplica(options, node, logger) : undefined;
  const addresses = node.getMultiaddrs().map((address) => address.toString());
  process.stdout.write(
    `\n  OpenGateway bootstrap/relay node\n  peer id    ${identity.id}\n  ledger     ${replica ? replica.path : "none (--no-credits)"}\n  addresses\n${addresses.map((a) => `    ${a}`).join("\n")}\n\n`,
  );
  reportReady({ type: "ready", role: "relay", peerId: identity.id, addresses });
  onShutdown(async () => {
    await replica?.stop();
    await node.stop();
  });
}

async function startLedgerReplica(
  options: RelayCommandOptions,
  node: Awaited<ReturnType<typeof createLibp2pNode>>,
  logger: Logger,
) {
  const path = options.ledgerFile ?? join(options.home, "relay-ledger.sqlite");
  await mkdir(dirname(path), { recursive: true });
  const params = ledgerParams(ledgerParamOverrides(options));
  const store = await SqliteLedgerStore.open(path);
  const ledger = await Ledger.load(store, { params });
  const sync = new LedgerSync(node, ledger, {
    intervalMs: options.ledgerSyncIntervalMs,
    onError: (error) => logger.debug({ err: error }, "ledger sync"),
  });
  await sync.start();
  return {
    path,
    stop: async () => {
      await sync.stop();
      await ledger.save();
      await store.close();
    },
  };
}
