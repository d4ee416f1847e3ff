import type { Identity } from "@opengateway/protocol";
import { BlockAuthor } from "./block-author.js";
import type { OpenBlock } from "./ledger-block.js";
import { solveRegistrationPow } from "./registration-pow.js";

export interface RegisterAccountParams {
  readonly fingerprintHash: string;
  /** The network's `registrationDifficultyBits`. */
  readonly difficultyBits: number;
  readonly now?: number;
}

/** Solves the registration proof-of-work and signs the account's open block (minutes at the default difficulty). */
export async function registerAccount(
  identity: Identity,
  params: RegisterAccountParams,
  options: { signal?: AbortSignal } = {},
): Promise<OpenBlock> {
  const powNonce = await solveRegistrationPow(
    { publicKey: identity.publicKey, fingerprintHash: params.fingerprintHash, difficultyBits: params.difficultyBits },
    options,
  );
  return new BlockAuthor(identity).append(
    { kind: "open", fingerprint: params.fingerprintHash, powNonce },
    params.now ?? Date.now(),
  ) as OpenBlock;
}
