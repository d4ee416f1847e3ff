import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import { browserFingerprintHash, currentBrowserEnvironment } from "@opengateway/ledger";
import type { IceServer, InferenceServedEvent, LedgerReplica, NetworkServices, NodeInfo, ProviderEntry } from "@opengateway/p2p";
import {
  AdvertPublisher,
  BROWSER_RELAYED_LISTEN,
  checkPayer,
  createLibp2pNode,
  InferenceService,
  ledgerReplica,
  NodeInfoService,
} from "@opengateway/p2p";
import type { Identity, Logger, ModelCluster, NodeCapabilities } from "@opengateway/protocol";
import { errorClass, errorMessage, guessRegionFromTimeZone, OverloadedError } from "@opengateway/protocol";
import type { BrowserNodeCounters, BrowserNodeSettings } from "./browser-node-store.js";
import { BrowserNodeStore, DEFAULT_DATABASE_NAME } from "./browser-node-store.js";
import type { DeviceProbe, EngineKind, ModelVerdict } from "./engines/engine-choice.js";
import { probeDevice } from "./engines/engine-choice.js";
import { loadEngine } from "./engines/load-engine.js";
import type { ModelOffer } from "./engines/model-offer.js";
import { ThrottledEngine } from "./engines/throttled-engine.js";
import type { WorkerLike } from "./engines/worker-engine.js";
import { holdIdentityLock } from "./identity-lock.js";
import type { ConnectedPeer } from "./peer-transport.js";
import { connectedPeers } from "./peer-transport.js";
import type { ChatParams, ChatResult } from "./tab-chat.js";
import { TabChat } from "./tab-chat.js";
import type { TabLedgerConfig, TabLedgerStatus } from "./tab-ledger.js";
import { TabLedger, tabLedgerReplica } from "./tab-ledger.js";

export const BROWSER_NODE_AGENT = "opengateway-browser-node/0.1.0";
/** Weight of the newest request in the advertised speed's moving average. */
const SPEED_WEIGHT = 0.2;

/** The tab's libp2p services: the ledger replica when it keeps a ledger. */
type TabServices = NetworkServices & { ledger?: LedgerReplica };

/** What the tab's ledger logs goes to the page's console (developer tools). */
const ledgerConsole: Logger = {
  debug: (fields, message) => console.debug("opengateway ledger:", message, fields),
  info: (fields, message) => console.info("opengateway ledger:", message, fields),
  warn: (fields, message) => console.warn("opengateway ledger:", message, fields),
  error: (fields, message) => console.error("opengateway ledger:", message, fields),
};

export interface BrowserNodeOptions {
  /** Bootstrap/relay multiaddrs the tab dials over WebSockets (with /p2p/<peer id>). */
  bootstrap: string[];
  /** Models the operator offers; the tab serves the first one it really can. */
  models: ModelOffer[];
  /** URL of wllama's WebAssembly file (bundlers give it; the contributor page passes its own). */
  wllamaWasmUrl: string;
  /** STUN/TURN servers for WebRTC. Explicit: the default is none (peers on one network, or a test's namespace). */
  iceServers?: IceServer[];
  /** Overrides the guess from the time zone. */
  region?: string | null;
  /** Needed when the stored identity is protected by one; also protects a new identity. */
  passphrase?: string;
  /** IndexedDB database name (tests and several nodes in one origin use their own). */
  databaseName?: string;
  /** Start contributing now; defaults to what the contributor chose last time (first visit: wait for start()). */
  contribute?: boolean;
  /** Devnet/LAN: accept private addresses in the DHT. */
  localNetwork?: boolean;
  /**
   * The network's ledger parameters: the tab keeps a replica of the ledger in IndexedDB, registers
   * its account, collects what it earns and pays for its chat box. Absent or null: no ledger
   * (receipts are signed, nothing is collected, chats are unpaid).
   */
  ledger?: TabLedgerConfig | null;
  createWorker?: () => WorkerLike;
  signal?: AbortSignal;
}

export type BrowserNodePhase =
  | "idle"
  | "probing"
  | "loading"
  | "warming-up"
  | "serving"
  | "paused"
  | "unavailable"
  | "failed"
  | "stopped";

