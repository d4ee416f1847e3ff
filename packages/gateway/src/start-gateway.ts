import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode } from "@opengateway/p2p";
import type { Identity } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import { InferenceRouter, NetworkWatcher, OpenAIApi, ProviderTable } from "@opengateway/sdk";
import type { Logger } from "pino";
import { pino } from "pino";
import { ApiKeyAccounts } from "./api-key-accounts.js";
import { createGatewayApp } from "./create-gateway-app.js";

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
  /** Devnet/LAN: accept loopback and private addresses in the DHT. */
  localNetwork?: boolean;
  /** A provider silent for this long mid-request is treated as dead. */
  providerIdleTimeoutMs?: number;
  maxBodyBytes?: number;
  logger?: Logger;
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
  const libp2p = await createLibp2pNode({
    identity,
    listen: options.listen ?? [],
    bootstrap: options.bootstrap,
    localNetwork: options.localNetwork,
    dhtMode: "client",
  });
  const table = new ProviderTable();
  const watcher = new NetworkWatcher(libp2p, table, {
    onError: (peerId, error) => logger.debug({ peerId, err: error }, "node-info query failed"),
  });
  watcher.start();
  const router = new InferenceRouter(libp2p, table, {
    region: options.region ?? null,
    providerIdleTimeoutMs: options.providerIdleTimeoutMs,
  });
  const accounts = new ApiKeyAccounts({
    keys: options.apiKeys,
    accountSecret: options.accountSecret ?? globalThis.crypto.getRandomValues(new Uint8Array(32)),
  });
  const app = createGatewayApp({
    api: new OpenAIApi(router),
    accounts,
    logger,
    maxBodyBytes: options.maxBodyBytes,
    health: () => ({ providers: table.size, peers: libp2p.getPeers().length }),
    network: () => networkView(libp2p, table, options.region ?? null),
  });

  const server: Server = createServer(app);
  // Streams can be long; only idle keep-alive sockets are timed out.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}/v1`;

  for (const peer of options.peers ?? []) {
    libp2p.dial(multiaddr(peer)).catch((error: unknown) => logger.warn({ peer, err: error }, "could not dial peer"));
  }

  return {
    url,
    libp2p,
    table,
    waitForProviders: (waitOptions) => watcher.waitForProviders(waitOptions),
    stop: async () => {
      watcher.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await libp2p.stop();
    },
  };
}

function networkView(libp2p: Libp2p, table: ProviderTable, region: string | null) {
  const connected = new Set(libp2p.getConnections().map((connection) => connection.remotePeer.toString()));
  return {
    self: { peerId: libp2p.peerId.toString(), region, role: "gateway" },
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
      connected: connected.has(entry.peerId),
      lastSeen: new Date(entry.lastSeen).toISOString(),
      expiresAt: new Date(entry.expiresAt).toISOString(),
    })),
  };
}
