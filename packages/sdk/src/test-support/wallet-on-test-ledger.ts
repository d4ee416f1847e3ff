import type { AddResult, LedgerBlock } from "@opengateway/ledger";
import { ChainWriter, Ledger, machineFingerprintHash, registerAccount } from "@opengateway/ledger";
import type { Identity } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import { LedgerWallet } from "../ledger-wallet.js";

/** Registration work that takes a test no time. */
const DIFFICULTY_BITS = 4;

export interface WalletOnTestLedger {
  ledger: Ledger;
  payer: Identity;
  provider: Identity;
  writer: ChainWriter;
  /** Pays from `payer`'s account (and from any other identity it is handed) through `writer`. */
  wallet: LedgerWallet;
}

/**
 * The two sides of a paid request on a fresh in-memory ledger: a payer and a provider, each
 * registered (from a machine of its own), and a `LedgerWallet` whose blocks go through `publish`:
 * straight into the ledger unless a test holds or fails them, as a slow disk or a busy gossip
 * layer would.
 */
export async function walletOnTestLedger(
  publish: (block: LedgerBlock, ledger: Ledger) => Promise<AddResult> = async (block, ledger) => ledger.submit(block),
): Promise<WalletOnTestLedger> {
  const ledger = new Ledger({ params: { registrationDifficultyBits: DIFFICULTY_BITS, registrationMemoryKiB: 0 } });
  const payer = generateIdentity();
  const provider = generateIdentity();
  for (const [identity, label] of [
    [payer, "payer"],
    [provider, "provider"],
  ] as const) {
    const open = await registerAccount(identity, {
      fingerprintHash: machineFingerprintHash({ test: label }),
      difficultyBits: DIFFICULTY_BITS,
    });
    const result = ledger.add(open);
    if (result.status !== "applied") throw new Error(`the ${label}'s open block was not applied: ${result.status}`);
  }
  const writer = new ChainWriter(ledger, { publish: (block) => publish(block, ledger) });
  return { ledger, payer, provider, writer, wallet: new LedgerWallet(writer) };
}
