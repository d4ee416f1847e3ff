// The ledger benchmarks' workload: 1,000 seeded accounts and a random but reproducible mix of valid
// blocks (opens, sends, settles with receipts, receives, earns). bench/src/ledger-bench.ts and
// bench/replication-engines/ledger-sync-bench.mjs both run it, so their figures compare.
import type { LedgerBlock } from "@opengateway/ledger";
import { BlockAuthor, ledgerBlockHash, ledgerParams, machineFingerprintHash, solveRegistrationPow } from "@opengateway/ledger";
import type { ChatBody, Identity } from "@opengateway/protocol";
import { createInferenceReceipt, createInferenceRequest, identityFromSeed } from "@opengateway/protocol";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";

const BENCH_DIFFICULTY = 8;
// The SHA-256 puzzle: generating 1,000 accounts' Argon2id work would dwarf what this workload measures.
export const params = ledgerParams({ registrationDifficultyBits: BENCH_DIFFICULTY, registrationMemoryKiB: 0 });
const T0 = 1_700_000_000_000;
const BODY: ChatBody = {
  messages: [{ role: "user", content: "Tell me a story." }],
  maxTokens: 64,
  temperature: 1,
  topP: 1,
  seed: 1,
  stop: [],
};

interface Wallet {
  readonly identity: Identity;
  readonly author: BlockAuthor;
  balance: number;
  /** Credits addressed to this account and not collected yet. */
  readonly incoming: { hash: string; kind: "send" | "settle"; amount: number }[];
}

/** Builds valid blocks quickly by tracking balances itself (no verification while generating). */
export class Workload {
  readonly wallets: Wallet[];
  readonly random = seededRandom(42);
  clock = T0 + 2 * 24 * 3_600_000;
  #requests = 0;

  constructor(accounts: number) {
    this.wallets = Array.from({ length: accounts }, (_, i) => {
      const seed = new Uint8Array(32);
      new DataView(seed.buffer).setUint32(0, i + 1);
      const identity = identityFromSeed(seed);
      return { identity, author: new BlockAuthor(identity), balance: 0, incoming: [] };
    });
  }

  async opens(): Promise<LedgerBlock[]> {
    const blocks: LedgerBlock[] = [];
    for (const [i, wallet] of this.wallets.entries()) {
      const fingerprint = machineFingerprintHash({ machine: `bench ${i}` });
      const powNonce = await solveRegistrationPow({
        publicKey: wallet.identity.publicKey,
        fingerprintHash: fingerprint,
        difficultyBits: BENCH_DIFFICULTY,
      });
      blocks.push(wallet.author.append({ kind: "open", fingerprint, powNonce }, T0));
      wallet.balance = params.grantCredits;
    }
    return blocks;
  }

  /** One random valid block among `pool`; credits only flow between accounts of the pool. */
  next(pool: readonly Wallet[]): LedgerBlock {
    this.clock += 1_000;
    for (;;) {
      const wallet = pool[Math.floor(this.random() * pool.length)] as Wallet;
      const roll = this.random();
      const incoming = wallet.incoming.length > 0 ? wallet.incoming.shift() : undefined;
      if (incoming !== undefined && roll < 0.45) {
        wallet.balance += incoming.amount;
        return wallet.author.append({ kind: incoming.kind === "send" ? "receive" : "earn", source: incoming.hash }, this.clock);
      }
      if (incoming !== undefined) wallet.incoming.unshift(incoming);
      if (wallet.balance < 100) continue;
      const other = pool[Math.floor(this.random() * pool.length)] as Wallet;
      if (other === wallet) continue;
      const amount = 1 + Math.floor(this.random() * Math.min(wallet.balance, 5_000));
      wallet.balance -= amount;
      if (roll < 0.75) {
        const block = wallet.author.append({ kind: "send", to: other.identity.id, amount }, this.clock);
        other.incoming.push({ hash: ledgerBlockHash(block), kind: "send", amount });
        return block;
      }
      const request = createInferenceRequest(
        {
          kind: "chat",
          model: "stories260K",
          body: BODY,
          maxCredits: amount,
          provider: other.identity.id,
          pricePerToken: 1,
          id: `bench-${String(++this.#requests).padStart(10, "0")}`,
          now: this.clock,
        },
        wallet.identity,
      );
      const receipt = createInferenceReceipt(
        { request, usage: { promptTokens: amount, completionTokens: 0 }, credits: amount, finishReason: "stop", now: this.clock },
        other.identity,
      );
      const block = wallet.author.append({ kind: "settle", receipt }, this.clock);
      other.incoming.push({ hash: ledgerBlockHash(block), kind: "settle", amount });
      return block;
    }
  }
}

/**
 * Two ledgers' histories: `totalBlocks` less 1% in common, then 0.5% more on each side, on disjoint
 * halves of the accounts (so both sides stay valid). `now` is just after the last block.
 */
export async function divergedHistories(totalBlocks: number, accounts: number) {
  const workload = new Workload(accounts);
  const common: LedgerBlock[] = await workload.opens();
  const tail = Math.round(totalBlocks * 0.005);
  while (common.length < totalBlocks - tail) common.push(workload.next(workload.wallets));
  const half = Math.floor(accounts / 2);
  const onlyA = Array.from({ length: tail }, () => workload.next(workload.wallets.slice(0, half)));
  const onlyB = Array.from({ length: tail }, () => workload.next(workload.wallets.slice(half)));
  return { common, onlyA, onlyB, tail, now: workload.clock + 1 };
}
