import type { Libp2p } from "@libp2p/interface";
import type { AutoSweep, EarningsCollector, Ledger, SweepRule } from "@opengateway/ledger";
import type {
  IceServer,
  InferenceServedEvent,
  InferenceService,
  LedgerReplica,
  NetworkServices,
  NodeInfoService,
} from "@opengateway/p2p";
import { AdvertPublisher, createLibp2pNode, inferenceService, nodeInfoService } from "@opengateway/p2p";
import type { SqliteLedgerReplicaInit } from "@opengateway/p2p/sqlite-ledger-replica";
import { sqliteLedgerReplica } from "@opengateway/p2p/sqlite-ledger-replica";
import type { Identity, InferenceEngine, Logger, ModelCluster, NodeCapabilities } from "@opengateway/protocol";
import { clusterForModelFile, generateIdentity, guessRegionFromTimeZone } from "@opengateway/protocol";
import type { AuditService, AuditServiceInit } from "./audit/audit-service.js";
import { auditService } from "./audit/audit-service.js";
import { InferenceAuditor } from "./audit/inference-auditor.js";
import type { HardwareProfile } from "./hardware-profile.js";
import { hardwareProfile } from "./hardware-profile.js";
import { LlamaCppEngine } from "./llama-cpp-engine.js";
import type { NodeCredits } from "./node-credits.js";
import { nodeCredits } from "./node-credits.js";
import type { NodeEngine, NodeEngineOptions } from "./open-node-engine.js";
import { defaultThreadCount, openNodeEngine } from "./open-node-engine.js";
import type { ThermalGuardOptions } from "./thermal-guard.js";
import { ThermalGuard } from "./thermal-guard.js";
import { ThroughputMeter } from "./throughput-meter.js";

export const FULL_NODE_AGENT = "opengateway-full-node/0.1.0";

/** What the node serves with (a model file, or `upstream`), and how it joins the network. */
export interface StartFullNodeOptions extends NodeEngineOptions {
  listen?: string[];
  bootstrap?: string[];
  identity?: Identity;
  /** The region this node serves; `undefined` guesses it from the time zone. */
  region?: string | null;
  /** Also act as a circuit relay server (for browsers and peers behind NAT). */
  relay?: boolean;
  /** Devnet/LAN: accept loopback and private addresses in the DHT. */
  localNetwork?: boolean;
  iceServers?: IceServer[];
  /** While several answers stream at once, each gets at most one delta frame per this interval (0: token by token). */
  deltaBatchMs?: number;
  advertIntervalMs?: number;
  /** The credit ledger this node replicates and earns into. Absent = no ledger (serves unpaid). */
  ledger?: SqliteLedgerReplicaInit & {
    /** Machine fingerprint hash for this node's registration (one grant per machine). */
    fingerprintHash: string;
    /** The registration's proof-of-work when it was solved ahead (`opengateway setup`). */
    powNonce?: number;
    /**
     * Refuse payers whose ledger account cannot cover a request's maxCredits with their requests
     * already in flight here (or who owe unsettled claims). On by default; `false` only for a
     * private network (`--no-payment-checks`).
     */
    requirePayment?: boolean;
    /** How long after a request expired the node waits for its settlement before claiming it (default 60 s; null: never). */
    claimAfterMs?: number | null;
    /** Automatic transfer of earnings above a threshold to another identity. */
    sweep?: SweepRule;
  };
  onServed?: (event: InferenceServedEvent) => void;
  /** Watch the machine's temperature: serve fewer requests, then none, above its limits. */
  thermal?: ThermalGuardOptions;
  /**
   * Audit the other providers of this node's model (challenge probes, reviews of others' verdicts;
   * docs/proof-system.md). Needs the ledger and a model file (not an upstream). The CLI turns it on
   * (`--no-audits` off); absent here, no audits.
   */
  audits?: Omit<AuditServiceInit, "identity" | "openAuditor" | "logger">;
  /**
   * TEST ONLY: serve through a wrapper of the engine (the e2e suites' cheating providers). The CLI
   * never sets it.
   */
  engineWrapper?: (engine: InferenceEngine) => InferenceEngine;
  /** Where background failures (adverts, ledger sync, collection, sweeps, registration) are logged; default: libp2p's logger for the ledger's. */
  logger?: Logger;
}

export interface FullNode {
  readonly identity: Identity;
  readonly libp2p: Libp2p<NetworkServices>;
  readonly engine: NodeEngine;
  readonly modelPath: string;
  readonly region: string | null;
  readonly hardware: HardwareProfile;
  readonly modelCluster: ModelCluster;
  /** The temperature guard, with the `thermal` option. */
  readonly thermal?: ThermalGuard;
  capabilities(): NodeCapabilities;
  /** The audits this node runs on others, when on. */
  readonly audits?: AuditService;
  /** The node's replicated ledger and its earnings, when it keeps one. */
  readonly ledger?: Ledger;
  readonly earnings?: EarningsCollector;
  readonly sweep?: AutoSweep;
  addresses(): string[];
  stop(): Promise<void>;
}

