import type { LedgerBlock } from "./ledger-block.js";

/** A block as kept on disk; `seq` is the order the ledger first kept it in. */
export interface StoredBlock {
  readonly seq: number;
  readonly hash: string;
  readonly block: LedgerBlock;
}

/** The derived state of one account after a commit: written with the block that produced it. */
export interface AccountSnapshot {
  readonly account: string;
  readonly height: number;
  readonly head: string | null;
  readonly balance: number;
  readonly frozenAt: number | null;
}

/** One atomic write: all of it is stored, or none of it. */
export interface LedgerCommit {
  readonly blocks: readonly StoredBlock[];
  readonly accounts: readonly AccountSnapshot[];
}

export interface StoreOptions {
  readonly signal?: AbortSignal;
}

/**
 * Durable storage for a Ledger. It stores every block the ledger keeps (applied ones, and the
 * unapplied ones kept as equivocation or fingerprint evidence); reloading replays them, which
 * yields the same state because the state machine does not depend on arrival order.
 */
export interface LedgerStore {
  /** Writes the blocks and account snapshots in one transaction; a failure leaves the store as it was. */
  commit(commit: LedgerCommit, options?: StoreOptions): Promise<void>;
  /** Every stored block, by ascending seq. */
  loadBlocks(options?: StoreOptions): Promise<StoredBlock[]>;
  /** The latest snapshot of every account, sorted by account id. */
  loadAccounts(options?: StoreOptions): Promise<AccountSnapshot[]>;
  close(): Promise<void>;
}

/** Throws if a snapshot could not come from a valid ledger: checked inside the write transaction. */
export function assertValidSnapshot(snapshot: AccountSnapshot): void {
  const { height, balance, frozenAt } = snapshot;
  if (!Number.isSafeInteger(height) || height < -1) throw new RangeError(`account snapshot has an invalid height ${height}`);
  if (!Number.isSafeInteger(balance) || balance < 0) throw new RangeError(`account snapshot has an invalid balance ${balance}`);
  if (frozenAt !== null && (!Number.isSafeInteger(frozenAt) || frozenAt < 0)) {
    throw new RangeError(`account snapshot has an invalid frozen height ${frozenAt}`);
  }
}
