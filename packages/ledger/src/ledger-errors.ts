import type { ErrorClass } from "@opengateway/protocol";
import { nameErrorClass, OpenGatewayError, WireError } from "@opengateway/protocol";

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
  "duplicate_dispute",
  "dispute_refused",
  "not_a_witness",
  "invalid_witness",
  "duplicate_audit",
  "review_refused",
] as const;

export type BlockRejectionCode = (typeof BLOCK_REJECTION_CODES)[number];

export class BlockRejectedError extends OpenGatewayError {
  declare readonly code: BlockRejectionCode;
  /**
   * A transient rejection may pass later (a predecessor arrives, the clock catches up); any
   * other rejection is final for this block in this position.
   */
  readonly transient: boolean;
  constructor(code: BlockRejectionCode, message: string, transient = false) {
    super(code, message);
    this.transient = transient;
  }
}
nameErrorClass(BlockRejectedError, "BlockRejectedError");

/** Declares the rejection class of one code, and how its constructor's arguments make the message. */
function blockRejection<Args extends unknown[]>(
  name: string,
  code: BlockRejectionCode,
  message: (...args: Args) => string,
  transient = false,
): ErrorClass<BlockRejectedError, Args> {
  const Declared = class extends BlockRejectedError {
    constructor(...args: Args) {
      super(code, message(...args), transient);
    }
  };
  nameErrorClass(Declared, name);
  return Declared;
}

const asGiven = (message: string) => message;

export class MalformedBlockError extends blockRejection("MalformedBlockError", "malformed_block", asGiven) {}
export class BlockTooLargeError extends blockRejection(
  "BlockTooLargeError",
  "block_too_large",
  (bytes: number, limit: number) => `block has ${bytes} canonical bytes; the limit is ${limit}`,
) {}
export class InvalidBlockSignatureError extends blockRejection(
  "InvalidBlockSignatureError",
  "invalid_signature",
  (message: string = "the block's signature does not match its account") => message,
) {}
export class InvalidProofOfWorkError extends blockRejection(
  "InvalidProofOfWorkError",
  "invalid_pow",
  (difficultyBits: number) => `the registration proof-of-work does not reach ${difficultyBits} leading zero bits`,
) {}
export class InvalidReceiptError extends blockRejection("InvalidReceiptError", "invalid_receipt", asGiven) {}
export class InvalidEvidenceError extends blockRejection("InvalidEvidenceError", "invalid_evidence", asGiven) {}
export class SelfDealingError extends blockRejection("SelfDealingError", "self_dealing", asGiven) {}
export class ClaimTooEarlyError extends blockRejection(
  "ClaimTooEarlyError",
  "claim_too_early",
  (expiresAt: number) => `a claim is only valid once its request has expired (at ${expiresAt}): the payer may still settle`,
) {}
export class FutureTimestampError extends blockRejection(
  "FutureTimestampError",
  "future_timestamp",
  (timestamp: number, now: number) => `block timestamp ${timestamp} is ahead of this peer's clock (${now})`,
  true,
) {}
export class DuplicateBlockError extends blockRejection(
  "DuplicateBlockError",
  "duplicate_block",
  (hash: string) => `block ${hash} is already applied`,
) {}
export class AccountFrozenError extends blockRejection(
  "AccountFrozenError",
  "account_frozen",
  (account: string, height: number) => `account ${account} equivocated at height ${height}: it is frozen there`,
) {}

export class EquivocationError extends blockRejection(
  "EquivocationError",
  "equivocation",
  (account: string, height: number) => `account ${account} already has another block at height ${height}`,
) {
  readonly account: string;
  readonly height: number;
  constructor(account: string, height: number) {
    super(account, height);
    this.account = account;
    this.height = height;
  }
}

/**
 * What a block waits for: its account's chain to reach a height, another block, or (an open on a
 * network with time witnesses) enough witnesses that saw it arrive on time.
 */
export type BlockDependency =
  | { readonly type: "chain"; readonly account: string; readonly height: number }
  | { readonly type: "block"; readonly hash: string }
  | { readonly type: "witnesses"; readonly hash: string; readonly seen: number; readonly quorum: number };

export class MissingDependencyError extends blockRejection(
  "MissingDependencyError",
  "missing_dependency",
  (dependency: BlockDependency) =>
    dependency.type === "chain"
      ? `waiting for block ${dependency.height} of ${dependency.account}`
      : dependency.type === "block"
        ? `waiting for block ${dependency.hash}`
        : `open ${dependency.hash} is not confirmed: ${dependency.seen} of the ${dependency.quorum} time witnesses ` +
          "needed saw it arrive within the witness window of its timestamp (a backdated open never is)",
  true,
) {
  readonly dependency: BlockDependency;
  constructor(dependency: BlockDependency) {
    super(dependency);
    this.dependency = dependency;
  }
}

