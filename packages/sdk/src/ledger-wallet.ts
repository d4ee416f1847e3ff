import type { ChainWriter, Ledger } from "@opengateway/ledger";
import { registerAccount } from "@opengateway/ledger";
import type { PaymentHooks } from "@opengateway/p2p";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";

export interface WalletView {
  identity: string;
  registered: boolean;
  balance: number;
  spendable: number;
  locked: number;
  reserved: number;
  debt: number;
}

/**
 * The paying side of the ledger for one or more identities (the gateway's API-key accounts, or
 * an SDK client's own): registration, reservations, and settlements written as blocks on the
 * payer's own chain, one at a time per account so concurrent requests never fork a chain.
 */
export class LedgerWallet implements PaymentHooks {
  readonly ledger: Ledger;
  readonly #writer: ChainWriter;

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
    params: { fingerprintHash: string; difficultyBits: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    // After the first reconciliation: the network may know the identity is registered, sparing the work.
    await this.#writer.ready;
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

  async settle(payer: Identity, receipt: InferenceReceipt): Promise<void> {
    await this.#writer.append(payer, { kind: "settle", receipt });
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
    };
  }
}