export interface BrowserNodeStatus {
  phase: BrowserNodePhase;
  /** A sentence on the phase: why paused, what failed, which model loads. */
  detail: string;
  peerId: string;
  region: string | null;
  peers: ConnectedPeer[];
  /** Where others can reach this tab (relay reservations with /webrtc). */
  addresses: string[];
  engine: EngineKind | null;
  engineReason: string | null;
  verdicts: ModelVerdict[];
  model: string | null;
  clusters: ModelCluster[];
  loadProgress: { loaded: number; total: number } | null;
  /** Measured by the warm-up generation. */
  measuredTokensPerSecond: number | null;
  liveTokensPerSecond: number;
  activeRequests: number;
  settings: BrowserNodeSettings;
  hidden: boolean;
  /** Served requests and tokens, kept in IndexedDB (`creditsEarned`/`creditsSpent` there sum the receipts). */
  counters: BrowserNodeCounters;
  /** The tab's account on its ledger (balance, earned, spent, registration), or null without a ledger. */
  ledger: TabLedgerStatus | null;
  error: string | null;
}

/**
 * A browser tab as an OpenGateway node: it joins over WebSockets to its bootstrap/relay peers,
 * listens through circuit relay and accepts WebRTC, serves the best model it really can from an
 * engine in a Web Worker, earns credits for what it serves, and can spend them from its chat box.
 * Events: `status` (any change; read `status()`), `served` (one per request, detail = the event).
 */
export class BrowserNode extends EventTarget {
  readonly identity: Identity;
  readonly libp2p: Libp2p<TabServices>;
  readonly #store: BrowserNodeStore;
  readonly #nodeInfo: NodeInfoService;
  readonly #options: BrowserNodeOptions;
  readonly #region: string | null;
  readonly #chat: TabChat;
  readonly #controller = new AbortController();
  readonly #releaseIdentityLock: () => void;
  #ledger: TabLedger | undefined;
  #probing: Promise<DeviceProbe> | undefined;
  #settings: BrowserNodeSettings;
  #counters: BrowserNodeCounters;
  #phase: BrowserNodePhase = "idle";
  #detail = "not contributing yet";
  #error: string | null = null;
  #engine: ThrottledEngine | undefined;
  #engineKind: EngineKind | null = null;
  #engineReason: string | null = null;
  #verdicts: ModelVerdict[] = [];
  #clusters: ModelCluster[] = [];
  #loadProgress: { loaded: number; total: number } | null = null;
  #measuredTokensPerSecond: number | null = null;
  /** Recent average over served requests (what a client sees, network included); null until one is served. */
  #servedTokensPerSecond: number | null = null;
  #service: InferenceService | undefined;
  #adverts: AdvertPublisher | undefined;
  #loading: Promise<void> | undefined;
  #hidden = false;

  private constructor(
    identity: Identity,
    libp2p: Libp2p<TabServices>,
    store: BrowserNodeStore,
    options: BrowserNodeOptions,
    state: {
      settings: BrowserNodeSettings;
      counters: BrowserNodeCounters;
      region: string | null;
      releaseIdentityLock: () => void;
    },
  ) {
    super();
    this.#releaseIdentityLock = state.releaseIdentityLock;
    this.identity = identity;
    this.libp2p = libp2p;
    this.#store = store;
    this.#options = options;
    this.#settings = state.settings;
    this.#counters = state.counters;
    this.#region = state.region;
    const replica = libp2p.services.ledger;
    this.#chat = new TabChat(libp2p, identity, { reputationOf: replica && ((id) => replica.ledger.reputation(id).score) });
    this.#nodeInfo = new NodeInfoService({ registrar: libp2p }, { getInfo: () => this.#info() });
  }

