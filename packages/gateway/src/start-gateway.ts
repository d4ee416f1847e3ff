import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import type { ContributePageOptions } from "@opengateway/browser-node/server";
import type { Ledger } from "@opengateway/ledger";
import { machineFingerprintHash } from "@opengateway/ledger";
import { nodeMachineFingerprintHash } from "@opengateway/ledger/node-machine-fingerprint";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode } from "@opengateway/p2p";
import type { SqliteLedgerReplicaInit } from "@opengateway/p2p/sqlite-ledger-replica";
import { sqliteLedgerReplica } from "@opengateway/p2p/sqlite-ledger-replica";
import type { Identity, InferenceReceipt, Usage } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import type { InferenceRouterOptions } from "@opengateway/sdk";
import { InferenceRouter, LedgerWallet, NetworkWatcher, ProviderTable } from "@opengateway/sdk";
import type { Logger } from "pino";
import { pino } from "pino";
import { ApiKeyAccounts } from "./api-key-accounts.js";
import { BackgroundSettlements } from "./background-settlements.js";
import {
  CONNECTIONS_CHECK_INTERVAL_MS,
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS,
  LINGER_EVENT,
  LINGER_MAX_BYTES,
  LINGER_TIME_MS,
  LOOPBACK_HOSTNAMES,
  MAX_CONNECTIONS_PER_CLIENT,
  MAX_LINGERING_SOCKETS,
  REQUEST_TIMEOUT_MS,
  SOCKET_IDLE_TIMEOUT_MS,
} from "./constants.js";
import { createGatewayApp } from "./create-gateway-app.js";
import { SqliteResponseStore } from "./sqlite-response-store.js";

export interface StartGatewayOptions {
  host?: string;
  port?: number;
  apiKeys: readonly string[];
  /** Accounts behind API keys are derived from this; a random one makes them last one run. */
  accountSecret?: Uint8Array;
  /** Full nodes to dial directly (multiaddrs ending in /p2p/<peer id>). */
  peers?: string[];
  bootstrap?: string[];
  listen?: string[];
  identity?: Identity;
  /** Home region: requests stay in it unless they send `x-opengateway-region: any`. `null` = any. */
  region?: string | null;
  /** The most credits per token any request accepts (a request's `max_price_per_token` can lower it); dearer providers are skipped. */
  maxPricePerToken?: number;
  /** Devnet/LAN: accept loopback and private addresses in the DHT. */
  localNetwork?: boolean;
  /** A provider silent for this long mid-request is treated as dead. */
  providerIdleTimeoutMs?: number;
  /** Backpressure: how many requests may wait for a provider slot, and how long (defaults in p2p's constants.ts). */
  queue?: Pick<InferenceRouterOptions, "maxQueuedRequests" | "queueWaitMs" | "resumeWaitMs">;
  maxBodyBytes?: number;
  /** Browser origins allowed to call the API (CORS); none by default. */
  corsOrigins?: readonly string[];
  /** HTTP bounds; the defaults are in constants.ts (docs/http-limits.md). */
  http?: Partial<GatewayHttpLimits>;
  logger?: Logger;
  /** Serve the browser contributor page at /contribute. */
  contribute?: ContributePageOptions;
  /** Credits: each API key's account pays for its requests from the ledger. Absent = requests are not paid for. */
  ledger?: GatewayLedgerOptions;
  /** Stored Responses API answers (`store: true`), per API key, in SQLite: this file, or in memory when absent. */
  responses?: { path?: string; maxPerKey?: number };
}

export interface GatewayHttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  socketIdleTimeoutMs: number;
  connectionsCheckIntervalMs: number;
  maxConnectionsPerClient: number;
  /** After an answer that left a body unread: how long and how much to read and discard before closing. */
  lingerTimeMs: number;
  lingerMaxBytes: number;
  /** Sockets lingering at once, over all clients. */
  maxLingeringSockets: number;
}

export interface GatewayLedgerOptions extends SqliteLedgerReplicaInit {
  /**
   * Register every API key's account on start (proof-of-work, then the grant). Devnet/local only:
   * each account is fingerprinted with this machine *and* the account, so one machine gets several grants.
   */
  registerAccounts?: boolean;
}

