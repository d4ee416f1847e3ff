import type { AuditRecords } from "./audit-records.js";
import { emptyAuditRecords, recordAudit, recordReview } from "./audit-records.js";
import type { LedgerBlock, OpenBlock } from "./ledger-block.js";
import { settlementKey, verifyLedgerBlock } from "./ledger-block.js";
import {
  AccountFrozenError,
  AlreadyCollectedError,
  AmountOverflowError,
  BlockRejectedError,
  ChainLinkError,
  DisputeRefusedError,
  DuplicateBlockError,
  DuplicateClaimError,
  DuplicateDisputeError,
  DuplicateFingerprintError,
  DuplicateSettlementError,
  EquivocationError,
  ForkUnresolvedError,
  FutureTimestampError,
  InsufficientBalanceError,
  MissingDependencyError,
  TimeLockedError,
  TimestampRegressionError,
  WrongHeightError,
  WrongSourceError,
} from "./ledger-errors.js";
import type { LedgerParams } from "./ledger-params.js";
import { ledgerParams } from "./ledger-params.js";
import { PersistentMap } from "./persistent-map.js";

export interface AccountRecord {
  readonly height: number;
  readonly head: string;
  readonly headTimestamp: number;
  readonly balance: number;
  /** The part of the grant not yet spent on inference: not transferable before `unlockAt`. */
  readonly lockedGrant: number;
  readonly unlockAt: number;
  /**
   * Credits earned from payers who paid with still-locked grant credits: each part stays locked
   * until its payer's unlock (ascending by `unlockAt`, at most MAX_LOCK_TRANCHES; see `lockedCreditsTravel`).
   */
  readonly lockedEarnings: readonly LockTranche[];
}

/** Locked credits and when they unlock: fixed when they move, so the same on every peer whatever the order. */
export interface LockTranche {
  readonly unlockAt: number;
  readonly amount: number;
}

/** One time witness's sighting of an open (README, "Agreed time"). */
export interface WitnessSighting {
  readonly account: string;
  readonly seenAt: number;
}

/** Past this many lock tranches the two earliest merge into the later unlock (never earlier than due). */
export const MAX_LOCK_TRANCHES = 16;

/** What the state remembers of an applied block; sends and settles also carry the credits in flight. */
export interface BlockEntry {
  readonly account: string;
  readonly height: number;
  readonly kind: LedgerBlock["kind"];
  readonly credit: {
    readonly to: string;
    readonly amount: number;
    readonly collectedBy: string | null;
    /** The part of a settlement paid with locked credits: it arrives locked at the provider. */
    readonly locks?: readonly LockTranche[];
  } | null;
  /** A claim's settlement key, for the dispute that names it by hash. */
  readonly claimKey?: string;
}

/**
 * A send or settle of an account frozen for equivocation, at or above its fork height: never
 * applied, so it moves no credits, but a receive or earn that names it still takes its place in
 * the collector's chain (a void collection) instead of stalling that chain for ever.
 */
export interface ExcludedSource {
  readonly account: string;
  readonly kind: "send" | "settle";
  readonly to: string;
  readonly collectedBy: string | null;
}

export interface ClaimRecord {
  readonly hash: string;
  readonly payer: string;
  readonly credits: number;
}

/**
 * The whole derived ledger: immutable, so `applyBlock` returns a new state and the old one
 * stays valid (tests compare them; a wallet can try a block without committing it).
 */
