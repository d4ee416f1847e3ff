import type { Identity, InferenceReceipt, InferenceRequest, Logger } from "@opengateway/protocol";
import { silentLogger } from "@opengateway/protocol";
import type { ChainWriter } from "./chain-writer.js";
import { DEFAULT_CLAIM_AFTER_MS, DEFAULT_COLLECT_INTERVAL_MS, DEFAULT_UNCOLLECTED_SCAN_INTERVAL_MS } from "./constants.js";
import type { Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash } from "./ledger-block.js";
import { BlockRejectedError } from "./ledger-errors.js";

export interface EarningsCollectorOptions {
  intervalMs?: number;
  /** Receipts watched at once; the oldest are forgotten past this (the periodic scan still finds their settlements). */
  maxPending?: number;
  /**
   * How long after a request expires the provider still waits for the payer's settlement before
   * it writes a claim (a public debt that gets the payer refused everywhere). `null`: never claim.
   */
  claimAfterMs?: number | null;
  /** How often the whole ledger is scanned for credits addressed to this account (transfers, settlements of forgotten receipts). */
  scanIntervalMs?: number;
  now?: () => number;
  /** Where failed writes are reported (they are tried again on the next pass). */
  logger?: Logger;
  /** Every block the collector wrote: `earn`, `receive` or `claim`. */
  onBlock?: (block: LedgerBlock) => void;
}

interface PendingReceipt {
  readonly receipt: InferenceReceipt;
  /** The payer-signed request: without it the receipt cannot be claimed. */
  readonly request: InferenceRequest | undefined;
  claimed: boolean;
}

/**
 * Collects what this account is owed. For every receipt it signed, it watches the payer's chain
 * for the settle block that countersigns it and writes the `earn` block that moves the credits
 * into its own account; a payer that has not settled some time after its request expired gets a
 * `claim` on the ledger instead (the debt is cleared, and earned, when it settles after all). A
 * periodic scan also collects transfers sent to this account and settlements of receipts it no
 * longer remembers (after a restart). Blocks arrive by gossip or reconciliation, in any order.
 */
export class EarningsCollector {
  readonly #writer: ChainWriter;
  readonly #identity: Identity;
  readonly #options: EarningsCollectorOptions;
  readonly #logger: Logger;
  readonly #pending = new Map<string, PendingReceipt>();
  /** Credits addressed to this account that arrived since the last pass (send or settle blocks, by hash). */
  readonly #arrived = new Map<string, Extract<LedgerBlock, { kind: "send" | "settle" }>>();
  #unsubscribe: (() => void) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #lastScan = Number.NEGATIVE_INFINITY;
  #stopped = false;
  #earned = 0;
  #received = 0;
  #claimed = 0;

