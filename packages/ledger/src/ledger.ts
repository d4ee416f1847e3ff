import { InsufficientCreditsError, publicKeyFromIdentityId } from "@opengateway/protocol";
import type { AuditStanding } from "./audit-standings.js";
import { auditStandings, NO_AUDITS } from "./audit-standings.js";
import type { LedgerBlock, OpenBlock } from "./ledger-block.js";
import { ledgerBlockHash, settlementKey, verifyLedgerBlock } from "./ledger-block.js";
import type { BlockDependency, BlockRejectedError } from "./ledger-errors.js";
import {
  AccountFrozenError,
  DebtOutstandingError,
  DuplicateFingerprintError,
  DuplicateReservationError,
  EquivocationError,
  FutureTimestampError,
  MissingDependencyError,
} from "./ledger-errors.js";
import type { LedgerParams } from "./ledger-params.js";
import { registrationSurchargeBits } from "./ledger-params.js";
import type {
  AccountHead,
  AccountSummary,
  BlockEntry,
  ChainPosition,
  LedgerState,
  LedgerTotals,
  WitnessSighting,
} from "./ledger-state.js";
import {
  accountHeads,
  accountSummary,
  agreedArrival,
  applyBlock,
  applyVerifiedBlock,
  createLedgerState,
  excludeBlock,
  freezeAccount,
  ledgerTotals,
  nextPosition,
} from "./ledger-state.js";
import type { AccountSnapshot, LedgerCommit, LedgerStore, StoreOptions } from "./ledger-store.js";
import { accountHeadsRoot } from "./merkle-root.js";
import { registrationPowBits } from "./registration-pow.js";
import type { Reputation } from "./reputation.js";
import { paidWorkScore, reputationOf } from "./reputation.js";

export interface LedgerOptions {
  readonly params?: Partial<LedgerParams>;
  /** Most blocks buffered while they wait for a predecessor; past it the oldest is dropped. */
  readonly maxPending?: number;
  /** Where `save` writes; without one the ledger lives in memory only. */
  readonly store?: LedgerStore;
}

export const DEFAULT_MAX_PENDING = 10_000;

/**
 * - applied: the block (and `applied` lists every buffered block it unblocked) is in the state;
 * - pending: it waits for a predecessor or a source block;
 * - rejected: refused (see `error`); a signed block refused in its position still holds that
 *   position, so a different block there later is an equivocation;
 * - equivocation: its account already had another block at this height: both are kept as proof
 *   and the account is frozen;
 * - duplicate / ignored: already known, or from a frozen account.
 */
export type AddStatus = "applied" | "pending" | "rejected" | "equivocation" | "duplicate" | "ignored";

export interface AddResult {
  readonly status: AddStatus;
  readonly hash: string | null;
  readonly applied: readonly string[];
  readonly error: BlockRejectedError | null;
}

export interface Equivocation {
  readonly account: string;
  readonly height: number;
  /** The two lowest-hash signed blocks seen at that height, lowest first: anyone can check them. */
  readonly proof: readonly [LedgerBlock, LedgerBlock];
}

export interface Reservation {
  readonly account: string;
  readonly requestId: string;
  readonly maxCredits: number;
  readonly expiresAt: number | null;
}

export interface AccountView extends AccountSummary {
  /** Held by in-flight requests on this peer (local, not on the ledger). */
  readonly reserved: number;
  /** What a new request may reserve: balance − reserved. */
  readonly spendable: number;
  /** What a send block may move now: the balance less the locked grant and the reservations. */
  readonly transferable: number;
}

interface KnownBlock {
  readonly block: LedgerBlock;
  readonly hash: string;
}

interface Fork {
  readonly height: number;
  proof: [KnownBlock, KnownBlock];
}

const slotKey = (account: string, height: number): string => `${account}\n${height}`;
const chainKey = (account: string, height: number): string => `chain\n${account}\n${height}`;
const blockKey = (hash: string): string => `block\n${hash}`;
const witnessKey = (hash: string): string => `witness\n${hash}`;
const waitKey = (dependency: BlockDependency): string =>
  dependency.type === "chain"
    ? chainKey(dependency.account, dependency.height)
    : dependency.type === "block"
      ? blockKey(dependency.hash)
      : witnessKey(dependency.hash);
/** A provider's paid-work facts (the reputation before audits). */
const paidWork = (state: LedgerState, account: string) => ({
  paidReceipts: state.paidReceipts.get(account) ?? 0,
  disputedClaims: state.disputeCounts.get(account)?.received ?? 0,
  slashed: state.slashed.has(account),
  frozen: state.frozen.has(account),
});
const byHash = (a: KnownBlock, b: KnownBlock): number => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);

/**
 * A peer's ledger: the pure state machine plus what makes arrival order irrelevant. Blocks that
 * arrive before their predecessor wait in a bounded buffer; conflicts that depend on the whole
 * set of blocks (two blocks at one height, two opens with one fingerprint) are resolved by a
 * deterministic rule and, when an earlier choice must be undone, by replaying every known block.
 * The final state is therefore a function of the set of blocks seen, not of their order (as long
 * as the pending buffer never overflows).
 */
