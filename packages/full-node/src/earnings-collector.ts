import type { Ledger, LedgerBlock } from "@opengateway/ledger";
import { BlockAuthor, ledgerBlockHash } from "@opengateway/ledger";
import type { LedgerSync } from "@opengateway/p2p";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";

export interface EarningsCollectorOptions {
  intervalMs?: number;
  /** Receipts waited on at once; the oldest are forgotten past this. */
  maxPending?: number;
  onError?: (error: unknown) => void;
}

/**
 * Collects what this provider earned: for every receipt it signed, it watches the payer's chain
 * for the settle block that countersigns it, then writes the `earn` block that moves the credits
 * into its own account. Settlements arrive by gossip or reconciliation, in any order.
 */
export class EarningsCollector {
  readonly #ledger: Ledger;
  readonly #sync: LedgerSync;
  readonly #identity: Identity;
  readonly #options: EarningsCollectorOptions;
  readonly #pending = new Map<string, InferenceReceipt>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #collected = 0;

  constructor(ledger: Ledger, sync: LedgerSync, identity: Identity, options: EarningsCollectorOptions = {}) {
    this.#ledger = ledger;
    this.#sync = sync;
    this.#identity = identity;
    this.#options = options;
  }

  get pending(): number {
    return this.#pending.size;
  }

  get collected(): number {
    return this.#collected;
  }

  track(receipt: InferenceReceipt): void {
    this.#pending.set(`${receipt.payer}/${receipt.requestId}`, receipt);
    if (this.#pending.size > (this.#options.maxPending ?? 10_000)) {
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
  }

  start(): void {
    this.#timer = setInterval(() => void this.collect(), this.#options.intervalMs ?? 2_000);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass over the receipts still unpaid; passes never overlap (one chain, one author). */
  collect(): Promise<void> {
    this.#running ??= this.#collectOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #collectOnce(): Promise<void> {
    const me = this.#identity.id;
    if (this.#pending.size === 0 || !this.#ledger.account(me).opened) return;
    for (const [key, receipt] of [...this.#pending]) {
      const settle = this.#ledger
        .history(receipt.payer)
        .find(
          (block): block is Extract<LedgerBlock, { kind: "settle" }> =>
            block.kind === "settle" && block.receipt.requestId === receipt.requestId && block.receipt.provider === me,
        );
      if (settle === undefined) continue;
      try {
        const earn = new BlockAuthor(this.#identity, this.#ledger.position(me)).append(
          { kind: "earn", source: ledgerBlockHash(settle) },
          Date.now(),
        );
        const problem = this.#ledger.check(earn);
        if (problem) throw problem;
        await this.#sync.publish(earn);
        this.#collected += receipt.credits;
      } catch (error) {
        this.#options.onError?.(error);
      }
      this.#pending.delete(key);
    }
  }
}