export interface LedgerState {
  readonly params: LedgerParams;
  readonly accounts: PersistentMap<AccountRecord>;
  readonly blocks: PersistentMap<BlockEntry>;
  /** Fingerprint hash → the open block that used it. */
  readonly fingerprints: PersistentMap<string>;
  /** settlementKey → settle block hash. */
  readonly settlements: PersistentMap<string>;
  /** settlementKey → claim. */
  readonly claims: PersistentMap<ClaimRecord>;
  /** Payer → credits claimed by providers and neither settled nor disputed yet. */
  readonly debts: PersistentMap<number>;
  /** settlementKey → the payer's dispute of that claim. */
  readonly disputes: PersistentMap<string>;
  /** Account → disputes it wrote (as payer) and claims of its that were disputed (as provider). */
  readonly disputeCounts: PersistentMap<{ readonly written: number; readonly received: number }>;
  /** Provider → receipts of its that payers settled (paid work, for reputation). */
  readonly paidReceipts: PersistentMap<number>;
  /** Account → the height at which it equivocated: no block at or above it is applied. */
  readonly frozen: PersistentMap<number>;
  /** Offender → the first slash block that burned its balance. */
  readonly slashed: PersistentMap<string>;
  /** Block hash → an excluded send or settle (see ExcludedSource); set by the Ledger, like `frozen`. */
  readonly excluded: PersistentMap<ExcludedSource>;
  /** Open block hash → the time witnesses that saw it arrive (first statement of each witness). */
  readonly witnessed: PersistentMap<readonly WitnessSighting[]>;
  /** Audit verdicts and their reviews (audit-standings.ts derives reputation from them). */
  readonly audits: AuditRecords;
  readonly minted: number;
  /** Sum of account balances, kept alongside so conservation is checked in O(1). */
  readonly balances: number;
  /** Credits sent or settled and not yet received or earned. */
  readonly inFlight: number;
  readonly burned: number;
}

export function createLedgerState(params: Partial<LedgerParams> | LedgerParams = {}): LedgerState {
  return {
    params: ledgerParams(params),
    accounts: PersistentMap.empty(),
    blocks: PersistentMap.empty(),
    fingerprints: PersistentMap.empty(),
    settlements: PersistentMap.empty(),
    claims: PersistentMap.empty(),
    debts: PersistentMap.empty(),
    disputes: PersistentMap.empty(),
    disputeCounts: PersistentMap.empty(),
    paidReceipts: PersistentMap.empty(),
    frozen: PersistentMap.empty(),
    slashed: PersistentMap.empty(),
    excluded: PersistentMap.empty(),
    witnessed: PersistentMap.empty(),
    audits: emptyAuditRecords(),
    minted: 0,
    balances: 0,
    inFlight: 0,
    burned: 0,
  };
}

export interface ApplyOptions {
  /** This peer's clock: only used to refuse blocks dated in its future. */
  readonly now: number;
  /**
   * Whether an open gets its machine's grant (the Ledger decides contests over the whole set). An
   * open that does not still opens its account, with nothing, so its chain and earnings stand.
   * Without it, an open whose fingerprint is taken is refused.
   */
  readonly grants?: (open: OpenBlock, hash: string) => boolean;
}

export type ApplyResult =
  | { readonly ok: true; readonly state: LedgerState; readonly block: LedgerBlock; readonly hash: string }
  | { readonly ok: false; readonly error: BlockRejectedError };

/**
 * Checks one block against the state and returns the state after it, or why it was refused.
 * Pure and deterministic: validity depends only on the block, its account's chain and the
 * blocks it names, never on arrival order (the Ledger class builds order independence on that).
 */
export function applyBlock(state: LedgerState, input: unknown, options: ApplyOptions): ApplyResult {
  const verified = verifyLedgerBlock(input, state.params);
  if (!verified.ok) return verified;
  return applyVerifiedBlock(state, verified.block, verified.hash, options);
}

function fail(error: BlockRejectedError): ApplyResult {
  return { ok: false, error };
}

