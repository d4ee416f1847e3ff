import type { AccountSnapshot, ChainWriter, Ledger, LedgerBlock, LedgerStore, StoredBlock } from "@opengateway/ledger";
import { DebtOutstandingError, DuplicateFingerprintError, EarningsCollector, registerAccount } from "@opengateway/ledger";
import { IndexedDbLedgerStore } from "@opengateway/ledger/indexeddb";
import type { LedgerReplica, LedgerReplicaInit, LedgerSync, NodeLedgerSummary } from "@opengateway/p2p";
import { nodeLedgerSummary } from "@opengateway/p2p";
import type { Identity, InferenceReceipt, InferenceRequest, Logger } from "@opengateway/protocol";
import { errorMessage, InsufficientCreditsError, silentLogger } from "@opengateway/protocol";

/** The ledger parameters a tab takes from its operator (config.json): they must match the network's. */
export interface TabLedgerConfig {
  /** The network's registration proof-of-work difficulty. */
  registrationDifficultyBits: number;
  /** The network's registration proof-of-work memory per try (default: the network default, 16 MiB). */
  registrationMemoryKiB?: number;
  /** Devnet: the account id joins the device fingerprint, so every tab of one browser gets a grant. */
  perAccountGrant: boolean;
  /** Check payers before serving them (default true); false only on a private network. */
  paymentChecks?: boolean;
  /** The network's `lockedCreditsTravel` (default true; a devnet turns it off). */
  lockedCreditsTravel?: boolean;
}

/**
 * - registering: the proof-of-work runs (or the open block is being published);
 * - registered: the tab's account is open on its ledger;
 * - refused: the open block was refused, or lost to an earlier one with the same fingerprint
 *   (one grant per device): the tab serves, but cannot collect what it earns;
 * - failed: registration stopped with an error (see detail); it is tried again on the next start.
 */
export type TabRegistrationState = "registering" | "registered" | "refused" | "failed";

export interface TabLedgerStatus {
  registration: TabRegistrationState;
  /** A sentence on the registration (why refused or failed, how long the work took). */
  detail: string;
  account: string;
  /** The account as this tab's copy of the ledger sees it. */
  balance: number;
  spendable: number;
  locked: number;
  reserved: number;
  debt: number;
  /** Credits collected with `earn` blocks on the tab's chain (all of them, across reloads). */
  earned: number;
  /** Credits paid with `settle` blocks (the chat box). */
  spent: number;
  /** Credits collected from transfers (`receive` blocks). */
  received: number;
  /** Height of the tab's chain head (-1 before the open block). */
  height: number;
  /** Receipts this tab signed whose settlement it still waits for. */
  awaitingSettlement: number;
  /** Credits claimed from payers that never settled (this session). */
  claimed: number;
  merkleRoot: string;
  accounts: number;
  blocks: number;
}

export interface TabLedgerOptions {
  identity: Identity;
  /** The tab's `ledgerReplica` service, its store opened by `store` (see `tabLedgerReplica`). */
  replica: LedgerReplica;
  store: TabLedgerStore;
  /** The device fingerprint hash for registration (asked once, when registration starts). */
  fingerprintHash: () => Promise<string>;
  onChange?: () => void;
  /** Collector and registration failures: none of them is thrown from a timer. */
  logger?: Logger;
}

/**
 * The tab's `ledgerReplica` init: the ledger is kept in the IndexedDB database `databaseName`,
 * with the network's parameters; `store` notes, while the ledger loads, what `TabLedger` needs to know.
 */
export function tabLedgerReplica(options: {
  identity: Identity;
  config: TabLedgerConfig;
  databaseName: string;
  logger?: Logger;
}): { init: LedgerReplicaInit; store: TabLedgerStore } {
  const store = new TabLedgerStore(options.databaseName, options.identity.id);
  return {
    init: {
      params: {
        registrationDifficultyBits: options.config.registrationDifficultyBits,
        ...(options.config.registrationMemoryKiB !== undefined && {
          registrationMemoryKiB: options.config.registrationMemoryKiB,
        }),
        ...(options.config.lockedCreditsTravel === false && { lockedCreditsTravel: false }),
      },
      openStore: () => store.open(),
      logger: options.logger,
    },
    store,
  };
}

