import "@opengateway/protocol/node-ed25519-backend";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { emptyAuditRecords, recordReview } from "./audit-records.js";
import { auditStandings } from "./audit-standings.js";
import {
  AUDIT_FAIL_POINTS,
  AUDITOR_MIN_PAID_RECEIPTS,
  FALSE_REPORT_POINTS,
  REPUTATION_PAID_WORK_THRESHOLD,
} from "./constants.js";
import { Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash } from "./ledger-block.js";
import type { TestAccount } from "./test-support/ledger-fixtures.js";
import {
  conservationHolds,
  NOW,
  T0,
  TEST_DELIVERED,
  testAccount,
  testFingerprint,
  testParams,
  testReceipt,
  testRequest,
  testSettlement,
} from "./test-support/ledger-fixtures.js";

let serial = 0;
const nextId = () => `audit-test-request-${String(serial++).padStart(6, "0")}`;

/** Opens `accounts` and has `payer` pay each of them enough receipts to weigh as an auditor. */
function network(accounts: TestAccount[], payer: TestAccount): LedgerBlock[] {
  const blocks = [payer.open(testFingerprint(`payer-${payer.id}`))];
  for (const account of accounts) blocks.push(account.open(testFingerprint(account.id)));
  for (const account of accounts) {
    for (let i = 0; i < AUDITOR_MIN_PAID_RECEIPTS; i++) {
      blocks.push(payer.settle(testSettlement(payer.identity, account.identity, 10, { id: nextId() }).receipt));
    }
  }
  return blocks;
}

/** A probe `auditor` paid for, served by `provider` with `delivered` (committed in the receipt). */
function probe(auditor: TestAccount, provider: TestAccount, verdict: "pass" | "fail", reasons: string[] = []): LedgerBlock {
  const request = testRequest(auditor.identity, { id: nextId(), provider: provider.identity });
  const receipt = testReceipt(request, provider.identity, 10, T0, "stop", TEST_DELIVERED);
  return auditor.audit(request, receipt, { outcome: verdict, reasons: verdict === "fail" ? reasons : [] });
}

function addAll(ledger: Ledger, blocks: LedgerBlock[]): void {
  for (const block of blocks) {
    const result = ledger.add(block, { now: NOW });
    assert.ok(result.status === "applied" || result.status === "pending", `${block.kind}: ${result.error?.message}`);
  }
  assert.equal(ledger.pendingCount, 0);
}

/** Accounts `first` to `first + 4`: the first one pays the others (see `network`). */
function fiveAccounts(first: number): [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount] {
  return [0, 1, 2, 3, 4].map((i) => testAccount(first + i)) as [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount];
}

