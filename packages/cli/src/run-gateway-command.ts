import { existsSync } from "node:fs";
import { join } from "node:path";
import { CONTRIBUTE_PAGE_DIR } from "@opengateway/browser-node/server";
import { startGateway } from "@opengateway/gateway";
import { ledgerParams } from "@opengateway/ledger";
import { lockDataDir } from "@opengateway/ledger/data-dir-lock";
import { loadOrCreateSecret } from "@opengateway/sdk";
import type { Logger } from "pino";
import { atRestPassphrase } from "./at-rest-passphrase.js";
import { ledgerParamOverrides } from "./network-params.js";
import { reportReady } from "./process-ready.js";
import { onShutdown } from "./shutdown.js";

export interface GatewayCommandOptions {
  host: string;
  port: number;
  apiKeys: string[];
  peers: string[];
  bootstrap: string[];
  home: string;
  region?: string;
  local: boolean;
  providerIdleTimeoutMs?: number;
  maxQueuedRequests?: number;
  queueWaitMs?: number;
  maxConnectionsPerClient?: number;
  maxPricePerToken?: number;
  credits: boolean;
  contributeBootstrap: string[];
  contributeModel: string[];
  contributeModelUrl: string[];
  contributeDir?: string;
  ledgerFile?: string;
  ledgerSyncIntervalMs?: number;
  registerAccounts?: boolean;
  registrationDifficulty?: number;
  corsOrigin?: string[];
  /** Encrypts the account secret at rest; from the environment or a file the CLI entry read, never a flag. */
  passphrase?: string;
}

/** The secret every API key's account is derived from; a random passphrase beside it unless the operator gives one. */
export const GATEWAY_ACCOUNT_SECRET_FILE = "gateway-account-secret";
export const GATEWAY_SECRET_PASSPHRASE_FILE = "gateway-account-secret.passphrase";

export async function runGatewayCommand(options: GatewayCommandOptions, logger: Logger): Promise<void> {
  // One gateway per home: its API-key accounts and ledger file are the home's; held until exit.
  lockDataDir(options.home, "gateway");
  const pageDir = options.contributeDir ?? CONTRIBUTE_PAGE_DIR;
  const ledgerOverrides = ledgerParamOverrides(options);
  const accountSecret = await loadOrCreateSecret(join(options.home, GATEWAY_ACCOUNT_SECRET_FILE), {
    passphrase: await atRestPassphrase(options.home, GATEWAY_SECRET_PASSPHRASE_FILE, options.passphrase),
    onMigrated: (path) => logger.warn({ file: path }, "the plaintext account secret was rewritten encrypted"),
  });
  const gateway = await startGateway({
    host: options.host,
    port: options.port,
    apiKeys: options.apiKeys,
    accountSecret,
    peers: options.peers,
    bootstrap: options.bootstrap,
    region: options.region ?? null,
    localNetwork: options.local,
    corsOrigins: options.corsOrigin,
    contribute: existsSync(join(pageDir, "index.html"))
      ? {
          pageDir,
          bootstrap: () => options.contributeBootstrap,
          modelFiles: options.contributeModel,
          modelUrls: options.contributeModelUrl,
          region: options.region ?? null,
          localNetwork: options.local,
          // Tabs keep the same ledger as this gateway; on a devnet every tab of one browser gets its own grant.
          ledger: options.credits
            ? {
                registrationDifficultyBits: ledgerParams(ledgerOverrides).registrationDifficultyBits,
                registrationMemoryKiB: ledgerParams(ledgerOverrides).registrationMemoryKiB,
                perAccountGrant: options.local,
                ...(!ledgerParams(ledgerOverrides).lockedCreditsTravel && { lockedCreditsTravel: false }),
              }
            : null,
        }
      : undefined,
    providerIdleTimeoutMs: options.providerIdleTimeoutMs,
    queue: { maxQueuedRequests: options.maxQueuedRequests, queueWaitMs: options.queueWaitMs },
    ...(options.maxConnectionsPerClient === undefined
      ? {}
      : { http: { maxConnectionsPerClient: options.maxConnectionsPerClient } }),
    responses: { path: join(options.home, "gateway-responses.sqlite") },
    maxPricePerToken: options.maxPricePerToken,
    ledger: options.credits
      ? {
          path: options.ledgerFile ?? join(options.home, "gateway-ledger.sqlite"),
          registerAccounts: options.registerAccounts ?? options.local,
          syncIntervalMs: options.ledgerSyncIntervalMs,
          params: ledgerOverrides,
        }
      : undefined,
    logger,
  });
  const found = await gateway.waitForProviders({ timeoutMs: 15_000 });
  process.stdout.write(
    `\n  OpenGateway gateway\n  OpenAI API  ${gateway.url}\n  contribute  ${gateway.url.replace(/\/v1$/, "/contribute")}\n  peer id     ${gateway.libp2p.peerId}\n  providers   ${gateway.table.size}${found ? "" : " (none yet: waiting for full nodes)"}\n\n`,
  );
  reportReady({ type: "ready", role: "gateway", url: gateway.url, peerId: gateway.libp2p.peerId.toString() });
  onShutdown(() => gateway.stop());
}
