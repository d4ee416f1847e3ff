import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
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
  region?: string | null;
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface Gateway {
  readonly url: string;
  readonly libp2p: Libp2p;
  readonly table: ProviderTable;
  /** Resolves once at least one provider is known (or the timeout passes); returns whether one is. */
  waitForProviders(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>;
  stop(): Promise<void>;
}

/** Joins the network as a libp2p peer and serves the OpenAI API over HTTP on top of it. */
export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? pino({ name: "gateway" });
  const identity = options.identity ?? generateIdentity();
  const libp2p = await createLibp2pNode({ identity, listen: options.listen ?? [], bootstrap: options.bootstrap });
  const table = new ProviderTable();
  const watcher = new NetworkWatcher(libp2p, table, {
    onError: (peerId, error) => logger.debug({ peerId, err: error }, "node-info query failed"),
  });
  watcher.start();
  const router = new InferenceRouter(libp2p, table, { region: options.region ?? null });
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
