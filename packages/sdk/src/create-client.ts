import type { Libp2p } from "@libp2p/interface";
import type { LedgerParams } from "@opengateway/ledger";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode, InferenceRouter, ledgerReplica, NetworkWatcher, ProviderTable } from "@opengateway/p2p";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import type { ClientOptions } from "openai";
import OpenAI from "openai";
import { loadOrCreateIdentity } from "./identity-file.js";
import type { WalletView } from "./ledger-wallet.js";
import { LedgerWallet } from "./ledger-wallet.js";
import { createOpenAIHandler } from "./openai-handler.js";
import { createP2PFetch } from "./p2p-fetch.js";
import { reachNetwork } from "./reach-network.js";

export interface CreateClientOptions {
  /** The paying identity. Give this or `keyFile`; without either a new identity is made. */
  identity?: Identity;
  /** Node.js only: where the identity is kept (created on first use, readable by its owner only). */
  keyFile?: string;
  /** Encrypts `keyFile` at rest (scrypt → AES-256-GCM); a plaintext file found there is rewritten encrypted. */
  keyPassphrase?: string;
  /** Peers to join the network through (multiaddrs ending in /p2p/<peer id>). */
  bootstrap?: string[];
  /** Providers to dial directly. */
  peers?: string[];
  /** Region to route in; `null` (the default) = any region. */
  region?: string | null;
  /** Devnet/LAN: accept loopback and private addresses in the DHT. */
  localNetwork?: boolean;
  /**
   * Pay for requests from this identity's ledger account: the client replicates the ledger,
   * registers the identity (proof-of-work) if needed, reserves, and settles every receipt.
   */
  ledger?: {
    params?: Partial<LedgerParams>;
    /** Hash of stable machine facts (one grant per machine); in Node see `nodeMachineFingerprintHash`. */
    fingerprintHash: string;
  };
  /**
   * How long to try reaching one of `bootstrap`/`peers` before `createClient` rejects with
   * `NetworkUnreachableError` (default 10 s; an address that refuses fails at once).
   */
  connectTimeoutMs?: number;
  /** Resolve `createClient` once a provider is known, waiting at most this long (default 10 s; 0 = don't wait). */
  waitForProvidersMs?: number;
  /** Passed to the official client (timeouts, retries, default headers…); `fetch` and `baseURL` are the SDK's. */
  openai?: Omit<ClientOptions, "fetch" | "baseURL" | "apiKey">;
}

export interface Wallet {
  /** The identity that signs and pays for this client's requests. */
  readonly identity: string;
  /** Receipts of the requests this client made, the latest first. */
  history(): InferenceReceipt[];
  /** The account as this client's copy of the ledger sees it (null without the `ledger` option). */
  balance(): WalletView | null;
}

export type OpenGatewayClient = OpenAI & {
  readonly wallet: Wallet;
  readonly libp2p: Libp2p<NetworkServices>;
  /** Stops the client's libp2p node. */
  close(): Promise<void>;
};

const MAX_HISTORY = 1000;

/**
 * An official `openai` client whose requests never go to an HTTP server: each one is validated,
 * signed with the caller's identity and routed over libp2p to a provider, with the same code the
 * gateway runs. Use it exactly as any OpenAI client.
 */
export async function createClient(options: CreateClientOptions = {}): Promise<OpenGatewayClient> {
  const identity =
    options.identity ??
    (options.keyFile ? await loadOrCreateIdentity(options.keyFile, { passphrase: options.keyPassphrase }) : generateIdentity());
  // The client's copy of the ledger starts empty each time (in memory).
  const libp2p = await createLibp2pNode({
    identity,
    listen: [],
    bootstrap: options.bootstrap,
    localNetwork: options.localNetwork,
    dhtMode: "client",
    services: { ...(options.ledger && { ledger: ledgerReplica({ params: options.ledger.params }) }) },
  });
  const table = new ProviderTable();
  const watcher = new NetworkWatcher(libp2p, table);
  watcher.start();
  const receipts: InferenceReceipt[] = [];
  const replica = libp2p.services.ledger;
  const payments = replica ? new LedgerWallet(replica.writer) : undefined;
  try {
    await reachNetwork(libp2p, [...(options.bootstrap ?? []), ...(options.peers ?? [])], {
      timeoutMs: options.connectTimeoutMs,
    });
    // The writer signs nothing before the replica's first reconciliation: a known identity's open
    // (or next settle) would otherwise be signed at a height the network has, and frozen as an equivocation.
    if (payments && options.ledger) {
      await payments.ensureRegistered(identity, {
        fingerprintHash: options.ledger.fingerprintHash,
        difficultyBits: payments.ledger.params.registrationDifficultyBits,
      });
    }
    if ((options.waitForProvidersMs ?? 10_000) > 0)
      await watcher.waitForProviders({ timeoutMs: options.waitForProvidersMs ?? 10_000 });
  } catch (error) {
    // Nothing started here may outlive a failed construction.
    watcher.stop();
    await libp2p.stop();
    throw error;
  }
  const router = new InferenceRouter(libp2p, table, { region: options.region ?? null, payments });
  const fetch = createP2PFetch({
    handler: createOpenAIHandler({ router }),
    payer: identity,
    onReceipt: (receipt) => {
      receipts.unshift(receipt);
      if (receipts.length > MAX_HISTORY) receipts.pop();
    },
  });
  const client = new OpenAI({ ...options.openai, apiKey: identity.id, baseURL: "http://opengateway.p2p/v1", fetch });
  const wallet: Wallet = {
    identity: identity.id,
    history: () => [...receipts],
    balance: () => payments?.view(identity.id) ?? null,
  };
  return Object.assign(client, {
    wallet,
    libp2p,
    close: async () => {
      watcher.stop();
      await libp2p.stop();
    },
  });
}
