import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, InsufficientCreditsError } from "@opengateway/protocol";
import { Ledger } from "./ledger.js";
import type { EvidenceBlock, LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash } from "./ledger-block.js";
import { DebtOutstandingError, DuplicateReservationError } from "./ledger-errors.js";
import type { AccountHead } from "./ledger-state.js";
import { accountHeadLeaf, accountHeadsRoot, merkleTreeHash } from "./merkle-root.js";
import {
  conservationHolds,
  DAY,
  HOUR,
  NOW,
  T0,
  TestAccount,
  testAccount,
  testFingerprint,
  testParams,
  testSettlement,
} from "./test-support/ledger-fixtures.js";

const params = testParams();

function feed(ledger: Ledger, blocks: readonly unknown[]): void {
  for (const block of blocks) ledger.add(block, { now: NOW });
}

/** Everything two peers must agree on. */
function fingerprintOf(ledger: Ledger, accounts: readonly string[]) {
  return {
    root: ledger.merkleRoot(),
    heads: ledger.heads(),
    totals: ledger.totals(),
    accounts: accounts.map((account) => ledger.account(account, { now: NOW })),
    equivocations: ledger
      .equivocations()
      .map((e) => ({ account: e.account, height: e.height, proof: e.proof.map(ledgerBlockHash) })),
  };
}

/** Three opened accounts and a small history touching every block kind. */
function scenario() {
  const alice = testAccount(11);
  const bob = testAccount(12);
  const carol = testAccount(13);
  const blocks: LedgerBlock[] = [
    alice.open(testFingerprint("A")),
    bob.open(testFingerprint("B")),
    carol.open(testFingerprint("C")),
  ];
  const send = alice.send(bob.id, 30_000, T0 + DAY);
  const receipt = testSettlement(bob.identity, carol.identity, 4_321).receipt;
  const settle = bob.settle(receipt, T0 + DAY);
  blocks.push(send, bob.receive(ledgerBlockHash(send), T0 + DAY), settle, carol.earn(ledgerBlockHash(settle), T0 + DAY));
  const second = bob.send(carol.id, 1_000, T0 + 2 * DAY);
  blocks.push(second, carol.receive(ledgerBlockHash(second), T0 + 2 * DAY));
  return { alice, bob, carol, blocks, accounts: [alice.id, bob.id, carol.id] };
}

