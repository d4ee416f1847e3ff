import { OpenGatewayError } from "@opengateway/protocol";

/** Why a block was refused. Codes are stable: peers log them and tests match on them. */
export const BLOCK_REJECTION_CODES = [
  "malformed_block",
  "block_too_large",
  "invalid_signature",
  "invalid_pow",
  "invalid_receipt",
  "invalid_evidence",
  "self_dealing",
  "claim_too_early",
  "future_timestamp",
  "duplicate_block",
  "account_frozen",
  "equivocation",
  "missing_dependency",
  "wrong_link",
  "wrong_height",
  "timestamp_regression",
  "insufficient_balance",
  "time_locked",
  "wrong_source",
  "already_collected",
  "duplicate_settlement",
  "duplicate_claim",
  "duplicate_fingerprint",
  "fork_unresolved",
  "amount_overflow",
] as const;

export type BlockRejectionCode = (typeof BLOCK_REJECTION_CODES)[number];

export class BlockRejectedError extends Error {
  readonly code: BlockRejectionCode;
  /**
   * A transient rejection may pass later (a predecessor arrives, the clock catches up); any
   * other rejection is final for this block in this position.
   */
  readonly transient: boolean;
  constructor(code: BlockRejectionCode, message: string, transient = false) {
    super(message);
    this.code = code;
    this.transient = transient;
    this.name = "BlockRejectedError";
  }
}

export class MalformedBlockError extends BlockRejectedError {
  constructor(message: string) {
    super("malformed_block", message);
    this.name = "MalformedBlockError";
  }
}

export class BlockTooLargeError extends BlockRejectedError {
  constructor(bytes: number, limit: number) {
    super("block_too_large", `block has ${bytes} canonical bytes; the limit is ${limit}`);
    this.name = "BlockTooLargeError";
  }
}

export class InvalidBlockSignatureError extends BlockRejectedError {
  constructor(message = "the block's signature does not match its account") {
    super("invalid_signature", message);
    this.name = "InvalidBlockSignatureError";
  }
}

export class InvalidProofOfWorkError extends BlockRejectedError {
  constructor(difficultyBits: number) {
    super("invalid_pow", `the registration proof-of-work does not reach ${difficultyBits} leading zero bits`);
    this.name = "InvalidProofOfWorkError";
  }
}

export class InvalidReceiptError extends BlockRejectedError {
  constructor(message: string) {
    super("invalid_receipt", message);
    this.name = "InvalidReceiptError";
  }
}

export class InvalidEvidenceError extends BlockRejectedError {
  constructor(message: string) {
    super("invalid_evidence", message);
    this.name = "InvalidEvidenceError";
  }
}

export class SelfDealingError extends BlockRejectedError {
  constructor(message: string) {
    super("self_dealing", message);
    this.name = "SelfDealingError";
  }
}

export class ClaimTooEarlyError extends BlockRejectedError {
  constructor(expiresAt: number) {
    super("claim_too_early", `a claim is only valid once its request has expired (at ${expiresAt}): the payer may still settle`);
    this.name = "ClaimTooEarlyError";
  }
}

export class FutureTimestampError extends BlockRejectedError {
  constructor(timestamp: number, now: number) {
    super("future_timestamp", `block timestamp ${timestamp} is ahead of this peer's clock (${now})`, true);
    this.name = "FutureTimestampError";
  }
}

export class DuplicateBlockError extends BlockRejectedError {
  constructor(hash: string) {
    super("duplicate_block", `block ${hash} is already applied`);
    this.name = "DuplicateBlockError";
  }
}

export class AccountFrozenError extends BlockRejectedError {
  constructor(account: string, height: number) {
    super("account_frozen", `account ${account} equivocated at height ${height}: it is frozen there`);
    this.name = "AccountFrozenError";
  }
}

export class EquivocationError extends BlockRejectedError {
  readonly account: string;
  readonly height: number;
  constructor(account: string, height: number) {
    super("equivocation", `account ${account} already has another block at height ${height}`);
    this.account = account;
    this.height = height;
    this.name = "EquivocationError";
  }
}

/** What a block waits for: its account's chain to reach a height, or another block. */
export type BlockDependency =
  | { readonly type: "chain"; readonly account: string; readonly height: number }
  | { readonly type: "block"; readonly hash: string };