export class Ledger {
  readonly params: LedgerParams;
  readonly #maxPending: number;
  readonly #store: LedgerStore | null;
  #state: LedgerState;
  /** Applied blocks in application order. */
  #applied = new Map<string, LedgerBlock>();
  /** Each account's applied chain: hashes by height. */
  #chains = new Map<string, string[]>();
  readonly #appliedListeners = new Set<(block: LedgerBlock) => void>();
  /** Signed blocks refused in their position (or losing a fingerprint): they keep that position. */
  #held = new Map<string, LedgerBlock>();
  #pending = new Map<string, { readonly block: LedgerBlock; readonly waitKey: string }>();
  #waiting = new Map<string, Set<string>>();
  /** (account, height) → the held or pending block there; applied ones are in #chains. */
  #slots = new Map<string, string>();
  #forks = new Map<string, Fork>();
  /**
   * Sends and settles of frozen accounts at or above the fork: kept (bounded like the pending
   * buffer) so that a receive or earn naming one applies as a void collection on every peer.
   */
  #excluded = new Map<string, LedgerBlock>();
  /** Fingerprint → every verified open block that used it. */
  #contenders = new Map<string, Map<string, OpenBlock>>();
  /** Open hash → its fingerprint, for the contests a witness statement may decide. */
  #openFingerprints = new Map<string, string>();
  /**
   * Open hash → every time witness's sighting from an applied witness block. Kept across replays
   * (like the contenders), so a replay decides each fingerprint contest with everything known.
   */
  #sightings = new Map<string, WitnessSighting[]>();
  /** Open hash → the proof-of-work bits it reached (computed once; lazily for opens loaded from the store). */
  #powBits = new Map<string, number>();
  /** Registration epoch → the verified opens dated in it (the rate that sets a later epoch's difficulty). */
  #opensPerEpoch = new Map<number, Set<string>>();
  /** Contested fingerprints a witness statement touched since the last check. */
  #touchedContests = new Set<string>();
  readonly #openListeners = new Set<(open: OpenBlock, hash: string, now: number) => void>();
  #reservations = new Map<string, Reservation>();
  #reservedBy = new Map<string, number>();
  #root: string | null = null;
  #standings: { readonly state: LedgerState; readonly standings: Map<string, AuditStanding> } | null = null;
  #rebuilding = false;
  #rebuildAgain = false;
  // Persistence: what the store holds or will hold, and the atomic commits not written yet.
  #persisted = new Set<string>();
  #outbox: LedgerCommit[] = [];
  #storeSeq = 0;
  #saving: Promise<void> = Promise.resolve();

  constructor(options: LedgerOptions = {}) {
    this.#state = createLedgerState(options.params);
    this.params = this.#state.params;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.#store = options.store ?? null;
  }

  /** A ledger rebuilt from everything `store` holds; later `save` calls write to it. */
  static async load(
    store: LedgerStore,
    options: Omit<LedgerOptions, "store"> & { readonly signal?: AbortSignal; readonly now?: number } = {},
  ): Promise<Ledger> {
    const stored = await store.loadBlocks({ signal: options.signal });
    const ledger = new Ledger({ ...options, store });
    for (const entry of stored) {
      ledger.#persisted.add(entry.hash);
      ledger.#storeSeq = Math.max(ledger.#storeSeq, entry.seq + 1);
    }
    const now = options.now ?? Date.now();
    for (const entry of stored) {
      options.signal?.throwIfAborted();
      // Kept only after it was verified: the memory-hard proof-of-work is not redone at every start.
      const verified = verifyLedgerBlock(entry.block, ledger.params, { trustedPow: true });
      if (verified.ok) ledger.#admit({ block: verified.block, hash: verified.hash }, now);
    }
    // Replay reproduces what the store already derived; nothing new to write.
    ledger.#outbox = [];
    return ledger;
  }

  get state(): LedgerState {
    return this.#state;
  }

  /** Verifies a block and applies it, buffers it, or records why not. Never throws for bad input. */
  add(input: unknown, options: { readonly now?: number } = {}): AddResult {
    const verified = verifyLedgerBlock(input, this.params);
    if (!verified.ok) return { status: "rejected", hash: null, applied: [], error: verified.error };
    if (verified.powBits !== undefined) this.#powBits.set(verified.hash, verified.powBits);
    return this.#admit({ block: verified.block, hash: verified.hash }, options.now ?? Date.now());
  }

  /** `add`, then `save`. */
  async submit(input: unknown, options: { readonly now?: number; readonly signal?: AbortSignal } = {}): Promise<AddResult> {
    const result = this.add(input, options);
    await this.save(options);
    return result;
  }

