import type { Identity, InferenceReceipt, InferenceRequest, Logger } from "@opengateway/protocol";
import type { LedgerWallet, PaymentHooks } from "@opengateway/sdk";

/**
 * The gateway's payments, with settlement off the response's path: the answer goes back to the
 * client as soon as the provider's receipt is verified, while the settle block (sign, store,
 * gossip) is written behind it. The reservation is released only once the request's settlements
 * are written, so the credits stay held until the balance reflects them, and the wallet endpoint
 * waits for the caller's settlements in flight before it answers.
 */
export class BackgroundSettlements implements PaymentHooks {
  readonly #wallet: LedgerWallet;
  readonly #logger: Logger;
  /** Request id → its settlements still being written, one after another. */
  readonly #byRequest = new Map<string, Promise<void>>();
  /** Payer → its settlements still being written. */
  readonly #byPayer = new Map<string, Set<Promise<void>>>();

  constructor(wallet: LedgerWallet, options: { logger: Logger }) {
    this.#wallet = wallet;
    this.#logger = options.logger;
  }

  reserve(payer: Identity, requestId: string, maxCredits: number, expiresAt: number): void {
    this.#wallet.reserve(payer, requestId, maxCredits, expiresAt);
  }

  settle(payer: Identity, receipt: InferenceReceipt, request: InferenceRequest): Promise<void> {
    const previous = this.#byRequest.get(receipt.requestId) ?? Promise.resolve();
    // A failed settlement is logged; the provider can still claim with its receipt (and the wallet settles that claim).
    const written = previous
      .then(() => this.#wallet.settle(payer, receipt, request))
      .catch((error: unknown) => this.#logger.warn({ err: error, requestId: receipt.requestId }, "settlement failed"));
    this.#byRequest.set(receipt.requestId, written);
    const forPayer = this.#byPayer.get(payer.id) ?? new Set();
    forPayer.add(written);
    this.#byPayer.set(payer.id, forPayer);
    void written.finally(() => {
      forPayer.delete(written);
      if (forPayer.size === 0 && this.#byPayer.get(payer.id) === forPayer) this.#byPayer.delete(payer.id);
      if (this.#byRequest.get(receipt.requestId) === written) this.#byRequest.delete(receipt.requestId);
    });
    return Promise.resolve();
  }

  release(requestId: string): void {
    const pending = this.#byRequest.get(requestId);
    if (pending === undefined) this.#wallet.release(requestId);
    else void pending.finally(() => this.#wallet.release(requestId));
  }

  /** Resolves once every settlement of `payer` started so far is written. */
  async settled(payer: string): Promise<void> {
    await Promise.all([...(this.#byPayer.get(payer) ?? [])]);
  }

  /** Resolves once every settlement started so far is written (before the ledger closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.#byRequest.values()]);
  }
}