/** `applyBlock` for a block that already passed `verifyLedgerBlock` (the Ledger's rebuild path). */
export function applyVerifiedBlock(state: LedgerState, block: LedgerBlock, hash: string, options: ApplyOptions): ApplyResult {
  if (block.timestamp > options.now + state.params.maxClockSkewMs)
    return fail(new FutureTimestampError(block.timestamp, options.now));
  if (state.blocks.has(hash)) return fail(new DuplicateBlockError(hash));
  const frozenAt = state.frozen.get(block.account);
  if (frozenAt !== undefined && block.height >= frozenAt) return fail(new AccountFrozenError(block.account, frozenAt));

  const account = state.accounts.get(block.account);
  const headHeight = account?.height ?? -1;
  if (block.height <= headHeight) return fail(new EquivocationError(block.account, block.height));
  if (block.previous !== null) {
    const previous = state.blocks.get(block.previous);
    if (previous !== undefined && previous.account !== block.account) {
      return fail(new ChainLinkError("the block's previous hash is another account's block"));
    }
    if (previous !== undefined && previous.height !== block.height - 1)
      return fail(new WrongHeightError(block.height, previous.height + 1));
  }
  if (block.height > headHeight + 1) {
    return fail(new MissingDependencyError({ type: "chain", account: block.account, height: block.height - 1 }));
  }
  if (account !== undefined) {
    if (block.previous !== account.head) return fail(new ChainLinkError());
    if (block.timestamp < account.headTimestamp) return fail(new TimestampRegressionError());
  }

  const entry: BlockEntry = { account: block.account, height: block.height, kind: block.kind, credit: null };
  const next = { ...state, blocks: state.blocks.set(hash, entry) };
  const advance = (record: AccountRecord, changes: Partial<AccountRecord> = {}): AccountRecord => ({
    ...record,
    ...changes,
    // Pruned by the account's own (immutable) timestamps: the same on every peer.
    lockedEarnings: liveTranches(changes.lockedEarnings ?? record.lockedEarnings, block.timestamp),
    height: block.height,
    head: hash,
    headTimestamp: block.timestamp,
  });

  switch (block.kind) {
    case "open": {
      const { witnessQuorum, timeWitnesses } = state.params;
      if (witnessQuorum > 0 && !timeWitnesses.includes(block.account)) {
        const seen = countedSightings(state.witnessed.get(hash), block.timestamp, state.params).length;
        if (seen < witnessQuorum)
          return fail(new MissingDependencyError({ type: "witnesses", hash, seen, quorum: witnessQuorum }));
      }
      if (options.grants !== undefined && !options.grants(block, hash)) {
        const empty: AccountRecord = {
          height: 0,
          head: hash,
          headTimestamp: block.timestamp,
          balance: 0,
          lockedGrant: 0,
          unlockAt: 0,
          lockedEarnings: [],
        };
        return ok({ ...next, accounts: state.accounts.set(block.account, empty) });
      }
      if (state.fingerprints.has(block.fingerprint)) return fail(new DuplicateFingerprintError());
      const grant = state.params.grantCredits;
      if (state.minted + grant > Number.MAX_SAFE_INTEGER) return fail(new AmountOverflowError());
      const record: AccountRecord = {
        height: 0,
        head: hash,
        headTimestamp: block.timestamp,
        balance: grant,
        lockedGrant: grant,
        unlockAt: block.timestamp + state.params.grantLockMs,
        lockedEarnings: [],
      };
      return ok({
        ...next,
        accounts: state.accounts.set(block.account, record),
        fingerprints: state.fingerprints.set(block.fingerprint, hash),
        minted: state.minted + grant,
        balances: state.balances + grant,
      });
    }
    case "send": {
      const current = account as AccountRecord;
      if (block.amount > current.balance) return fail(new InsufficientBalanceError(block.amount, current.balance));
      const transferable = current.balance - lockedAt(current, block.timestamp);
      if (block.amount > transferable)
        return fail(new TimeLockedError(block.amount, transferable, latestUnlock(current, block.timestamp)));
      return ok({
        ...next,
        blocks: state.blocks.set(hash, { ...entry, credit: { to: block.to, amount: block.amount, collectedBy: null } }),
        accounts: state.accounts.set(block.account, advance(current, { balance: current.balance - block.amount })),
        balances: state.balances - block.amount,
        inFlight: state.inFlight + block.amount,
      });
    }
    case "receive":
    case "earn": {
      const current = account as AccountRecord;
      const source = state.blocks.get(block.source);
      const expectedKind = block.kind === "receive" ? "send" : "settle";
      if (source === undefined) {
        const excluded = state.excluded.get(block.source);
        if (excluded === undefined) return fail(new MissingDependencyError({ type: "block", hash: block.source }));
        // The equivocator's block never counted: the collection keeps its place and moves nothing.
        if (excluded.kind !== expectedKind)
          return fail(new WrongSourceError(`a ${block.kind} block collects a ${expectedKind} block, not a ${excluded.kind}`));
        if (excluded.to !== block.account) return fail(new WrongSourceError("the source block pays another account"));
        if (excluded.collectedBy !== null) return fail(new AlreadyCollectedError(block.source));
        return ok({
          ...next,
          accounts: state.accounts.set(block.account, advance(current)),
          excluded: state.excluded.set(block.source, { ...excluded, collectedBy: hash }),
        });
      }
      if (source.kind !== expectedKind || source.credit === null) {
        return fail(new WrongSourceError(`a ${block.kind} block collects a ${expectedKind} block, not a ${source.kind}`));
      }
      if (source.credit.to !== block.account) return fail(new WrongSourceError("the source block pays another account"));
      if (source.credit.collectedBy !== null) return fail(new AlreadyCollectedError(block.source));
      const amount = source.credit.amount;
      const locks = source.credit.locks ?? [];
      return ok({
        ...next,
        blocks: next.blocks.set(block.source, { ...source, credit: { ...source.credit, collectedBy: hash } }),
        accounts: state.accounts.set(
          block.account,
          advance(current, {
            balance: current.balance + amount,
            lockedEarnings: locks.length === 0 ? current.lockedEarnings : addTranches(current.lockedEarnings, locks),
          }),
        ),
        balances: state.balances + amount,
        inFlight: state.inFlight - amount,
      });
    }
    case "settle": {
      const current = account as AccountRecord;
      const { receipt } = block;
      const key = settlementKey(block.account, receipt.requestId, receipt.provider);
      if (state.settlements.has(key)) return fail(new DuplicateSettlementError(receipt.requestId, receipt.provider));
      if (receipt.credits > current.balance) return fail(new InsufficientBalanceError(receipt.credits, current.balance));
      const claim = state.claims.get(key);
      // Inference may spend granted credits at once: the locked part goes first (and, where locked
      // credits travel, arrives locked at the provider until the payer's unlock).
      const spent = state.params.lockedCreditsTravel
        ? spendLockedFirst(current, receipt.credits, block.timestamp)
        : {
            lockedGrant: current.lockedGrant - Math.min(current.lockedGrant, receipt.credits),
            lockedEarnings: current.lockedEarnings,
            moved: [],
          };
      return ok({
        ...next,
        blocks: state.blocks.set(hash, {
          ...entry,
          credit: {
            to: receipt.provider,
            amount: receipt.credits,
            collectedBy: null,
            ...(spent.moved.length > 0 && { locks: spent.moved }),
          },
        }),
        accounts: state.accounts.set(
          block.account,
          advance(current, {
            balance: current.balance - receipt.credits,
            lockedGrant: spent.lockedGrant,
            lockedEarnings: spent.lockedEarnings,
          }),
        ),
        settlements: state.settlements.set(key, hash),
        paidReceipts: state.paidReceipts.set(receipt.provider, (state.paidReceipts.get(receipt.provider) ?? 0) + 1),
        // A disputed claim no longer weighs on the payer: settling it after all pays, and clears nothing twice.
        debts: claim === undefined || state.disputes.has(key) ? state.debts : addDebt(state.debts, block.account, -claim.credits),
        balances: state.balances - receipt.credits,
        inFlight: state.inFlight + receipt.credits,
      });
    }
    case "claim": {
      const current = account as AccountRecord;
      const { receipt } = block;
      const key = settlementKey(receipt.payer, receipt.requestId, block.account);
      if (state.claims.has(key)) return fail(new DuplicateClaimError(receipt.requestId));
      return ok({
        ...next,
        blocks: state.blocks.set(hash, { ...entry, claimKey: key }),
        accounts: state.accounts.set(block.account, advance(current)),
        claims: state.claims.set(key, { hash, payer: receipt.payer, credits: receipt.credits }),
        // Already settled: the claim is moot. Otherwise the payer owes it until it settles.
        debts: state.settlements.has(key) ? state.debts : addDebt(state.debts, receipt.payer, receipt.credits),
      });
    }
    case "dispute": {
      const current = account as AccountRecord;
      const source = state.blocks.get(block.claim);
      if (source === undefined) return fail(new MissingDependencyError({ type: "block", hash: block.claim }));
      const key = source.claimKey;
      const claim = key === undefined ? undefined : state.claims.get(key);
      if (key === undefined || claim === undefined)
        return fail(new WrongSourceError(`a dispute answers a claim, not a ${source.kind}`));
      if (claim.payer !== block.account) return fail(new DisputeRefusedError("the claim is against another account"));
      if (state.disputes.has(key)) return fail(new DuplicateDisputeError(key.split("\n")[1] ?? ""));
      if (state.settlements.has(key)) return fail(new DisputeRefusedError("the claimed request is settled: nothing to dispute"));
      const counts = (id: string) => state.disputeCounts.get(id) ?? { written: 0, received: 0 };
      const payer = counts(block.account);
      const provider = counts(source.account);
      return ok({
        ...next,
        accounts: state.accounts.set(block.account, advance(current)),
        disputes: state.disputes.set(key, hash),
        debts: addDebt(state.debts, block.account, -claim.credits),
        disputeCounts: state.disputeCounts
          .set(block.account, { ...payer, written: payer.written + 1 })
          .set(source.account, { ...provider, received: provider.received + 1 }),
      });
    }
    case "slash": {
      const current = account as AccountRecord;
      const [evidence] = block.evidence;
      const offender = evidence.account;
      const forkHeight = Math.min(evidence.height, state.frozen.get(offender) ?? Number.POSITIVE_INFINITY);
      const offenderRecord = state.accounts.get(offender);
      const offenderHeight = offenderRecord?.height ?? -1;
      if (offenderHeight >= forkHeight) return fail(new ForkUnresolvedError(offender, forkHeight));
      // The burn must not depend on how much of the offender's chain this peer has seen.
      if (offenderHeight < forkHeight - 1) {
        return fail(new MissingDependencyError({ type: "chain", account: offender, height: forkHeight - 1 }));
      }
      let after: LedgerState = {
        ...next,
        accounts: state.accounts.set(block.account, advance(current)),
        frozen: state.frozen.set(offender, forkHeight),
      };
      if (!state.slashed.has(offender)) {
        const burn = offenderRecord?.balance ?? 0;
        after = {
          ...after,
          accounts:
            offenderRecord === undefined
              ? after.accounts
              : after.accounts.set(offender, { ...offenderRecord, balance: 0, lockedGrant: 0, lockedEarnings: [] }),
          slashed: state.slashed.set(offender, hash),
          balances: state.balances - burn,
          burned: state.burned + burn,
        };
      }
      return ok(after);
    }
    case "witness": {
      const current = account as AccountRecord;
      let witnessed = state.witnessed;
      for (const { open, seenAt } of block.opens) {
        const sightings = witnessed.get(open) ?? [];
        // A witness's first statement about an open stands (its chain orders its statements).
        if (sightings.some((sighting) => sighting.account === block.account)) continue;
        witnessed = witnessed.set(open, [...sightings, { account: block.account, seenAt }]);
      }
      return ok({ ...next, accounts: state.accounts.set(block.account, advance(current)), witnessed });
    }
    case "audit":
    case "review": {
      const current = account as AccountRecord;
      const audits =
        block.kind === "audit"
          ? recordAudit(state.audits, block, hash)
          : recordReview(state.audits, block, (named) => state.blocks.has(named));
      if (audits instanceof BlockRejectedError) return fail(audits);
      return ok({ ...next, accounts: state.accounts.set(block.account, advance(current)), audits });
    }
  }

  function ok(after: LedgerState): ApplyResult {
    return { ok: true, state: after, block, hash };
  }
}