describe("Ledger", () => {
  it("applies blocks that arrive before their predecessors, in any order, to the same state", () => {
    const { blocks, accounts, bob } = scenario();
    const inOrder = new Ledger({ params });
    feed(inOrder, blocks);
    assert.equal(inOrder.pendingCount, 0);
    assert.equal(inOrder.account(bob.id, { now: NOW }).balance, 100_000 + 30_000 - 4_321 - 1_000);

    const reversed = new Ledger({ params });
    const results = [...blocks].reverse().map((block) => reversed.add(block, { now: NOW }));
    // Everything but the three opens (which arrive last) waits; alice's open unblocks her whole subtree.
    const opens = 3;
    assert.deepEqual(
      results.slice(0, -opens).map((result) => result.status),
      Array(blocks.length - opens).fill("pending"),
    );
    assert.equal(
      results.slice(-opens).reduce((sum, result) => sum + result.applied.length, 0),
      blocks.length,
    );
    assert.equal(reversed.pendingCount, 0);
    assert.deepEqual(fingerprintOf(reversed, accounts), fingerprintOf(inOrder, accounts));
    assert.ok(conservationHolds(inOrder.totals()));
  });

  it("ignores duplicates and keeps a bounded pending buffer", () => {
    const { blocks } = scenario();
    const ledger = new Ledger({ params, maxPending: 2 });
    const open = blocks[0] as LedgerBlock;
    assert.equal(ledger.add(open, { now: NOW }).status, "applied");
    assert.equal(ledger.add(open, { now: NOW }).status, "duplicate");
    const late = blocks.slice(4);
    for (const block of late) ledger.add(block, { now: NOW });
    assert.equal(ledger.pendingCount, 2);
  });

  it("refuses blocks from the future without keeping them, and takes them once the clock catches up", () => {
    const alice = testAccount(14);
    const ledger = new Ledger({ params });
    const open = alice.open(testFingerprint("future"), NOW + HOUR);
    const early = ledger.add(open, { now: NOW });
    assert.equal(early.status, "rejected");
    assert.equal(early.error?.code, "future_timestamp");
    assert.equal(ledger.add(open, { now: NOW + HOUR }).status, "applied");
  });

  it("detects equivocation: keeps both blocks as proof, freezes the account, applies neither twice", () => {
    const { alice, bob, carol, blocks, accounts } = scenario();
    // Alice signs two different blocks at her next height: a send to bob and one to carol.
    const toBob = alice.fork().send(bob.id, 50_000, T0 + 3 * DAY) as EvidenceBlock;
    const toCarol = alice.fork().send(carol.id, 50_000, T0 + 3 * DAY) as EvidenceBlock;
    const bobReceives = new TestAccount(bob.identity, bob.author.position).receive(ledgerBlockHash(toBob), T0 + 3 * DAY);
    const all = [...blocks, toBob, bobReceives, toCarol];

    const first = new Ledger({ params });
    feed(first, all.slice(0, -1));
    assert.equal(first.account(bob.id, { now: NOW }).balance, 124_679 + 50_000);
    const outcome = first.add(toCarol, { now: NOW });
    assert.equal(outcome.status, "equivocation");
    assert.equal(outcome.error?.code, "equivocation");
    const [equivocation] = first.equivocations();
    assert.equal(equivocation?.account, alice.id);
    assert.equal(equivocation?.height, 2);
    assert.deepEqual(
      new Set(equivocation?.proof.map(ledgerBlockHash)),
      new Set([ledgerBlockHash(toBob), ledgerBlockHash(toCarol)]),
    );
    // Rolled back: neither send counts. Bob's receive of one of them keeps its place as a void
    // collection (it moves nothing), so bob's chain is not stalled by alice's fraud.
    assert.equal(first.account(alice.id, { now: NOW }).balance, 70_000);
    assert.equal(first.account(alice.id, { now: NOW }).frozenAt, 2);
    assert.equal(first.account(bob.id, { now: NOW }).balance, 124_679);
    assert.equal(first.account(bob.id, { now: NOW }).head, ledgerBlockHash(bobReceives));
    assert.deepEqual(first.excludedBlock(ledgerBlockHash(toBob)), toBob);
    assert.equal(first.pendingCount, 0);
    assert.ok(conservationHolds(first.totals()));
    assert.equal(first.add(alice.fork().send(bob.id, 1, T0 + 3 * DAY), { now: NOW }).status, "ignored");

    // Another peer sees the conflicting block first and ends in the same state.
    const second = new Ledger({ params });
    feed(second, [toCarol, ...blocks, bobReceives, toBob]);
    assert.deepEqual(fingerprintOf(second, accounts), fingerprintOf(first, accounts));

    // A slash by carol burns what alice held at the fork, on both peers.
    const slash = new TestAccount(carol.identity, first.position(carol.id)).slash([toBob, toCarol], T0 + 3 * DAY);
    assert.equal(first.add(slash, { now: NOW }).status, "applied");
    assert.equal(first.account(alice.id, { now: NOW }).balance, 0);
    assert.equal(first.totals().burned, 70_000);
    assert.ok(conservationHolds(first.totals()));
    // A peer that never saw the conflict learns it from the slash alone.
    const third = new Ledger({ params });
    feed(third, [slash, ...blocks, toBob, bobReceives]);
    feed(second, [slash]);
    assert.deepEqual(fingerprintOf(third, accounts), fingerprintOf(first, accounts));
    assert.deepEqual(fingerprintOf(second, accounts), fingerprintOf(first, accounts));
  });

  it("an equivocation never stalls an honest chain: a collection of the excluded block applies void, on every peer", () => {
    // The issue-13 attack: pay a node (it collects at once), then sign a conflicting block at the
    // payment's height. Before: the node's receive waited for ever, and with it every later block.
    const { bob, carol, blocks, accounts } = scenario();
    const attacker = testAccount(40);
    const attackerOpen = attacker.open(testFingerprint("attacker"));
    const base = new TestAccount(attacker.identity, attacker.author.position);
    const paySettle = testSettlement(attacker.identity, bob.identity, 700, { id: "paid-then-forked" });
    const tip = attacker.send(bob.id, 10, T0 + 3 * DAY);
    const settle = attacker.settle(paySettle.receipt, T0 + 3 * DAY);
    const bobCollects = bob.receive(ledgerBlockHash(tip), T0 + 3 * DAY);
    const carolPaysBob = carol.send(bob.id, 500, T0 + 3 * DAY);
    const bobGoesOn = bob.receive(ledgerBlockHash(carolPaysBob), T0 + 3 * DAY + 1);
    const bobEarns = bob.earn(ledgerBlockHash(settle), T0 + 3 * DAY + 2);
    // The conflicting block at the tip's height, signed after bob built on the tip and earned the settle above it.
    const conflict = base.fork().send(carol.id, 10, T0 + 3 * DAY);
    const all = [...blocks, attackerOpen, tip, bobCollects, carolPaysBob, bobGoesOn, settle, bobEarns, conflict];
    const ids = [...accounts, attacker.id];

    const online = new Ledger({ params });
    feed(online, all.slice(0, -1));
    assert.equal(online.account(bob.id, { now: NOW }).height, 6);
    assert.equal(online.add(conflict, { now: NOW }).status, "equivocation");
    const view = online.account(bob.id, { now: NOW });
    assert.equal(view.head, ledgerBlockHash(bobEarns), "bob's chain keeps every block it wrote");
    assert.equal(view.balance, 124_679 + 500, "only the equivocator's credits are void");
    assert.equal(online.account(attacker.id, { now: NOW }).frozenAt, 1);
    assert.equal(online.pendingCount, 0);
    assert.ok(conservationHolds(online.totals()));
    // And bob can go on writing: its next block checks as valid.
    const next = new TestAccount(bob.identity, online.position(bob.id)).send(carol.id, 1, T0 + 4 * DAY);
    assert.equal(online.check(next, { now: NOW }), null);

    // Whatever the order, and for a peer that learns everything later by reconciliation.
    for (const seed of [1, 2, 3]) {
      const peer = new Ledger({ params });
      feed(peer, [...all].sort((x, y) => (ledgerBlockHash(x) + seed < ledgerBlockHash(y) + seed ? -1 : 1)).reverse());
      assert.deepEqual(fingerprintOf(peer, ids), fingerprintOf(online, ids));
    }
    const late = new Ledger({ params });
    for (let round = 0; round < 3; round++) feed(late, online.blocksMissingFrom(late.heads()));
    assert.deepEqual(fingerprintOf(late, ids), fingerprintOf(online, ids));
    // Void once: a second collection of the same excluded block is refused.
    const again = new TestAccount(bob.identity, online.position(bob.id)).receive(ledgerBlockHash(tip), T0 + 4 * DAY);
    assert.equal(online.check(again, { now: NOW })?.code, "already_collected");
  });

  it("a block refused in its position still holds it: a different block there later is an equivocation", () => {
    const alice = testAccount(15);
    const bob = testAccount(16);
    const ledger = new Ledger({ params });
    feed(ledger, [alice.open(testFingerprint("held-a")), bob.open(testFingerprint("held-b"))]);
    const overdraft = alice.fork().send(bob.id, 999_999, T0 + DAY);
    assert.equal(ledger.add(overdraft, { now: NOW }).error?.code, "insufficient_balance");
    const second = alice.send(bob.id, 1, T0 + DAY);
    // A wallet that checks first is warned before it signs away its account.
    assert.equal(ledger.check(second, { now: NOW })?.code, "equivocation");
    assert.equal(ledger.check(overdraft, { now: NOW })?.code, "insufficient_balance");
    assert.equal(ledger.add(second, { now: NOW }).status, "equivocation");
    assert.equal(ledger.account(alice.id, { now: NOW }).frozenAt, 1);
  });

  it("gives a contested fingerprint's grant to the earliest open, whatever the arrival order", () => {
    const early = testAccount(17);
    const late = testAccount(18);
    const bob = testAccount(19);
    const fingerprint = testFingerprint("shared machine");
    const earlyOpen = early.open(fingerprint, T0);
    const lateOpen = late.open(fingerprint, T0 + HOUR);
    const bobOpen = bob.open(testFingerprint("bob's machine"), T0);
    const lateSpends = late.settle(testSettlement(late.identity, bob.identity, 500).receipt, T0 + 2 * HOUR);
    const accounts = [early.id, late.id, bob.id];

    const lateFirst = new Ledger({ params });
    feed(lateFirst, [bobOpen, lateOpen, lateSpends]);
    assert.equal(lateFirst.account(late.id, { now: NOW }).balance, 99_500);
    const outcome = lateFirst.add(earlyOpen, { now: NOW });
    assert.equal(outcome.status, "applied");
    // The late open keeps its account, without the grant: what it spent from the grant is refused.
    assert.equal(lateFirst.account(late.id, { now: NOW }).opened, true);
    assert.equal(lateFirst.account(late.id, { now: NOW }).balance, 0);
    assert.equal(lateFirst.account(late.id, { now: NOW }).height, 0);
    assert.equal(lateFirst.account(early.id, { now: NOW }).balance, 100_000);

    const earlyFirst = new Ledger({ params });
    feed(earlyFirst, [earlyOpen, bobOpen, lateOpen, lateSpends]);
    assert.deepEqual(fingerprintOf(earlyFirst, accounts), fingerprintOf(lateFirst, accounts));
    assert.equal(earlyFirst.totals().minted, 200_000);
  });

  it("a contested fingerprint never takes an account: the loser keeps its chain and its earnings, on every peer", () => {
    // The issue-13 takeover: an open backdated to just before an honest node's wins the machine's
    // grant. Before, it also erased the node's account, its balance and every block built on it.
    const node = testAccount(41);
    const attacker = testAccount(42);
    const payer = testAccount(43);
    const fingerprint = testFingerprint("the node's machine");
    const nodeOpen = node.open(fingerprint, T0 + HOUR);
    const payerOpen = payer.open(testFingerprint("payer's machine"), T0);
    const paid = testSettlement(payer.identity, node.identity, 2_500, { now: T0 + 2 * HOUR });
    const settle = payer.settle(paid.receipt, T0 + 2 * HOUR);
    const earn = node.earn(ledgerBlockHash(settle), T0 + 2 * HOUR);
    const stolen = attacker.open(fingerprint, T0 + HOUR - 1);
    const all = [payerOpen, nodeOpen, settle, earn, stolen];
    const ids = [node.id, attacker.id, payer.id];

    const online = new Ledger({ params });
    feed(online, all);
    assert.equal(online.account(attacker.id, { now: NOW }).balance, 100_000, "the earliest open gets the grant");
    const view = online.account(node.id, { now: NOW });
    assert.deepEqual([view.opened, view.height, view.balance], [true, 1, 2_500], "the node keeps its account and earnings");
    assert.equal(online.totals().minted, 200_000);
    assert.ok(conservationHolds(online.totals()));
    const next = new TestAccount(node.identity, online.position(node.id)).send(payer.id, 1, T0 + 3 * DAY);
    assert.equal(online.check(next, { now: NOW }), null, "and goes on writing");
    for (const order of [[...all].reverse(), [stolen, earn, settle, nodeOpen, payerOpen]]) {
      const peer = new Ledger({ params });
      feed(peer, order);
      assert.deepEqual(fingerprintOf(peer, ids), fingerprintOf(online, ids));
    }
  });

  it("reserves for requests: needs 1,000 spendable and maxCredits, blocks debtors, and settles the reservation", () => {
    const alice = testAccount(20);
    const carol = testAccount(21);
    const ledger = new Ledger({ params });
    feed(ledger, [alice.open(testFingerprint("res-a")), carol.open(testFingerprint("res-c"))]);
    const at = { now: T0 + HOUR };

    const { request, receipt } = testSettlement(alice.identity, carol.identity, 12_345, { maxCredits: 60_000 });
    ledger.reserve(alice.id, request.id, 60_000, at);
    let view = ledger.account(alice.id, at);
    assert.deepEqual(
      [view.balance, view.reserved, view.spendable, view.locked, view.transferable],
      [100_000, 60_000, 40_000, 100_000, 0],
    );
    assert.throws(() => ledger.reserve(alice.id, request.id, 1, at), DuplicateReservationError);
    assert.throws(() => ledger.reserve(alice.id, "another-request-id", 40_001, at), InsufficientCreditsError);
    assert.throws(() => ledger.reserve(testAccount(99).id, "unknown-account-1", 10, at), /not registered/);
    ledger.reserve(alice.id, "tiny-request-id-2", 10, at);
    assert.equal(ledger.account(alice.id, at).reserved, 60_010);
    assert.equal(ledger.release("tiny-request-id-2"), true);
    assert.equal(ledger.release("tiny-request-id-2"), false);

    // The settlement consumes the reservation; the unused part is free again.
    ledger.add(alice.settle(receipt, T0 + HOUR), at);
    view = ledger.account(alice.id, at);
    assert.deepEqual([view.balance, view.reserved, view.spendable], [87_655, 0, 87_655]);
    assert.equal(ledger.account(alice.id, { now: T0 + DAY }).transferable, 87_655);

    // Below the 1,000-credit floor nothing can be reserved, however small.
    ledger.reserve(alice.id, "big-request-id-01", 87_000, at);
    assert.throws(() => ledger.reserve(alice.id, "small-request-id1", 1, at), /at least 1000/);
    assert.equal(ledger.releaseExpired(T0), 0);
    ledger.release("big-request-id-01");

    // A provider's claim makes the payer a debtor: refused service until it settles.
    const { request: unpaid, receipt: unpaidReceipt } = testSettlement(alice.identity, carol.identity, 3_000, {
      maxCredits: 5_000,
      now: T0 + HOUR,
    });
    ledger.add(carol.claim(unpaid, unpaidReceipt, T0 + 2 * HOUR), { now: NOW });
    assert.throws(() => ledger.reserve(alice.id, "after-claim-req1", 1_000, at), DebtOutstandingError);
    ledger.add(alice.settle(unpaidReceipt, T0 + 2 * HOUR), { now: NOW });
    assert.equal(ledger.account(alice.id, at).debt, 0);
    ledger.reserve(alice.id, "after-claim-req1", 1_000, { ...at, expiresAt: T0 + 3 * HOUR });
    assert.equal(ledger.releaseExpired(T0 + 3 * HOUR), 1);
  });

  it("reconciles two peers by heads, transferring only the missing blocks, forks included", () => {
    const { alice, bob, carol, blocks, accounts } = scenario();
    const toBob = alice.fork().send(bob.id, 1, T0 + 3 * DAY);
    const toCarol = alice.fork().send(carol.id, 1, T0 + 3 * DAY);
    const a = new Ledger({ params });
    const b = new Ledger({ params });
    feed(a, [...blocks.slice(0, 6), toBob]);
    feed(b, [...blocks.slice(0, 3), ...blocks.slice(6), toCarol]);
    assert.notEqual(a.merkleRoot(), b.merkleRoot());

    const forB = a.blocksMissingFrom(b.heads());
    const askA = b.headsToRequest(a.heads());
    feed(b, forB);
    const forA = b.blocksMissingFrom(askA, { complete: false });
    feed(a, forA);
    // One more round carries what only became applicable on the other side.
    feed(b, a.blocksMissingFrom(b.heads()));
    feed(a, b.blocksMissingFrom(a.heads()));
    assert.equal(a.merkleRoot(), b.merkleRoot());
    assert.deepEqual(fingerprintOf(a, accounts), fingerprintOf(b, accounts));
    assert.equal(a.account(alice.id, { now: NOW }).frozenAt, 2);
    assert.ok(forB.length < blocks.length + 2);
    assert.deepEqual(a.blocksMissingFrom(b.heads()), []);
  });
});

