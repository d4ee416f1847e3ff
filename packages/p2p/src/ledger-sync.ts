import type { GossipSub, Message, TopicValidatorFn } from "@libp2p/gossipsub";
import { TopicValidatorResult } from "@libp2p/gossipsub";
import type {
  AbortOptions,
  Connection,
  IdentifyResult,
  PeerId,
  PeerStore,
  Stream,
  StreamHandler,
  StreamHandlerOptions,
} from "@libp2p/interface";
import type { AccountHead, AddResult, Ledger, LedgerBlock } from "@opengateway/ledger";
import { blockHashSchema } from "@opengateway/ledger";
import type { Logger } from "@opengateway/protocol";
import {
  errorMessage,
  MalformedFrameError,
  ProtocolViolationError,
  silentLogger,
  utf8Decode,
  utf8Encode,
} from "@opengateway/protocol";
import { z } from "zod";
import {
  DEFAULT_FIRST_SYNC_WAIT_MS,
  LEDGER_GOSSIP_BLOCKS_PER_SECOND,
  LEDGER_GOSSIP_BURST,
  LEDGER_PEER_BAN_AFTER,
  LEDGER_PEER_BAN_MS,
  LEDGER_PEER_STRIKE_WINDOW_MS,
  LEDGER_SYNC_BATCH_BYTES,
  LEDGER_SYNC_CONCURRENCY,
  LEDGER_SYNC_HEADS_PER_FRAME,
  LEDGER_SYNC_INTERVAL_MS,
  LEDGER_SYNC_MAX_BLOCKS,
  LEDGER_SYNC_MAX_HEADS,
  LEDGER_SYNC_MAX_INBOUND,
  LEDGER_SYNC_PROTOCOL,
  LEDGER_SYNC_TIMEOUT_MS,
  LEDGER_TOPIC,
} from "./constants.js";
import { FrameStream } from "./frame-stream.js";
import type { PeerPenaltiesOptions } from "./peer-penalties.js";
import { PeerPenalties } from "./peer-penalties.js";

/*
 * Reconciliation exchange on LEDGER_SYNC_PROTOCOL (I = the dialer, R = the responder); every
 * message is one length-prefixed JSON frame, lists are split over frames with `more: true`:
 *   I → R  root                    I's Merkle root
 *   R → I  root                    R's Merkle root; if equal: I → R done, end
 *   I → R  heads…                  all of I's account heads
 *   R → I  heads…                  R.headsToRequest(I's heads): R's heads where I knows more
 *   R → I  blocks…                 R.blocksMissingFrom(I's heads): what I lacks
 *   I → R  blocks…                 I.blocksMissingFrom(R's request, { complete: false }): what R lacks
 *   R → I  done                    R has applied them
 * Only the blocks one side lacks cross the wire (plus one list of heads when the roots differ).
 */

const safeInt = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const accountHeadSchema = z.strictObject({
  account: z.string().min(1).max(128),
  height: z.int().min(-1).max(Number.MAX_SAFE_INTEGER),
  hash: blockHashSchema.nullable(),
  frozenAt: safeInt.nullable(),
});

const syncFrameSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("root"), root: z.string().max(64) }),
  z.strictObject({ type: z.literal("done") }),
  z.strictObject({
    type: z.literal("heads"),
    heads: z.array(accountHeadSchema).max(LEDGER_SYNC_HEADS_PER_FRAME),
    more: z.boolean(),
  }),
  // Blocks are verified one by one by `Ledger.add`; an invalid one is counted and dropped.
  z.strictObject({ type: z.literal("blocks"), blocks: z.array(z.unknown()), more: z.boolean() }),
]);
type SyncFrame = z.infer<typeof syncFrameSchema>;

/**
 * What LedgerSync uses of a libp2p peer. A `Libp2p` node with gossipsub is one; the `ledgerReplica`
 * service builds one from its components.
 */
