import type { Identity } from "@opengateway/protocol";
import type { LedgerBlockBody } from "./block-author.js";
import { BlockAuthor } from "./block-author.js";
import type { AddResult, Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import type { BlockRejectedError } from "./ledger-errors.js";
import { BlockNotAppliedError, MissingDependencyError } from "./ledger-errors.js";

/** An open on a network with time witnesses waits for their statements: published, not refused. */
function awaitsWitnesses(block: LedgerBlock, error: BlockRejectedError | null): boolean {
  return block.kind === "open" && error instanceof MissingDependencyError && error.dependency.type === "witnesses";
}

/** Adds a block this peer authored to its ledger and hands it to the network (`LedgerSync.publish`). */
export type LedgerBlockPublisher = (block: LedgerBlock, options?: { signal?: AbortSignal }) => Promise<AddResult>;

export interface ChainWriterOptions {
  /** Default: only `ledger.submit` (nothing leaves this peer). */
  publish?: LedgerBlockPublisher;
  /**
   * Nothing is signed before this settles (however it settles): a peer's first reconciliation, so
   * its chains continue where the network has them. A block published just before a crash may
   * have reached peers but not this peer's store, and signing that height again would be an
   * equivocation. Default: at once.
   */
  ready?: Promise<unknown>;
  now?: () => number;
}

/**
 * The one way this peer writes to the chains it owns. Everything that authors blocks for an
 * account (settlements, earnings, claims, transfers, sweeps) goes through one writer, which
 * appends one block at a time per account: two blocks signed at one height would be an
 * equivocation, and the account would be frozen.
 */
export class ChainWriter {
  readonly ledger: Ledger;
  readonly #options: ChainWriterOptions;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Resolves once the writer may sign (see `ChainWriterOptions.ready`); never rejects. */
  readonly ready: Promise<void>;

  constructor(ledger: Ledger, options: ChainWriterOptions = {}) {
    this.ledger = ledger;
    this.#options = options;
    this.ready = Promise.resolve(options.ready).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Signs `body` as the account's next block once every earlier append for that account has
   * finished, checks it against the ledger (a block peers would refuse is never signed away),
   * and publishes it. `body` may be a function of the ledger at that moment, returning null
   * when there is nothing to write any more.
   */
  append(
    identity: Identity,
    body: LedgerBlockBody | ((ledger: Ledger) => LedgerBlockBody | null),
    options: { signal?: AbortSignal } = {},
  ): Promise<LedgerBlock | null> {
    return this.#serialised(identity.id, async () => {
      await this.ready;
      options.signal?.throwIfAborted();
      const decided = typeof body === "function" ? body(this.ledger) : body;
      if (decided === null) return null;
      const block = new BlockAuthor(identity, this.ledger.position(identity.id)).append(decided, this.#now());
      const problem = this.ledger.check(block);
      if (problem && !awaitsWitnesses(block, problem)) throw problem;
      const result = this.#options.publish
        ? await this.#options.publish(block, { signal: options.signal })
        : await this.ledger.submit(block, { signal: options.signal });
      const accepted =
        result.status === "applied" ||
        result.status === "duplicate" ||
        (result.status === "pending" && awaitsWitnesses(block, result.error));
      if (!accepted) throw result.error ?? new BlockNotAppliedError(result.status);
      return block;
    });
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  #serialised<T>(account: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(account) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    const settled = next.catch(() => undefined);
    this.#queues.set(account, settled);
    // Forget idle accounts so a gateway with many API keys does not keep one entry each forever.
    void settled.then(() => {
      if (this.#queues.get(account) === settled) this.#queues.delete(account);
    });
    return next;
  }
}
