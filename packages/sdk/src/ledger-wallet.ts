import type { ChainWriter, Ledger, LedgerBlock } from "@opengateway/ledger";
import { BlockRejectedError, ledgerBlockHash, registerAccount, settlementKey } from "@opengateway/ledger";
import type { PaymentHooks } from "@opengateway/p2p";
import type { Identity, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { verifyInferenceReceipt } from "@opengateway/protocol";

export interface WalletView {
  identity: string;
  registered: boolean;
  balance: number;
  spendable: number;
  locked: number;
  reserved: number;
  debt: number;
  /** Claims this account disputed. */
  disputes: number;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** Receipts remembered for answering claims: past this, the oldest are forgotten (and their claims disputed). */
const MAX_REMEMBERED_RECEIPTS = 10_000;

/**
 * The paying side of the ledger for one or more identities (the gateway's API-key accounts, or
 * an SDK client's own): registration, reservations, and settlements written as blocks on the
 * payer's own chain, one at a time per account so concurrent requests never fork a chain.
 */
export class LedgerWallet implements PaymentHooks {
  readonly ledger: Ledger;
  readonly #writer: ChainWriter;
  /** Receipts this wallet checked and would pay, by settlement key: what a claim is answered from. */
  readonly #payable = new Map<string, InferenceReceipt>();

  /**
   * `writer` is the peer's one writer for the chains it owns (a `LedgerReplica`'s): it signs nothing
   * before the replica's first reconciliation, so chains continue where the network has them.
   */
  constructor(writer: ChainWriter) {
    this.ledger = writer.ledger;
    this.#writer = writer;
  }

  /** Registers the identity (proof-of-work, then an open block with the grant) unless it already is. */
  async ensureRegistered(
    identity: Identity,
    params: { fingerprintHash: string; difficultyBits: number; memoryKiB?: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    // After the first reconciliation: the network may know the identity is registered, sparing the work.
    await untilAborted(this.#writer.ready, options.signal);
    if (this.ledger.account(identity.id).opened) return;
    // The work happens outside the writer's turn; the open is signed inside it, if still needed.
    const open = await registerAccount(identity, params, options);
    const body = { kind: "open", fingerprint: open.fingerprint, powNonce: open.powNonce } as const;
    await this.#writer.append(identity, (ledger) => (ledger.account(identity.id).opened ? null : body), options);
  }

  reserve(payer: Identity, requestId: string, maxCredits: number, expiresAt: number): void {
    this.ledger.reserve(payer.id, requestId, maxCredits, { expiresAt });
  }

  release(requestId: string): void {
    this.ledger.release(requestId);
  }

  /**
   * Countersigns a receipt as a settle block. With its request, the receipt is checked first (the
   * payer never signs more than it can check: signer, usage bounds, price, credits); a receipt
   * that fails is refused, never settled.
   */
  async settle(payer: Identity, receipt: InferenceReceipt, request?: InferenceRequest): Promise<void> {
    if (request !== undefined) verifyInferenceReceipt(receipt, request, request.provider);
    this.#remember(receipt);
    await this.#writer.append(payer, { kind: "settle", receipt });
  }

  /**
   * Answers, automatically, every claim against the accounts `payerOf` knows: a claim for a
   * receipt this wallet checked (its settlement failed, or has not landed) is settled; any other
   * (work never received: an error, a request served elsewhere, a receipt it refused) is disputed,
   * which clears the debt a claim would otherwise lock the account out with. Returns the unsubscribe.
   */
  answerClaims(
    payerOf: (account: string) => Identity | undefined,
    options: { onError?: (error: unknown) => void } = {},
  ): () => void {
    return this.ledger.onApplied((block) => {
      if (block.kind !== "claim") return;
      const payer = payerOf(block.receipt.payer);
      if (payer === undefined) return;
      void this.answerClaim(payer, block).catch((error: unknown) => options.onError?.(error));
    });
  }

  /** Settles or disputes one claim against `payer` (see `answerClaims`). */
  async answerClaim(payer: Identity, claim: Extract<LedgerBlock, { kind: "claim" }>): Promise<void> {
    const { receipt } = claim;
    const key = settlementKey(receipt.payer, receipt.requestId, receipt.provider);
    if (this.ledger.settlement(receipt.payer, receipt.requestId, receipt.provider) !== undefined) return;
    const known = this.#payable.get(key);
    try {
      if (known !== undefined && known.sig === receipt.sig) await this.#writer.append(payer, { kind: "settle", receipt });
      else await this.#writer.append(payer, { kind: "dispute", claim: ledgerBlockHash(claim) });
    } catch (error) {
      // Answered meanwhile (settled or disputed by an earlier pass): nothing is owed.
      if (
        error instanceof BlockRejectedError &&
        ["duplicate_settlement", "duplicate_dispute", "dispute_refused"].includes(error.code)
      )
        return;
      throw error;
    }
  }

  #remember(receipt: InferenceReceipt): void {
    this.#payable.set(settlementKey(receipt.payer, receipt.requestId, receipt.provider), receipt);
    while (this.#payable.size > MAX_REMEMBERED_RECEIPTS) {
      const oldest = this.#payable.keys().next();
      if (oldest.done) break;
      this.#payable.delete(oldest.value);
    }
  }

  view(identity: string): WalletView {
    const account = this.ledger.account(identity);
    return {
      identity,
      registered: account.opened,
      balance: account.balance,
      spendable: account.spendable,
      locked: account.locked,
      reserved: account.reserved,
      debt: account.debt,
      disputes: account.disputes,
    };
  }
}