export interface LedgerSyncNode {
  readonly peerId: PeerId;
  readonly services: { readonly pubsub: GossipSub };
  readonly peerStore: Pick<PeerStore, "get">;
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
  dialProtocol(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream>;
  getPeers(): PeerId[];
  addEventListener(type: "peer:identify", listener: (event: CustomEvent<IdentifyResult>) => void): void;
  removeEventListener(type: "peer:identify", listener: (event: CustomEvent<IdentifyResult>) => void): void;
}

export interface LedgerSyncOptions {
  /** How often every connected peer that speaks the sync protocol is reconciled with (default 10 min). */
  intervalMs?: number;
  /** Longest one reconciliation exchange may take (default 30 s). */
  timeoutMs?: number;
  /**
   * Reconcile as soon as a peer that speaks the sync protocol is identified (default true); of the
   * two peers only the one with the lower peer id dials, so a new connection costs one exchange.
   */
  reconcileOnConnect?: boolean;
  /** Failed exchanges, gossip failures and store errors are logged here; none of them is thrown from a timer. */
  logger?: Logger;
  /** The clock given to `Ledger.add` (default Date.now). */
  now?: () => number;
  /** Per-peer gossip rate and bans for peers that keep sending invalid blocks (defaults in constants.ts). */
  penalties?: Partial<PeerPenaltiesOptions>;
}

export interface ReconcileResult {
  readonly peer: string;
  readonly role: "initiator" | "responder";
  readonly at: number;
  readonly durationMs: number;
  /** The roots matched at the start: nothing but roots was exchanged. */
  readonly inSync: boolean;
  readonly blocksSent: number;
  /** Blocks received that were new to this ledger (applied, pending or equivocation proofs). */
  readonly blocksReceived: number;
  readonly blocksRejected: number;
  /** Frame payload bytes, without the length prefixes. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Set when the exchange failed. */
  readonly error?: string;
}

export interface LedgerSyncStats {
  /** New blocks taken from gossip. */
  readonly gossipReceived: number;
  /** Gossiped blocks this ledger already had (or from a frozen account). */
  readonly gossipDuplicates: number;
  readonly gossipPublished: number;
  /** New blocks taken from reconciliation. */
  readonly syncReceived: number;
  readonly syncSent: number;
  /** Invalid blocks and unreadable gossip payloads, from either path: dropped, never applied. */
  readonly rejected: number;
  /** Blocks of accounts with no open (and not an open): dropped before the ledger stores them. */
  readonly unregistered: number;
  /** Gossiped blocks dropped because their peer was over its rate or banned. */
  readonly throttled: number;
  /** Peers banned now for sending invalid data. */
  readonly bannedPeers: number;
  readonly reconciliations: number;
  readonly failedReconciliations: number;
  readonly lastReconciliation: ReconcileResult | null;
}

type MutableStats = { -readonly [K in keyof LedgerSyncStats]: LedgerSyncStats[K] };

/**
 * The network half of the ledger: gossips new blocks on LEDGER_TOPIC and reconciles with every
 * connected peer over LEDGER_SYNC_PROTOCOL (Merkle roots first, then only the missing blocks in
 * both directions), so peers that were partitioned converge once they reconnect. Everything
 * received goes through `Ledger.add` (which verifies it) and is then persisted with
 * `Ledger.save` (a no-op for a ledger without a store).
 */
export class LedgerSync {
  readonly #node: LedgerSyncNode;
  readonly #ledger: Ledger;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #reconcileOnConnect: boolean;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #maxFrameBytes: number;
  readonly #maxGossipBytes: number;
  readonly #inflight = new Map<string, Promise<ReconcileResult>>();
  readonly #stats: MutableStats = {
    gossipReceived: 0,
    gossipDuplicates: 0,
    gossipPublished: 0,
    syncReceived: 0,
    syncSent: 0,
    rejected: 0,
    unregistered: 0,
    throttled: 0,
    bannedPeers: 0,
    reconciliations: 0,
    failedReconciliations: 0,
    lastReconciliation: null,
  };
  readonly #penalties: PeerPenalties;
  #stopController = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping = false;
  #inbound = 0;
  #started = false;

