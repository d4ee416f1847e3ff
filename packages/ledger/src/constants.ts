/** How often an earnings collector looks for settlements of its receipts. */
export const DEFAULT_COLLECT_INTERVAL_MS = 2_000;
/** How long after a request expired its provider waits for the settlement before claiming it. */
export const DEFAULT_CLAIM_AFTER_MS = 60_000;
/** How often the whole ledger is scanned for credits addressed to an account. */
export const DEFAULT_UNCOLLECTED_SCAN_INTERVAL_MS = 60_000;
/** How often a sweep rule compares the balance with its threshold. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
