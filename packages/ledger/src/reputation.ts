import type { AuditStanding } from "./audit-standings.js";
import { NO_AUDITS } from "./audit-standings.js";
import {
  AUDIT_FAIL_POINTS,
  AUDIT_PASS_HALF_WEIGHT,
  AUDIT_PASS_MAX_GAIN,
  FALSE_REPORT_POINTS,
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
  /** Audit verdicts on its work and its own refuted ones (audit-standings.ts); none when absent. */
  readonly audits?: AuditStanding;
}

export interface Reputation extends ReputationRecord {
  readonly account: string;
  /** 0–1000; new providers start at 500. */
  readonly score: number;
  /** Whether routers give the provider paid work (score at or above the threshold). */
  readonly eligible: boolean;
  readonly audits: AuditStanding;
}

/**
 * The score from paid work and disputes alone (no audits): what weighs an auditor's word, so
 * audits never feed back into their own weights. Only integer counts and IEEE-exact division and
 * rounding (no `Math.exp`, whose last bit differs between engines).
 */
export function paidWorkScore(record: Pick<ReputationRecord, "paidReceipts" | "disputedClaims" | "slashed" | "frozen">): number {
  if (record.slashed || record.frozen) return 0;
  const paid = Math.max(0, record.paidReceipts);
  const disputed = Math.max(0, record.disputedClaims);
  const earned = ((REPUTATION_MAX - REPUTATION_START) * paid) / (paid + REPUTATION_PAID_RECEIPTS_HALF);
  const penalty = (REPUTATION_MAX * disputed) / (paid + disputed + REPUTATION_DISPUTE_PRIOR);
  return Math.min(REPUTATION_MAX, Math.max(0, Math.round(REPUTATION_START + earned - penalty)));
}

/**
 * A provider's reputation from ledger facts alone, so every peer computes the same score from the
 * same chain. Paid work raises it towards 1,000, with diminishing returns; disputed claims lower
 * it by their share of the provider's work; passed audits raise it slightly and failed ones lower
 * it, each by its auditor's weight; refuted verdicts of its own cost it; fraud proven on the
 * ledger (slash, equivocation, a verified fraud report) puts it at 0. Audit terms are integer sums
 * and floored integer quotients.
 */
export function reputationScore(record: ReputationRecord): number {
  const audits = record.audits ?? NO_AUDITS;
  if (record.slashed || record.frozen || audits.fraud) return 0;
  const gain = Math.floor((AUDIT_PASS_MAX_GAIN * audits.passWeight) / (audits.passWeight + AUDIT_PASS_HALF_WEIGHT));
  const loss = Math.floor((AUDIT_FAIL_POINTS * audits.failWeight) / REPUTATION_MAX) + FALSE_REPORT_POINTS * audits.falseReports;
  return Math.min(REPUTATION_MAX, Math.max(0, paidWorkScore(record) + gain - loss));
}

export function reputationOf(account: string, record: ReputationRecord): Reputation {
  const score = reputationScore(record);
  return { account, ...record, audits: record.audits ?? NO_AUDITS, score, eligible: score >= REPUTATION_PAID_WORK_THRESHOLD };
}
