import type { Identity } from "@opengateway/protocol";
import type { LedgerBlock, UnsignedLedgerBlock } from "./ledger-block.js";
import { LEDGER_BLOCK_VERSION, ledgerBlockHash, signLedgerBlock } from "./ledger-block.js";
import type { ChainPosition } from "./ledger-state.js";

type Body<T> = T extends unknown ? Omit<T, "v" | "account" | "height" | "previous" | "timestamp" | "sig"> : never;
/** The kind-specific part of a block: what a wallet decides; the author fills in the chain fields. */
export type LedgerBlockBody = Body<LedgerBlock>;

/**
 * Signs the successive blocks of one account's chain. A wallet starts it at the ledger's
 * `position(account)` and should `check` each block before publishing: two different signed
 * blocks at one height are an equivocation, even if one of them was invalid.
 */
export class BlockAuthor {
  readonly identity: Identity;
  #position: ChainPosition;

  constructor(identity: Identity, position: ChainPosition = { height: 0, previous: null, notBefore: 0 }) {
    this.identity = identity;
    this.#position = position;
  }

  get position(): ChainPosition {
    return this.#position;
  }

  /** Signs the next block and moves past it. */
  append(body: LedgerBlockBody, timestamp: number): LedgerBlock {
    const { height, previous, notBefore } = this.#position;
    if ((body.kind === "open") !== (height === 0)) throw new RangeError("an open block is exactly the first block of a chain");
    const unsigned = {
      v: LEDGER_BLOCK_VERSION,
      account: this.identity.id,
      height,
      previous,
      // A clock that runs behind the head would otherwise produce a block every peer refuses.
      timestamp: Math.max(timestamp, notBefore),
      ...body,
    } as UnsignedLedgerBlock;
    const block = signLedgerBlock(unsigned, this.identity) as LedgerBlock;
    this.#position = { height: height + 1, previous: ledgerBlockHash(block), notBefore: block.timestamp };
    return block;
  }

  /** An author at the same position, for trying an alternative without moving this one. */
  fork(): BlockAuthor {
    return new BlockAuthor(this.identity, this.#position);
  }
}
