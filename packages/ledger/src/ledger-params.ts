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
  /**
   * Memory of each registration proof-of-work try, in KiB: Argon2id (memory-hard, so a native or
   * GPU solver gains little over ours; docs/benchmarks.md). 0: the SHA-256 puzzle (unit tests only).
   */
  readonly registrationMemoryKiB: number;
  /** How long one registration epoch lasts (the registration rate is counted per epoch). */
  readonly registrationEpochMs: number;
  /**
   * Opens per epoch the network takes at the base difficulty: an open dated in epoch e must reach
   * one more bit per doubling of the opens dated in epoch e − 2 above this (README, "Registration").
   * 0: no surcharge.
   */
  readonly registrationTarget: number;
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
 * 2^9 Argon2id tries over 16 MiB (the expected work) take about a minute at the ~8 tries/s that
 * `solveRegistrationPow` reaches on this project's 2-core machine (ledger-bench prints it; the
 * same JS runs in browsers): the "1–2 minutes" the design asks for. Devnets and tests lower it.
 */
export const DEFAULT_REGISTRATION_DIFFICULTY_BITS = 9;
/** 16 MiB per try: memory-hard, yet light enough for a phone's browser tab. */
export const DEFAULT_REGISTRATION_MEMORY_KIB = 16 * 1024;

/**
 * Registration work on a devnet or LAN (the CLI's `--local`, the SDK's `localNetwork`): trivial
 * (2^7 Argon2id tries over 64 KiB, well under a second), so a local network and its clients are
 * ready in seconds, with the same memory-hard function as the real network.
 */
export const LOCAL_REGISTRATION_DIFFICULTY_BITS = 7;
export const LOCAL_REGISTRATION_MEMORY_KIB = 64;

export const DEFAULT_LEDGER_PARAMS: LedgerParams = Object.freeze({
  grantCredits: 100_000,
  grantLockMs: 24 * 60 * 60 * 1000,
  registrationDifficultyBits: DEFAULT_REGISTRATION_DIFFICULTY_BITS,
  registrationMemoryKiB: DEFAULT_REGISTRATION_MEMORY_KIB,
  registrationEpochMs: 60 * 60 * 1000,
  registrationTarget: 500,
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
  registrationMemoryKiB: LOCAL_REGISTRATION_MEMORY_KIB,
  lockedCreditsTravel: false,
});

const paramsSchema = z.strictObject({
  grantCredits: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  grantLockMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  registrationDifficultyBits: z.int().min(0).max(64),
  registrationMemoryKiB: z
    .int()
    .min(0)
    .max(4 * 1024 * 1024)
    .refine((kib) => kib === 0 || kib >= 8, "Argon2id needs at least 8 KiB"),
  registrationEpochMs: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  registrationTarget: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
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

/**
 * What a registrant's proof-of-work must reach on a network with these parameters at the base
 * difficulty; `Ledger.registrationWork()` adds what the network's recent registration rate asks.
 */
export function registrationWork(params: LedgerParams): { difficultyBits: number; memoryKiB: number } {
  return { difficultyBits: params.registrationDifficultyBits, memoryKiB: params.registrationMemoryKiB };
}

/** Extra bits an open dated in an epoch must reach when `opens` were dated two epochs before it. */
export function registrationSurchargeBits(opens: number, params: LedgerParams): number {
  if (params.registrationTarget === 0 || opens <= params.registrationTarget) return 0;
  return Math.ceil(Math.log2(opens / params.registrationTarget));
}