  /** What `add` would say about a block on the current state, without keeping anything (for wallets). */
  check(input: unknown, options: { readonly now?: number } = {}): BlockRejectedError | null {
    const result = applyBlock(this.#state, input, { now: options.now ?? Date.now() });
    if (!result.ok) return result.error;
    // A block held (refused or waiting) at that height still occupies it: signing another there would be an equivocation.
    const { account, height } = input as LedgerBlock;
    const occupant = this.#occupant(account, height);
    if (occupant !== undefined && occupant.hash !== ledgerBlockHash(input as LedgerBlock))
      return new EquivocationError(account, height);
    return null;
  }

  #admit(known: KnownBlock, now: number): AddResult {
    const { block, hash } = known;
    const result = (status: AddStatus, error: BlockRejectedError | null = null, applied: string[] = []): AddResult => ({
      status,
      hash,
      applied,
      error,
    });
    // Not kept: the same block may be valid on a peer whose clock is later.
    if (block.timestamp > now + this.params.maxClockSkewMs)
      return result("rejected", new FutureTimestampError(block.timestamp, now));
    if (this.#isKnown(hash)) return result("duplicate");
    if (block.kind === "open" && !this.#rebuilding) this.#announceOpen(block, hash, now);
    const fork = this.#forks.get(block.account);
    if (fork !== undefined && block.height >= fork.height) {
      if (block.height === fork.height) this.#offerProof(fork, known);
      this.#exclude(known, now);
      return result("ignored", new AccountFrozenError(block.account, fork.height));
    }
    const occupant = this.#occupant(block.account, block.height);
    if (occupant !== undefined) {
      this.#registerFork(block.account, block.height, occupant, known, now);
      return result("equivocation", new EquivocationError(block.account, block.height));
    }
    if (block.kind === "slash") {
      const [first, second] = block.evidence;
      this.#registerFork(
        first.account,
        first.height,
        { block: first, hash: ledgerBlockHash(first) },
        { block: second, hash: ledgerBlockHash(second) },
        now,
      );
    }
    this.#slots.set(slotKey(block.account, block.height), hash);
    if (block.kind === "open") {
      const contenders = this.#contenders.get(block.fingerprint) ?? new Map<string, OpenBlock>();
      this.#contenders.set(block.fingerprint, contenders);
      contenders.set(hash, block);
      this.#openFingerprints.set(hash, block.fingerprint);
      if (this.#countOpen(block, hash)) {
        this.#hold(known);
        this.#rebuild(now);
        return this.#applied.has(hash) ? result("applied", null, [hash]) : result("pending");
      }
      // A losing open still opens its account, without the grant (see #grants): it is not held.
      const owner = this.#state.fingerprints.get(block.fingerprint);
      if (this.#grants(block, hash) && owner !== undefined && owner !== hash) {
        // This open has the better claim to a fingerprint already granted: replay without the old one.
        this.#hold(known);
        this.#rebuild(now);
        return this.#applied.has(hash) ? result("applied", null, [hash]) : result("rejected", new DuplicateFingerprintError());
      }
    }
    return this.#attempt(known, now);
  }

  /** Applies a block and everything it unblocks (iteratively: a reversed chain of any length unwinds). */
  #attempt(first: KnownBlock, now: number): AddResult {
    const applied: string[] = [];
    const queue: KnownBlock[] = [first];
    let outcome: BlockRejectedError | null = null;
    for (let index = 0; index < queue.length; index++) {
      const current = queue[index] as KnownBlock;
      const error = this.#tryApply(current, now, queue);
      if (index === 0) outcome = error;
      if (error === null) applied.push(current.hash);
    }
    this.#settleContests(now);
    if (outcome === null) return { status: "applied", hash: first.hash, applied, error: null };
    return { status: outcome.transient ? "pending" : "rejected", hash: first.hash, applied, error: outcome };
  }

  #tryApply(known: KnownBlock, now: number, queue: KnownBlock[]): BlockRejectedError | null {
    const { block, hash } = known;
    const result = applyVerifiedBlock(this.#state, block, hash, { now, grants: this.#grants });
    if (result.ok) {
      this.#commit(result.state, known);
      const keys = [chainKey(block.account, block.height), blockKey(hash)];
      if (block.kind === "witness") {
        for (const entry of block.opens) {
          keys.push(witnessKey(entry.open));
          this.#learnSighting(entry.open, { account: block.account, seenAt: entry.seenAt });
        }
      }
      for (const key of keys) {
        const waiters = this.#waiting.get(key);
        if (waiters === undefined) continue;
        this.#waiting.delete(key);
        for (const waiter of waiters) {
          const entry = this.#pending.get(waiter);
          if (entry === undefined) continue;
          this.#pending.delete(waiter);
          queue.push({ block: entry.block, hash: waiter });
        }
      }
      return null;
    }
    if (result.error instanceof MissingDependencyError) {
      this.#pend(known, waitKey(result.error.dependency));
    } else {
      this.#hold(known);
    }
    return result.error;
  }

