import type { AuditRecords } from "./audit-records.js";
import { AUDITOR_MIN_PAID_RECEIPTS, FRAUD_CONFIRMATIONS, REPUTATION_PAID_WORK_THRESHOLD } from "./constants.js";

/** What one account's audits say, as a provider (passed, failed, fraud) and as an auditor (false reports). */
export interface AuditStanding {
  /** Verdicts on its work that stand (not refuted), from any auditor. */
  readonly passed: number;
  readonly failed: number;
  /** The same, each weighted by its auditor's standing (0–1,000 per verdict): what the score uses. */
  readonly passWeight: number;
  readonly failWeight: number;
  /** A provable fail confirmed by reviewers with weight and refuted by none heavier: fraud, score 0. */
  readonly fraud: boolean;
  /** Its own verdicts that its reviewers refuted. */
  readonly falseReports: number;
}

export const NO_AUDITS: AuditStanding = Object.freeze({
  passed: 0,
  failed: 0,
  passWeight: 0,
  failWeight: 0,
  fraud: false,
  falseReports: 0,
});

/** An account's standing before audits (paid work, disputes, slashes): the weight of its word. */
export interface AuditorBasis {
  readonly score: number;
  readonly paidReceipts: number;
  readonly slashed: boolean;
  readonly frozen: boolean;
}

/** The weight of an account's verdicts and reviews: its score before audits, or 0 when fresh, failing or slashed. */
export function auditorWeight(basis: AuditorBasis): number {
  if (basis.slashed || basis.frozen) return 0;
  if (basis.paidReceipts < AUDITOR_MIN_PAID_RECEIPTS || basis.score < REPUTATION_PAID_WORK_THRESHOLD) return 0;
  return basis.score;
}

/**
 * Every account's audit standing, from the audit records alone and each account's standing before
 * audits, so the same set of blocks gives the same standings on every peer, whatever their order.
 * Two levels, never a cycle: reviews weigh by the reviewer's standing before audits; a verdict is
 * refuted when the reviewers disagreeing outweigh the auditor and those agreeing; an auditor with a
 * refuted verdict loses the weight of all its verdicts. Integer sums only.
 */
export function auditStandings(records: AuditRecords, basisOf: (account: string) => AuditorBasis): Map<string, AuditStanding> {
  const weights = new Map<string, number>();
  const weightOf = (account: string): number => {
    let weight = weights.get(account);
    if (weight === undefined) {
      weight = auditorWeight(basisOf(account));
      weights.set(account, weight);
    }
    return weight;
  };
  const tallies = new Map<string, { confirm: number; refute: number; confirmers: number }>();
  for (const review of records.reviews.values()) {
    const weight = weightOf(review.reviewer);
    const tally = tallies.get(review.audit) ?? { confirm: 0, refute: 0, confirmers: 0 };
    tallies.set(review.audit, tally);
    if (review.agrees) {
      tally.confirm += weight;
      if (weight > 0) tally.confirmers++;
    } else {
      tally.refute += weight;
    }
  }
  const refuted = new Set<string>();
  const falseReports = new Map<string, number>();
  for (const [hash, verdict] of records.verdicts.entries()) {
    const tally = tallies.get(hash);
    if (tally !== undefined && tally.refute > tally.confirm + weightOf(verdict.auditor)) {
      refuted.add(hash);
      falseReports.set(verdict.auditor, (falseReports.get(verdict.auditor) ?? 0) + 1);
    }
  }
  const standings = new Map<string, { -readonly [K in keyof AuditStanding]: AuditStanding[K] }>();
  const standingOf = (account: string) => {
    let standing = standings.get(account);
    if (standing === undefined) {
      standing = { ...NO_AUDITS };
      standings.set(account, standing);
    }
    return standing;
  };
  for (const [account, count] of falseReports) standingOf(account).falseReports = count;
  for (const [hash, verdict] of records.verdicts.entries()) {
    if (refuted.has(hash)) continue;
    const weight = (falseReports.get(verdict.auditor) ?? 0) > 0 ? 0 : weightOf(verdict.auditor);
    const standing = standingOf(verdict.provider);
    if (verdict.outcome === "pass") {
      standing.passed++;
      standing.passWeight += weight;
      continue;
    }
    standing.failed++;
    standing.failWeight += weight;
    const confirmers = tallies.get(hash)?.confirmers ?? 0;
    if (verdict.provable && weight > 0 && confirmers >= FRAUD_CONFIRMATIONS) standing.fraud = true;
  }
  return standings;
}
