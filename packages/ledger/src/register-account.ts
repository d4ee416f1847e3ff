import type { Identity } from "@opengateway/protocol";
import { BlockAuthor } from "./block-author.js";
import type { OpenBlock } from "./ledger-block.js";
import { solveRegistrationPow, verifyRegistrationPow } from "./registration-pow.js";

export interface RegisterAccountParams {
  readonly fingerprintHash: string;
  /** The network's `registrationDifficultyBits`. */
  readonly difficultyBits: number;
  /** The network's `registrationMemoryKiB` (see `registrationWork(params)`); 0 or absent: the SHA-256 puzzle. */
  readonly memoryKiB?: number;
  readonly now?: number;
}

/** Solves the registration proof-of-work and signs the account's open block (minutes at the default difficulty). */
export async function registerAccount(
  identity: Identity,
  params: RegisterAccountParams,
  options: {
    signal?: AbortSignal;
    /** Hashes tried so far, a few times a second (2^difficultyBits are expected). */
    onProgress?: (hashes: number) => void;
    /** A solution found earlier (`opengateway setup`): used when it verifies, else the work is done again. */
    powNonce?: number;
  } = {},
): Promise<OpenBlock> {
  const input = {
    publicKey: identity.publicKey,
    fingerprintHash: params.fingerprintHash,
    difficultyBits: params.difficultyBits,
    memoryKiB: params.memoryKiB ?? 0,
  };
  const powNonce =
    options.powNonce !== undefined && verifyRegistrationPow({ ...input, nonce: options.powNonce })
      ? options.powNonce
      : await solveRegistrationPow(input, options);
  return new BlockAuthor(identity).append(
    { kind: "open", fingerprint: params.fingerprintHash, powNonce },
    params.now ?? Date.now(),
  ) as OpenBlock;
}