/** Credits of the account that may not leave by `send` at time `t`. */
export function lockedAt(record: AccountRecord, t: number): number {
  let locked = t < record.unlockAt ? record.lockedGrant : 0;
  for (const tranche of record.lockedEarnings) if (tranche.unlockAt > t) locked += tranche.amount;
  return locked;
}

/** When the last of the credits locked at `t` unlocks (the grant's unlock when nothing is locked). */
function latestUnlock(record: AccountRecord, t: number): number {
  let latest = record.unlockAt;
  for (const tranche of record.lockedEarnings) if (tranche.unlockAt > t) latest = Math.max(latest, tranche.unlockAt);
  return latest;
}

function liveTranches(tranches: readonly LockTranche[], t: number): readonly LockTranche[] {
  return tranches.every((tranche) => tranche.unlockAt > t) ? tranches : tranches.filter((tranche) => tranche.unlockAt > t);
}

/** Adds tranches (summing equal unlocks), ascending; past the cap the earliest merge into the next, which unlocks later. */
function addTranches(current: readonly LockTranche[], added: readonly LockTranche[]): readonly LockTranche[] {
  const byUnlock = new Map<number, number>();
  for (const { unlockAt, amount } of [...current, ...added]) byUnlock.set(unlockAt, (byUnlock.get(unlockAt) ?? 0) + amount);
  const merged = [...byUnlock].sort(([a], [b]) => a - b).map(([unlockAt, amount]) => ({ unlockAt, amount }));
  while (merged.length > MAX_LOCK_TRANCHES) {
    const [first, second] = merged.splice(0, 2) as [LockTranche, LockTranche];
    merged.unshift({ unlockAt: second.unlockAt, amount: first.amount + second.amount });
  }
  return merged;
}