export interface Gateway {
  readonly url: string;
  readonly libp2p: Libp2p<NetworkServices>;
  readonly table: ProviderTable;
  /** Resolves once at least one provider is known (or the timeout passes); returns whether one is. */
  waitForProviders(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>;
  stop(): Promise<void>;
}

/** Joins the network as a libp2p peer and serves the OpenAI API over HTTP on top of it. */
export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? pino({ name: "gateway" });
  const identity = options.identity ?? generateIdentity();
  const ledger = options.ledger;
  const host = options.host ?? "127.0.0.1";
  const libp2p = await createLibp2pNode({
    identity,
    listen: options.listen ?? [],
    bootstrap: options.bootstrap,
    localNetwork: options.localNetwork,
    dhtMode: "client",
    services: {
      ...(ledger && {
        ledger: sqliteLedgerReplica({ ...ledger, logger }),
      }),
    },
  });
  const replica = libp2p.services.ledger;
  // Reputation from this gateway's copy of the ledger: providers below the threshold get no paid work.
  const table = new ProviderTable({ reputationOf: replica && ((id) => replica.ledger.reputation(id).score) });
  const watcher = new NetworkWatcher(libp2p, table, { logger });
  watcher.start();
  const accounts = new ApiKeyAccounts({
    keys: options.apiKeys,
    accountSecret: options.accountSecret ?? globalThis.crypto.getRandomValues(new Uint8Array(32)),
  });
  // Dialled at once: the ledger's first reconciliation waits for a peer that keeps one.
  for (const peer of options.peers ?? []) {
    libp2p.dial(multiaddr(peer)).catch((error: unknown) => logger.warn({ peer, err: error }, "could not dial peer"));
  }
  const wallet = replica ? new LedgerWallet(replica.writer) : undefined;
  // Claims against the API keys' accounts are settled (work received) or disputed (not), never left as a lock-out.
  const byId = new Map(accounts.identities().map((identity) => [identity.id, identity]));
  const stopAnswering = wallet?.answerClaims((account) => byId.get(account), {
    onError: (error) => logger.warn({ err: error }, "answering a claim failed"),
  });
  if (wallet && ledger?.registerAccounts) await registerAccounts(wallet, accounts, logger);
  const receipts = new ReceiptLog();
  const responses = new SqliteResponseStore(options.responses?.path ?? ":memory:", {
    maxPerOwner: options.responses?.maxPerKey,
  });
  const settlements = wallet ? new BackgroundSettlements(wallet, { logger }) : undefined;
  const router = new InferenceRouter(libp2p, table, {
    region: options.region ?? null,
    providerIdleTimeoutMs: options.providerIdleTimeoutMs,
    ...options.queue,
    maxPricePerToken: options.maxPricePerToken,
    payments: settlements,
    onPaymentError: (error) => logger.warn({ err: error }, "settlement failed"),
  });
  const walletView = (payer: Identity) => ({
    ...(wallet?.view(payer.id) ?? {
      identity: payer.id,
      registered: false,
      balance: 0,
      spendable: 0,
      locked: 0,
      reserved: 0,
      debt: 0,
    }),
    ledger: wallet ? "on" : "off",
    receipts: receipts.list(payer.id),
  });
  const limits: GatewayHttpLimits = {
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    socketIdleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS,
    connectionsCheckIntervalMs: CONNECTIONS_CHECK_INTERVAL_MS,
    maxConnectionsPerClient: MAX_CONNECTIONS_PER_CLIENT,
    lingerTimeMs: LINGER_TIME_MS,
    lingerMaxBytes: LINGER_MAX_BYTES,
    maxLingeringSockets: MAX_LINGERING_SOCKETS,
    ...options.http,
  };
  const app = createGatewayApp({
    router,
    onReceipt: (payer, receipt, clientId) => receipts.add(payer, receipt, clientId),
    wallet: async (payer) => {
      // The caller's settlements still being written first: the balance then includes its last request.
      await settlements?.settled(payer.id);
      return walletView(payer);
    },
    accounts,
    logger,
    maxBodyBytes: options.maxBodyBytes,
    linger: { timeMs: limits.lingerTimeMs, maxBytes: limits.lingerMaxBytes, maxSockets: limits.maxLingeringSockets },
    health: () => ({ providers: table.size, peers: libp2p.getPeers().length }),
    contribute: options.contribute,
    corsOrigins: options.corsOrigins,
    allowedHostnames: isLoopback(host) ? LOOPBACK_HOSTNAMES : undefined,
    network: () => networkView(libp2p, router, options.region ?? null, wallet?.ledger),
    responses,
  });

