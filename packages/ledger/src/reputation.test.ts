import "@opengateway/protocol/node-ed25519-backend";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NO_AUDITS } from "./audit-standings.js";
import { REPUTATION_PAID_WORK_THRESHOLD, REPUTATION_START } from "./constants.js";
import { Ledger } from "./ledger.js";
import { ledgerBlockHash } from "./ledger-block.js";
import { reputationOf, reputationScore } from "./reputation.js";
import { HOUR, NOW, T0, testAccount, testFingerprint, testParams, testSettlement } from "./test-support/ledger-fixtures.js";

const clean = { paidReceipts: 0, disputedClaims: 0, slashed: false, frozen: false };
const record = fc.record({
  paidReceipts: fc.nat(1_000_000),
  disputedClaims: fc.nat(1_000_000),
  slashed: fc.boolean(),
  frozen: fc.boolean(),
});

describe("reputation", () => {
  it("starts a new provider in the middle, raises it with paid work and lowers it with disputed claims", () => {
    assert.equal(reputationScore(clean), REPUTATION_START);
    assert.equal(reputationScore({ ...clean, paidReceipts: 100 }), 750);
    assert.equal(reputationScore({ ...clean, paidReceipts: 1_000 }), 955);
    // One payer's word moves a new provider a little; a provider whose claims are mostly disputed loses paid work.
    assert.equal(reputationScore({ ...clean, disputedClaims: 1 }), 452);
    assert.ok(reputationScore({ ...clean, disputedClaims: 6 }) < REPUTATION_PAID_WORK_THRESHOLD);
    // Ten griefing disputes against a provider with a thousand paid receipts barely show.
    assert.ok(reputationScore({ ...clean, paidReceipts: 1_000, disputedClaims: 10 }) > 940);
    assert.equal(reputationScore({ ...clean, paidReceipts: 1_000, slashed: true }), 0);
    assert.equal(reputationScore({ ...clean, paidReceipts: 1_000, frozen: true }), 0);
    assert.deepEqual(reputationOf("p", { ...clean, disputedClaims: 6 }), {
      account: "p",
      ...clean,
      disputedClaims: 6,
      audits: NO_AUDITS,
      score: reputationScore({ ...clean, disputedClaims: 6 }),
      eligible: false,
    });
  });

  it("stays within 0–1000, never rises with a dispute nor falls with a paid receipt, and proven fraud is 0", () => {
    fc.assert(
      fc.property(record, (facts) => {
        const score = reputationScore(facts);
        assert.ok(Number.isInteger(score) && score >= 0 && score <= 1000);
        assert.ok(reputationScore({ ...facts, disputedClaims: facts.disputedClaims + 1 }) <= score);
        assert.ok(reputationScore({ ...facts, paidReceipts: facts.paidReceipts + 1 }) >= score);
        if (facts.slashed || facts.frozen) assert.equal(score, 0);
      }),
    );
  });

  it("is read from the ledger: settled receipts count for their provider, disputed claims against it", () => {
    const ledger = new Ledger({ params: testParams() });
    const alice = testAccount(1);
    const carol = testAccount(3);
    for (const block of [alice.open(testFingerprint("a")), carol.open(testFingerprint("c"))])
      assert.equal(ledger.add(block, { now: NOW }).status, "applied");
    assert.equal(ledger.reputation(carol.id).score, REPUTATION_START);
    for (let i = 0; i < 3; i++) {
      const { receipt } = testSettlement(alice.identity, carol.identity, 10, { id: `paid-request-000${i}` });
      assert.equal(ledger.add(alice.settle(receipt), { now: NOW }).status, "applied");
    }
    const unpaid = testSettlement(alice.identity, carol.identity, 10, { id: "unpaid-request-0000", ttlMs: 60_000 });
    const claim = carol.claim(unpaid.request, unpaid.receipt, T0 + HOUR);
    assert.equal(ledger.add(claim, { now: NOW }).status, "applied");
    assert.equal(ledger.add(alice.dispute(ledgerBlockHash(claim), T0 + 2 * HOUR), { now: NOW }).status, "applied");
    const reputation = ledger.reputation(carol.id);
    assert.deepEqual(
      { paidReceipts: reputation.paidReceipts, disputedClaims: reputation.disputedClaims, slashed: reputation.slashed },
      { paidReceipts: 3, disputedClaims: 1, slashed: false },
    );
    assert.equal(reputation.score, reputationScore({ ...clean, paidReceipts: 3, disputedClaims: 1 }));
    // The payer's own standing as a provider is untouched by what it paid.
    assert.equal(ledger.reputation(alice.id).score, REPUTATION_START);
  });
});