/**
 * A settlement of `credits` at time `t` spends the credits still locked first: the grant, then
 * earned tranches, latest unlock first. What it takes from them moves on locked (`moved`).
 * Unlocks are fixed numbers and `t` is the block's own timestamp, so every peer splits alike.
 */
function spendLockedFirst(
  record: AccountRecord,
  credits: number,
  t: number,
): { lockedGrant: number; lockedEarnings: readonly LockTranche[]; moved: LockTranche[] } {
  let rest = credits;
  const moved: LockTranche[] = [];
  let lockedGrant = 0;
  if (t < record.unlockAt) {
    const taken = Math.min(record.lockedGrant, rest);
    rest -= taken;
    lockedGrant = record.lockedGrant - taken;
    if (taken > 0) moved.push({ unlockAt: record.unlockAt, amount: taken });
  }
  const remaining: LockTranche[] = [];
  for (const tranche of [...liveTranches(record.lockedEarnings, t)].reverse()) {
    const taken = Math.min(tranche.amount, rest);
    rest -= taken;
    if (taken > 0) moved.push({ unlockAt: tranche.unlockAt, amount: taken });
    if (tranche.amount > taken) remaining.unshift({ unlockAt: tranche.unlockAt, amount: tranche.amount - taken });
  }
  return { lockedGrant, lockedEarnings: remaining, moved };
}

