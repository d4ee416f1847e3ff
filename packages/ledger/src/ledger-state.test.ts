import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createInferenceReceipt } from "@opengateway/protocol";
import { Ledger } from "./ledger.js";
import type { EvidenceBlock, LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash } from "./ledger-block.js";
import type { BlockRejectedError } from "./ledger-errors.js";
import {
  AccountFrozenError,
  AlreadyCollectedError,
  ChainLinkError,
  ClaimTooEarlyError,
  DisputeRefusedError,
  DuplicateBlockError,
  DuplicateClaimError,
  DuplicateDisputeError,
  DuplicateFingerprintError,
  DuplicateSettlementError,
  EquivocationError,
  ForkUnresolvedError,
  FutureTimestampError,
  InsufficientBalanceError,
  InvalidBlockSignatureError,
  InvalidEvidenceError,
  InvalidProofOfWorkError,
  InvalidReceiptError,
  MalformedBlockError,
  MissingDependencyError,
  SelfDealingError,
  TimeLockedError,
  TimestampRegressionError,
  WrongHeightError,
  WrongSourceError,
} from "./ledger-errors.js";
import type { LedgerState } from "./ledger-state.js";
import { accountSummary, applyBlock, createLedgerState, ledgerTotals, nextPosition } from "./ledger-state.js";
import {
  badPowNonce,
  conservationHolds,
  DAY,
  HOUR,
  NOW,
  powNonce,
  T0,
  TestAccount,
  testAccount,
  testFingerprint,
  testParams,
  testReceipt,
  testRequest,
  testSettlement,
} from "./test-support/ledger-fixtures.js";

function apply(state: LedgerState, ...blocks: LedgerBlock[]): LedgerState {
  let current = state;
  for (const block of blocks) {
    const result = applyBlock(current, block, { now: NOW });
    if (!result.ok) throw result.error;
    current = result.state;
  }
  return current;
}

/**
 * The block is refused with this class and code by the pure state machine, and a Ledger holding
 * the same blocks keeps the same balances and Merkle root after seeing it.
 */
/** Credits (a settled receipt, a send) are collected once, and only by the account they are for. */
function assertCollectedOnce(
  state: LedgerState,
  history: readonly LedgerBlock[],
  attempts: { again: unknown; byAnother: unknown },
): void {
  assertRejected(state, history, attempts.again, AlreadyCollectedError, "already_collected");
  assertRejected(state, history, attempts.byAnother, WrongSourceError, "wrong_source");
}

