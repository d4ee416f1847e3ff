import { mkdir, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import type { Libp2p } from "@libp2p/interface";
import type { LedgerParams, SweepRule } from "@opengateway/ledger";
import {
  AutoSweep,
  ChainWriter,
  EarningsCollector,
  Ledger,
  ledgerParams,
  registerAccount,
  validateSweepRule,
} from "@opengateway/ledger";
import { SqliteLedgerStore } from "@opengateway/ledger/sqlite";
import type { IceServer, InferenceServedEvent, NetworkServices, NodeLedgerSummary } from "@opengateway/p2p";
import {
  AdvertPublisher,
  checkPayer,
  createLibp2pNode,
  inferenceService,
  LedgerSync,
  nodeInfoService,
  nodeLedgerSummary,
} from "@opengateway/p2p";
import type { Identity, InferenceReceipt, InferenceRequest, ModelCluster, NodeCapabilities } from "@opengateway/protocol";
import { clusterForModelFile, generateIdentity, guessRegionFromTimeZone } from "@opengateway/protocol";
import type { HardwareProfile } from "./hardware-profile.js";
import { hardwareProfile } from "./hardware-profile.js";
import { LlamaCppEngine } from "./llama-cpp-engine.js";
import { modelIdFromSpec, resolveModel } from "./model-source.js";
import { ThroughputMeter } from "./throughput-meter.js";

export const FULL_NODE_AGENT = "opengateway-full-node/0.1.0";

export interface StartFullNodeOptions {
  /** Path to a GGUF file, or an `hf:` URI downloaded into `cacheDir`. */
  model: string;
  modelAlias?: string;
  cacheDir: string;
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
  /** Defaults to all cores but one (at least one): generation must not starve the network loop. */
  threads?: number;
  parallelRequests?: number;
  maxQueuedRequests?: number;
  contextSize?: number;
  gpu?: false | "auto";
  pricePerToken?: number;
  /** A provider sends at most one delta frame per this interval. */
  deltaBatchMs?: number;
  advertIntervalMs?: number;
  /** The credit ledger this node replicates and earns into. Absent = no ledger (serves unpaid). */
  ledger?: {
    /** SQLite file; absent = in memory. */
    path?: string;
    params?: Partial<LedgerParams>;
    /** Machine fingerprint hash for this node's registration (one grant per machine). */
    fingerprintHash: string;
    /**
     * Refuse payers whose ledger account cannot cover a request's maxCredits with their requests
     * already in flight here (or who owe unsettled claims). On by default; `false` only for a
     * private network (`--no-payment-checks`).
     */
    requirePayment?: boolean;
    /** How often the ledger is reconciled with every peer (default 10 min; new peers are reconciled with at once). */
    syncIntervalMs?: number;
    /** How long after a request expired the node waits for its settlement before claiming it (default 60 s; null: never). */
    claimAfterMs?: number | null;
    /** Automatic transfer of earnings above a threshold to another identity. */
    sweep?: SweepRule;
    onError?: (error: unknown) => void;
  };
  onServed?: (event: InferenceServedEvent) => void;
  showDownloadProgress?: boolean;
}

export interface FullNode {
  readonly identity: Identity;
  readonly libp2p: Libp2p<NetworkServices>;
  readonly engine: LlamaCppEngine;
  readonly modelPath: string;
  readonly region: string | null;
  readonly hardware: HardwareProfile;
  readonly modelCluster: ModelCluster;
  capabilities(): NodeCapabilities;
  /** The node's replicated ledger and its earnings, when it keeps one. */
  readonly ledger?: Ledger;
  readonly earnings?: EarningsCollector;
  readonly sweep?: AutoSweep;
  addresses(): string[];
  stop(): Promise<void>;
}

export function defaultThreadCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Loads the model, then joins the network serving it over `/opengateway/infer/1.0.0` and advertising it. */
export async function startFullNode(options: StartFullNodeOptions): Promise<FullNode> {
  const identity = options.identity ?? generateIdentity();
  const modelPath = await resolveModel(options.model, {
    cacheDir: options.cacheDir,
    showProgress: options.showDownloadProgress,
  });
  const engine = await LlamaCppEngine.load({
    modelPath,
    modelId: options.modelAlias ?? modelIdFromSpec(modelPath),
    threads: options.threads ?? defaultThreadCount(),
    parallelRequests: options.parallelRequests,
    maxQueuedRequests: options.maxQueuedRequests,
    contextSize: options.contextSize,
    gpu: options.gpu,
    pricePerToken: options.pricePerToken,
  });
  try {
    const hardware = hardwareProfile(await engine.gpuInfo(), options.cacheDir);
    const modelCluster = clusterForModelFile((await stat(modelPath)).size);
    const region =
      options.region === undefined ? guessRegionFromTimeZone(Intl.DateTimeFormat().resolvedOptions().timeZone) : options.region;
    const throughput = new ThroughputMeter();
    let servedReceipts: (receipt: InferenceReceipt, request: InferenceRequest | undefined) => void = () => {};
    let ledgerSummary: () => NodeLedgerSummary | undefined = () => undefined;
    let authorizePayer: ((request: InferenceRequest, fromPeer: string) => Promise<() => void>) | undefined;
    const capabilities = (): NodeCapabilities => ({
      v: 1,
      agent: FULL_NODE_AGENT,
      engine: engine.name,
      region,
      // The node's own model's cluster always, plus every cluster its memory allows.
      clusters: [...new Set<ModelCluster>([modelCluster, ...hardware.clusters])].sort(),
      models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
      activeRequests: engine.activeRequests,
      maxConcurrentRequests: engine.parallelRequests,
      queuedRequests: engine.queuedRequests,
      tokensPerSecond: throughput.tokensPerSecond,
    });
    const libp2p = await createLibp2pNode({
      identity,
      listen: options.listen,
      bootstrap: options.bootstrap,
      relay: options.relay,
      localNetwork: options.localNetwork,
      iceServers: options.iceServers,
      services: {
        inference: inferenceService({
          engine,
          identity,
          deltaBatchMs: options.deltaBatchMs,
          authorize: async (request, fromPeer) => authorizePayer?.(request, fromPeer),
          onServed: (event) => {
            if (event.outcome === "done" && event.usage) throughput.record(event.usage.completionTokens, event.durationMs);
            if (event.receipt) servedReceipts(event.receipt, event.request);
            options.onServed?.(event);
          },
        }),
        nodeInfo: nodeInfoService({ getInfo: () => ({ ...capabilities(), ledger: ledgerSummary() }) }),
      },
    });
    const adverts = new AdvertPublisher(libp2p, {
      identity,
      getCapabilities: capabilities,
      intervalMs: options.advertIntervalMs,
    });
    adverts.start();
    const creditsStarting = options.ledger ? startCredits(options.ledger, libp2p, identity) : undefined;
    // Requests that arrive while the ledger opens wait for it rather than being served unchecked.
    if (creditsStarting && options.ledger?.requirePayment !== false) {
      authorizePayer = async (request, fromPeer) => (await creditsStarting).authorize(request, fromPeer);
    }
    let credits: Awaited<typeof creditsStarting>;
    try {
      credits = await creditsStarting;
    } catch (error) {
      adverts.stop();
      await libp2p.stop();
      throw error;
    }
    servedReceipts = (receipt, request) => credits?.earnings.track(receipt, request);
    if (credits) ledgerSummary = credits.summary;
    return {
      identity,
      libp2p,
      engine,
      modelPath,
      region,
      hardware,
      modelCluster,
      capabilities,
      ledger: credits?.ledger,
      earnings: credits?.earnings,
      sweep: credits?.sweep,
      addresses: () => libp2p.getMultiaddrs().map((address) => address.toString()),
      stop: async () => {
        adverts.stop();
        await credits?.stop();
        await libp2p.stop();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}

/**
 * The node's part in the economy: it replicates the ledger (gossip + reconciliation), registers
 * its own account in the background (the proof-of-work takes a minute or two at the network's
 * difficulty, and serving need not wait for it), and collects the settlements of its receipts.
 */
async function startCredits(
  options: NonNullable<StartFullNodeOptions["ledger"]>,
  libp2p: Libp2p<NetworkServices>,
  identity: Identity,
) {
  const params = ledgerParams(options.params ?? {});
  // A bad rule is refused before anything is opened.
  if (options.sweep) validateSweepRule(options.sweep, identity.id);
  if (options.path) await mkdir(dirname(options.path), { recursive: true });
  const store = options.path ? await SqliteLedgerStore.open(options.path) : undefined;
  let ledger: Ledger;
  try {
    ledger = store ? await Ledger.load(store, { params }) : new Ledger({ params });
  } catch (error) {
    await store?.close();
    throw error;
  }
  const sync = new LedgerSync(libp2p, ledger, { intervalMs: options.syncIntervalMs, onError: options.onError });
  await sync.start();
  // One writer for the node's chain: earnings, claims and sweeps never sign two blocks at one height.
  const writer = new ChainWriter(ledger, { publish: (block, publishOptions) => sync.publish(block, publishOptions) });
  const sweep = options.sweep ? new AutoSweep(writer, identity, options.sweep, { onError: options.onError }) : undefined;
  const earnings = new EarningsCollector(writer, identity, {
    claimAfterMs: options.claimAfterMs,
    onError: options.onError,
    // Earnings are swept as they come in; the rule's own timer catches anything else.
    onBlock: (block) => {
      if (block.kind === "earn" || block.kind === "receive") void sweep?.sweep();
    },
  });
  const controller = new AbortController();
  // Nothing is signed on the node's chain before it has asked the network where that chain is: a
  // block published just before a crash may have reached peers but not this node's file, and
  // signing that height again would be an equivocation (and an open signed twice, too).
  const firstSync = sync.reconcileWithFirstPeers({ signal: controller.signal }).then(() => {
    if (controller.signal.aborted) return;
    earnings.start();
    sweep?.start();
  });
  const registration = ledger.account(identity.id).opened
    ? firstSync
    : registerAccount(
        identity,
        { fingerprintHash: options.fingerprintHash, difficultyBits: params.registrationDifficultyBits },
        { signal: controller.signal },
      )
        .then(async (open) => {
          await firstSync;
          controller.signal.throwIfAborted();
          await writer.append(
            identity,
            (current) =>
              current.account(identity.id).opened
                ? null
                : { kind: "open", fingerprint: open.fingerprint, powNonce: open.powNonce },
            { signal: controller.signal },
          );
          await earnings.collect();
        })
        .catch((error: unknown) => {
          if (!controller.signal.aborted) options.onError?.(error);
        });
  const summary = (): NodeLedgerSummary =>
    nodeLedgerSummary(ledger, identity.id, {
      earned: earnings.collected,
      claimed: earnings.claimed,
      swept: sweep?.swept ?? 0,
    });
  const authorize = (request: InferenceRequest, fromPeer: string): Promise<() => void> =>
    checkPayer(ledger, sync, request, fromPeer);
  return {
    ledger,
    earnings,
    sweep,
    authorize,
    summary,
    stop: async () => {
      controller.abort();
      await registration;
      // The collector first: its last pass may still start a sweep.
      await earnings.stop();
      await sweep?.stop();
      await sync.stop();
      await ledger.save();
      await store?.close();
    },
  };
}
