import type { ComponentLogger, Startable } from "@libp2p/interface";
import { serviceDependencies } from "@libp2p/interface";
import type { SweepRule } from "@opengateway/ledger";
import { AutoSweep, EarningsCollector, registerAccount, validateSweepRule } from "@opengateway/ledger";
import type { LedgerReplica, NodeLedgerSummary } from "@opengateway/p2p";
import { checkPayer, componentLogger, nodeLedgerSummary } from "@opengateway/p2p";
import type { Identity, InferenceReceipt, InferenceRequest, Logger } from "@opengateway/protocol";

export interface NodeCreditsInit {
  identity: Identity;
  /** Machine fingerprint hash for this node's registration (one grant per machine). */
  fingerprintHash: string;
  /** The registration's proof-of-work, solved ahead (`opengateway setup`); solved again when it does not verify. */
  powNonce?: number;
  /** How long after a request expired the node waits for its settlement before claiming it (default 60 s; null: never). */
  claimAfterMs?: number | null;
  /** Automatic transfer of earnings above a threshold to another identity. */
  sweep?: SweepRule;
  /** Default: libp2p's logger, as `opengateway:node-credits`. */
  logger?: Logger;
}

export interface NodeCreditsComponents {
  /** The node's `ledgerReplica` service. */
  ledger: LedgerReplica;
  logger: ComponentLogger;
}

/**
 * A full node's part in the economy, on top of its ledger replica: it registers its own account
 * in the background (the proof-of-work takes a minute or two at the network's difficulty, and
 * serving need not wait for it), collects the settlements of the receipts it signs (claiming the
 * ones never settled), sweeps its earnings when a rule says so, and checks payers before serving.
 */
export class NodeCredits implements Startable {
  readonly #components: NodeCreditsComponents;
  readonly #init: NodeCreditsInit;
  readonly #logger: Logger;
  #controller = new AbortController();
  #earnings: EarningsCollector | undefined;
  #sweep: AutoSweep | undefined;
  #registration: Promise<void> = Promise.resolve();

  constructor(components: NodeCreditsComponents, init: NodeCreditsInit) {
    // A bad rule is refused before anything is opened.
    if (init.sweep) validateSweepRule(init.sweep, init.identity.id);
    this.#components = components;
    this.#init = init;
    this.#logger = init.logger ?? componentLogger(components.logger, "opengateway:node-credits");
  }

  readonly [Symbol.toStringTag] = "@opengateway/node-credits";
  readonly [serviceDependencies] = ["@opengateway/ledger-replica"];

  get earnings(): EarningsCollector {
    if (!this.#earnings) throw new Error("node credits are not started");
    return this.#earnings;
  }

  get sweep(): AutoSweep | undefined {
    return this.#sweep;
  }

  isStarted(): boolean {
    return this.#earnings !== undefined;
  }

  /** Nothing yet: the replica loads its ledger in this phase. */
  async start(): Promise<void> {}

  /** The replica has loaded its ledger by now; collection and registration wait for its first reconciliation. */
  async afterStart(): Promise<void> {
    const { identity } = this.#init;
    const replica = this.#components.ledger;
    const writer = replica.writer;
    const controller = new AbortController();
    this.#controller = controller;
    const sweep = this.#init.sweep ? new AutoSweep(writer, identity, this.#init.sweep, { logger: this.#logger }) : undefined;
    const earnings = new EarningsCollector(writer, identity, {
      claimAfterMs: this.#init.claimAfterMs,
      logger: this.#logger,
      // Earnings are swept as they come in; the rule's own timer catches anything else.
      onBlock: (block) => {
        if (block.kind === "earn" || block.kind === "receive") void sweep?.sweep();
      },
    });
    this.#earnings = earnings;
    this.#sweep = sweep;
    // The writer signs nothing before the replica's first reconciliation; the collector's timers wait for it too.
    const firstSync = writer.ready.then(() => {
      if (controller.signal.aborted) return;
      earnings.start();
      sweep?.start();
    });
    this.#registration = replica.ledger.account(identity.id).opened ? firstSync : this.#register(firstSync, controller.signal);
  }

  /** Collection and sweeps stop before the replica's sync does (and long before its store closes). */
  async beforeStop(): Promise<void> {
    this.#controller.abort();
    await this.#registration;
    // The collector first: its last pass may still start a sweep.
    await this.#earnings?.stop();
    await this.#sweep?.stop();
  }

  /** Nothing left: everything stopped before the node's services. */
  async stop(): Promise<void> {}

  /** Watches a receipt this node signed until its payer settles it. */
  track(receipt: InferenceReceipt, request: InferenceRequest | undefined): void {
    this.#earnings?.track(receipt, request);
  }

  /**
   * The payment check (on by default): see `checkPayer`. The payer's requests in flight here are
   * counted through a hold on this node's copy of the ledger, freed by the returned function.
   */
  authorize(request: InferenceRequest, fromPeer: string, options: { signal?: AbortSignal } = {}): Promise<() => void> {
    const { ledger, sync } = this.#components.ledger;
    return checkPayer(ledger, sync, request, fromPeer, options);
  }

  /** What the node's info answers carry: its ledger view and what it collected since it started. */
  summary(): NodeLedgerSummary {
    return nodeLedgerSummary(this.#components.ledger.ledger, this.#init.identity.id, {
      earned: this.#earnings?.collected ?? 0,
      claimed: this.#earnings?.claimed ?? 0,
      swept: this.#sweep?.swept ?? 0,
    });
  }

  async #register(firstSync: Promise<void>, signal: AbortSignal): Promise<void> {
    const { identity, fingerprintHash } = this.#init;
    const writer = this.#components.ledger.writer;
    try {
      const open = await registerAccount(
        identity,
        { fingerprintHash, ...writer.ledger.registrationWork() },
        { signal, powNonce: this.#init.powNonce },
      );
      await firstSync;
      signal.throwIfAborted();
      await writer.append(
        identity,
        (current) =>
          current.account(identity.id).opened ? null : { kind: "open", fingerprint: open.fingerprint, powNonce: open.powNonce },
        { signal },
      );
      await this.#earnings?.collect();
    } catch (error) {
      if (!signal.aborted) this.#logger.warn({ err: error }, "registration failed");
    }
  }
}

/** The `nodeCredits` service; it needs the `ledgerReplica` service under the `ledger` key. */
export function nodeCredits(init: NodeCreditsInit): (components: NodeCreditsComponents) => NodeCredits {
  return (components) => new NodeCredits(components, init);
}
