import type { LedgerParams } from "@opengateway/ledger";
import { LOCAL_REGISTRATION_DIFFICULTY_BITS } from "@opengateway/ledger";

/**
 * The ledger parameters a command's flags set: `--registration-difficulty`, or the devnet's with
 * `--local`; otherwise none (the network defaults: a minute or two of registration work).
 */
export function ledgerParamOverrides(options: { registrationDifficulty?: number; local: boolean }): Partial<LedgerParams> {
  return options.registrationDifficulty !== undefined || options.local
    ? { registrationDifficultyBits: options.registrationDifficulty ?? LOCAL_REGISTRATION_DIFFICULTY_BITS }
    : {};
}