describe("account heads Merkle root", () => {
  const leafHash = (data: Uint8Array) => sha256(Uint8Array.of(0, ...data));
  const node = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(1, ...left, ...right));

  it("is the RFC 6962 tree hash", () => {
    const leaves = [1, 2, 3].map((n) => Uint8Array.of(n));
    assert.deepEqual(merkleTreeHash([]), sha256(new Uint8Array(0)));
    assert.deepEqual(merkleTreeHash(leaves.slice(0, 1)), leafHash(Uint8Array.of(1)));
    // Three leaves split 2 + 1.
    const expected = node(node(leafHash(Uint8Array.of(1)), leafHash(Uint8Array.of(2))), leafHash(Uint8Array.of(3)));
    assert.deepEqual(merkleTreeHash(leaves), expected);
  });

  it("commits to every head, in account order, whatever order they are given in", () => {
    const b: AccountHead = { account: "b", height: 3, hash: "x".repeat(43), frozenAt: null };
    const a: AccountHead = { account: "a", height: 0, hash: "y".repeat(43), frozenAt: null };
    const root = accountHeadsRoot([b, a]);
    assert.equal(accountHeadsRoot([a, b]), root);
    assert.equal(root, base64url.encode(merkleTreeHash([accountHeadLeaf(a), accountHeadLeaf(b)])));
    assert.notEqual(accountHeadsRoot([{ ...b, height: 4 }, a]), root);
    assert.notEqual(accountHeadsRoot([{ ...b, frozenAt: 2 }, a]), root);
  });
});
