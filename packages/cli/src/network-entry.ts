import { commandBootstrap } from "./bootstrap-peers.js";
import { readNodeStatus } from "./node-status.js";

export interface NetworkEntryOptions {
  /** Given with `--bootstrap`, OPENGATEWAY_BOOTSTRAP or the config. */
  bootstrap?: string[];
  region?: string;
  /** The client also looks for peers on the LAN with mDNS. */
  mdns: boolean;
  local: boolean;
  registrationDifficulty?: number;
  registrationMemory?: number;
  /** The data directory: its config, and the node that may be running in it. */
  home: string;
}

/** How a short-lived client (wallet, chat) reaches the network, and under which ledger rules. */
export interface NetworkEntry {
  bootstrap: string[];
  /** Where the addresses came from, for the message when none answers. */
  sources: string[];
  local: boolean;
  registrationDifficulty?: number;
  registrationMemory?: number;
}

/**
 * Where a wallet or chat joins: the peers given, else the full node running in the same home (from its
 * status file, taking its ledger rules: a wallet or chat beside `opengateway start` needs no flags), then
 * the region's built-in bootstrap peers; mDNS adds the LAN's peers to either.
 */
export async function networkEntry(options: NetworkEntryOptions): Promise<NetworkEntry> {
  const choice = await commandBootstrap(options);
  if (choice.source === "given") {
    return {
      bootstrap: choice.addresses,
      sources: ["--bootstrap"],
      local: options.local,
      registrationDifficulty: options.registrationDifficulty,
      registrationMemory: options.registrationMemory,
    };
  }
  const node = await readNodeStatus(options.home);
  const nodeAddresses = node?.addresses ?? [];
  const sources = [
    ...(nodeAddresses.length > 0 ? [`the node running in ${options.home}`] : []),
    ...(choice.addresses.length > 0 ? ["the built-in bootstrap peers"] : []),
    ...(options.mdns ? ["the LAN (mDNS)"] : []),
  ];
  return {
    bootstrap: [...nodeAddresses, ...choice.addresses],
    sources,
    local: options.local || node?.localNetwork === true,
    registrationDifficulty: options.registrationDifficulty ?? node?.ledger?.registrationDifficultyBits,
    registrationMemory: options.registrationMemory ?? node?.ledger?.registrationMemoryKiB,
  };
}
