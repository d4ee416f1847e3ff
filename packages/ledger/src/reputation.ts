import {
  REPUTATION_DISPUTE_PRIOR,
  REPUTATION_MAX,
  REPUTATION_PAID_RECEIPTS_HALF,
  REPUTATION_PAID_WORK_THRESHOLD,
  REPUTATION_START,
} from "./constants.js";

/** What the ledger holds about a provider's work: the same on every peer whose Merkle root is the same. */
export interface ReputationRecord {
  /** Receipts of the provider that payers settled. */
  readonly paidReceipts: number;
  /** Claims of the provider that payers disputed. */
  readonly disputedClaims: number;
  /** Slashed for provable fraud (an equivocation today). */
  readonly slashed: boolean;
  /** Equivocated: frozen at a height. */
  readonly frozen: boolean;
}

export interface Reputation extends ReputationRecord {
  readonly account: string;
  /** 0–1000; new providers start at 500. */
  readonly score: number;
  /** Whether routers give the provider paid work (score at or above the threshold). */
  readonly eligible: boolean;
}

/**
 * A provider's reputation from ledger facts alone, so every peer computes the same score from the
 * same chain: only integer counts and IEEE-exact division and rounding (no `Math.exp`, whose last
 * bit differs between engines). Paid work raises it towards 1,000, with diminishing returns;
 * disputed claims lower it by their share of the provider's work; fraud proven on the ledger
 * (slash, equivocation) puts it at 0.
 */
export function reputationScore(record: ReputationRecord): number {
  if (record.slashed || record.frozen) return 0;
  const paid = Math.max(0, record.paidReceipts);
  const disputed = Math.max(0, record.disputedClaims);
  const earned = ((REPUTATION_MAX - REPUTATION_START) * paid) / (paid + REPUTATION_PAID_RECEIPTS_HALF);
  const penalty = (REPUTATION_MAX * disputed) / (paid + disputed + REPUTATION_DISPUTE_PRIOR);
  return Math.min(REPUTATION_MAX, Math.max(0, Math.round(REPUTATION_START + earned - penalty)));
}

export function reputationOf(account: string, record: ReputationRecord): Reputation {
  const score = reputationScore(record);
  return { account, ...record, score, eligible: score >= REPUTATION_PAID_WORK_THRESHOLD };
}