/**
 * The sightings of an open that count: by distinct time witnesses, each within the window after
 * the open's timestamp (and not before it, beyond the clock skew). Sorted by `seenAt`.
 */
export function countedSightings(
  sightings: readonly WitnessSighting[] | undefined,
  timestamp: number,
  params: LedgerParams,
): WitnessSighting[] {
  return (sightings ?? [])
    .filter(
      (sighting) =>
        params.timeWitnesses.includes(sighting.account) &&
        sighting.seenAt >= timestamp - params.maxClockSkewMs &&
        sighting.seenAt <= timestamp + params.witnessWindowMs,
    )
    .sort((a, b) => a.seenAt - b.seenAt || (a.account < b.account ? -1 : 1));
}

/**
 * An open's agreed arrival: when the quorum-th time witness saw it (no earlier than any honest
 * witness saw it while fewer than a quorum lie), or its own timestamp where the network has no
 * witnesses. Null while it is not confirmed.
 */
export function agreedArrival(
  sightings: readonly WitnessSighting[] | undefined,
  open: { readonly account: string; readonly timestamp: number },
  params: LedgerParams,
): number | null {
  if (params.witnessQuorum === 0 || params.timeWitnesses.includes(open.account)) return open.timestamp;
  const counted = countedSightings(sightings, open.timestamp, params);
  return counted.length < params.witnessQuorum ? null : (counted[params.witnessQuorum - 1] as WitnessSighting).seenAt;
}

function addDebt(debts: PersistentMap<number>, payer: string, delta: number): PersistentMap<number> {
  return debts.set(payer, (debts.get(payer) ?? 0) + delta);
}

/**
 * Marks an account as having equivocated at `height`: blocks at or above it are refused from
 * now on. Only valid while none is applied (the Ledger freezes before replaying blocks).
 */
export function freezeAccount(state: LedgerState, account: string, height: number): LedgerState {
  const current = state.frozen.get(account);
  if (current !== undefined && current <= height) return state;
  if ((state.accounts.get(account)?.height ?? -1) >= height) {
    throw new RangeError(`account ${account} already has blocks at or above height ${height}`);
  }
  return { ...state, frozen: state.frozen.set(account, height) };
}

/**
 * Records a send or settle of a frozen account (at or above its fork height) as excluded, so that
 * a receive or earn naming it applies as a void collection. Other kinds name no collector: no-op.
 */
