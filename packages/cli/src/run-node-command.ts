import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FullNode } from "@opengateway/full-node";
import { startFullNode } from "@opengateway/full-node";
import { InvalidSweepRuleError, validateSweepRule } from "@opengateway/ledger";
import { lockDataDir } from "@opengateway/ledger/data-dir-lock";
import type { Logger } from "pino";
import { ledgerParamOverrides } from "./network-params.js";
import { loadNodeIdentity } from "./node-identity.js";
import { networkRegistrationWork, readRegistrationWork, registrationFingerprint } from "./node-registration.js";
import { writeNodeStatus } from "./node-status.js";
import { reportReady } from "./process-ready.js";
import { downloadProgress } from "./progress-line.js";
import { onShutdown } from "./shutdown.js";

export interface NodeCommandOptions {
  /** A GGUF file or hf: URI; absent with `upstream`. */
  model?: string;
  /** An OpenAI-compatible server's API root to serve through instead of a model. */
  upstream?: string;
  upstreamApiKey?: string;
  contextSize?: number;
  alias?: string;
  listen: string[];
  bootstrap: string[];
  home: string;
  keyFile?: string;
  /** Unlocks the node's key file (OPENGATEWAY_PASSPHRASE or OPENGATEWAY_PASSPHRASE_FILE). */
  passphrase?: string;
  region?: string;
  relay: boolean;
  local: boolean;
  threads?: number;
  parallel?: number;
  gpu: false | "auto";
  credits: boolean;
  /** `--no-payment-checks` sets it false (private networks); `--require-payment` is the default anyway. */
  paymentChecks: boolean;
  requirePayment?: boolean;
  /** `--no-audits` sets it false: the node does not probe nor review other providers of its model. */
  audits: boolean;
  auditIntervalMs?: number;
  ledgerFile?: string;
  ledgerSyncIntervalMs?: number;
  claimAfterMs?: number;
  sweepTo?: string;
  sweepAbove?: number;
  contributePort?: number;
  contributeHost: string;
  contributeBootstrap: string[];
  contributeModelUrl: string[];
  contributeDir?: string;
  registrationDifficulty?: number;
  streamBatchMs?: number;
  thermalThrottleC: number;
  thermalPauseC: number;
  thermalSensor?: string[];
}