  static async start(options: BrowserNodeOptions): Promise<BrowserNode> {
    if (globalThis.isSecureContext === false) throw new InsecureContextError();
    const databaseName = options.databaseName ?? DEFAULT_DATABASE_NAME;
    // One chain, one writer: two tabs writing one identity's chain would fork it, and a fork freezes the account.
    const releaseIdentityLock = options.ledger ? await holdIdentityLock(databaseName) : () => {};
    let store: BrowserNodeStore | undefined;
    let libp2p: Libp2p<TabServices> | undefined;
    try {
      store = await BrowserNodeStore.open(databaseName);
      const identity = await store.loadOrCreateIdentity({ passphrase: options.passphrase });
      const [settings, counters] = await Promise.all([store.settings(), store.counters()]);
      const region =
        options.region === undefined ? guessRegionFromTimeZone(Intl.DateTimeFormat().resolvedOptions().timeZone) : options.region;
      const config = options.ledger;
      const ledger = config
        ? tabLedgerReplica({ identity, config, databaseName: `${databaseName}-ledger`, logger: ledgerConsole })
        : undefined;
      // The tab's ledger (IndexedDB) loads while the node starts.
      libp2p = await createLibp2pNode<{ ledger?: LedgerReplica }>({
        identity,
        listen: BROWSER_RELAYED_LISTEN,
        bootstrap: options.bootstrap,
        iceServers: options.iceServers ?? [],
        localNetwork: options.localNetwork,
        services: { ...(ledger && { ledger: ledgerReplica(ledger.init) }) },
      });
      const node = new BrowserNode(identity, libp2p, store, options, { settings, counters, region, releaseIdentityLock });
      await node.#nodeInfo.start();
      const replica = libp2p.services.ledger;
      if (config && ledger && replica) {
        node.#ledger = TabLedger.start({
          identity,
          replica,
          store: ledger.store,
          fingerprintHash: async () => {
            const probe = await node.#deviceProbe();
            const webgpu = probe.webgpu && { vendor: probe.webgpu.vendor, architecture: probe.webgpu.architecture };
            const environment = currentBrowserEnvironment(webgpu);
            return browserFingerprintHash(environment, { account: config.perAccountGrant ? identity.id : undefined });
          },
          onChange: () => node.#changed(),
          logger: ledgerConsole,
        });
      }
      node.#attach();
      if (options.contribute ?? settings.contributing) void node.startContributing().catch(() => {});
      return node;
    } catch (error) {
      await Promise.resolve(libp2p?.stop()).catch(() => {});
      store?.close();
      releaseIdentityLock();
      throw error;
    }
  }

  #info(): NodeInfo {
    const ledger = this.#ledger?.summary();
    return ledger ? { ...this.capabilities(), ledger } : this.capabilities();
  }

  /** The device probe, once per tab: the engine choice and the registration fingerprint share it. */
  #deviceProbe(): Promise<DeviceProbe> {
    this.#probing ??= probeDevice({ signal: this.#controller.signal }).catch((error: unknown) => {
      this.#probing = undefined;
      throw error;
    });
    return this.#probing;
  }

  #attach(): void {
    for (const event of ["connection:open", "connection:close", "self:peer:update"] as const) {
      this.libp2p.addEventListener(event, () => this.#changed());
    }
    this.#chat.start();
    // Bootstrap peers are also dialled at once: the relay reservation (and so the /webrtc address) needs them.
    for (const address of this.#options.bootstrap) {
      this.libp2p.dial(multiaddr(address), { signal: this.#controller.signal }).catch(() => {});
    }
    if (typeof document !== "undefined") {
      this.#hidden = document.visibilityState === "hidden";
      document.addEventListener("visibilitychange", this.#onVisibility, { signal: this.#controller.signal });
    }
  }

  readonly #onVisibility = (): void => {
    this.#hidden = document.visibilityState === "hidden";
    this.#applyGate();
  };

  get peerId(): string {
    return this.identity.id;
  }

  /** The engine this tab serves with (behind the contributor's throttle), once loaded. */
  get engine(): ThrottledEngine | undefined {
    return this.#engine;
  }

  /** The capabilities this tab answers node-info queries and gossips adverts with. */
  capabilities(): NodeCapabilities {
    const engine = this.#phase === "serving" ? this.#engine : undefined;
    return {
      v: 1,
      agent: BROWSER_NODE_AGENT,
      engine: this.#engine?.name ?? "none",
      region: this.#region,
      clusters: this.#clusters,
      // A paused or loading tab advertises no models, so routers do not send it work.
      models: engine ? engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })) : [],
      activeRequests: this.#engine?.activeRequests ?? 0,
      maxConcurrentRequests: this.#settings.maxConcurrentRequests,
      queuedRequests: 0,
      tokensPerSecond: this.#servedTokensPerSecond ?? this.#measuredTokensPerSecond,
    };
  }

  status(): BrowserNodeStatus {
    return {
      phase: this.#phase,
      detail: this.#detail,
      peerId: this.identity.id,
      region: this.#region,
      peers: connectedPeers(this.libp2p.getConnections()),
      addresses: this.libp2p.getMultiaddrs().map((address) => address.toString()),
      engine: this.#engineKind,
      engineReason: this.#engineReason,
      verdicts: this.#verdicts,
      model: this.#engine?.listModels()[0]?.id ?? null,
      clusters: this.#clusters,
      loadProgress: this.#loadProgress,
      measuredTokensPerSecond: this.#measuredTokensPerSecond,
      liveTokensPerSecond: Math.round(this.#engine?.liveTokensPerSecond() ?? 0),
      activeRequests: this.#engine?.activeRequests ?? 0,
      settings: { ...this.#settings },
      hidden: this.#hidden,
      counters: { ...this.#counters },
      ledger: this.#ledger?.status() ?? null,
      error: this.#error,
    };
  }

  /** Providers this tab knows of (for its chat box). */
  providers(): ProviderEntry[] {
    return this.#chat.providers();
  }

  /** Loads the model if needed (probing the device first) and starts serving. The choice is remembered. */
  async startContributing(): Promise<void> {
    this.#settings = await this.#store.updateSettings({ contributing: true });
    if (this.#engine === undefined) {
      this.#loading ??= this.#load().finally(() => {
        this.#loading = undefined;
      });
      await this.#loading;
    }
    this.#applyGate();
  }

  /** Stops taking new requests (those in progress finish). The choice is remembered. */
  async pauseContributing(): Promise<void> {
    this.#settings = await this.#store.updateSettings({ contributing: false });
    this.#applyGate();
  }

  async setThrottle(change: { maxConcurrentRequests?: number; pauseWhenHidden?: boolean }): Promise<void> {
    const maxConcurrentRequests =
      change.maxConcurrentRequests === undefined ? undefined : Math.max(1, Math.min(8, Math.floor(change.maxConcurrentRequests)));
    this.#settings = await this.#store.updateSettings({
      ...(maxConcurrentRequests === undefined ? {} : { maxConcurrentRequests }),
      ...(change.pauseWhenHidden === undefined ? {} : { pauseWhenHidden: change.pauseWhenHidden }),
    });
    if (this.#engine) this.#engine.maxConcurrentRequests = this.#settings.maxConcurrentRequests;
    this.#applyGate();
  }

  /** Protects the stored identity with a passphrase (asked for on every start), or null for this browser's key. */
  async setPassphrase(passphrase: string | null): Promise<void> {
    await this.#store.protectIdentity(this.identity, passphrase);
    this.#changed();
  }

  identityProtection(): Promise<"device-key" | "passphrase" | undefined> {
    return this.#store.identityProtection();
  }

  /**
   * Sends a chat request through the network, signed by this tab's identity and, with a ledger,
   * paid from its account (see {@link TabChat.chat}). Yields the text as it streams.
   */
  async *chat(params: ChatParams): AsyncGenerator<string, ChatResult, undefined> {
    const result = yield* this.#chat.chat(params, this.#ledger);
    this.#counters = await this.#store.addToCounters({ creditsSpent: result.credits });
    this.#changed();
    return result;
  }

  async stop(): Promise<void> {
    if (this.#phase === "stopped") return;
    this.#phase = "stopped";
    this.#controller.abort();
    this.#adverts?.stop();
    this.#chat.stop();
    await this.#service?.stop().catch(() => {});
    await this.#nodeInfo.stop().catch(() => {});
    // The tab's ledger first; then the node, whose ledger replica stops its sync, saves and closes its store.
    await this.#ledger?.stop().catch(() => {});
    await this.libp2p.stop();
    await this.#engine?.close().catch(() => {});
    this.#store.close();
    this.#releaseIdentityLock();
    this.#setPhase("stopped", "stopped");
  }

  async #load(): Promise<void> {
    const signal = this.#controller.signal;
    try {
      this.#error = null;
      this.#setPhase("probing", "checking WebGPU, memory and the offered models");
      const loaded = await loadEngine({
        probe: await this.#deviceProbe(),
        offers: this.#options.models,
        wllamaWasmUrl: this.#options.wllamaWasmUrl,
        maxConcurrentRequests: this.#settings.maxConcurrentRequests,
        createWorker: this.#options.createWorker,
        signal,
        onDecision: (decision) => {
          this.#verdicts = decision.verdicts;
          if (!decision.serve) {
            this.#setPhase("unavailable", `this tab cannot serve: ${decision.reason}`);
            return;
          }
          this.#engineKind = decision.engine;
          this.#engineReason = decision.verdicts.find((verdict) => verdict.id === decision.offer.id)?.reason ?? null;
          this.#clusters = decision.clusters;
          this.#loadProgress = { loaded: 0, total: decision.sizeBytes };
          this.#setPhase("loading", `loading ${decision.offer.id} with ${decision.engine}`);
        },
        onProgress: (progress) => {
          this.#loadProgress = progress;
          this.#changed();
        },
        onWarmingUp: () => this.#setPhase("warming-up", "measuring generation speed"),
      });
      if (loaded === undefined) return;
      this.#measuredTokensPerSecond = loaded.tokensPerSecond;
      const engine = new ThrottledEngine(loaded.engine, {
        maxConcurrentRequests: this.#settings.maxConcurrentRequests,
        onChange: () => this.#changed(),
      });
      this.#engine = engine;
      this.#service = new InferenceService(
        { registrar: this.libp2p },
        {
          engine,
          identity: this.identity,
          onServed: (event) => void this.#onServed(event),
          // A tab whose registration the ledger refused could never collect a payment: settlements
          // to it would stay in flight for ever. It turns work away (routers try another provider).
          // With a ledger, payers are checked as on full nodes (on by default; off only for a private network).
          authorize: async (request, fromPeer) => {
            const ledger = this.#ledger;
            if (ledger?.status().registration === "refused") {
              throw new OverloadedError("this tab cannot be paid: the ledger refused its registration");
            }
            if (ledger !== undefined && this.#options.ledger?.paymentChecks !== false) {
              return checkPayer(ledger.ledger, ledger.sync, request, fromPeer);
            }
          },
        },
      );
      await this.#service.start();
      this.#adverts = new AdvertPublisher(this.libp2p, { identity: this.identity, getCapabilities: () => this.capabilities() });
      this.#adverts.start();
    } catch (error) {
      if (signal.aborted) return;
      this.#error = errorMessage(error);
      this.#setPhase("failed", `could not start serving: ${this.#error}`);
      throw error;
    }
  }

  async #onServed(event: InferenceServedEvent): Promise<void> {
    const tokens = event.usage?.completionTokens ?? 0;
    if (event.outcome === "done" && tokens > 0 && event.durationMs > 0) {
      const rate = (tokens * 1000) / event.durationMs;
      this.#servedTokensPerSecond = Math.round(
        this.#servedTokensPerSecond === null ? rate : this.#servedTokensPerSecond * (1 - SPEED_WEIGHT) + rate * SPEED_WEIGHT,
      );
    }
    // The payer's settlement is collected as an `earn` block (or, if it never comes, claimed).
    if (event.receipt) this.#ledger?.track(event.receipt, event.request);
    this.#counters = await this.#store.addToCounters(
      event.outcome === "done"
        ? {
            requestsServed: 1,
            tokensServed: event.usage?.completionTokens ?? 0,
            creditsEarned: event.credits ?? 0,
            servedAt: Date.now(),
          }
        : { requestsFailed: 1 },
    );
    this.dispatchEvent(new CustomEvent<InferenceServedEvent>("served", { detail: event }));
    this.#changed();
  }

  /** Opens or closes the throttle's gate from the contributor's choices and the tab's visibility. */
  #applyGate(): void {
    const engine = this.#engine;
    if (engine === undefined || this.#phase === "stopped") {
      this.#changed();
      return;
    }
    const reason = !this.#settings.contributing
      ? "contribution is paused"
      : this.#settings.pauseWhenHidden && this.#hidden
        ? "the tab is hidden"
        : null;
    if (reason === null) {
      engine.resume();
      this.#setPhase("serving", `serving ${engine.listModels()[0]?.id ?? "a model"} with ${engine.name}`);
    } else {
      engine.pause(reason);
      this.#setPhase("paused", reason);
    }
    // Routers learn at once rather than at the next interval.
    void this.#adverts?.publish();
  }

  #setPhase(phase: BrowserNodePhase, detail: string): void {
    this.#phase = phase;
    this.#detail = detail;
    this.#changed();
  }

  #changed(): void {
    this.dispatchEvent(new Event("status"));
  }
}

/** WebCrypto (the identity's protection) and WebGPU exist only in secure contexts. */
export class InsecureContextError extends errorClass(
  "InsecureContextError",
  "insecure_context",
  (message: string = "the browser node needs a secure context: serve the page over https (or from localhost)") => message,
) {}

/** Starts a browser node: see {@link BrowserNode}. */
export function startBrowserNode(options: BrowserNodeOptions): Promise<BrowserNode> {
  return BrowserNode.start(options);
}
