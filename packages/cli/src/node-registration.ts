import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ledgerParams, machineFingerprintHash, registrationWork, solveRegistrationPow } from "@opengateway/ledger";
import { nodeMachineFingerprintHash } from "@opengateway/ledger/node-machine-fingerprint";
import type { Identity } from "@opengateway/protocol";
import { z } from "zod";
import { ledgerParamOverrides } from "./network-params.js";

/** Where `opengateway setup` keeps the registration's proof-of-work, so the node's first start need not redo it. */
export const REGISTRATION_FILE = "registration.json";

/**
 * The fingerprint an identity registers with: this machine's (one grant per machine), or on a
 * devnet (`--local`), where many nodes share one machine, the machine's combined with the account.
 */
export async function registrationFingerprint(identityId: string, local: boolean): Promise<string> {
  const machine = await nodeMachineFingerprintHash();
  return local ? machineFingerprintHash({ machine, account: identityId }) : machine;
}

/** The proof-of-work the network these flags name asks of a registrant. */
export function networkRegistrationWork(options: {
  registrationDifficulty?: number;
  registrationMemory?: number;
  local: boolean;
}): {
  difficultyBits: number;
  memoryKiB: number;
} {
  return registrationWork(ledgerParams(ledgerParamOverrides(options)));
}

const RegistrationWorkSchema = z.object({
  identity: z.string(),
  fingerprintHash: z.string(),
  difficultyBits: z.int(),
  // Work kept before the memory-hard puzzle was the SHA-256 one.
  memoryKiB: z.int().default(0),
  powNonce: z.int(),
});
export type RegistrationWork = z.infer<typeof RegistrationWorkSchema>;

/** Solves the proof-of-work for this identity on this machine and keeps it in the data directory. */
export async function solveRegistrationWork(
  home: string,
  identity: Identity,
  params: { fingerprintHash: string; difficultyBits: number; memoryKiB: number },
  options: { signal?: AbortSignal; onProgress?: (hashes: number) => void } = {},
): Promise<RegistrationWork> {
  const known = await readRegistrationWork(home, identity.id, params);
  if (known) return known;
  const powNonce = await solveRegistrationPow({ publicKey: identity.publicKey, ...params }, options);
  const work = { identity: identity.id, ...params, powNonce };
  await writeFile(join(home, REGISTRATION_FILE), `${JSON.stringify(work, null, 2)}\n`, { mode: 0o600 });
  return work;
}

/** The kept proof-of-work when it is this identity's, for this fingerprint and at least this difficulty. */
export async function readRegistrationWork(
  home: string,
  identityId: string,
  params: { fingerprintHash: string; difficultyBits: number; memoryKiB: number },
): Promise<RegistrationWork | undefined> {
  const text = await readFile(join(home, REGISTRATION_FILE), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = RegistrationWorkSchema.safeParse(JSON.parse(text));
  if (!parsed.success) return undefined;
  const work = parsed.data;
  const matches =
    work.identity === identityId &&
    work.fingerprintHash === params.fingerprintHash &&
    work.memoryKiB === params.memoryKiB &&
    work.difficultyBits >= params.difficultyBits;
  return matches ? work : undefined;
}
