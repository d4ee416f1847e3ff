import type { Libp2p } from "@libp2p/interface";
import type { LedgerParams } from "@opengateway/ledger";
import { LOCAL_LEDGER_PARAMS, machineFingerprintHash } from "@opengateway/ledger";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode, InferenceRouter, ledgerReplica, NetworkWatcher, ProviderTable } from "@opengateway/p2p";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { errorClass, generateIdentity } from "@opengateway/protocol";
import type { ClientOptions } from "openai";
import OpenAI from "openai";
import { clientMachineFingerprintHash } from "./client-fingerprint.js";
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
  /** The most credits per token any request accepts (a request's `max_price_per_token` can lower it); dearer providers are skipped. */
  maxPricePerToken?: number;
  /**
   * Devnet/LAN, as the CLI's `--local`: accept loopback and private addresses in the DHT, and use a
   * local network's ledger parameters (trivial registration work, one grant per identity).
   */
  localNetwork?: boolean;
  /**
   * How the client pays. By default from its identity's own ledger account: the client keeps a copy
   * of the ledger and, before `createClient` resolves, registers the identity if the network does
   * not know it yet (proof-of-work: about a minute and a half at the default difficulty, under a
   * second on a local network; an identity kept in `keyFile` registers once). `false`: pay nothing;
   * only providers that check no payers (a private network's) serve such a client.
   */
  ledger?:
    | false
    | {
        /** The network's ledger parameters (default: the network's defaults, or a local network's with `localNetwork`). */
        params?: Partial<LedgerParams>;
        /**
         * Hash of stable machine facts (one grant per machine; see `machineFingerprintHash`). Default:
         * this machine's (Node) or device's (browser); with `localNetwork`, combined with the identity,
         * so each client on one machine gets a grant, as on CLI devnets.
         */
        fingerprintHash?: string;
        /** Give up registering after this long (default 10 min): `createClient` rejects with `RegistrationTimeoutError`. */
        registrationTimeoutMs?: number;
      };
  /** Cancels `createClient` (registration and the wait for providers included); the client's node is stopped. */
  signal?: AbortSignal;
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
  /** The account as this client's copy of the ledger sees it (null with `ledger: false`). */
  balance(): WalletView | null;
}

export type OpenGatewayClient = OpenAI & {
  readonly wallet: Wallet;
  readonly libp2p: Libp2p<NetworkServices>;
  /** The `fetch` behind this client, for other OpenAI clients (`createOpenAI({ fetch })` of the Vercel AI SDK…). */
  readonly p2pFetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
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
  const ledger = options.ledger === false ? undefined : (options.ledger ?? {});
  const params: Partial<LedgerParams> = {
    ...(options.localNetwork && LOCAL_LEDGER_PARAMS),
    ...ledger?.params,
  };
  // The client's copy of the ledger starts empty each time (in memory).
  const libp2p = await createLibp2pNode({
    identity,
    listen: [],
    bootstrap: options.bootstrap,
    localNetwork: options.localNetwork,
    dhtMode: "client",
    services: { ...(ledger && { ledger: ledgerReplica({ params }) }) },
  });
  const replica = libp2p.services.ledger;
  // Reputation from the client's copy of the ledger: providers below the threshold get none of its paid work.
  const table = new ProviderTable({ reputationOf: replica && ((id) => replica.ledger.reputation(id).score) });
  const watcher = new NetworkWatcher(libp2p, table);
  watcher.start();
  const receipts: InferenceReceipt[] = [];
  const payments = replica ? new LedgerWallet(replica.writer) : undefined;
  // Claims against this identity are settled (work received) or disputed (not) as they arrive.
  const stopAnswering = payments?.answerClaims((account) => (account === identity.id ? identity : undefined));
  try {
    await reachNetwork(libp2p, [...(options.bootstrap ?? []), ...(options.peers ?? [])], {
      timeoutMs: options.connectTimeoutMs,
      signal: options.signal,
    });
    // The writer signs nothing before the replica's first reconciliation: a known identity's open
    // (or next settle) would otherwise be signed at a height the network has, and frozen as an equivocation.
    if (payments && ledger) await register(payments, identity, ledger, options);
    if ((options.waitForProvidersMs ?? 10_000) > 0)
      await watcher.waitForProviders({ timeoutMs: options.waitForProvidersMs ?? 10_000, signal: options.signal });
    options.signal?.throwIfAborted();
  } catch (error) {
    // Nothing started here may outlive a failed construction.
    stopAnswering?.();
    watcher.stop();
    await libp2p.stop();
    throw error;
  }
  const router = new InferenceRouter(libp2p, table, {
    region: options.region ?? null,
    payments,
    maxPricePerToken: options.maxPricePerToken,
  });
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
    p2pFetch: fetch,
    close: async () => {
      stopAnswering?.();
      watcher.stop();
      await libp2p.stop();
    },
  });
}

/** Registration gives up after this long by default: 2^26 hashes take about 95 s on a slow 2-core machine; this is 6 times that. */
export const DEFAULT_REGISTRATION_TIMEOUT_MS = 10 * 60_000;

/** `createClient` could not register its identity in the time it was given (`ledger.registrationTimeoutMs`). */
export class RegistrationTimeoutError extends errorClass(
  "RegistrationTimeoutError",
  "registration_timeout",
  (ms: number) =>
    `registering this client's ledger account took longer than ${ms} ms (its proof-of-work); pass a larger ledger.registrationTimeoutMs, or a keyFile whose identity is registered`,
) {}

/** Registers the client's identity unless the network knows it: bounded by the timeout, cancelled by the caller's signal. */
async function register(
  payments: LedgerWallet,
  identity: Identity,
  ledger: Exclude<CreateClientOptions["ledger"], false | undefined>,
  options: CreateClientOptions,
): Promise<void> {
  const timeoutMs = ledger.registrationTimeoutMs ?? DEFAULT_REGISTRATION_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let fingerprintHash = ledger.fingerprintHash;
  if (fingerprintHash === undefined) {
    const machine = await clientMachineFingerprintHash({ signal });
    fingerprintHash = options.localNetwork ? machineFingerprintHash({ machine, account: identity.id }) : machine;
  }
  try {
    await payments.ensureRegistered(identity, { fingerprintHash, ...payments.ledger.registrationWork() }, { signal });
  } catch (error) {
    if (timeout.aborted && !options.signal?.aborted) throw new RegistrationTimeoutError(timeoutMs);
    throw error;
  }
}