  // The request timeout bounds receiving a request (head and body), not a streamed answer.
  const server: Server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckIntervalMs,
    },
    app,
  );
  server.setTimeout(limits.socketIdleTimeoutMs, (socket) => socket.destroy());
  limitConnectionsPerClient(server, limits.maxConnectionsPerClient);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}/v1`;

  return {
    url,
    libp2p,
    table,
    waitForProviders: (waitOptions) => watcher.waitForProviders(waitOptions),
    stop: async () => {
      stopAnswering?.();
      watcher.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      responses.close();
      await settlements?.drain();
      // The ledger replica stops with the node: its sync, then its store.
      await libp2p.stop();
    },
  };
}

/**
 * Registers every API key's account (devnet/local: proof-of-work, then the grant), one after the
 * other; the wallet signs nothing before the ledger's first reconciliation.
 */
async function registerAccounts(wallet: LedgerWallet, accounts: ApiKeyAccounts, logger: Logger): Promise<void> {
  const machine = await nodeMachineFingerprintHash();
  for (const identity of accounts.identities()) {
    const started = Date.now();
    await wallet.ensureRegistered(identity, {
      fingerprintHash: machineFingerprintHash({ machine, account: identity.id }),
      ...wallet.ledger.registrationWork(),
    });
    logger.info({ account: identity.id, ms: Date.now() - started, ...wallet.view(identity.id) }, "account registered");
  }
}

/** The latest receipts per account, with the id the client saw, for the wallet endpoint. */
class ReceiptLog {
  readonly #byAccount = new Map<
    string,
    Array<{ id: string; provider: string; model: string; usage: Usage; credits: number; at: string }>
  >();

  add(payer: string, receipt: InferenceReceipt, clientId: string): void {
    const list = this.#byAccount.get(payer) ?? [];
    list.unshift({
      id: clientId,
      provider: receipt.provider,
      model: receipt.model,
      usage: receipt.usage,
      credits: receipt.credits,
      at: new Date(receipt.issuedAt).toISOString(),
    });
    if (list.length > 100) list.pop();
    this.#byAccount.set(payer, list);
  }

  list(payer: string) {
    return [...(this.#byAccount.get(payer) ?? [])];
  }
}

function networkView(libp2p: Libp2p, router: InferenceRouter, region: string | null, ledger: Ledger | undefined) {
  const connected = new Set(libp2p.getConnections().map((connection) => connection.remotePeer.toString()));
  const table = router.table;
  return {
    /** `queued`: requests waiting here for a provider slot right now (docs/http-limits.md, Backpressure). */
    self: { peerId: libp2p.peerId.toString(), region, role: "gateway", queued: router.queued },
    /** This gateway's copy of the ledger: peers whose roots are equal hold identical balances. */
    ledger: ledger ? { merkleRoot: ledger.merkleRoot(), ...ledger.totals() } : null,
    peers: table.entries().map((entry) => ({
      peerId: entry.peerId,
      region: entry.info.region,
      clusters: entry.info.clusters,
      engine: entry.info.engine,
      agent: entry.info.agent,
      models: entry.info.models.map((model) => model.id),
      load: {
        activeRequests: entry.info.activeRequests,
        maxConcurrentRequests: entry.info.maxConcurrentRequests,
        queuedRequests: entry.info.queuedRequests,
        inFlightFromHere: entry.inFlight,
      },
      tokensPerSecond: entry.info.tokensPerSecond,
      failures: entry.failures,
      /** The provider's account as this gateway's copy of the ledger sees it (earnings collected). */
      balance: ledger ? ledger.account(entry.peerId).balance : null,
      /** Its reputation, 0–1000, from this gateway's copy of the ledger (docs/proof-system.md): null without one. */
      reputation: ledger ? ledger.reputation(entry.peerId).score : null,
      /** What the reputation is made of: paid receipts, disputed claims, slashed, audits. */
      reputationFacts: ledger ? reputationFacts(ledger, entry.peerId) : null,
      /** Audit verdicts on its work that stand on the ledger (refuted ones excluded); null without a ledger. */
      audits: ledger ? auditCounts(ledger, entry.peerId) : null,
      connected: connected.has(entry.peerId),
      lastSeen: new Date(entry.lastSeen).toISOString(),
      expiresAt: new Date(entry.expiresAt).toISOString(),
    })),
  };
}

function reputationFacts(ledger: Ledger, peerId: string) {
  const { paidReceipts, disputedClaims, slashed, eligible, audits } = ledger.reputation(peerId);
  return { paidReceipts, disputedClaims, slashed, eligible, fraud: audits.fraud, falseReports: audits.falseReports };
}

function auditCounts(ledger: Ledger, peerId: string) {
  const { passed, failed } = ledger.reputation(peerId).audits;
  return { passed, failed };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** Closes a client's connections beyond `max` as they open. */
function limitConnectionsPerClient(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket) => {
    const client = socket.remoteAddress ?? "";
    const count = (open.get(client) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(client, count);
    // A socket that only lingers after its last answer (see LINGER_TIME_MS) is let go at once.
    const release = () => {
      socket.off(LINGER_EVENT, release);
      socket.off("close", release);
      const left = (open.get(client) ?? 1) - 1;
      if (left <= 0) open.delete(client);
      else open.set(client, left);
    };
    socket.once(LINGER_EVENT, release);
    socket.once("close", release);
  });
}