function assertRejected(
  state: LedgerState,
  history: readonly LedgerBlock[],
  block: unknown,
  ErrorClass: new (...args: never[]) => BlockRejectedError,
  code: string,
): BlockRejectedError {
  const result = applyBlock(state, block, { now: NOW });
  assert.equal(result.ok, false, "the block was accepted");
  if (result.ok) throw new Error("unreachable");
  assert.ok(result.error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${result.error.name}: ${result.error.message}`);
  assert.equal(result.error.code, code);
  assert.ok(result.error.message.length > 10, "the reason is spelled out");

  const ledger = new Ledger({ params: state.params });
  for (const earlier of history) assert.equal(ledger.add(earlier, { now: NOW }).status, "applied");
  const root = ledger.merkleRoot();
  const totals = ledger.totals();
  const views = history.map((earlier) => ledger.account(earlier.account, { now: NOW }));
  const outcome = ledger.add(block, { now: NOW });
  assert.notEqual(outcome.status, "applied");
  assert.equal(ledger.merkleRoot(), root);
  assert.deepEqual(ledger.totals(), totals);
  assert.deepEqual(
    history.map((earlier) => ledger.account(earlier.account, { now: NOW })),
    views,
  );
  return result.error;
}

function setup() {
  const params = testParams();
  const alice = testAccount(1);
  const bob = testAccount(2);
  const carol = testAccount(3);
  const opens = [alice.open(testFingerprint("a")), bob.open(testFingerprint("b")), carol.open(testFingerprint("c"))];
  const state = apply(createLedgerState(params), ...opens);
  return { params, alice, bob, carol, opens, state };
}

describe("ledger state machine", () => {
  it("an open block mints the grant: spendable on inference at once, transferable after 24 h", () => {
    const { state, alice } = setup();
    const before = accountSummary(state, alice.id, T0 + HOUR);
    assert.equal(before.balance, 100_000);
    assert.equal(before.locked, 100_000);
    assert.equal(before.unlockAt, T0 + DAY);
    assert.equal(accountSummary(state, alice.id, T0 + DAY).locked, 0);
    assert.deepEqual(ledgerTotals(state), { minted: 300_000, balances: 300_000, inFlight: 0, burned: 0, accounts: 3, blocks: 3 });
  });

  it("moves credits only when they are received, and conserves them throughout", () => {
    const { state, alice, bob } = setup();
    const send = alice.send(bob.id, 40_000, T0 + DAY);
    const afterSend = apply(state, send);
    assert.equal(accountSummary(afterSend, alice.id, NOW).balance, 60_000);
    assert.equal(accountSummary(afterSend, bob.id, NOW).balance, 100_000);
    assert.equal(afterSend.inFlight, 40_000);
    const afterReceive = apply(afterSend, bob.receive(ledgerBlockHash(send), T0 + DAY));
    assert.equal(accountSummary(afterReceive, bob.id, NOW).balance, 140_000);
    assert.equal(afterReceive.inFlight, 0);
    assert.ok(conservationHolds(ledgerTotals(afterReceive)));
  });

  it("settles inference from the payer's chain and lets the provider earn it exactly once", () => {
    const { state, alice, carol, opens } = setup();
    const { receipt } = testSettlement(alice.identity, carol.identity, 1_234, { maxCredits: 5_000 });
    const settle = alice.settle(receipt, T0 + HOUR);
    const settled = apply(state, settle);
    // Granted credits pay for inference at once, and the locked part is spent first.
    const payer = accountSummary(settled, alice.id, T0 + HOUR);
    assert.equal(payer.balance, 100_000 - 1_234);
    assert.equal(payer.locked, 100_000 - 1_234);
    const earn = carol.earn(ledgerBlockHash(settle), T0 + HOUR);
    const earned = apply(settled, earn);
    assert.equal(accountSummary(earned, carol.id, NOW).balance, 101_234);
    assert.ok(conservationHolds(ledgerTotals(earned)));
    assertCollectedOnce(earned, [...opens, settle, earn], {
      again: carol.fork().earn(ledgerBlockHash(settle), T0 + HOUR),
      byAnother: alice.fork().earn(ledgerBlockHash(settle), T0 + HOUR),
    });
  });

  it("rejects a forged signature", () => {
    const { state, alice, bob, opens } = setup();
    const send = alice.fork().send(bob.id, 10, T0 + DAY);
    assertRejected(state, opens, { ...send, amount: 10_000 }, InvalidBlockSignatureError, "invalid_signature");
    // Signed by bob but claiming to be alice's block.
    const impostor = testAccount(2, alice.author.position).send(bob.id, 10, T0 + DAY);
    assertRejected(state, opens, { ...impostor, account: alice.id }, InvalidBlockSignatureError, "invalid_signature");
  });

  it("rejects a malformed block before looking at it further", () => {
    const { state, alice, bob, opens } = setup();
    const send = alice.fork().send(bob.id, 10, T0 + DAY);
    assertRejected(state, opens, { ...send, amount: -5 }, MalformedBlockError, "malformed_block");
    assertRejected(state, opens, { ...send, extra: 1 }, MalformedBlockError, "malformed_block");
    assertRejected(state, opens, { ...send, amount: 1.5 }, MalformedBlockError, "malformed_block");
  });

  it("rejects a wrong chain link", () => {
    const { state, alice, bob, opens } = setup();
    const stranger = new TestAccount(alice.identity, {
      height: 1,
      previous: ledgerBlockHash(bob.send(alice.id, 1, T0)),
      notBefore: T0,
    });
    assertRejected(state, opens, stranger.send(bob.id, 10, T0 + DAY), ChainLinkError, "wrong_link");
    const dangling = new TestAccount(alice.identity, { height: 1, previous: "A".repeat(43), notBefore: T0 });
    assertRejected(state, opens, dangling.send(bob.id, 10, T0 + DAY), ChainLinkError, "wrong_link");
  });

  it("rejects a wrong height", () => {
    const { state, alice, bob, opens } = setup();
    const head = alice.author.position.previous;
    const skipping = new TestAccount(alice.identity, { height: 3, previous: head, notBefore: T0 });
    assertRejected(state, opens, skipping.send(bob.id, 10, T0 + DAY), WrongHeightError, "wrong_height");
    // A height already taken is an equivocation, never a silent overwrite.
    const again = new TestAccount(alice.identity).open(testFingerprint("a2"), T0 + 1);
    const result = applyBlock(state, again, { now: NOW });
    assert.ok(!result.ok && result.error instanceof EquivocationError);
  });

  it("rejects a block dated before its predecessor, and one from the future until the clock catches up", () => {
    const { state, alice, bob, opens } = setup();
    const early = new TestAccount(alice.identity, { ...alice.author.position, notBefore: 0 }).send(bob.id, 1, T0 - 1);
    assertRejected(state, opens, early, TimestampRegressionError, "timestamp_regression");
    const future = alice.fork().send(bob.id, 1, NOW + HOUR);
    const result = applyBlock(state, future, { now: NOW });
    assert.ok(!result.ok && result.error instanceof FutureTimestampError && result.error.transient);
    assert.ok(applyBlock(state, future, { now: NOW + HOUR }).ok);
  });

  it("rejects a double spend: two sends that together overspend", () => {
    const { state, alice, bob, carol, opens } = setup();
    const first = alice.send(bob.id, 60_000, T0 + DAY);
    const afterFirst = apply(state, first);
    assertRejected(
      afterFirst,
      [...opens, first],
      alice.fork().send(carol.id, 60_000, T0 + DAY),
      InsufficientBalanceError,
      "insufficient_balance",
    );
  });

  it("rejects an overdraft, by transfer or by settlement", () => {
    const { state, alice, bob, carol, opens } = setup();
    assertRejected(state, opens, alice.fork().send(bob.id, 100_001, T0 + DAY), InsufficientBalanceError, "insufficient_balance");
    const { receipt } = testSettlement(alice.identity, carol.identity, 150_000, { maxCredits: 200_000 });
    assertRejected(state, opens, alice.fork().settle(receipt, T0 + HOUR), InsufficientBalanceError, "insufficient_balance");
  });

  it("rejects spending time-locked credits by transfer before 24 h, and allows it after", () => {
    const { state, alice, bob, opens } = setup();
    const early = alice.fork().send(bob.id, 1, T0 + DAY - 1);
    const error = assertRejected(state, opens, early, TimeLockedError, "time_locked");
    assert.match(error.message, /unlock/);
    assert.ok(applyBlock(state, alice.fork().send(bob.id, 100_000, T0 + DAY), { now: NOW }).ok);
  });

  it("locks only the grant: credits received from others can be passed on at once", () => {
    const { state, alice, bob, opens } = setup();
    const late = testAccount(9);
    const lateOpen = late.open(testFingerprint("late"), T0 + 12 * HOUR);
    const send = alice.send(late.id, 5_000, T0 + DAY);
    const receive = late.receive(ledgerBlockHash(send), T0 + DAY);
    const received = apply(state, lateOpen, send, receive);
    assert.equal(accountSummary(received, late.id, T0 + DAY).locked, 100_000);
    assert.ok(applyBlock(received, late.fork().send(bob.id, 5_000, T0 + DAY), { now: NOW }).ok);
    const history = [...opens, lateOpen, send, receive];
    assertRejected(received, history, late.fork().send(bob.id, 5_001, T0 + DAY), TimeLockedError, "time_locked");
  });

  it("rejects a replayed settlement", () => {
    const { state, alice, carol, opens } = setup();
    const { request, receipt } = testSettlement(alice.identity, carol.identity, 700);
    const settle = alice.settle(receipt, T0 + HOUR);
    const settled = apply(state, settle);
    assertRejected(
      settled,
      [...opens, settle],
      alice.fork().settle(receipt, T0 + HOUR),
      DuplicateSettlementError,
      "duplicate_settlement",
    );
    assertRejected(settled, [...opens, settle], settle, DuplicateBlockError, "duplicate_block");
    // The same request id with another provider (a resumed stream) is a separate payment.
    const other = testAccount(4);
    const resumed = testReceipt(request, other.identity, 300);
    assert.ok(applyBlock(settled, alice.fork().settle(resumed, T0 + HOUR), { now: NOW }).ok);
  });

  it("rejects receiving a send twice, someone else's send, or a send it has not seen", () => {
    const { state, alice, bob, carol, opens } = setup();
    const send = alice.send(bob.id, 1_000, T0 + DAY);
    const receive = bob.receive(ledgerBlockHash(send), T0 + DAY);
    const received = apply(state, send, receive);
    const history = [...opens, send, receive];
    assertCollectedOnce(received, history, {
      again: bob.fork().receive(ledgerBlockHash(send), T0 + DAY),
      byAnother: carol.fork().receive(ledgerBlockHash(send), T0 + DAY),
    });
    assertRejected(received, history, bob.fork().receive(ledgerBlockHash(receive), T0 + DAY), WrongSourceError, "wrong_source");
    const unknown = applyBlock(received, bob.fork().receive("B".repeat(43), T0 + DAY), { now: NOW });
    assert.ok(!unknown.ok && unknown.error instanceof MissingDependencyError && unknown.error.transient);
  });

  it("grants a machine fingerprint once: a second open is refused alone, and opens empty in a Ledger", () => {
    const { state, opens } = setup();
    const dave = testAccount(4);
    const second = dave.open(testFingerprint("a"), T0 + HOUR);
    const result = applyBlock(state, second, { now: NOW });
    assert.ok(!result.ok && result.error instanceof DuplicateFingerprintError && result.error.code === "duplicate_fingerprint");
    // The Ledger decides contests over the whole set: the loser's account exists, with no grant.
    const ledger = new Ledger({ params: state.params });
    for (const open of opens) ledger.add(open, { now: NOW });
    const minted = ledger.totals().minted;
    assert.equal(ledger.add(second, { now: NOW }).status, "applied");
    assert.deepEqual(
      [ledger.account(dave.id, { now: NOW }).opened, ledger.account(dave.id, { now: NOW }).balance, ledger.totals().minted],
      [true, 0, minted],
    );
  });

  it("rejects an open with an invalid proof-of-work", () => {
    const { state, params, opens } = setup();
    const dave = testAccount(4);
    const fingerprint = testFingerprint("d");
    const block = dave.author.fork().append({ kind: "open", fingerprint, powNonce: badPowNonce(dave.identity, fingerprint) }, T0);
    assertRejected(state, opens, block, InvalidProofOfWorkError, "invalid_pow");
    // Work done for one key does not register another (unless it happens to solve that key's puzzle too).
    const eve = testAccount(5);
    const stolen = eve.author.fork().append({ kind: "open", fingerprint, powNonce: powNonce(dave.identity, fingerprint) }, T0);
    if (!applyBlock(state, stolen, { now: NOW }).ok) assertRejected(state, opens, stolen, InvalidProofOfWorkError, "invalid_pow");
    assert.equal(params.registrationDifficultyBits, 6);
  });

  it("rejects self-dealing and receipts that do not match", () => {
    const { state, alice, bob, carol, opens } = setup();
    assertRejected(state, opens, alice.fork().send(alice.id, 1, T0 + DAY), SelfDealingError, "self_dealing");
    const own = testReceipt(testRequest(alice.identity), alice.identity, 10);
    assertRejected(state, opens, alice.fork().settle(own, T0 + HOUR), SelfDealingError, "self_dealing");
    const bobsReceipt = testReceipt(testRequest(bob.identity), carol.identity, 10);
    assertRejected(state, opens, alice.fork().settle(bobsReceipt, T0 + HOUR), InvalidReceiptError, "invalid_receipt");
    const forged = { ...testReceipt(testRequest(alice.identity), carol.identity, 10), credits: 1 };
    assertRejected(state, opens, alice.fork().settle(forged, T0 + HOUR), InvalidReceiptError, "invalid_receipt");
  });

  it("records a claim as the payer's debt until the payer settles, and pays once", () => {
    const { state, alice, carol, opens } = setup();
    const { request, receipt } = testSettlement(alice.identity, carol.identity, 2_000, { now: T0, ttlMs: 60_000 });
    assertRejected(state, opens, carol.fork().claim(request, receipt, T0 + 1_000), ClaimTooEarlyError, "claim_too_early");
    const forgedRequest = { ...request, maxCredits: 1 };
    assertRejected(state, opens, carol.fork().claim(forgedRequest, receipt, T0 + HOUR), InvalidReceiptError, "invalid_receipt");
    const claim = carol.claim(request, receipt, T0 + HOUR);
    const claimed = apply(state, claim);
    assert.equal(accountSummary(claimed, alice.id, NOW).debt, 2_000);
    assert.equal(accountSummary(claimed, alice.id, NOW).balance, 100_000, "a claim moves no credits");
    assertRejected(
      claimed,
      [...opens, claim],
      carol.fork().claim(request, receipt, T0 + HOUR),
      DuplicateClaimError,
      "duplicate_claim",
    );
    const settle = alice.settle(receipt, T0 + 2 * HOUR);
    const settled = apply(claimed, settle, carol.earn(ledgerBlockHash(settle), T0 + 2 * HOUR));
    assert.equal(accountSummary(settled, alice.id, NOW).debt, 0);
    assert.equal(accountSummary(settled, carol.id, NOW).balance, 102_000);
    assert.ok(conservationHolds(ledgerTotals(settled)));
    // Order does not matter: settled first, the claim is moot.
    const settledFirst = apply(state, settle);
    const thenClaimed = apply(
      settledFirst,
      new TestAccount(carol.identity, nextPosition(settledFirst, carol.id)).claim(request, receipt, T0 + HOUR),
    );
    assert.equal(accountSummary(thenClaimed, alice.id, NOW).debt, 0);
  });

  it("lets a claim stand only for completed work by the provider the request was addressed to, charging what it allows", () => {
    const { state, alice, bob, carol, opens } = setup();
    // Every refusal below is an invalid receipt; its message says which rule it broke.
    const refusedClaim = (claim: LedgerBlock) => assertRejected(state, opens, claim, InvalidReceiptError, "invalid_receipt");
    const request = testRequest(alice.identity, { now: T0, ttlMs: 60_000, provider: carol.identity, maxCredits: 5_000 });
    // Partial work: only the payer may settle it; a claim would bill for what the payer may never have received.
    const cancelled = testReceipt(request, carol.identity, 700, T0, "cancelled");
    const refusedPartial = refusedClaim(carol.fork().claim(request, cancelled, T0 + HOUR));
    assert.match(refusedPartial.message, /partial/);
    // Anyone but the addressed provider: refused, even with a receipt it signed itself.
    const stolen = testReceipt(request, bob.identity, 700);
    const refusedOther = refusedClaim(bob.fork().claim(request, stolen, T0 + HOUR));
    assert.match(refusedOther.message, /addressed to another provider/);
    // Inflated: more completion tokens than max_tokens × n allows, or credits the usage does not cost.
    const small = testRequest(alice.identity, { now: T0, ttlMs: 60_000, provider: carol.identity, maxCredits: 5_000 });
    const inflated = createInferenceReceipt(
      { request: small, usage: { promptTokens: 0, completionTokens: 200_000 }, credits: 5_000, finishReason: "length" },
      carol.identity,
    );
    const refusedInflated = refusedClaim(carol.fork().claim(small, inflated, T0 + HOUR));
    assert.match(refusedInflated.message, /completion tokens charged/);
    const overpriced = createInferenceReceipt(
      { request: small, usage: { promptTokens: 0, completionTokens: 100 }, credits: 200, finishReason: "length" },
      carol.identity,
    );
    refusedClaim(carol.fork().claim(small, overpriced, T0 + HOUR));
  });

  it("lets the payer dispute a claim: the debt is cleared, the dispute counted against both, once, and never after a settlement", () => {
    const { state, alice, bob, carol, opens } = setup();
    const request = testRequest(alice.identity, { now: T0, ttlMs: 60_000, provider: carol.identity });
    const receipt = testReceipt(request, carol.identity, 2_000);
    const claim = carol.claim(request, receipt, T0 + HOUR);
    const claimHash = ledgerBlockHash(claim);
    // A dispute that arrives before its claim waits for it.
    const early = applyBlock(state, alice.fork().dispute(claimHash, T0 + HOUR), { now: NOW });
    assert.ok(!early.ok && early.error instanceof MissingDependencyError);
    const claimed = apply(state, claim);
    assert.equal(accountSummary(claimed, alice.id, NOW).debt, 2_000);
    // Only the payer named in the claim may dispute it.
    assertRejected(claimed, [...opens, claim], bob.fork().dispute(claimHash, T0 + HOUR), DisputeRefusedError, "dispute_refused");
    // A dispute names a claim, nothing else.
    assertRejected(
      claimed,
      [...opens, claim],
      alice.fork().dispute(ledgerBlockHash(opens[0] as LedgerBlock), T0 + HOUR),
      WrongSourceError,
      "wrong_source",
    );
    const dispute = alice.dispute(claimHash, T0 + 2 * HOUR);
    const disputed = apply(claimed, dispute);
    const payer = accountSummary(disputed, alice.id, NOW);
    assert.equal(payer.debt, 0, "a provider cannot lock the account out with a claim the payer disputes");
    assert.equal(payer.balance, 100_000, "a dispute moves no credits");
    assert.equal(payer.disputes, 1);
    assert.equal(accountSummary(disputed, carol.id, NOW).disputedClaims, 1);
    assertRejected(
      disputed,
      [...opens, claim, dispute],
      alice.fork().dispute(claimHash, T0 + 2 * HOUR),
      DuplicateDisputeError,
      "duplicate_dispute",
    );
    // Settling after all pays the provider, and clears no debt twice.
    const settled = apply(disputed, alice.settle(receipt, T0 + 3 * HOUR));
    assert.equal(accountSummary(settled, alice.id, NOW).debt, 0);
    assert.equal(accountSummary(settled, alice.id, NOW).balance, 98_000);
    assert.ok(conservationHolds(ledgerTotals(settled)));
    // Settled first: the claim is moot and there is nothing to dispute.
    const paidFirstSettle = new TestAccount(alice.identity, nextPosition(state, alice.id)).settle(receipt, T0 + HOUR);
    const paidFirst = apply(state, paidFirstSettle);
    const positioned = new TestAccount(carol.identity, nextPosition(paidFirst, carol.id));
    const mootClaim = positioned.claim(request, receipt, T0 + HOUR);
    const afterMoot = apply(paidFirst, mootClaim);
    const payerAfterSettle = new TestAccount(alice.identity, nextPosition(afterMoot, alice.id));
    assertRejected(
      afterMoot,
      [...opens, paidFirstSettle, mootClaim],
      payerAfterSettle.dispute(ledgerBlockHash(mootClaim), T0 + 2 * HOUR),
      DisputeRefusedError,
      "dispute_refused",
    );
  });

  it("slashes an equivocating account: freezes it at the fork and burns its balance", () => {
    const { state, alice, bob, carol, opens } = setup();
    const one = alice.fork().send(bob.id, 10, T0 + DAY) as EvidenceBlock;
    const two = alice.fork().send(carol.id, 10, T0 + DAY) as EvidenceBlock;
    const slash = bob.slash([one, two], T0 + DAY);
    const slashed = apply(state, slash);
    const offender = accountSummary(slashed, alice.id, NOW);
    assert.equal(offender.balance, 0);
    assert.equal(offender.frozenAt, 1);
    assert.equal(offender.slashed, true);
    assert.equal(slashed.burned, 100_000);
    assert.ok(conservationHolds(ledgerTotals(slashed)));
    const afterwards = applyBlock(slashed, one, { now: NOW });
    assert.ok(!afterwards.ok && afterwards.error instanceof AccountFrozenError);
    // Evidence about an applied height needs the Ledger to roll back first.
    const applied = apply(state, one);
    const reporter = new TestAccount(bob.identity, nextPosition(applied, bob.id));
    const early = applyBlock(applied, reporter.slash([one, two], T0 + DAY), { now: NOW });
    assert.ok(!early.ok && early.error instanceof ForkUnresolvedError);
    assertRejected(state, opens, bob.fork().slash([one, one], T0 + DAY), InvalidEvidenceError, "invalid_evidence");
    assertRejected(state, opens, alice.fork().slash([one, two], T0 + DAY), InvalidEvidenceError, "invalid_evidence");
  });
});
