import { DEFAULT_CLOCK_SKEW_MS } from "@opengateway/protocol";
import { z } from "zod";

/**
 * Network parameters. Every peer of one network must use the same values (they decide which
 * blocks are valid), so they are configuration, never constants buried in the state machine.
 */
export interface LedgerParams {
  /** Credits minted by an open block (DESIGN §4: 100,000). */
  readonly grantCredits: number;
  /** How long granted credits stay non-transferable after the open block (DESIGN §4: 24 h). */
  readonly grantLockMs: number;
  /** Leading zero bits the registration proof-of-work must reach. */
  readonly registrationDifficultyBits: number;
  /** Spendable credits an account needs before it may reserve for a request (DESIGN §4: 1,000). */
  readonly minRequestCredits: number;
  /** How far a block's timestamp may run ahead of the verifier's clock. */
  readonly maxClockSkewMs: number;
  /** Largest canonical size of one block (a slash may carry two blocks of this size). */
  readonly maxBlockBytes: number;
  /**
   * Whether granted credits that pay for inference while still locked arrive locked at the provider
   * (until the payer's unlock), so that no path (a settlement to an accomplice included) moves locked
   * credits out before their time. Devnets turn it off: every devnet payer pays from a fresh grant,
   * and their nodes sweep what they earn at once.
   */
  readonly lockedCreditsTravel: boolean;
  /**
   * The network's time witnesses (identity ids): the accounts whose `witness` blocks say when an
   * open block was first seen. Configuration, like the bootstrap peers (README, "Agreed time").
   */
  readonly timeWitnesses: readonly string[];
  /**
   * How many distinct time witnesses must have seen an open arrive, within `witnessWindowMs` of its
   * timestamp, before it applies. 0: opens apply on their own (signer-asserted) timestamp.
   */
  readonly witnessQuorum: number;
  /** How long after an open's timestamp a witness may still have seen it arrive for it to count. */
  readonly witnessWindowMs: number;
}

/**
 * 2^26 SHA-256 hashes (the expected work) take about 95 s at the ~700,000 hashes/s that
 * `solveRegistrationPow` reaches on this project's 2-core machine (ledger-bench prints it; JS
 * SHA-256 runs at a similar speed in browsers), and about a minute on a faster desktop: the
 * "1–2 minutes" the design asks for. Devnets and tests lower it.
 */
export const DEFAULT_REGISTRATION_DIFFICULTY_BITS = 26;

/**
 * Registration work on a devnet or LAN (the CLI's `--local`, the SDK's `localNetwork`): trivial, so
 * a local network and its clients are ready in seconds.
 */
export const LOCAL_REGISTRATION_DIFFICULTY_BITS = 12;

export const DEFAULT_LEDGER_PARAMS: LedgerParams = Object.freeze({
  grantCredits: 100_000,
  grantLockMs: 24 * 60 * 60 * 1000,
  registrationDifficultyBits: DEFAULT_REGISTRATION_DIFFICULTY_BITS,
  minRequestCredits: 1_000,
  maxClockSkewMs: DEFAULT_CLOCK_SKEW_MS,
  maxBlockBytes: 1024 * 1024,
  lockedCreditsTravel: true,
  timeWitnesses: Object.freeze([]) as readonly string[],
  witnessQuorum: 0,
  witnessWindowMs: 10 * 60 * 1000,
});

/** A devnet's or LAN's parameters (the CLI's `--local`, the SDK's `localNetwork`, a devnet page). */
export const LOCAL_LEDGER_PARAMS: Partial<LedgerParams> = Object.freeze({
  registrationDifficultyBits: LOCAL_REGISTRATION_DIFFICULTY_BITS,
  lockedCreditsTravel: false,
});

const paramsSchema = z.strictObject({
  grantCredits: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  grantLockMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  registrationDifficultyBits: z.int().min(0).max(64),
  minRequestCredits: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  maxClockSkewMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  maxBlockBytes: z
    .int()
    .min(1024)
    .max(64 * 1024 * 1024),
  lockedCreditsTravel: z.boolean(),
  timeWitnesses: z.array(z.string().max(128)).max(256),
  witnessQuorum: z.int().min(0).max(256),
  witnessWindowMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** The defaults with `overrides` applied, validated (overrides usually come from config files). */
export function ledgerParams(overrides: Partial<LedgerParams> = {}): LedgerParams {
  const params = paramsSchema.parse({ ...DEFAULT_LEDGER_PARAMS, ...overrides });
  if (params.witnessQuorum > new Set(params.timeWitnesses).size)
    throw new RangeError(`witnessQuorum ${params.witnessQuorum} exceeds the ${params.timeWitnesses.length} time witnesses`);
  return Object.freeze({ ...params, timeWitnesses: Object.freeze([...params.timeWitnesses]) });
}