export class MissingDependencyError extends BlockRejectedError {
  readonly dependency: BlockDependency;
  constructor(dependency: BlockDependency) {
    super(
      "missing_dependency",
      dependency.type === "chain"
        ? `waiting for block ${dependency.height} of ${dependency.account}`
        : `waiting for block ${dependency.hash}`,
      true,
    );
    this.dependency = dependency;
    this.name = "MissingDependencyError";
  }
}

export class ChainLinkError extends BlockRejectedError {
  constructor(message = "the block's previous hash is not its account's head") {
    super("wrong_link", message);
    this.name = "ChainLinkError";
  }
}

export class WrongHeightError extends BlockRejectedError {
  constructor(height: number, expected: number) {
    super("wrong_height", `block claims height ${height} but follows the block at height ${expected - 1}`);
    this.name = "WrongHeightError";
  }
}

export class TimestampRegressionError extends BlockRejectedError {
  constructor() {
    super("timestamp_regression", "a block's timestamp may not be earlier than its predecessor's");
    this.name = "TimestampRegressionError";
  }
}

export class InsufficientBalanceError extends BlockRejectedError {
  constructor(needed: number, balance: number) {
    super("insufficient_balance", `block spends ${needed} credits but the balance is ${balance}`);
    this.name = "InsufficientBalanceError";
  }
}

export class TimeLockedError extends BlockRejectedError {
  constructor(amount: number, transferable: number, unlockAt: number) {
    super(
      "time_locked",
      `cannot transfer ${amount} credits: only ${transferable} are transferable; granted credits unlock at ${unlockAt}`,
    );
    this.name = "TimeLockedError";
  }
}

export class WrongSourceError extends BlockRejectedError {
  constructor(message: string) {
    super("wrong_source", message);
    this.name = "WrongSourceError";
  }
}

export class AlreadyCollectedError extends BlockRejectedError {
  constructor(source: string) {
    super("already_collected", `block ${source} was already received`);
    this.name = "AlreadyCollectedError";
  }
}

export class DuplicateSettlementError extends BlockRejectedError {
  constructor(requestId: string, provider: string) {
    super("duplicate_settlement", `request ${requestId} is already settled with provider ${provider}`);
    this.name = "DuplicateSettlementError";
  }
}

export class DuplicateClaimError extends BlockRejectedError {
  constructor(requestId: string) {
    super("duplicate_claim", `request ${requestId} is already claimed by this provider`);
    this.name = "DuplicateClaimError";
  }
}

export class DuplicateFingerprintError extends BlockRejectedError {
  constructor() {
    super("duplicate_fingerprint", "this machine fingerprint already received its registration grant");
    this.name = "DuplicateFingerprintError";
  }
}

export class ForkUnresolvedError extends BlockRejectedError {
  constructor(account: string, height: number) {
    super(
      "fork_unresolved",
      `account ${account} has applied blocks at or above its fork height ${height}: roll back (rebuild) before slashing`,
    );
    this.name = "ForkUnresolvedError";
  }
}

export class AmountOverflowError extends BlockRejectedError {
  constructor() {
    super("amount_overflow", "credit totals would exceed Number.MAX_SAFE_INTEGER");
    this.name = "AmountOverflowError";
  }
}

/** A reservation the payer cannot cover: the gateway answers 402, a provider refuses the request. */
export class InsufficientCreditsError extends OpenGatewayError {
  constructor(message: string) {
    super("insufficient_credits", message);
    this.name = "InsufficientCreditsError";
  }
}

/** The payer owes credits from claims it never settled: refused service until it settles. */
export class DebtOutstandingError extends OpenGatewayError {
  readonly debt: number;
  constructor(account: string, debt: number) {
    super("insufficient_credits", `account ${account} owes ${debt} credits from unsettled claims; settle them first`);
    this.debt = debt;
    this.name = "DebtOutstandingError";
  }
}

export class DuplicateReservationError extends OpenGatewayError {
  constructor(requestId: string) {
    super("invalid_request", `request ${requestId} already holds a reservation`);
    this.name = "DuplicateReservationError";
  }
}

/** A block this peer authored was not applied (it waits for a dependency, or the ledger ignored it). */
export class BlockNotAppliedError extends OpenGatewayError {
  readonly status: string;
  constructor(status: string) {
    super("protocol_violation", `the block was not applied (${status})`);
    this.status = status;
    this.name = "BlockNotAppliedError";
  }
}