describe("audit verdicts on the ledger", () => {
  it("lowers a provider's score by failed audits weighted by the auditor, and marks confirmed provable fraud", () => {
    const [payer, auditor, reviewer, cheater, honest] = fiveAccounts(40);
    const ledger = new Ledger({ params: testParams() });
    addAll(ledger, network([auditor, reviewer, cheater, honest], payer));
    const before = ledger.reputation(cheater.id).score;
    const statistical = probe(auditor, cheater, "fail", ["ranks-too-low"]);
    addAll(ledger, [statistical, probe(auditor, honest, "pass")]);
    const weight = ledger.reputation(auditor.id).score;
    assert.equal(ledger.reputation(cheater.id).score, before - Math.floor((AUDIT_FAIL_POINTS * weight) / 1000));
    assert.deepEqual([ledger.reputation(cheater.id).audits.failed, ledger.reputation(honest.id).audits.passed], [1, 1]);
    assert.ok(ledger.reputation(honest.id).score > before);
    // A statistical fail, even confirmed, is not proof; a provable one confirmed by a reviewer is.
    addAll(ledger, [reviewer.review(ledgerBlockHash(statistical), true)]);
    assert.equal(ledger.reputation(cheater.id).audits.fraud, false);
    const provable = probe(auditor, cheater, "fail", ["token-outside-sampling-set"]);
    addAll(ledger, [provable]);
    assert.equal(ledger.reputation(cheater.id).audits.fraud, false, "the auditor's word alone is not fraud");
    addAll(ledger, [reviewer.review(ledgerBlockHash(provable), true)]);
    assert.deepEqual([ledger.reputation(cheater.id).audits.fraud, ledger.reputation(cheater.id).score], [true, 0]);
    assert.ok(conservationHolds(ledger.totals()));
  });

  it("refuses a false report: refuted by the reviewers, it costs its author and leaves the provider untouched", () => {
    const [payer, liar, r1, r2, honest] = fiveAccounts(50);
    const ledger = new Ledger({ params: testParams() });
    addAll(ledger, network([liar, r1, r2, honest], payer));
    const honestBefore = ledger.reputation(honest.id).score;
    const liarBefore = ledger.reputation(liar.id).score;
    const report = probe(liar, honest, "fail", ["token-outside-sampling-set"]);
    addAll(ledger, [report, r1.review(ledgerBlockHash(report), false), r2.review(ledgerBlockHash(report), false)]);
    assert.equal(ledger.reputation(honest.id).score, honestBefore);
    assert.deepEqual(ledger.reputation(honest.id).audits, { ...ledger.reputation(honest.id).audits, failed: 0, fraud: false });
    assert.equal(ledger.reputation(liar.id).audits.falseReports, 1);
    assert.equal(ledger.reputation(liar.id).score, liarBefore - FALSE_REPORT_POINTS);
  });

  it("gives fresh accounts no weight: a ring of them cannot vote a provider down or up", () => {
    const [payer, honest] = [testAccount(60), testAccount(61)];
    const ledger = new Ledger({ params: testParams() });
    addAll(ledger, network([honest], payer));
    const before = ledger.reputation(honest.id).score;
    const ring = [62, 63, 64, 65].map((n) => testAccount(n));
    const blocks: LedgerBlock[] = ring.map((member) => member.open(testFingerprint(member.id)));
    for (const member of ring) blocks.push(probe(member, honest, "fail", ["token-outside-sampling-set"]));
    addAll(ledger, blocks);
    for (const [i, member] of ring.entries()) {
      const other = ring[(i + 1) % ring.length] as TestAccount;
      const audit = ledger.history(other.id).find((block) => block.kind === "audit") as LedgerBlock;
      addAll(ledger, [member.review(ledgerBlockHash(audit), true)]);
    }
    assert.equal(ledger.reputation(honest.id).score, before);
    assert.equal(ledger.reputation(honest.id).audits.fraud, false);
    assert.equal(ledger.reputation(honest.id).audits.failed, ring.length, "counted, without weight");
  });

  it("validates audits strictly: the auditor's own paid request, the provider's receipt, the committed output, once", () => {
    const [payer, auditor, provider, other] = [70, 71, 72, 73].map((n) => testAccount(n)) as [
      TestAccount,
      TestAccount,
      TestAccount,
      TestAccount,
    ];
    const ledger = new Ledger({ params: testParams() });
    addAll(ledger, network([auditor, provider, other], payer));
    const request = testRequest(auditor.identity, { id: nextId(), provider: provider.identity });
    const receipt = testReceipt(request, provider.identity, 10, T0, "stop", TEST_DELIVERED);
    const rejected = (block: LedgerBlock) => ledger.add(block, { now: NOW }).error?.code;
    // Someone else's request, another provider's receipt, text the receipt does not commit to, a pass with reasons.
    assert.equal(rejected(other.fork().audit(request, receipt, { outcome: "pass" })), "invalid_evidence");
    const foreign = testReceipt(request, other.identity, 10, T0, "stop", TEST_DELIVERED);
    assert.equal(rejected(auditor.fork().audit(request, foreign, { outcome: "pass" })), "invalid_evidence");
    const forged = [{ index: 0, text: "gibberish", finishReason: "stop" as const }];
    assert.equal(rejected(auditor.fork().audit(request, receipt, { outcome: "fail", delivered: forged })), "invalid_evidence");
    assert.equal(rejected(auditor.fork().audit(request, receipt, { outcome: "pass", reasons: ["x"] })), "invalid_evidence");
    const audit = auditor.audit(request, receipt, { outcome: "pass" });
    assert.equal(ledger.add(audit, { now: NOW }).status, "applied");
    assert.equal(rejected(auditor.audit(request, receipt, { outcome: "fail", reasons: ["ranks-too-low"] })), "duplicate_audit");
    assert.equal(rejected(provider.review(ledgerBlockHash(audit), false)), "review_refused");
    const openHash = ledgerBlockHash(ledger.history(other.id)[0] as LedgerBlock);
    assert.equal(rejected(other.fork().review(openHash, true)), "review_refused");
    // A review that arrives before its audit waits for it.
    const fresh = testAccount(74);
    addAll(ledger, [fresh.open(testFingerprint(fresh.id))]);
    const later = probe(fresh, provider, "pass");
    assert.equal(ledger.add(payer.review(ledgerBlockHash(later), true), { now: NOW }).status, "pending");
    const result = ledger.add(later, { now: NOW });
    assert.deepEqual([result.status, result.error?.message, result.applied.length], ["applied", undefined, 2]);
  });
});