export function excludeBlock(state: LedgerState, hash: string, block: LedgerBlock): LedgerState {
  if (state.excluded.has(hash) || state.blocks.has(hash)) return state;
  const frozenAt = state.frozen.get(block.account);
  if (frozenAt === undefined || block.height < frozenAt) throw new RangeError("only a frozen account's blocks are excluded");
  if (block.kind === "send") {
    return {
      ...state,
      excluded: state.excluded.set(hash, { account: block.account, kind: "send", to: block.to, collectedBy: null }),
    };
  }
  if (block.kind === "settle") {
    const excluded: ExcludedSource = { account: block.account, kind: "settle", to: block.receipt.provider, collectedBy: null };
    return { ...state, excluded: state.excluded.set(hash, excluded) };
  }
  return state;
}

/** Where an account's next block goes. */
export interface ChainPosition {
  readonly height: number;
  readonly previous: string | null;
  /** The head's timestamp: the next block may not be dated earlier. */
  readonly notBefore: number;
}

export function nextPosition(state: LedgerState, account: string): ChainPosition {
  const record = state.accounts.get(account);
  if (record === undefined) return { height: 0, previous: null, notBefore: 0 };
  return { height: record.height + 1, previous: record.head, notBefore: record.headTimestamp };
}

export interface AccountSummary {
  readonly account: string;
  readonly opened: boolean;
  /** Height of the head block; -1 before the open block. */
  readonly height: number;
  readonly head: string | null;
  readonly balance: number;
  /** Granted credits that cannot be transferred yet (they can pay for inference). */
  readonly locked: number;
  readonly unlockAt: number | null;
  /** Credits providers claimed and this account has neither settled nor disputed. */
  readonly debt: number;
  /** Claims this account disputed (as payer): public, for providers deciding whom to serve. */
  readonly disputes: number;
  /** Claims of this account (as provider) that payers disputed: public, for routing and reputation. */
  readonly disputedClaims: number;
  readonly frozenAt: number | null;
  readonly slashed: boolean;
}

export function accountSummary(state: LedgerState, account: string, now: number): AccountSummary {
  const record = state.accounts.get(account);
  return {
    account,
    opened: record !== undefined,
    height: record?.height ?? -1,
    head: record?.head ?? null,
    balance: record?.balance ?? 0,
    locked: record === undefined ? 0 : lockedAt(record, now),
    unlockAt: record === undefined ? null : latestUnlock(record, now),
    debt: state.debts.get(account) ?? 0,
    disputes: state.disputeCounts.get(account)?.written ?? 0,
    disputedClaims: state.disputeCounts.get(account)?.received ?? 0,
    frozenAt: state.frozen.get(account) ?? null,
    slashed: state.slashed.has(account),
  };
}

export interface LedgerTotals {
  readonly minted: number;
  /** Recomputed by summing every account, not read from the running counter. */
  readonly balances: number;
  readonly inFlight: number;
  readonly burned: number;
  readonly accounts: number;
  readonly blocks: number;
}

/** Conservation holds when minted = balances + inFlight + burned. */
export function ledgerTotals(state: LedgerState): LedgerTotals {
  let balances = 0;
  for (const record of state.accounts.values()) balances += record.balance;
  return {
    minted: state.minted,
    balances,
    inFlight: state.inFlight,
    burned: state.burned,
    accounts: state.accounts.size,
    blocks: state.blocks.size,
  };
}

/** One account's head, as peers compare them for reconciliation. */
export interface AccountHead {
  readonly account: string;
  readonly height: number;
  readonly hash: string | null;
  readonly frozenAt: number | null;
}

/** Every account with a chain or an equivocation, sorted by account id (UTF-16 code unit order). */
export function accountHeads(state: LedgerState): AccountHead[] {
  const heads = new Map<string, AccountHead>();
  for (const [account, record] of state.accounts.entries()) {
    heads.set(account, { account, height: record.height, hash: record.head, frozenAt: state.frozen.get(account) ?? null });
  }
  for (const [account, frozenAt] of state.frozen.entries()) {
    if (!heads.has(account)) heads.set(account, { account, height: -1, hash: null, frozenAt });
  }
  return [...heads.values()].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
}
