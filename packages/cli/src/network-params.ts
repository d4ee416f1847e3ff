import type { LedgerParams } from "@opengateway/ledger";
import { LOCAL_LEDGER_PARAMS, LOCAL_REGISTRATION_DIFFICULTY_BITS } from "@opengateway/ledger";

/**
 * The ledger parameters a command's flags set: `--registration-difficulty`, and the devnet's with
 * `--local` (trivial registration work; earnings paid from fresh grants sweepable at once);
 * otherwise none (the network defaults: a minute or two of registration work).
 */
export function ledgerParamOverrides(options: {
  registrationDifficulty?: number;
  registrationMemory?: number;
  local: boolean;
}): Partial<LedgerParams> {
  const devnet = options.local ? LOCAL_LEDGER_PARAMS : {};
  const memory = options.registrationMemory === undefined ? {} : { registrationMemoryKiB: options.registrationMemory };
  return options.registrationDifficulty !== undefined || options.local
    ? { ...devnet, registrationDifficultyBits: options.registrationDifficulty ?? LOCAL_REGISTRATION_DIFFICULTY_BITS, ...memory }
    : memory;
}