describe("audit standings (properties)", () => {
  // Accounts 0–4 are qualified honest auditors, 5–7 qualified colluders, 8–11 fresh; providers 20–29.
  const basisOf = (account: string) => {
    const n = Number(account.slice(1));
    return { score: n < 8 ? 600 : 500, paidReceipts: n < 8 ? 50 : 0, slashed: false, frozen: false };
  };
  const verdictArb = fc.record({
    auditor: fc.nat(11),
    provider: fc.nat(9),
    provable: fc.boolean(),
  });
  const scenario = fc.record({
    cheaters: fc.uniqueArray(fc.nat(9), { maxLength: 5 }),
    verdicts: fc.array(verdictArb, { maxLength: 60 }),
    reviewRate: fc.integer({ min: 0, max: 4 }),
  });

  it("never marks an honest provider as fraud nor costs it points while honest reviewers re-check; false reports cost their author", () => {
    fc.assert(
      fc.property(scenario, ({ cheaters, verdicts, reviewRate }) => {
        const cheating = new Set(cheaters.map((p) => `p${20 + p}`));
        let records = emptyAuditRecords();
        const reviews: Array<{ hash: string; truthful: boolean }> = [];
        for (const [i, v] of verdicts.entries()) {
          const auditor = `a${v.auditor}`;
          const provider = `p${20 + v.provider}`;
          const colluder = v.auditor >= 5;
          // Honest auditors tell the truth; colluders and fresh accounts lie (fail the honest, pass the cheaters).
          const truth = cheating.has(provider) ? "fail" : "pass";
          const outcome = colluder ? (truth === "fail" ? "pass" : "fail") : truth;
          const hash = `h${i}`;
          const next = recordAuditEntry(records, hash, auditor, provider, outcome, v.provable, i);
          records = next;
          reviews.push({ hash, truthful: outcome === truth });
        }
        // Every honest auditor re-checks each verdict it did not write (as often as reviewRate allows).
        for (const [i, { hash, truthful }] of reviews.entries()) {
          if (reviewRate === 0 || i % reviewRate !== 0) continue;
          for (let reviewer = 0; reviewer < 5; reviewer++) {
            const verdict = records.verdicts.get(hash);
            if (verdict === undefined || verdict.auditor === `a${reviewer}`) continue;
            records = reviewed(records, hash, `a${reviewer}`, truthful);
          }
        }
        const standings = auditStandings(records, basisOf);
        for (let p = 20; p < 30; p++) {
          const standing = standings.get(`p${p}`);
          if (cheating.has(`p${p}`) || standing === undefined) continue;
          assert.equal(standing.fraud, false, "an honest provider is never marked as fraud");
          if (reviewRate === 1) assert.equal(standing.failWeight, 0, "every false fail was refuted");
        }
        for (const [i, { hash, truthful }] of reviews.entries()) {
          const verdict = records.verdicts.get(hash);
          if (verdict === undefined || truthful || reviewRate !== 1 || i % reviewRate !== 0) continue;
          if (basisOf(verdict.auditor).paidReceipts > 0)
            assert.ok((standings.get(verdict.auditor)?.falseReports ?? 0) > 0, "a refuted liar is counted");
        }
      }),
      { numRuns: 300 },
    );
  });

  it("takes a cheater below the paid-work threshold after three fails from honest auditors, whatever the colluders pass", () => {
    fc.assert(
      fc.property(fc.nat(30), fc.integer({ min: 3, max: 10 }), (passes, fails) => {
        let records = emptyAuditRecords();
        let i = 0;
        for (let k = 0; k < passes; k++)
          records = recordAuditEntry(records, `h${i}`, `a${5 + (k % 3)}`, "p20", "pass", false, i++);
        for (let k = 0; k < fails; k++) records = recordAuditEntry(records, `h${i}`, `a${k % 5}`, "p20", "fail", false, i++);
        const standing = auditStandings(records, basisOf).get("p20");
        const penalty = Math.floor((AUDIT_FAIL_POINTS * (standing?.failWeight ?? 0)) / 1000);
        // Paid work tops out at 1,000 and passes add at most 100: from a new provider's 500 + 100 gain, fails must win.
        assert.ok(500 + 100 - penalty < REPUTATION_PAID_WORK_THRESHOLD);
      }),
    );
  });
});

/** Records a verdict straight into the records (the property tests skip signing: the standings read only the records). */
function recordAuditEntry(
  records: ReturnType<typeof emptyAuditRecords>,
  hash: string,
  auditor: string,
  provider: string,
  outcome: "pass" | "fail",
  provable: boolean,
  i: number,
) {
  return {
    ...records,
    verdicts: records.verdicts.set(hash, { auditor, provider, outcome, provable: outcome === "fail" && provable }),
    keys: records.keys.set(`${auditor}\n${i}\n${provider}`, hash),
  };
}

function reviewed(records: ReturnType<typeof emptyAuditRecords>, audit: string, reviewer: string, agrees: boolean) {
  const result = recordReview(records, { kind: "review", audit, agrees, account: reviewer } as never, () => false);
  assert.ok(!(result instanceof Error));
  return result;
}