  constructor(writer: ChainWriter, identity: Identity, options: EarningsCollectorOptions = {}) {
    this.#writer = writer;
    this.#identity = identity;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Receipts not settled (and earned) yet, claimed ones included. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Credits moved into this account by `earn` blocks. */
  get collected(): number {
    return this.#earned;
  }

  /** Credits moved into this account by `receive` blocks (transfers). */
  get received(): number {
    return this.#received;
  }

  /** Credits claimed from payers that had not settled. */
  get claimed(): number {
    return this.#claimed;
  }

  /** Watches for the settlement of a receipt this account signed; `request` makes it claimable. */
  track(receipt: InferenceReceipt, request?: InferenceRequest): void {
    if (receipt.provider !== this.#identity.id) return;
    this.#pending.set(`${receipt.payer}/${receipt.requestId}`, { receipt, request, claimed: false });
    dropOldest(this.#pending, this.#options.maxPending ?? 10_000);
  }

  start(): void {
    const me = this.#identity.id;
    // Settlements and transfers reach this peer by gossip or reconciliation at any time: note them as they apply.
    this.#unsubscribe = this.#writer.ledger.onApplied((block) => {
      if ((block.kind === "send" && block.to === me) || (block.kind === "settle" && block.receipt.provider === me)) {
        this.#arrived.set(ledgerBlockHash(block), block);
        dropOldest(this.#arrived, this.#options.maxPending ?? 10_000);
      }
    });
    this.#timer = setInterval(() => void this.collect(), this.#options.intervalMs ?? DEFAULT_COLLECT_INTERVAL_MS);
    (this.#timer as { unref?: () => void }).unref?.();
    void this.collect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass; passes never overlap, and none starts once stopped. */
  collect(): Promise<void> {
    if (this.#stopped) return this.#running ?? Promise.resolve();
    this.#running ??= this.#collectOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #collectOnce(): Promise<void> {
    const ledger = this.#writer.ledger;
    const me = this.#identity.id;
    if (!ledger.account(me).opened) return;
    const now = this.#now();
    if (now - this.#lastScan >= (this.#options.scanIntervalMs ?? DEFAULT_UNCOLLECTED_SCAN_INTERVAL_MS)) {
      this.#lastScan = now;
      this.#arrived.clear();
      for (const block of ledger.uncollected(me)) await this.#collectBlock(block);
    }
    for (const [hash, block] of [...this.#arrived]) {
      if (this.#stopped) return;
      this.#arrived.delete(hash);
      await this.#collectBlock(block);
    }
    const claimAfterMs = this.#options.claimAfterMs === undefined ? DEFAULT_CLAIM_AFTER_MS : this.#options.claimAfterMs;
    for (const [key, pending] of [...this.#pending]) {
      if (this.#stopped) return;
      const { receipt, request } = pending;
      const settle = ledger.settlement(receipt.payer, receipt.requestId, me);
      if (settle !== undefined) {
        await this.#collectBlock(settle);
        this.#pending.delete(key);
      } else if (
        !pending.claimed &&
        request !== undefined &&
        claimAfterMs !== null &&
        now >= request.expiresAt + claimAfterMs &&
        // A debt needs an account to weigh on; a claim would only publish the prompt of a payer nobody registered.
        ledger.account(receipt.payer).opened
      ) {
        // Marked only once written (or found written): a failed attempt is tried again next pass.
        pending.claimed = await this.#write({ kind: "claim", request, receipt }, () => {
          this.#claimed += receipt.credits;
        });
      }
    }
  }

  async #collectBlock(block: Extract<LedgerBlock, { kind: "send" | "settle" }>): Promise<void> {
    const source = ledgerBlockHash(block);
    // A settlement reaches a pass twice (applied while listening, and as a tracked receipt): once
    // collected, nothing is signed for it again (a signed block the ledger refuses is wasted work).
    const uncollected =
      <T>(body: T) =>
      (ledger: Ledger): T | null =>
        ledger.state.blocks.get(source)?.credit?.collectedBy ? null : body;
    if (block.kind === "send") {
      await this.#write(uncollected({ kind: "receive" as const, source }), () => {
        this.#received += block.amount;
      });
    } else {
      await this.#write(uncollected({ kind: "earn" as const, source }), () => {
        this.#earned += block.receipt.credits;
      });
    }
  }

  /** True when the block is on the chain now (written here, or earlier: a duplicate). */
  async #write(body: Parameters<ChainWriter["append"]>[1], onWritten: () => void): Promise<boolean> {
    try {
      const block = await this.#writer.append(this.#identity, body);
      // Only a collection decides null: its source was collected meanwhile.
      if (block === null) return true;
      onWritten();
      this.#options.onBlock?.(block);
      return true;
    } catch (error) {
      // Collected or claimed meanwhile (by an earlier pass, or before a restart): nothing is owed.
      if (error instanceof BlockRejectedError && (error.code === "already_collected" || error.code === "duplicate_claim"))
        return true;
      this.#logger.warn({ err: error, account: this.#identity.id }, "could not collect earnings");
      return false;
    }
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}

/** Keeps a map (in insertion order) to `max` entries by forgetting the oldest. */
function dropOldest(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) return;
    map.delete(oldest);
  }
}