export class ChainLinkError extends blockRejection(
  "ChainLinkError",
  "wrong_link",
  (message: string = "the block's previous hash is not its account's head") => message,
) {}
export class WrongHeightError extends blockRejection(
  "WrongHeightError",
  "wrong_height",
  (height: number, expected: number) => `block claims height ${height} but follows the block at height ${expected - 1}`,
) {}
export class TimestampRegressionError extends blockRejection(
  "TimestampRegressionError",
  "timestamp_regression",
  () => "a block's timestamp may not be earlier than its predecessor's",
) {}
export class InsufficientBalanceError extends blockRejection(
  "InsufficientBalanceError",
  "insufficient_balance",
  (needed: number, balance: number) => `block spends ${needed} credits but the balance is ${balance}`,
) {}
export class TimeLockedError extends blockRejection(
  "TimeLockedError",
  "time_locked",
  (amount: number, transferable: number, unlockAt: number) =>
    `cannot transfer ${amount} credits: only ${transferable} are transferable; granted credits, and credits ` +
    `earned from granted credits, unlock at ${unlockAt}`,
) {}
export class WitnessNotAllowedError extends blockRejection(
  "WitnessNotAllowedError",
  "not_a_witness",
  (account: string) => `account ${account} is not one of this network's time witnesses`,
) {}
export class InvalidWitnessError extends blockRejection("InvalidWitnessError", "invalid_witness", asGiven) {}
export class WrongSourceError extends blockRejection("WrongSourceError", "wrong_source", asGiven) {}
export class AlreadyCollectedError extends blockRejection(
  "AlreadyCollectedError",
  "already_collected",
  (source: string) => `block ${source} was already received`,
) {}
export class DuplicateSettlementError extends blockRejection(
  "DuplicateSettlementError",
  "duplicate_settlement",
  (requestId: string, provider: string) => `request ${requestId} is already settled with provider ${provider}`,
) {}
export class DuplicateClaimError extends blockRejection(
  "DuplicateClaimError",
  "duplicate_claim",
  (requestId: string) => `request ${requestId} is already claimed by this provider`,
) {}
export class DuplicateDisputeError extends blockRejection(
  "DuplicateDisputeError",
  "duplicate_dispute",
  (requestId: string) => `the claim of request ${requestId} is already disputed`,
) {}
/** A dispute of a claim that is not against this account, or that its settlement already answered. */
export class DisputeRefusedError extends blockRejection("DisputeRefusedError", "dispute_refused", asGiven) {}
/** A second verdict of one auditor on one request of one provider. */
export class DuplicateAuditError extends blockRejection(
  "DuplicateAuditError",
  "duplicate_audit",
  (requestId: string) => `request ${requestId} is already audited by this account`,
) {}
/** A review of a block that is not an audit, of one's own audit or one's own work, or a second review. */
export class ReviewRefusedError extends blockRejection("ReviewRefusedError", "review_refused", asGiven) {}
export class DuplicateFingerprintError extends blockRejection(
  "DuplicateFingerprintError",
  "duplicate_fingerprint",
  () => "this machine fingerprint already received its registration grant",
) {}
export class ForkUnresolvedError extends blockRejection(
  "ForkUnresolvedError",
  "fork_unresolved",
  (account: string, height: number) =>
    `account ${account} has applied blocks at or above its fork height ${height}: roll back (rebuild) before slashing`,
) {}
export class AmountOverflowError extends blockRejection(
  "AmountOverflowError",
  "amount_overflow",
  () => "credit totals would exceed Number.MAX_SAFE_INTEGER",
) {}

/** The payer owes credits from claims it never settled: refused service until it settles. */
export class DebtOutstandingError extends WireError {
  readonly debt: number;
  constructor(account: string, debt: number) {
    super("insufficient_credits", `account ${account} owes ${debt} credits from unsettled claims; settle them first`);
    this.debt = debt;
  }
}
nameErrorClass(DebtOutstandingError, "DebtOutstandingError");

export class DuplicateReservationError extends WireError {
  constructor(requestId: string) {
    super("invalid_request", `request ${requestId} already holds a reservation`);
  }
}
nameErrorClass(DuplicateReservationError, "DuplicateReservationError");

/** A block this peer authored was not applied (it waits for a dependency, or the ledger ignored it). */
export class BlockNotAppliedError extends WireError {
  readonly status: string;
  constructor(status: string) {
    super("protocol_violation", `the block was not applied (${status})`);
    this.status = status;
  }
}
nameErrorClass(BlockNotAppliedError, "BlockNotAppliedError");
