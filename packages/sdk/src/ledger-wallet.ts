import type { AddResult, LedgerBlock } from "@opengateway/ledger";
import { BlockAuthor, type Ledger, registerAccount } from "@opengateway/ledger";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { OpenGatewayError } from "@opengateway/protocol";

/** How a router pays for requests: hold credits first, pay each provider's receipt, free the rest. */
export interface PaymentHooks {
  /** Holds credits before any provider starts; throws `InsufficientCreditsError` (a 402) when the payer can't cover it. */
  reserve(payer: Identity, requestId: string, maxCredits: number, expiresAt: number): void;
  /** Countersigns a provider's receipt as a settle block on the payer's chain. */
  settle(payer: Identity, receipt: InferenceReceipt): Promise<void>;
  release(requestId: string): void;
}

export interface LedgerWalletOptions {
  /** Adds, stores and gossips a block this wallet authored (`LedgerSync.publish`); default: only `ledger.submit`. */
  publish?: (block: LedgerBlock) => Promise<AddResult>;
}

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
  readonly #options: LedgerWalletOptions;
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(ledger: Ledger, options: LedgerWalletOptions = {}) {
    this.ledger = ledger;
    this.#options = options;
  }

  /** Registers the identity (proof-of-work, then an open block with the grant) unless it already is. */
  async ensureRegistered(
    identity: Identity,
    params: { fingerprintHash: string; difficultyBits: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#serialised(identity.id, async () => {
      if (this.ledger.account(identity.id).opened) return;
      const open = await registerAccount(identity, params, options);
      await this.#publish(open);
    });
  }

  reserve(payer: Identity, requestId: string, maxCredits: number, expiresAt: number): void {
    this.ledger.reserve(payer.id, requestId, maxCredits, { expiresAt });
  }

  release(requestId: string): void {
    this.ledger.release(requestId);
  }

  async settle(payer: Identity, receipt: InferenceReceipt): Promise<void> {
    await this.#serialised(payer.id, async () => {
      const block = new BlockAuthor(payer, this.ledger.position(payer.id)).append({ kind: "settle", receipt }, Date.now());
      await this.#publish(block);
    });
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

  async #publish(block: LedgerBlock): Promise<void> {
    // Checked before it leaves: a signed block that peers refuse would still count as this height.
    const problem = this.ledger.check(block);
    if (problem) throw problem;
    const result = this.#options.publish ? await this.#options.publish(block) : await this.ledger.submit(block);
    if (result.status !== "applied" && result.status !== "duplicate") {
      throw result.error ?? new OpenGatewayError("protocol_violation", `block not applied (${result.status})`);
    }
  }

  #serialised<T>(account: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(account) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.#chains.set(
      account,
      next.catch(() => undefined),
    );
    return next;
  }
}
