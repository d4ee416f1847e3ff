/** How often an earnings collector looks for settlements of its receipts. */
export const DEFAULT_COLLECT_INTERVAL_MS = 2_000;
/** How long after a request expired its provider waits for the settlement before claiming it. */
export const DEFAULT_CLAIM_AFTER_MS = 60_000;
/** How often the whole ledger is scanned for credits addressed to an account. */
export const DEFAULT_UNCOLLECTED_SCAN_INTERVAL_MS = 60_000;
/** How often a sweep rule compares the balance with its threshold. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
/**
 * How late after its timestamp a time witness still states it saw an open (its own policy; the
 * network's `witnessWindowMs` bounds what any statement may say). Twice the clock skew: an honest
 * open reaches a connected witness in seconds, while a backdated one arrives late.
 */
export const DEFAULT_WITNESS_MAX_LAG_MS = 60_000;
/** How often a time witness writes down the opens it saw. */
export const DEFAULT_WITNESS_INTERVAL_MS = 1_000;

/** Reputation runs from 0 to this (docs/proof-system.md, "Reputation"). */
export const REPUTATION_MAX = 1000;
/** Where a provider with no history stands: the middle. */
export const REPUTATION_START = 500;
/** Below this a provider gets no paid work: routers skip it. */
export const REPUTATION_PAID_WORK_THRESHOLD = 300;
/** Paid receipts at which paid work has earned half of what it can (+250 of 500). */
export const REPUTATION_PAID_RECEIPTS_HALF = 100;
/**
 * Disputed claims weigh by their share of the provider's paid and disputed work, with this many
 * receipts' worth of benefit of the doubt: one payer's word moves a new provider by 48 points, not 500.
 */
export const REPUTATION_DISPUTE_PRIOR = 20;

// ---- Audits (docs/proof-system.md, "Reputation from audits"). Network rules: every peer uses the same. ----

/**
 * An account's verdicts and reviews weigh only once it has this many paid receipts as a provider
 * (and a score at or above the paid-work threshold, and no slash): a fresh account, or a ring of
 * them, carries no weight, so it can neither vote a friend up nor an honest node down.
 */
export const AUDITOR_MIN_PAID_RECEIPTS = 3;
/** What a verdict of full weight (an auditor at 1,000) takes off for a failed audit: 200 points, so two to three fails from typical auditors (500–700) cross the threshold from the start. */
export const AUDIT_FAIL_POINTS = 200;
/** Passed audits raise a score by at most this much (slightly: paid work is the main way up)... */
export const AUDIT_PASS_MAX_GAIN = 100;
/** ...half of it after this much pass weight (ten passes from auditors at 1,000). */
export const AUDIT_PASS_HALF_WEIGHT = 10_000;
/** What each of an auditor's verdicts refuted by its reviewers costs it, besides the weight of all its verdicts. */
export const FALSE_REPORT_POINTS = 250;
/** Reviewers with weight, besides the auditor, that must confirm a provable fail before it counts as fraud. */
export const FRAUD_CONFIRMATIONS = 1;
