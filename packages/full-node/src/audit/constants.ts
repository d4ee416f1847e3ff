/**
 * The audit's thresholds. Each was measured with bench/src/audit-bench.ts on the test model
 * (stories260K): honest answers served with other seeds, thread counts and batch sizes than the
 * auditor's, against random text, text from a different distribution, truncated, padded and
 * replayed answers. The figures behind each choice are in docs/proof-system.md.
 */

/**
 * How many candidates the auditor reads per position: twice the engine's top-k, so a token just
 * past the top-k edge (a near-tie that other hardware may order differently) is still seen.
 */
export const AUDIT_CANDIDATES_PER_POSITION = 80;

/**
 * At temperature 0 a token may trail the argmax by this much log-probability. Honest greedy text
 * scored on other thread counts and batch sizes trails by at most ~1e-5 on CPU; GPU kernels in
 * f16 differ by ~1e-2. 0.1 (a 10% probability ratio) keeps a wide margin over both while a
 * substituted token typically trails by several nats.
 */
export const GREEDY_LOG_MARGIN = 0.1;

/**
 * A token just outside the top-k / top-p set is tolerated when its log-probability is within
 * this of the last token inside the set: the two are a near-tie another machine may order the
 * other way.
 */
export const SET_EDGE_LOG_MARGIN = 0.1;

/** A token past the top-p edge is tolerated while the mass ranked above it is below top_p plus this. */
export const TOP_P_MARGIN = 0.02;

/**
 * The delivered text is re-tokenized canonically. The sampler now and then produces another
 * split of the same text (about one choice in ten on the test model), and the canonical token
 * then misfits at or a few tokens after the divergence: the auditor tries other splits starting
 * up to this many tokens before a misfit...
 */
export const RESPLIT_LOOKBACK_TOKENS = 3;

/** ...at most this many tries per choice, each costing an evaluation of the rest of the choice. */
export const MAX_RESPLIT_ATTEMPTS_PER_CHOICE = 16;

/**
 * Tokens outside the sampling set (after tolerances and re-splits) a choice may hold. Zero: no
 * honest sample in the measurements had one, and a single impossible token is already proof.
 */
export const MAX_TOKENS_OUTSIDE_SET = 0;

/** Below this many sampled tokens the sequence statistics say too little and are not judged. */
export const MIN_TOKENS_FOR_STATISTICS = 8;

/**
 * The sequence tests (tokens ranking too low in their distributions; too many tail tokens) fail
 * a choice when Bernstein's inequality puts the chance of honest sampling doing as badly below
 * this. The bound holds for any distribution, so the false alarm rate per choice and test is at
 * most this, short of tolerance effects; measured: no honest choice came within orders of it.
 */
export const FALSE_ALARM_BOUND = 1e-6;

/**
 * ln q is clipped here for the log-probability test, so one honest draw of a very unlikely
 * token weighs a bounded amount (Bernstein's bound needs bounded terms): about ln(1/1000).
 */
export const LOG_PROB_FLOOR = -7;

/** A sampled token whose probability under the serving distribution is below this is in the tail. */
export const TAIL_PROBABILITY = 0.05;

/**
 * Receipt usage against the auditor's own count. The prompt is rendered and tokenized as the
 * engine does, so it matches exactly; the completion may differ by the sampler's non-canonical
 * splits the re-split did not need to undo (each adds a token), measured at most 2 per 100.
 */
export const PROMPT_TOKEN_SLACK = 0;
export const COMPLETION_TOKEN_SLACK_MIN = 2;
export const COMPLETION_TOKEN_SLACK_SHARE = 0.05;

// ---- The audit service (audit-service.ts): how often a node probes and re-checks others. ----

/**
 * Mean time between challenge probes to one provider at the starting reputation (500), across the
 * network: each auditor probes a provider once per this times the providers it knows, and every
 * provider of the model is also an auditor. The interval scales with (score + 100) / 600: about
 * twice as often at 200, six times as often at 0, 1.8 times less often at 1,000. Each probe costs
 * one small paid request and one forward pass (measured share: docs/benchmarks.md).
 */
export const DEFAULT_PROBE_INTERVAL_MS = 20_000;
/** How often the service looks for providers due a probe. */
export const DEFAULT_AUDIT_TICK_MS = 1_000;
/** Probes ask for this many completion tokens at most: small, like much ordinary traffic. */
export const PROBE_MAX_TOKENS_RANGE: readonly [number, number] = [16, 48];
/** A provider asking more than this per token is not probed (it gets no traffic from sane routers either). */
export const DEFAULT_MAX_PROBE_PRICE_PER_TOKEN = 100;
/** How long a probe may take before it counts as failed service (not as a failed audit). */
export const PROBE_TIMEOUT_MS = 120_000;
/** Share of others' passed audits this node re-checks (every failed one is re-checked): catches colluders passing garbage. */
export const REVIEW_PASS_SHARE = 0.2;
/** Audits waiting for this node's review; past it the oldest are dropped. */
export const MAX_QUEUED_REVIEWS = 256;