export async function runNodeCommand(options: NodeCommandOptions, logger: Logger): Promise<void> {
  const identity = await loadNodeIdentity(options, logger);
  // One process per identity and ledger file (two would sign two blocks at one height); held until exit.
  lockDataDir(options.home, `node-${identity.id.slice(-8)}`);
  // A bad rule is refused before the model loads, not a minute later.
  if (options.sweepAbove !== undefined && options.sweepTo === undefined)
    throw new InvalidSweepRuleError("--sweep-above needs --sweep-to");
  if (options.sweepTo !== undefined) {
    if (!options.credits) throw new InvalidSweepRuleError("--sweep-to needs the ledger (drop --no-credits)");
    validateSweepRule({ to: options.sweepTo, above: options.sweepAbove ?? 0 }, identity.id);
  }
  const fingerprintHash = options.credits ? await registrationFingerprint(identity.id, options.local) : "";
  const work = options.credits
    ? await readRegistrationWork(options.home, identity.id, { fingerprintHash, ...networkRegistrationWork(options) })
    : undefined;
  const node = await startFullNode({
    model: options.model,
    upstream: options.upstream === undefined ? undefined : { baseURL: options.upstream, apiKey: options.upstreamApiKey },
    contextSize: options.contextSize,
    modelAlias: options.alias,
    cacheDir: join(options.home, "models"),
    onDownloadProgress: options.model === undefined ? undefined : downloadProgress(options.model),
    listen: options.listen,
    bootstrap: options.bootstrap,
    identity,
    // Without --region the node guesses its region from its time zone.
    region: options.region,
    relay: options.relay,
    ledger: options.credits
      ? {
          path: options.ledgerFile ?? join(options.home, `node-ledger-${identity.id.slice(-8)}.sqlite`),
          fingerprintHash,
          powNonce: work?.powNonce,
          params: ledgerParamOverrides(options),
          requirePayment: options.paymentChecks,
          syncIntervalMs: options.ledgerSyncIntervalMs,
          claimAfterMs: options.claimAfterMs,
          sweep: options.sweepTo === undefined ? undefined : { to: options.sweepTo, above: options.sweepAbove ?? 0 },
        }
      : undefined,
    audits:
      options.audits && options.credits
        ? {
            probeIntervalMs: options.auditIntervalMs,
            onVerdict: (event) => logger.info(event, event.type === "review" ? "reviewed an audit" : "audited a provider"),
          }
        : undefined,
    logger,
    localNetwork: options.local,
    threads: options.threads,
    parallelRequests: options.parallel,
    gpu: options.gpu,
    deltaBatchMs: options.streamBatchMs,
    thermal: { throttleC: options.thermalThrottleC, pauseC: options.thermalPauseC, sensorPaths: options.thermalSensor },
    // The request carries the prompt and stays out of the logs; the receipt is summed up by `credits`.
    onServed: ({ request: _request, receipt: _receipt, ...event }) =>
      logger.info(event, event.outcome === "done" ? "served request" : "request failed"),
  });
  const contribute = options.contributePort === undefined ? undefined : await serveContributePage(options, node);
  const models = node.engine.listModels().map((model) => model.id);
  const lines = [
    "",
    "  OpenGateway full node",
    `  peer id    ${node.identity.id}`,
    `  model      ${models.join(", ")}  (${node.modelPath})`,
    `  engine     ${node.engine.name}, ${node.engine.parallelRequests} parallel sequences`,
    `  hardware   ${node.hardware.cores} cores, ${(node.hardware.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM${node.hardware.gpu ? `, ${node.hardware.gpu.type} ${(node.hardware.gpu.totalVramBytes / 1024 ** 3).toFixed(1)} GiB VRAM` : ", no GPU"}${node.hardware.freeDiskBytes === null ? "" : `, ${(node.hardware.freeDiskBytes / 1024 ** 3).toFixed(0)} GiB disk free`}`,
    `  region     ${node.region ?? "any"}   clusters ${node.capabilities().clusters.join(", ") || "none"}${options.relay ? "   relay on" : ""}`,
    ...(node.sweep ? [`  sweep      earnings above ${node.sweep.rule.above} credits → ${node.sweep.rule.to}`] : []),
    ...(contribute ? [`  contribute ${contribute.url}`] : []),
    "  addresses",
    ...node.addresses().map((address) => `    ${address}`),
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  reportReady({
    type: "ready",
    role: "node",
    peerId: node.identity.id,
    addresses: node.addresses(),
    models,
    modelPath: node.modelPath,
    region: node.region,
    contributeUrl: contribute?.url,
  });
  const status = writeNodeStatus(options.home, node, () =>
    node.thermal ? { state: node.thermal.state, celsius: node.thermal.celsius } : null,
  );
  onShutdown(async () => {
    await status.stop();
    await contribute?.close();
    await node.stop();
  });
}

/** The contributor page, offering tabs this node's model file (from its model cache) and this node as their relay. */
async function serveContributePage(options: NodeCommandOptions, node: FullNode) {
  // Loaded only when asked for: a plain node never loads the HTTP stack.
  const { CONTRIBUTE_PAGE_DIR, startContributeServer } = await import("@opengateway/browser-node/server");
  const pageDir = options.contributeDir ?? CONTRIBUTE_PAGE_DIR;
  if (!existsSync(join(pageDir, "index.html"))) {
    throw new Error(`no contributor page in ${pageDir}: build it (pnpm build) or pass --contribute-dir`);
  }
  const ownRelay = options.relay ? node.addresses().filter((address) => address.includes("/ws/")) : [];
  const bootstrap = options.contributeBootstrap.length > 0 ? options.contributeBootstrap : ownRelay;
  return startContributeServer({
    host: options.contributeHost,
    port: options.contributePort,
    pageDir,
    bootstrap: () => bootstrap,
    modelFiles: [node.modelPath],
    modelUrls: options.contributeModelUrl,
    region: node.region,
    localNetwork: options.local,
    // Tabs keep the ledger this node keeps, with its parameters (devnet: a grant per tab).
    ledger: node.ledger
      ? {
          registrationDifficultyBits: node.ledger.params.registrationDifficultyBits,
          registrationMemoryKiB: node.ledger.params.registrationMemoryKiB,
          perAccountGrant: options.local,
          ...(!node.ledger.params.lockedCreditsTravel && { lockedCreditsTravel: false }),
        }
      : null,
  });
}