/** How long a `track` of a receipt from an unknown payer waits before the next reconciliation sweep. */
const UNKNOWN_PAYER_RECONCILE_MS = 1_000;

/**
 * The tab's part in the economy, as a full node's, on top of its ledger replica (kept in
 * IndexedDB, current by gossip and reconciliation, with one writer for the tab's own chain):
 * background registration (proof-of-work, then the open block with the grant); an earnings
 * collector for the receipts the tab signs; and the paying side of its chat box (reserve,
 * settle, release).
 */
export class TabLedger {
  readonly ledger: Ledger;
  readonly sync: LedgerSync;
  readonly writer: ChainWriter;
  readonly earnings: EarningsCollector;
  readonly #identity: Identity;
  readonly #options: TabLedgerOptions;
  readonly #logger: Logger;
  readonly #controller = new AbortController();
  /** The store held a block of this account that the ledger does not apply: an open that lost its fingerprint. */
  readonly #refusedOnLoad: boolean;
  #registration: Promise<void> = Promise.resolve();
  #registering = false;
  #failure: { state: "refused" | "failed"; detail: string } | null = null;
  #registeredDetail = "";
  #chain: { head: string | null; earned: number; spent: number; received: number } = {
    head: null,
    earned: 0,
    spent: 0,
    received: 0,
  };
  #reconciling: Promise<void> | undefined;
  #reconcileAgain = false;
  #stopped = false;

  private constructor(options: TabLedgerOptions) {
    const { replica } = options;
    this.ledger = replica.ledger;
    this.sync = replica.sync;
    this.writer = replica.writer;
    this.#options = options;
    this.#identity = options.identity;
    this.#logger = options.logger ?? silentLogger;
    this.#refusedOnLoad = options.store.found && !this.ledger.account(options.identity.id).opened;
    this.earnings = new EarningsCollector(this.writer, options.identity, {
      logger: this.#logger,
      onBlock: () => options.onChange?.(),
    });
  }

  /** Starts on the tab's started replica: collection, and registration in the background. */
  static start(options: TabLedgerOptions): TabLedger {
    const tab = new TabLedger(options);
    tab.#registration = tab.#startWriting();
    return tab;
  }

  /** Watches a receipt this tab signed until the payer settles it (or claims it once the request expired unpaid). */
  track(receipt: InferenceReceipt, request: InferenceRequest | undefined): void {
    this.earnings.track(receipt, request);
    // A payer this ledger has never seen: its chain (and soon its settlement) is with the peers that sent the request.
    if (!this.ledger.account(receipt.payer).opened) this.#reconcileSoon();
  }

  /**
   * Throws, before a provider is even picked, when the tab could not pay for the smallest request:
   * not registered, owing claims, or under the network's minimum.
   */
  assertCanPay(): void {
    this.#refuse(0);
  }

  /**
   * Holds the request's maxCredits on the tab's account before the chat box sends it; throws an
   * `InsufficientCreditsError` (not registered, too few credits) or a `DebtOutstandingError` that says why.
   */
  reserve(request: Pick<InferenceRequest, "id" | "maxCredits" | "expiresAt">): void {
    this.#refuse(request.maxCredits);
    this.ledger.reserve(this.#identity.id, request.id, request.maxCredits, { expiresAt: request.expiresAt });
  }

  #refuse(maxCredits: number): void {
    const me = this.#identity.id;
    const view = this.ledger.account(me);
    if (!view.opened) {
      const { registration, detail } = this.#registrationState(false);
      throw new InsufficientCreditsError(
        registration === "registering"
          ? "this tab is still registering on the ledger; the chat box can pay once it is registered"
          : `this tab has no account on the ledger (${detail}), so it cannot pay for a chat`,
      );
    }
    if (view.frozenAt !== null) throw new InsufficientCreditsError("this tab's account is frozen for equivocation");
    if (view.debt > 0) throw new DebtOutstandingError(me, view.debt);
    const needed = Math.max(maxCredits, this.ledger.params.minRequestCredits);
    if (view.spendable < needed) {
      throw new InsufficientCreditsError(
        `this tab has ${formatCredits(view.spendable)} spendable credits; a chat needs ${formatCredits(needed)}`,
      );
    }
  }

  release(requestId: string): void {
    this.ledger.release(requestId);
  }

  /** Countersigns a provider's receipt: a settle block on the tab's chain, gossiped to the network. */
  async settle(receipt: InferenceReceipt, options: { signal?: AbortSignal } = {}): Promise<LedgerBlock | null> {
    const block = await this.writer.append(this.#identity, { kind: "settle", receipt }, options);
    this.#options.onChange?.();
    return block;
  }

  status(): TabLedgerStatus {
    const me = this.#identity.id;
    const view = this.ledger.account(me);
    const chain = this.#chainTotals();
    const totals = this.ledger.totals();
    const { registration, detail } = this.#registrationState(view.opened);
    return {
      registration,
      detail,
      account: me,
      balance: view.balance,
      spendable: view.spendable,
      locked: view.locked,
      reserved: view.reserved,
      debt: view.debt,
      earned: chain.earned,
      spent: chain.spent,
      received: chain.received,
      height: view.height,
      awaitingSettlement: this.earnings.pending,
      claimed: this.earnings.claimed,
      merkleRoot: this.ledger.merkleRoot(),
      accounts: totals.accounts,
      blocks: totals.blocks,
    };
  }

  /** What the tab's node-info answers carry, in the shape full nodes use. */
  summary(): NodeLedgerSummary {
    return nodeLedgerSummary(this.ledger, this.#identity.id, {
      earned: this.earnings.collected,
      claimed: this.earnings.claimed,
      swept: 0,
    });
  }

  /** Stops registration, collection and reconciliation; the replica (sync, save, store) stops with the tab's libp2p node after this. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#controller.abort();
    await this.#registration;
    await this.earnings.stop();
    await this.#reconciling;
  }

  #registrationState(opened: boolean): { registration: TabRegistrationState; detail: string } {
    if (opened) return { registration: "registered", detail: this.#registeredDetail || "registered on the ledger" };
    if (this.#registering) {
      return {
        registration: "registering",
        detail: `solving the registration proof-of-work (difficulty ${this.ledger.params.registrationDifficultyBits} bits)`,
      };
    }
    if (this.#failure) return { registration: this.#failure.state, detail: this.#failure.detail };
    // Registered earlier, then an open with the same fingerprint that came first arrived.
    return { registration: "refused", detail: REFUSED_DETAIL };
  }

  /**
   * Nothing is signed on the tab's chain before the network was asked where that chain is: a block
   * published just before the tab closed may have reached peers but not IndexedDB, and signing that
   * height again (an earn, or a second open) would freeze the account as an equivocator.
   */
  async #startWriting(): Promise<void> {
    if (!this.ledger.account(this.#identity.id).opened && !this.#refusedOnLoad) {
      // Shown as registering while the first reconciliation runs (it may find the tab registered already).
      this.#registering = true;
      this.#options.onChange?.();
    }
    // The replica's first reconciliation (the writer waits for it as well).
    await this.writer.ready;
    if (this.#stopped) return;
    this.earnings.start();
    await this.#register();
  }

  async #register(): Promise<void> {
    const identity = this.#identity;
    const signal = this.#controller.signal;
    if (this.ledger.account(identity.id).opened) return;
    if (this.#refusedOnLoad) {
      // Signing another open at height 0 would be an equivocation: the account would be frozen everywhere.
      this.#failure = { state: "refused", detail: REFUSED_DETAIL };
      return;
    }
    this.#registering = true;
    this.#options.onChange?.();
    const started = Date.now();
    try {
      const fingerprintHash = await this.#options.fingerprintHash();
      const open = await registerAccount(identity, { fingerprintHash, ...this.ledger.registrationWork() }, { signal });
      // An identity whose ledger was lost (site data partly cleared) may be open on the network already:
      // ask the connected peers before signing, since a second open at height 0 would fork and freeze the account.
      await this.sync.reconcileAll({ signal }).catch(() => undefined);
      await this.writer.append(
        identity,
        (ledger) =>
          ledger.account(identity.id).opened ? null : { kind: "open", fingerprint: open.fingerprint, powNonce: open.powNonce },
        { signal },
      );
      this.#registeredDetail = `registered on the ledger (proof-of-work: ${Math.round((Date.now() - started) / 100) / 10} s)`;
      // Peers connected before the open existed learn of it now, along with anything this tab missed.
      this.#reconcileSoon();
      await this.earnings.collect();
    } catch (error) {
      if (signal.aborted) return;
      this.#failure =
        error instanceof DuplicateFingerprintError
          ? { state: "refused", detail: REFUSED_DETAIL }
          : { state: "failed", detail: `registration failed: ${errorMessage(error)}` };
      this.#logger.warn({ err: error }, "registration failed");
    } finally {
      this.#registering = false;
      this.#options.onChange?.();
    }
  }

  /** Reconciles with every connected peer that keeps a ledger, coalescing calls that come while one runs. */
  #reconcileSoon(): void {
    if (this.#stopped) return;
    if (this.#reconciling !== undefined) {
      this.#reconcileAgain = true;
      return;
    }
    this.#reconciling = (async () => {
      do {
        this.#reconcileAgain = false;
        await this.sync
          .reconcileAll({ signal: this.#controller.signal })
          .catch((error: unknown) => this.#logger.debug({ err: error }, "reconciliation failed"));
        if (this.#reconcileAgain) await new Promise((resolve) => setTimeout(resolve, UNKNOWN_PAYER_RECONCILE_MS));
      } while (this.#reconcileAgain && !this.#stopped);
      this.#options.onChange?.();
    })().finally(() => {
      this.#reconciling = undefined;
    });
  }

  /** Earned, spent and received over the tab's whole chain, recomputed only when its head moves. */
  #chainTotals(): { earned: number; spent: number; received: number } {
    const me = this.#identity.id;
    const head = this.ledger.account(me).head;
    if (head === this.#chain.head) return this.#chain;
    let earned = 0;
    let spent = 0;
    let received = 0;
    for (const block of this.ledger.history(me)) {
      if (block.kind === "settle") spent += block.receipt.credits;
      else if (block.kind === "earn") {
        const source = this.ledger.block(block.source);
        if (source?.kind === "settle") earned += source.receipt.credits;
      } else if (block.kind === "receive") {
        const source = this.ledger.block(block.source);
        if (source?.kind === "send") received += source.amount;
      }
    }
    this.#chain = { head, earned, spent, received };
    return this.#chain;
  }
}

const REFUSED_DETAIL =
  "the ledger refused this tab's registration: this device's one grant went to another identity (another tab or browser profile with the same device fingerprint)";

function formatCredits(credits: number): string {
  return credits.toLocaleString("en-US");
}

/**
 * The tab's IndexedDB ledger store, opened by its replica; notes, while the ledger loads, whether
 * the store holds any block of the tab's account (applied or not: an open that lost its fingerprint).
 */
export class TabLedgerStore implements LedgerStore {
  readonly #databaseName: string;
  readonly #account: string;
  #store: LedgerStore | undefined;
  found = false;

  constructor(databaseName: string, account: string) {
    this.#databaseName = databaseName;
    this.#account = account;
  }

  async open(): Promise<LedgerStore> {
    this.#store = await IndexedDbLedgerStore.open(this.#databaseName);
    return this;
  }

  commit(...args: Parameters<LedgerStore["commit"]>): Promise<void> {
    return this.#opened().commit(...args);
  }

  async loadBlocks(...args: Parameters<LedgerStore["loadBlocks"]>): Promise<StoredBlock[]> {
    const blocks = await this.#opened().loadBlocks(...args);
    this.found = blocks.some((entry) => entry.block.account === this.#account);
    return blocks;
  }

  loadAccounts(...args: Parameters<LedgerStore["loadAccounts"]>): Promise<AccountSnapshot[]> {
    return this.#opened().loadAccounts(...args);
  }

  async close(): Promise<void> {
    await this.#store?.close();
  }

  #opened(): LedgerStore {
    if (!this.#store) throw new Error("the tab's ledger store is not open");
    return this.#store;
  }
}