  #commit(state: LedgerState, known: KnownBlock): void {
    const { block, hash } = known;
    this.#state = state;
    this.#root = null;
    this.#applied.set(hash, block);
    this.#slots.delete(slotKey(block.account, block.height));
    const chain = this.#chains.get(block.account) ?? [];
    this.#chains.set(block.account, chain);
    chain[block.height] = hash;
    if (block.kind === "settle") {
      // The settlement replaces the reservation it was paying for.
      const reservation = this.#reservations.get(block.receipt.requestId);
      if (reservation?.account === block.account) this.release(reservation.requestId);
    }
    this.#keep(known, block.kind === "slash" ? [block.account, block.evidence[0].account] : [block.account]);
    // A replay re-applies known blocks: listeners hear of them again and must be idempotent.
    for (const listener of this.#appliedListeners) {
      try {
        listener(block);
      } catch {
        // A listener's failure is its own; the ledger's state is already committed.
      }
    }
  }

  /** Calls `listener` with every block applied from now on (also on a replay); returns the unsubscribe. */
  onApplied(listener: (block: LedgerBlock) => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  #pend(known: KnownBlock, key: string): void {
    if (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.keys().next();
      if (!oldest.done) this.#dropPending(oldest.value);
    }
    this.#pending.set(known.hash, { block: known.block, waitKey: key });
    const waiters = this.#waiting.get(key) ?? new Set<string>();
    this.#waiting.set(key, waiters);
    waiters.add(known.hash);
  }

  #dropPending(hash: string): void {
    const entry = this.#pending.get(hash);
    if (entry === undefined) return;
    this.#pending.delete(hash);
    this.#waiting.get(entry.waitKey)?.delete(hash);
    const slot = slotKey(entry.block.account, entry.block.height);
    if (this.#slots.get(slot) === hash) this.#slots.delete(slot);
  }

  #hold(known: KnownBlock): void {
    this.#held.set(known.hash, known.block);
    this.#keep(known, [known.block.account]);
  }

  #isKnown(hash: string): boolean {
    if (this.#applied.has(hash) || this.#held.has(hash) || this.#pending.has(hash)) return true;
    for (const fork of this.#forks.values()) if (fork.proof[0].hash === hash || fork.proof[1].hash === hash) return true;
    return false;
  }

  #occupant(account: string, height: number): KnownBlock | undefined {
    const appliedHash = this.#chains.get(account)?.[height];
    if (appliedHash !== undefined) {
      const block = this.#applied.get(appliedHash);
      if (block !== undefined) return { block, hash: appliedHash };
    }
    const slotted = this.#slots.get(slotKey(account, height));
    if (slotted === undefined) return undefined;
    const block = this.#held.get(slotted) ?? this.#pending.get(slotted)?.block;
    return block === undefined ? undefined : { block, hash: slotted };
  }

  /** Two signed blocks at one height freeze the account there; a lower fork supersedes a higher one. */
  #registerFork(account: string, height: number, a: KnownBlock, b: KnownBlock, now: number): void {
    const current = this.#forks.get(account);
    if (current !== undefined && current.height <= height) {
      if (current.height === height) {
        this.#offerProof(current, a);
        this.#offerProof(current, b);
      }
      this.#exclude(a, now);
      this.#exclude(b, now);
      return;
    }
    const proof = [a, b].sort(byHash) as [KnownBlock, KnownBlock];
    this.#forks.set(account, { height, proof });
    // The proof must survive a restart, or a reloaded ledger would unfreeze the account.
    this.#keep(a, []);
    this.#keep(b, []);
    this.#remember(a);
    this.#remember(b);
    this.#rebuild(now);
  }

  /** Keeps the two lowest hashes at the fork height, so every peer ends with the same proof. */
  #offerProof(fork: Fork, candidate: KnownBlock): void {
    if (fork.proof.some((known) => known.hash === candidate.hash)) return;
    const [lowest, second] = [...fork.proof, candidate].sort(byHash) as [KnownBlock, KnownBlock, KnownBlock];
    if (second.hash === fork.proof[1].hash && lowest.hash === fork.proof[0].hash) return;
    fork.proof = [lowest, second];
    this.#keep(candidate, []);
  }

  /** Keeps an excluded send or settle (bounded; the oldest goes first, as in the pending buffer). */
  #remember(known: KnownBlock): boolean {
    const { block, hash } = known;
    if ((block.kind !== "send" && block.kind !== "settle") || this.#excluded.has(hash)) return false;
    if (this.#excluded.size >= this.#maxPending) {
      const oldest = this.#excluded.keys().next();
      if (!oldest.done) this.#excluded.delete(oldest.value);
    }
    this.#excluded.set(hash, block);
    return true;
  }

  /** A frozen account's send or settle: collections that name it apply as void, now or when they come. */
  #exclude(known: KnownBlock, now: number): void {
    this.#remember(known);
    if (!this.#excluded.has(known.hash) || this.#state.excluded.has(known.hash)) return;
    // A fork registered inside a replay is frozen (and this block excluded) when the replay restarts.
    if ((this.#state.frozen.get(known.block.account) ?? Number.POSITIVE_INFINITY) > known.block.height) return;
    this.#state = excludeBlock(this.#state, known.hash, known.block);
    // Its collector may already be waiting for it.
    this.#keep(known, []);
    const waiters = this.#waiting.get(blockKey(known.hash));
    if (waiters === undefined) return;
    this.#waiting.delete(blockKey(known.hash));
    for (const waiter of waiters) {
      const entry = this.#pending.get(waiter);
      if (entry === undefined) continue;
      this.#pending.delete(waiter);
      this.#attempt({ block: entry.block, hash: waiter }, now);
    }
  }

  /** An excluded send or settle of a frozen account, if this ledger keeps it. */
  excludedBlock(hash: string): LedgerBlock | undefined {
    return this.#state.excluded.has(hash) ? this.#excluded.get(hash) : undefined;
  }

  /**
   * Only the winner of its fingerprint's contest gets the grant; the others open empty, so an open
   * that wins a contest later takes the grant and never the loser's account, chain or earnings.
   */
  readonly #grants = (open: OpenBlock, hash: string): boolean => this.#fingerprintWinner(open.fingerprint) === hash;

  /**
   * Among confirmed opens whose account did not equivocate at height 0: the earliest agreed
   * arrival (when the quorum of time witnesses saw it; its own timestamp on a network without
   * witnesses), then the earliest timestamp, then the lowest hash. A backdated open is seen late,
   * so it cannot take a fingerprint from the machine that registered it first.
   */
  #fingerprintWinner(fingerprint: string): string | null {
    let best: { hash: string; block: OpenBlock; arrival: number } | null = null;
    for (const [hash, block] of this.#contenders.get(fingerprint) ?? []) {
      if (this.#forks.get(block.account)?.height === 0) continue;
      if (!this.#meetsEpochDifficulty(block, hash)) continue;
      const arrival = agreedArrival(this.#sightings.get(hash), block, this.params);
      if (arrival === null) continue;
      if (
        best === null ||
        arrival < best.arrival ||
        (arrival === best.arrival &&
          (block.timestamp < best.block.timestamp || (block.timestamp === best.block.timestamp && hash < best.hash)))
      ) {
        best = { hash, block, arrival };
      }
    }
    return best?.hash ?? null;
  }

  #epochOf(timestamp: number): number {
    return Math.floor(timestamp / this.params.registrationEpochMs);
  }

  /** The proof-of-work bits an open dated at `timestamp` must reach: the base, plus the surcharge of its epoch. */
  requiredRegistrationBits(timestamp: number): number {
    const earlier = this.#opensPerEpoch.get(this.#epochOf(timestamp) - 2)?.size ?? 0;
    return this.params.registrationDifficultyBits + registrationSurchargeBits(earlier, this.params);
  }

  /** What a registrant should solve now: enough for an open dated now or in the next epoch. */
  registrationWork(now: number = Date.now()): { difficultyBits: number; memoryKiB: number } {
    const bits = Math.max(
      this.requiredRegistrationBits(now),
      this.requiredRegistrationBits(now + this.params.registrationEpochMs),
    );
    return { difficultyBits: bits, memoryKiB: this.params.registrationMemoryKiB };
  }

  #meetsEpochDifficulty(open: OpenBlock, hash: string): boolean {
    const required = this.requiredRegistrationBits(open.timestamp);
    if (required <= this.params.registrationDifficultyBits) return true;
    let bits = this.#powBits.get(hash);
    if (bits === undefined) {
      bits = registrationPowBits({
        publicKey: publicKeyFromIdentityId(open.account),
        fingerprintHash: open.fingerprint,
        memoryKiB: this.params.registrationMemoryKiB,
        nonce: open.powNonce,
      });
      this.#powBits.set(hash, bits);
    }
    return bits >= required;
  }

  /**
   * Counts an open in its epoch. True when that raised the difficulty of an epoch two later in which
   * an open already holds a grant it no longer earns: the ledger must replay (rare: it needs opens
   * dated an epoch or more before they arrive).
   */
  #countOpen(open: OpenBlock, hash: string): boolean {
    const epoch = this.#epochOf(open.timestamp);
    const opens = this.#opensPerEpoch.get(epoch) ?? new Set<string>();
    this.#opensPerEpoch.set(epoch, opens);
    if (opens.has(hash)) return false;
    const before = registrationSurchargeBits(opens.size, this.params);
    opens.add(hash);
    if (registrationSurchargeBits(opens.size, this.params) === before || this.#rebuilding) return false;
    for (const later of this.#opensPerEpoch.get(epoch + 2) ?? []) {
      const block = this.#contenders.get(this.#openFingerprints.get(later) ?? "")?.get(later);
      if (
        block !== undefined &&
        this.#state.fingerprints.get(block.fingerprint) === later &&
        !this.#meetsEpochDifficulty(block, later)
      )
        return true;
    }
    return false;
  }

  #learnSighting(open: string, sighting: WitnessSighting): void {
    const known = this.#sightings.get(open) ?? [];
    if (known.some((entry) => entry.account === sighting.account)) return;
    known.push(sighting);
    this.#sightings.set(open, known);
    const fingerprint = this.#openFingerprints.get(open);
    if (fingerprint !== undefined && (this.#contenders.get(fingerprint)?.size ?? 0) > 1) this.#touchedContests.add(fingerprint);
  }

  /** A witness statement may have changed who wins a contested fingerprint: replay if it did. */
  #settleContests(now: number): void {
    if (this.#touchedContests.size === 0 || this.#rebuilding) return;
    const touched = [...this.#touchedContests];
    this.#touchedContests.clear();
    for (const fingerprint of touched) {
      const winner = this.#fingerprintWinner(fingerprint);
      const known = winner !== null && (this.#applied.has(winner) || this.#held.has(winner));
      if (known && this.#state.fingerprints.get(fingerprint) !== winner) {
        this.#rebuild(now);
        return;
      }
    }
  }

  #announceOpen(open: OpenBlock, hash: string, now: number): void {
    for (const listener of this.#openListeners) {
      try {
        listener(open, hash, now);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /**
   * Calls `listener` with every open block new to this ledger, with this peer's clock when it
   * arrived (not on replays): what a time witness states it saw. Returns the unsubscribe.
   */
  onOpenSeen(listener: (open: OpenBlock, hash: string, now: number) => void): () => void {
    this.#openListeners.add(listener);
    return () => this.#openListeners.delete(listener);
  }

  /** The time witnesses' sightings of an open and its agreed arrival (null while not confirmed). */
  arrival(openHash: string): { readonly sightings: readonly WitnessSighting[]; readonly agreed: number | null } {
    const sightings = this.#sightings.get(openHash) ?? [];
    const open = this.#applied.get(openHash) ?? this.#pending.get(openHash)?.block ?? this.#held.get(openHash);
    return {
      sightings: [...sightings],
      agreed: open?.kind === "open" ? agreedArrival(sightings, open, this.params) : null,
    };
  }

  /**
   * Replays every known block into a fresh state, with all known forks frozen first. Rare (it
   * follows fraud or a fingerprint contest) and costs no signature checks.
   */
  #rebuild(now: number): void {
    if (this.#rebuilding) {
      this.#rebuildAgain = true;
      return;
    }
    const accountsBefore = new Set(this.#state.accounts.keys());
    const known: KnownBlock[] = [
      ...[...this.#applied].map(([hash, block]) => ({ block, hash })),
      ...[...this.#held].map(([hash, block]) => ({ block, hash })),
      ...[...this.#pending].map(([hash, entry]) => ({ block: entry.block, hash })),
    ];
    this.#rebuilding = true;
    try {
      do {
        this.#rebuildAgain = false;
        let state = createLedgerState(this.params);
        for (const [account, fork] of this.#forks) state = freezeAccount(state, account, fork.height);
        // Blocks stay excluded once excluded: forks are only ever added or moved lower.
        for (const [hash, block] of this.#excluded) state = excludeBlock(state, hash, block);
        this.#state = state;
        this.#root = null;
        this.#applied = new Map();
        this.#chains = new Map();
        this.#held = new Map();
        this.#pending = new Map();
        this.#waiting = new Map();
        this.#slots = new Map();
        for (const entry of known) {
          this.#admit(entry, now);
          if (this.#rebuildAgain) break;
        }
      } while (this.#rebuildAgain);
    } finally {
      this.#rebuilding = false;
    }
    if (this.#store !== null) {
      const accounts = new Set([...accountsBefore, ...this.#state.accounts.keys(), ...this.#forks.keys()]);
      this.#outbox.push({ blocks: [], accounts: [...accounts].sort().map((account) => this.#snapshot(account)) });
    }
  }

  #keep(known: KnownBlock, accounts: readonly string[]): void {
    if (this.#store === null || this.#persisted.has(known.hash)) return;
    this.#persisted.add(known.hash);
    this.#outbox.push({
      blocks: [{ seq: this.#storeSeq++, hash: known.hash, block: known.block }],
      accounts: accounts.map((account) => this.#snapshot(account)),
    });
  }

  #snapshot(account: string): AccountSnapshot {
    const record = this.#state.accounts.get(account);
    return {
      account,
      height: record?.height ?? -1,
      head: record?.head ?? null,
      balance: record?.balance ?? 0,
      frozenAt: this.#state.frozen.get(account) ?? null,
    };
  }

  /** Commits that `save` has not written yet. */
  get unsavedCount(): number {
    return this.#outbox.length;
  }

  /**
   * Writes every kept block, each with the account snapshots it produced, one atomic commit per
   * block. A failed commit stays queued (and the error is thrown): the store is always a
   * consistent prefix of the ledger, never a half-written block.
   */
  async save(options: StoreOptions = {}): Promise<void> {
    const store = this.#store;
    if (store === null) return;
    const run = this.#saving.then(async () => {
      while (this.#outbox.length > 0) {
        options.signal?.throwIfAborted();
        const commit = this.#outbox[0] as LedgerCommit;
        await store.commit(commit, options);
        this.#outbox.shift();
      }
    });
    this.#saving = run.catch(() => undefined);
    return run;
  }

  // ---- views ----

  account(account: string, options: { readonly now?: number } = {}): AccountView {
    const summary = accountSummary(this.#state, account, options.now ?? Date.now());
    const reserved = this.#reservedBy.get(account) ?? 0;
    const usable = summary.opened && summary.frozenAt === null;
    return {
      ...summary,
      reserved,
      spendable: usable ? Math.max(0, summary.balance - reserved) : 0,
      // Reservations spend granted credits first, so locked and reserved overlap.
      transferable: usable ? Math.max(0, summary.balance - Math.max(summary.locked, reserved)) : 0,
    };
  }

  /** The account's reputation as a provider (docs/proof-system.md, "Reputation"): the same on every peer with this Merkle root. */
  reputation(account: string): Reputation {
    const state = this.#state;
    return reputationOf(account, { ...paidWork(state, account), audits: this.#auditStandings().get(account) ?? NO_AUDITS });
  }

  /** Audit standings of the current state, computed once per state (a scan of every verdict and review). */
  #auditStandings(): Map<string, AuditStanding> {
    const state = this.#state;
    if (this.#standings?.state !== state) {
      const standings = auditStandings(state.audits, (account) => {
        const record = paidWork(state, account);
        return { ...record, score: paidWorkScore(record) };
      });
      this.#standings = { state, standings };
    }
    return this.#standings.standings;
  }

  /** Where the account's next block goes (for a wallet's BlockAuthor). */
  position(account: string): ChainPosition {
    return nextPosition(this.#state, account);
  }

  /** The account's applied chain, oldest first. */
  history(account: string): LedgerBlock[] {
    const chain = this.#chains.get(account) ?? [];
    return chain.flatMap((hash) => {
      const block = this.#applied.get(hash);
      return block === undefined ? [] : [block];
    });
  }

  block(hash: string): LedgerBlock | undefined {
    return this.#applied.get(hash);
  }

  /**
   * Credits addressed to `account` that it has not collected yet: sends it may `receive` and
   * settlements it may `earn`, oldest block first. A scan over every block: for wallets and a
   * node's start-up, not for hot paths (there, `settlement` finds one receipt's settle directly).
   */
  uncollected(account: string): Array<Extract<LedgerBlock, { kind: "send" | "settle" }>> {
    const found: Array<{ entry: BlockEntry; block: Extract<LedgerBlock, { kind: "send" | "settle" }> }> = [];
    for (const [hash, entry] of this.#state.blocks.entries()) {
      if (entry.credit === null || entry.credit.to !== account || entry.credit.collectedBy !== null) continue;
      const block = this.#applied.get(hash);
      if (block?.kind === "send" || block?.kind === "settle") found.push({ entry, block });
    }
    return found
      .sort((a, b) => a.block.timestamp - b.block.timestamp || a.entry.height - b.entry.height)
      .map(({ block }) => block);
  }

  /** The applied settle block in which `payer` paid `provider` for `requestId`, if any. */
  settlement(payer: string, requestId: string, provider: string): Extract<LedgerBlock, { kind: "settle" }> | undefined {
    const hash = this.#state.settlements.get(settlementKey(payer, requestId, provider));
    const block = hash === undefined ? undefined : this.#applied.get(hash);
    return block?.kind === "settle" ? block : undefined;
  }

  totals(): LedgerTotals {
    return ledgerTotals(this.#state);
  }

  equivocations(): Equivocation[] {
    return [...this.#forks]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([account, fork]) => ({ account, height: fork.height, proof: [fork.proof[0].block, fork.proof[1].block] as const }));
  }

  /** Blocks waiting for a predecessor or a source. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  // ---- reconciliation ----

  heads(): AccountHead[] {
    return accountHeads(this.#state);
  }

  /** RFC 6962 Merkle root over the sorted account heads (see merkle-root.ts). */
  merkleRoot(): string {
    if (this.#root === null) this.#root = accountHeadsRoot(this.heads());
    return this.#root;
  }

  /** The account's applied blocks above `height`, oldest first. */
  blocksAfter(account: string, height: number): LedgerBlock[] {
    return this.history(account).slice(Math.max(0, height + 1));
  }

  /**
   * The blocks a peer with these heads lacks, in the order this ledger applied them (so the peer
   * rarely has to buffer), preceded by the proofs of equivocations it does not know. With
   * `complete` (the default) an account missing from `remote` is sent whole; otherwise only
   * listed accounts are considered.
   */
  blocksMissingFrom(remote: readonly AccountHead[], options: { readonly complete?: boolean } = {}): LedgerBlock[] {
    const complete = options.complete ?? true;
    const theirs = new Map(remote.map((head) => [head.account, head]));
    const wanted = new Set<string>();
    for (const [account, chain] of this.#chains) {
      const head = theirs.get(account);
      if (head === undefined && !complete) continue;
      let from = 0;
      if (head !== undefined && head.height >= 0) {
        if (head.height >= chain.length) continue;
        // Same block at their head: send what follows. A different one: send ours from there (they will see the fork).
        from = chain[head.height] === head.hash ? head.height + 1 : head.height;
      }
      for (let height = from; height < chain.length; height++) {
        const hash = chain[height];
        if (hash !== undefined) wanted.add(hash);
      }
    }
    const proofs: LedgerBlock[] = [];
    for (const [account, fork] of this.#forks) {
      const head = theirs.get(account);
      if (head === undefined ? complete : head.frozenAt !== fork.height) proofs.push(fork.proof[0].block, fork.proof[1].block);
    }
    const ordered: LedgerBlock[] = [];
    const excludedSources: LedgerBlock[] = [];
    for (const [hash, block] of this.#applied) {
      if (!wanted.has(hash)) continue;
      ordered.push(block);
      // A void collection needs the excluded block it names, which no applied chain carries.
      const excluded = block.kind === "receive" || block.kind === "earn" ? this.excludedBlock(block.source) : undefined;
      if (excluded !== undefined) excludedSources.push(excluded);
    }
    return [...proofs, ...excludedSources, ...ordered];
  }

  /**
   * This ledger's heads for the accounts where `remote` knows more (a later head, a different
   * block at the same height, or another equivocation verdict): what to send to ask for them.
   */
  headsToRequest(remote: readonly AccountHead[]): AccountHead[] {
    const mine = new Map(this.heads().map((head) => [head.account, head]));
    const request: AccountHead[] = [];
    for (const theirs of remote) {
      const local = mine.get(theirs.account) ?? { account: theirs.account, height: -1, hash: null, frozenAt: null };
      if (
        theirs.height > local.height ||
        (theirs.height === local.height && theirs.hash !== local.hash) ||
        (theirs.frozenAt !== null && theirs.frozenAt !== local.frozenAt)
      ) {
        request.push(local);
      }
    }
    return request;
  }

  // ---- reservations (local to this peer) ----

  /**
   * Holds `maxCredits` of the payer's spendable credits for an in-flight request. Needs at least
   * the network's minimum (1,000) spendable, no unsettled claims, and an unfrozen account.
   */
  reserve(
    account: string,
    requestId: string,
    maxCredits: number,
    options: { readonly now?: number; readonly expiresAt?: number } = {},
  ): Reservation {
    if (!Number.isSafeInteger(maxCredits) || maxCredits < 0)
      throw new RangeError("maxCredits must be a non-negative safe integer");
    if (this.#reservations.has(requestId)) throw new DuplicateReservationError(requestId);
    const view = this.account(account, options);
    if (!view.opened) throw new InsufficientCreditsError(`account ${account} is not registered on the ledger`);
    if (view.frozenAt !== null) throw new InsufficientCreditsError(`account ${account} is frozen for equivocation`);
    if (view.debt > 0) throw new DebtOutstandingError(account, view.debt);
    const needed = Math.max(maxCredits, this.params.minRequestCredits);
    if (view.spendable < needed) {
      throw new InsufficientCreditsError(
        `account ${account} has ${view.spendable} spendable credits; this request needs ${needed} ` +
          `(maxCredits ${maxCredits}, and at least ${this.params.minRequestCredits} to make any request)`,
      );
    }
    const reservation: Reservation = { account, requestId, maxCredits, expiresAt: options.expiresAt ?? null };
    this.#reservations.set(requestId, reservation);
    this.#reservedBy.set(account, (this.#reservedBy.get(account) ?? 0) + maxCredits);
    return reservation;
  }

  /** Frees a reservation (the request failed, or its settlement covered it). False if none was held. */
  release(requestId: string): boolean {
    const reservation = this.#reservations.get(requestId);
    if (reservation === undefined) return false;
    this.#reservations.delete(requestId);
    const remaining = (this.#reservedBy.get(reservation.account) ?? 0) - reservation.maxCredits;
    if (remaining > 0) this.#reservedBy.set(reservation.account, remaining);
    else this.#reservedBy.delete(reservation.account);
    return true;
  }

  /** Releases reservations whose request expired without a settlement; returns how many. */
  releaseExpired(now: number = Date.now()): number {
    let released = 0;
    for (const reservation of [...this.#reservations.values()]) {
      if (reservation.expiresAt !== null && reservation.expiresAt <= now && this.release(reservation.requestId)) released++;
    }
    return released;
  }

  reservation(requestId: string): Reservation | undefined {
    return this.#reservations.get(requestId);
  }
}