/** The node's own services (the ledger's two only with a ledger). */
type FullNodeServices = {
  ledger?: LedgerReplica;
  credits?: NodeCredits;
  audits?: AuditService;
  inference: InferenceService;
  nodeInfo: NodeInfoService;
};

/** Loads the model (or connects to the upstream), then joins the network serving it over `/opengateway/infer/1.0.0` and advertising it. */
export async function startFullNode(options: StartFullNodeOptions): Promise<FullNode> {
  const identity = options.identity ?? generateIdentity();
  const { engine, modelPath, modelBytes } = await openNodeEngine(options);
  try {
    const hardware = hardwareProfile(await engine.gpuInfo(), options.cacheDir);
    const modelCluster = clusterForModelFile(modelBytes);
    const region =
      options.region === undefined ? guessRegionFromTimeZone(Intl.DateTimeFormat().resolvedOptions().timeZone) : options.region;
    const throughput = new ThroughputMeter();
    const thermal = options.thermal ? new ThermalGuard({ logger: options.logger, ...options.thermal }) : undefined;
    const capabilities = (): NodeCapabilities => ({
      v: 1,
      agent: FULL_NODE_AGENT,
      engine: engine.name,
      region,
      // The node's own model's cluster always, plus every cluster its memory allows.
      clusters: [...new Set<ModelCluster>([modelCluster, ...hardware.clusters])].sort(),
      models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
      activeRequests: engine.activeRequests,
      maxConcurrentRequests: thermal ? thermal.limit(engine.parallelRequests) : engine.parallelRequests,
      queuedRequests: engine.queuedRequests,
      tokensPerSecond: throughput.tokensPerSecond,
    });
    const ledger = options.ledger;
    // The ledger opens while the node starts, before it listens: no request is served unchecked.
    const libp2p = await createLibp2pNode<FullNodeServices>({
      identity,
      listen: options.listen,
      bootstrap: options.bootstrap,
      relay: options.relay,
      localNetwork: options.localNetwork,
      iceServers: options.iceServers,
      services: {
        ...(ledger && {
          ledger: sqliteLedgerReplica({ ...ledger, logger: options.logger }),
          credits: nodeCredits({
            identity,
            fingerprintHash: ledger.fingerprintHash,
            powNonce: ledger.powNonce,
            claimAfterMs: ledger.claimAfterMs,
            sweep: ledger.sweep,
            logger: options.logger,
          }),
        }),
        ...(ledger &&
          options.audits &&
          engine instanceof LlamaCppEngine && {
            audits: auditService({
              ...options.audits,
              identity,
              logger: options.logger,
              // A second copy of the model, on its own context: audits never take the serving engine's sequences.
              openAuditor: async ({ signal }) => {
                const auditor = await InferenceAuditor.load({
                  modelPath,
                  modelId: engine.listModels()[0]?.id,
                  threads: options.threads ?? defaultThreadCount(),
                  gpu: options.gpu,
                });
                if (signal.aborted) await auditor.close();
                return auditor;
              },
            }),
          }),
        // Built after `credits` (services are made in this order), which they read from the components.
        inference: (components) => {
          const credits = ledger ? components.credits : undefined;
          return inferenceService({
            engine: options.engineWrapper ? options.engineWrapper(engine) : engine,
            identity,
            deltaBatchMs: options.deltaBatchMs,
            authorize:
              thermal || (credits && ledger?.requirePayment !== false)
                ? async (request, peer, signal) => {
                    // The cheap local refusal first: a hot node does not fetch a payer's chain.
                    thermal?.admit(engine.activeRequests, engine.parallelRequests);
                    if (credits && ledger?.requirePayment !== false) await credits.authorize(request, peer, signal);
                  }
                : undefined,
            onServed: (event) => {
              if (event.outcome === "done" && event.usage) throughput.record(event.usage.completionTokens, event.durationMs);
              if (event.receipt) credits?.track(event.receipt, event.request);
              options.onServed?.(event);
            },
          })(components);
        },
        nodeInfo: (components) => {
          const credits = ledger ? components.credits : undefined;
          return nodeInfoService({ getInfo: () => ({ ...capabilities(), ledger: credits?.summary() }) })(components);
        },
      },
    });
    const adverts = new AdvertPublisher(libp2p, {
      identity,
      getCapabilities: capabilities,
      intervalMs: options.advertIntervalMs,
      logger: options.logger,
    });
    adverts.start();
    // The first reading before the node is announced ready: its status and adverts start right.
    await thermal?.start();
    const credits = libp2p.services.credits;
    return {
      identity,
      libp2p,
      engine,
      modelPath,
      region,
      hardware,
      modelCluster,
      thermal,
      capabilities,
      ledger: libp2p.services.ledger?.ledger,
      audits: libp2p.services.audits,
      earnings: credits?.earnings,
      sweep: credits?.sweep,
      addresses: () => libp2p.getMultiaddrs().map((address) => address.toString()),
      stop: async () => {
        thermal?.stop();
        adverts.stop();
        // The node's credits, then the replica's sync, then its store (see the two services' stop hooks).
        await libp2p.stop();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}