  constructor(node: LedgerSyncNode, ledger: Ledger, options: LedgerSyncOptions = {}) {
    this.#node = node;
    this.#ledger = ledger;
    this.#intervalMs = options.intervalMs ?? LEDGER_SYNC_INTERVAL_MS;
    this.#timeoutMs = options.timeoutMs ?? LEDGER_SYNC_TIMEOUT_MS;
    this.#reconcileOnConnect = options.reconcileOnConnect ?? true;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#penalties = new PeerPenalties({
      banAfter: LEDGER_PEER_BAN_AFTER,
      windowMs: LEDGER_PEER_STRIKE_WINDOW_MS,
      banMs: LEDGER_PEER_BAN_MS,
      ratePerSecond: LEDGER_GOSSIP_BLOCKS_PER_SECOND,
      burst: LEDGER_GOSSIP_BURST,
      now: this.#now,
      ...options.penalties,
    });
    // A slash block may carry two blocks of the maximum size (see verifyLedgerBlock).
    const largestBlock = 2 * ledger.params.maxBlockBytes + 4096;
    this.#maxGossipBytes = largestBlock + 1024;
    this.#maxFrameBytes = Math.max(LEDGER_SYNC_BATCH_BYTES, largestBlock) + 4096;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Subscribes to the gossip topic, serves the sync protocol and starts the periodic reconciliation. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#stopController = new AbortController();
    await this.#node.handle(LEDGER_SYNC_PROTOCOL, (stream, connection) => this.#handle(stream, connection), {
      maxInboundStreams: LEDGER_SYNC_CONCURRENCY,
    });
    const pubsub = this.#node.services.pubsub;
    pubsub.topicValidators.set(LEDGER_TOPIC, this.#validate);
    pubsub.subscribe(LEDGER_TOPIC);
    if (this.#reconcileOnConnect) this.#node.addEventListener("peer:identify", this.#onIdentify);
    this.#timer = setInterval(() => void this.#sweep(), this.#intervalMs);
    this.#timer.unref?.();
    this.#started = true;
  }

  /** Stops everything and aborts the exchanges in flight. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
    this.#stopController.abort(new Error("ledger sync stopped"));
    const pubsub = this.#node.services.pubsub;
    pubsub.unsubscribe(LEDGER_TOPIC);
    pubsub.topicValidators.delete(LEDGER_TOPIC);
    await this.#node.unhandle(LEDGER_SYNC_PROTOCOL).catch(this.#logFailure);
  }

  /** Failed exchanges: expected now and then (peers leave, time out), so logged, never thrown. */
  readonly #logFailure = (error: unknown): void => {
    this.#logger.debug({ err: error }, "ledger sync");
  };

  stats(): LedgerSyncStats {
    return { ...this.#stats, bannedPeers: this.#penalties.bannedCount };
  }

  /** Whether this peer is banned for sending invalid data: its gossip and sync exchanges are refused. */
  isBanned(peer: PeerId | string): boolean {
    return this.#penalties.isBanned(peer.toString());
  }

  /**
   * Admission before the ledger: a block of an account that never registered (no open known, and
   * the block is not itself an open) would only cost storage and a Merkle entry, so it is dropped
   * here. Honest blocks that overtook their open come back through reconciliation, opens first.
   */
  #admits(input: unknown): boolean {
    if (typeof input !== "object" || input === null) return true; // malformed: Ledger.add rejects it
    const { account, kind } = input as { account?: unknown; kind?: unknown };
    if (typeof account !== "string" || kind === "open") return true;
    return this.#ledger.account(account).opened;
  }

  /**
   * A block this node authored (or learned out of band): adds it to the ledger, waits until it is
   * stored (a signed block must survive a restart before anyone sees it, or the wallet could sign
   * another one at the same height), then gossips it. A block the ledger already holds is gossiped
   * again, so this also serves to announce one the caller added itself. Not gossiped when refused
   * (see the result). A failed gossip is logged: reconciliation delivers the block later.
   */
  async publish(block: LedgerBlock, options: { signal?: AbortSignal } = {}): Promise<AddResult> {
    const result = this.#ledger.add(block, { now: this.#now() });
    await this.#ledger.save(options);
    if (result.status === "applied" || result.status === "pending" || result.status === "duplicate") {
      try {
        await this.#node.services.pubsub.publish(LEDGER_TOPIC, utf8Encode(JSON.stringify(block)));
        this.#stats.gossipPublished++;
      } catch (error) {
        this.#logger.debug({ err: error }, "ledger gossip failed");
      }
    }
    return result;
  }

  /** Reconciles with one peer now (one exchange per peer at a time: a second call joins the first). */
  reconcile(peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<ReconcileResult> {
    const key = peer.toString();
    if (this.#penalties.isBanned(key))
      return Promise.reject(new ProtocolViolationError(`peer ${key} is banned for invalid ledger data`));
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const promise = this.#initiate(peer, options.signal).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  /** Reconciles with every connected peer that speaks the sync protocol; failures are logged. */
  async reconcileAll(options: { signal?: AbortSignal } = {}): Promise<ReconcileResult[]> {
    const peers = await this.#syncPeers();
    const results: ReconcileResult[] = [];
    const worker = async (): Promise<void> => {
      for (let peer = peers.shift(); peer !== undefined; peer = peers.shift()) {
        if (options.signal?.aborted || this.#stopController.signal.aborted) return;
        try {
          results.push(await this.reconcile(peer, options));
        } catch (error) {
          this.#logFailure(error);
        }
      }
    };
    await Promise.all(Array.from({ length: LEDGER_SYNC_CONCURRENCY }, worker));
    return results;
  }

  /**
   * Reconciles with the first peers that keep the ledger, waiting up to `waitMs` for one to be
   * connected; true when at least one exchange completed. A peer that is about to sign on one of
   * its own chains (an open after start-up, the first block after a restart) calls this first, so
   * that it continues its chain where the network has it instead of signing a height twice.
   */
  async reconcileWithFirstPeers(options: { waitMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    const deadline = this.#now() + (options.waitMs ?? DEFAULT_FIRST_SYNC_WAIT_MS);
    while (!options.signal?.aborted && !this.#stopController.signal.aborted) {
      const results = await this.reconcileAll({ signal: options.signal });
      if (results.length > 0) return true;
      if (this.#now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      await this.reconcileAll();
    } catch (error) {
      this.#logFailure(error);
    } finally {
      this.#sweeping = false;
    }
  }

  async #syncPeers(): Promise<PeerId[]> {
    const peers: PeerId[] = [];
    for (const peer of this.#node.getPeers()) {
      try {
        if (this.#penalties.isBanned(peer.toString())) continue;
        if ((await this.#node.peerStore.get(peer)).protocols.includes(LEDGER_SYNC_PROTOCOL)) peers.push(peer);
      } catch {
        // Not in the peer store (yet): the next sweep will see it.
      }
    }
    return peers;
  }

  readonly #onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const peer = event.detail.peerId;
    if (!event.detail.protocols.includes(LEDGER_SYNC_PROTOCOL)) return;
    if (this.#node.peerId.toString() > peer.toString()) return;
    this.reconcile(peer).catch(this.#logFailure);
  };

  // ---- gossip ----

  /** Runs before gossipsub delivers or forwards a message: invalid blocks are neither applied nor spread. */
  readonly #validate: TopicValidatorFn = (source: PeerId, message: Message): TopicValidatorResult => {
    const peer = source.toString();
    // Cheap first: bans and the peer's rate, size, JSON, registration; the ledger's verification last.
    const refuse = (): TopicValidatorResult => {
      this.#stats.rejected++;
      this.#penalties.strike(peer);
      return TopicValidatorResult.Reject;
    };
    try {
      if (this.#penalties.isBanned(peer)) {
        this.#stats.throttled++;
        return TopicValidatorResult.Reject;
      }
      if (!this.#penalties.take(peer)) {
        this.#stats.throttled++;
        return TopicValidatorResult.Ignore;
      }
      if (message.data.length > this.#maxGossipBytes) return refuse();
      let input: unknown;
      try {
        input = JSON.parse(utf8Decode(message.data));
      } catch {
        return refuse();
      }
      if (!this.#admits(input)) {
        this.#stats.unregistered++;
        this.#penalties.strike(peer);
        return TopicValidatorResult.Reject;
      }
      const result = this.#ledger.add(input, { now: this.#now() });
      this.#persist();
      switch (result.status) {
        case "applied":
        case "pending":
        case "equivocation":
          this.#stats.gossipReceived++;
          return TopicValidatorResult.Accept;
        case "duplicate":
        case "ignored":
          this.#stats.gossipDuplicates++;
          return TopicValidatorResult.Ignore;
        default:
          // A block from the future may be valid later: not the sender's fault.
          if (result.error?.transient) return TopicValidatorResult.Ignore;
          return refuse();
      }
    } catch (error) {
      this.#logFailure(error);
      return TopicValidatorResult.Ignore;
    }
  };

  #persist(): void {
    if (this.#ledger.unsavedCount > 0) {
      this.#ledger.save().catch((error: unknown) => this.#logger.warn({ err: error }, "could not save the ledger"));
    }
  }

  // ---- reconciliation ----

  async #initiate(peer: PeerId, signal: AbortSignal | undefined): Promise<ReconcileResult> {
    const started = this.#now();
    const exchange = this.#exchangeSignal(signal);
    let channel: SyncChannel | undefined;
    const counts = newCounts(peer);
    try {
      const stream = await this.#node.dialProtocol(peer, LEDGER_SYNC_PROTOCOL, { signal: exchange });
      channel = new SyncChannel(stream, this.#maxFrameBytes, exchange);
      const inSync = await this.#runInitiator(channel, counts);
      await channel.close();
      return this.#finish({ peer, role: "initiator", started, inSync, counts, channel });
    } catch (error) {
      channel?.abort(error);
      this.#finish({ peer, role: "initiator", started, inSync: false, counts, channel, error });
      throw error;
    }
  }

  async #runInitiator(channel: SyncChannel, counts: Counts): Promise<boolean> {
    const root = this.#ledger.merkleRoot();
    await channel.send({ type: "root", root });
    const theirs = await channel.expect("root");
    if (theirs.root === root) {
      await channel.send({ type: "done" });
      return true;
    }
    await channel.sendHeads(this.#ledger.heads());
    const request = await channel.receiveHeads(await channel.receive());
    await channel.receiveBlocks((blocks) => this.#applySynced(blocks, counts));
    this.#applyDeferred(counts);
    counts.sent = await channel.sendBlocks(this.#ledger.blocksMissingFrom(request, { complete: false }));
    await channel.expect("done");
    return false;
  }

  async #handle(stream: Stream, connection: Connection): Promise<void> {
    if (this.#inbound >= LEDGER_SYNC_MAX_INBOUND) {
      stream.abort(new Error("too many ledger sync exchanges"));
      return;
    }
    if (this.#penalties.isBanned(connection.remotePeer.toString())) {
      stream.abort(new ProtocolViolationError("banned for invalid ledger data"));
      return;
    }
    this.#inbound++;
    const started = this.#now();
    const exchange = this.#exchangeSignal(undefined);
    const channel = new SyncChannel(stream, this.#maxFrameBytes, exchange);
    const peer = connection.remotePeer;
    const counts = newCounts(peer);
    try {
      const inSync = await this.#runResponder(channel, counts);
      await channel.close();
      this.#finish({ peer, role: "responder", started, inSync, counts, channel });
    } catch (error) {
      channel.abort(error);
      this.#finish({ peer, role: "responder", started, inSync: false, counts, channel, error });
      this.#logFailure(error);
    } finally {
      this.#inbound--;
    }
  }

  async #runResponder(channel: SyncChannel, counts: Counts): Promise<boolean> {
    await channel.expect("root");
    await channel.send({ type: "root", root: this.#ledger.merkleRoot() });
    const next = await channel.receive();
    if (next.type === "done") return true;
    const theirs = await channel.receiveHeads(next);
    await channel.sendHeads(this.#ledger.headsToRequest(theirs));
    counts.sent = await channel.sendBlocks(this.#ledger.blocksMissingFrom(theirs));
    await channel.receiveBlocks((blocks) => this.#applySynced(blocks, counts));
    this.#applyDeferred(counts);
    await channel.send({ type: "done" });
    return false;
  }

  #applySynced(blocks: readonly unknown[], counts: Counts): void {
    if (counts.received + counts.rejected + counts.deferred.length + blocks.length > LEDGER_SYNC_MAX_BLOCKS) {
      throw new ProtocolViolationError(`the peer sent more than ${LEDGER_SYNC_MAX_BLOCKS} blocks in one exchange`);
    }
    for (const block of blocks) {
      // Not yet admitted: its open may come later in this exchange.
      if (this.#admits(block)) this.#addSynced(block, counts);
      else counts.deferred.push(block);
    }
    this.#persist();
  }

  /** The exchange's blocks whose open never came: dropped, each a strike against the peer. */
  #applyDeferred(counts: Counts): void {
    for (const block of counts.deferred) {
      if (this.#admits(block)) this.#addSynced(block, counts);
      else {
        this.#stats.unregistered++;
        this.#strike(counts);
      }
    }
    counts.deferred = [];
    this.#persist();
  }

  #addSynced(block: unknown, counts: Counts): void {
    const result = this.#ledger.add(block, { now: this.#now() });
    if (result.status === "applied" || result.status === "pending" || result.status === "equivocation") counts.received++;
    else if (result.status === "rejected" && !result.error?.transient) {
      counts.rejected++;
      this.#strike(counts);
    }
  }

  /** Cuts the exchange once its peer is banned. */
  #strike(counts: Counts): void {
    if (this.#penalties.strike(counts.peer.toString())) {
      throw new ProtocolViolationError(`peer ${counts.peer.toString()} is banned for invalid ledger data`);
    }
  }

  #exchangeSignal(signal: AbortSignal | undefined): AbortSignal {
    const signals = [this.#stopController.signal, AbortSignal.timeout(this.#timeoutMs)];
    if (signal !== undefined) signals.push(signal);
    return AbortSignal.any(signals);
  }

  #finish(outcome: {
    peer: PeerId;
    role: ReconcileResult["role"];
    started: number;
    inSync: boolean;
    counts: Counts;
    channel: SyncChannel | undefined;
    error?: unknown;
  }): ReconcileResult {
    const { counts, channel, error } = outcome;
    const result: ReconcileResult = {
      peer: outcome.peer.toString(),
      role: outcome.role,
      at: outcome.started,
      durationMs: this.#now() - outcome.started,
      inSync: outcome.inSync,
      blocksSent: counts.sent,
      blocksReceived: counts.received,
      blocksRejected: counts.rejected,
      bytesSent: channel?.bytesSent ?? 0,
      bytesReceived: channel?.bytesReceived ?? 0,
      ...(error === undefined ? {} : { error: errorMessage(error) }),
    };
    this.#stats.syncReceived += counts.received;
    this.#stats.syncSent += counts.sent;
    this.#stats.rejected += counts.rejected;
    if (error === undefined) this.#stats.reconciliations++;
    else this.#stats.failedReconciliations++;
    this.#stats.lastReconciliation = result;
    return result;
  }
}

interface Counts {
  peer: PeerId;
  sent: number;
  received: number;
  rejected: number;
  /** Blocks of accounts not (yet) opened, held until the end of the batch of blocks. */
  deferred: unknown[];
}

function newCounts(peer: PeerId): Counts {
  return { peer, sent: 0, received: 0, rejected: 0, deferred: [] };
}

/** One exchange's frames: bounded, typed, counted, and cut when the exchange's signal fires. */
class SyncChannel {
  readonly #stream: Stream;
  readonly #frames: FrameStream;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(stream: Stream, maxFrameBytes: number, signal: AbortSignal) {
    this.#stream = stream;
    this.#frames = new FrameStream(stream, { maxFrameBytes });
    this.#signal = signal;
    this.#onAbort = () => stream.abort(asError(signal.reason));
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  async send(frame: SyncFrame): Promise<void> {
    await this.#write(JSON.stringify(frame));
  }

  async #write(json: string): Promise<void> {
    const bytes = utf8Encode(json);
    this.bytesSent += bytes.length;
    await this.#frames.writeBytes(bytes, { signal: this.#signal });
  }

  async receive(): Promise<SyncFrame> {
    const bytes = await this.#frames.readBytes({ signal: this.#signal });
    this.bytesReceived += bytes.length;
    let json: unknown;
    try {
      json = JSON.parse(utf8Decode(bytes));
    } catch {
      throw new MalformedFrameError("a ledger sync frame is not JSON");
    }
    const parsed = syncFrameSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ProtocolViolationError(`invalid ledger sync frame: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "?"}`);
    }
    return parsed.data;
  }

  async expect<T extends SyncFrame["type"]>(type: T): Promise<Extract<SyncFrame, { type: T }>> {
    const frame = await this.receive();
    if (frame.type !== type) throw new ProtocolViolationError(`expected a ${type} frame, got ${frame.type}`);
    return frame as Extract<SyncFrame, { type: T }>;
  }

  async sendHeads(heads: readonly AccountHead[]): Promise<void> {
    const list = heads.slice(0, LEDGER_SYNC_MAX_HEADS);
    for (let start = 0; ; start += LEDGER_SYNC_HEADS_PER_FRAME) {
      const end = start + LEDGER_SYNC_HEADS_PER_FRAME;
      await this.send({ type: "heads", heads: list.slice(start, end), more: end < list.length });
      if (end >= list.length) return;
    }
  }

  /** Reads a list of heads that starts with `first`. */
  async receiveHeads(first: SyncFrame): Promise<AccountHead[]> {
    const heads: AccountHead[] = [];
    for (let frame = first; ; frame = await this.receive()) {
      if (frame.type !== "heads") throw new ProtocolViolationError(`expected a heads frame, got ${frame.type}`);
      heads.push(...frame.heads);
      if (heads.length > LEDGER_SYNC_MAX_HEADS) throw new ProtocolViolationError("the peer sent too many account heads");
      if (!frame.more) return heads;
    }
  }

  /** Sends blocks in frames of about LEDGER_SYNC_BATCH_BYTES; returns how many were sent. */
  async sendBlocks(blocks: readonly LedgerBlock[]): Promise<number> {
    const list = blocks.slice(0, LEDGER_SYNC_MAX_BLOCKS);
    let batch: string[] = [];
    let size = 0;
    const flush = (more: boolean) => this.#write(`{"type":"blocks","blocks":[${batch.join(",")}],"more":${more}}`);
    for (const block of list) {
      const json = JSON.stringify(block);
      const bytes = utf8Encode(json).length;
      if (batch.length > 0 && size + bytes > LEDGER_SYNC_BATCH_BYTES) {
        await flush(true);
        batch = [];
        size = 0;
      }
      batch.push(json);
      size += bytes + 1;
    }
    await flush(false);
    return list.length;
  }

  async receiveBlocks(apply: (blocks: readonly unknown[]) => void): Promise<void> {
    for (;;) {
      const frame = await this.expect("blocks");
      apply(frame.blocks);
      if (!frame.more) return;
    }
  }

  async close(): Promise<void> {
    this.#signal.removeEventListener("abort", this.#onAbort);
    await this.#stream.close({ signal: this.#signal }).catch((error: unknown) => this.#stream.abort(asError(error)));
  }

  abort(error: unknown): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#stream.abort(asError(error));
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
