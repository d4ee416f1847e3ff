// Issue 13, "time peers agree on": the attacks of the issue against real ledgers, fed in several
// orders (every peer must end with one Merkle root), on a network with time witnesses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChainWriter } from "./chain-writer.js";
import { Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash } from "./ledger-block.js";
import { MissingDependencyError, TimeLockedError } from "./ledger-errors.js";
import {
  conservationHolds,
  DAY,
  HOUR,
  powNonce,
  T0,
  type TestAccount,
  testAccount,
  testFingerprint,
  testParams,
  testSettlement,
} from "./test-support/ledger-fixtures.js";
import { TimeWitness } from "./time-witness.js";

const WITNESS_IDS = [301, 302, 303];
const params = testParams({ timeWitnesses: WITNESS_IDS.map((n) => testAccount(n).id), witnessQuorum: 2 });

/** The network's three time witnesses, as fresh wallets, and their opens (which need no witnesses). */
function witnessSet() {
  const [w1, w2, w3] = WITNESS_IDS.map((n) => testAccount(n)) as [TestAccount, TestAccount, TestAccount];
  const witnessOpens = [w1, w2, w3].map((w, i) => w.open(testFingerprint(`witness-${i}`), T0 - 10 * DAY));
  return { w1, w2, w3, witnessOpens };
}

/** When the scenarios' honest registration happens; every peer's clock reads `LATER` at the end. */
const T = T0;
const LATER = T + 3 * DAY;

/** What honest witnesses state about opens they saw arrive (one block per witness). */
function statements(witnesses: readonly TestAccount[], sightings: ReadonlyArray<{ open: LedgerBlock; seenAt: number }>) {
  const at = Math.max(...sightings.map((s) => s.seenAt));
  return witnesses.map((w) =>
    w.witness(
      sightings.map((s) => ({ open: ledgerBlockHash(s.open), seenAt: s.seenAt })),
      at,
    ),
  );
}

function orders(blocks: readonly LedgerBlock[]): LedgerBlock[][] {
  const reversed = [...blocks].reverse();
  const interleaved = [...blocks.filter((_, i) => i % 2 === 1), ...blocks.filter((_, i) => i % 2 === 0)];
  let seed = 7;
  const shuffled = [...blocks].sort(() => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  });
  return [[...blocks], reversed, interleaved, shuffled];
}

/** Peers fed the same blocks in different orders: one root and exact conservation on all, returned for checks. */
function peers(blocks: readonly LedgerBlock[]): Ledger[] {
  const ledgers = orders(blocks).map((order) => {
    const ledger = new Ledger({ params });
    for (const block of order) ledger.add(block, { now: LATER });
    return ledger;
  });
  const [first, ...rest] = ledgers as [Ledger, ...Ledger[]];
  for (const ledger of rest) {
    assert.equal(ledger.merkleRoot(), first.merkleRoot(), "every peer ends with one Merkle root");
    assert.deepEqual(ledger.totals(), first.totals());
  }
  for (const ledger of ledgers) assert.ok(conservationHolds(ledger.totals()));
  return ledgers;
}

describe("agreed time: opens count from when time witnesses saw them (issue 13)", () => {
  it("an open applies only once a quorum of witnesses saw it arrive within the window", () => {
    const { w1, w2, witnessOpens } = witnessSet();
    const alice = testAccount(311);
    const open = alice.open(testFingerprint("alice"), T);
    const ledger = new Ledger({ params });
    for (const block of witnessOpens) ledger.add(block, { now: LATER });
    const waiting = ledger.add(open, { now: T + 1_000 });
    assert.equal(waiting.status, "pending");
    assert.ok(waiting.error instanceof MissingDependencyError);
    assert.match(waiting.error.message, /0 of the 2 time witnesses/);
    const [first, second] = statements([w1, w2], [{ open, seenAt: T + 1_000 }]);
    assert.equal(ledger.add(first, { now: T + 2_000 }).status, "applied");
    assert.equal(ledger.account(alice.id).opened, false, "one witness is not a quorum");
    const confirmed = ledger.add(second, { now: T + 2_000 });
    assert.deepEqual(confirmed.applied, [ledgerBlockHash(second as LedgerBlock), ledgerBlockHash(open)]);
    assert.equal(ledger.account(alice.id, { now: T + 2_000 }).balance, 100_000);
    assert.equal(ledger.arrival(ledgerBlockHash(open)).agreed, T + 1_000);
  });

  it("a backdated open cannot take a fingerprint from the machine that registered first", () => {
    const { w1, w2, w3, witnessOpens } = witnessSet();
    const honest = testAccount(321);
    const attacker = testAccount(322);
    const provider = testAccount(323);
    const fingerprint = testFingerprint("contested");
    const honestOpen = honest.open(fingerprint, T);
    const providerOpen = provider.open(testFingerprint("provider"), T);
    // The attacker copies the published fingerprint and dates its open 1 ms earlier; it surfaces 30 s later.
    const attackerOpen = attacker.open(fingerprint, T - 1);
    const seen = [
      { open: honestOpen, seenAt: T + 200 },
      { open: providerOpen, seenAt: T + 200 },
    ];
    const late = [{ open: attackerOpen, seenAt: T + 30_000 }];
    // The honest account pays for inference before and after the attacker's open; the provider keeps collecting.
    const paid = honest.settle(testSettlement(honest.identity, provider.identity, 2_000, { now: T + HOUR }).receipt, T + HOUR);
    const earned = provider.earn(ledgerBlockHash(paid), T + HOUR);
    const paidAgain = honest.settle(
      testSettlement(honest.identity, provider.identity, 3_000, { id: "second", now: T + 2 * HOUR }).receipt,
      T + 2 * HOUR,
    );
    const earnedAgain = provider.earn(ledgerBlockHash(paidAgain), T + 2 * HOUR);
    const blocks = [
      ...witnessOpens,
      honestOpen,
      providerOpen,
      attackerOpen,
      ...statements([w1, w2, w3], seen),
      ...statements([w1, w2], late),
      paid,
      earned,
      paidAgain,
      earnedAgain,
    ];
    for (const ledger of peers(blocks)) {
      assert.equal(ledger.account(honest.id, { now: LATER }).balance, 100_000 - 5_000, "the honest machine keeps its grant");
      assert.equal(ledger.account(provider.id, { now: LATER }).balance, 100_000 + 5_000, "its provider collected both");
      const loser = ledger.account(attacker.id, { now: LATER });
      assert.equal(loser.opened, true);
      assert.equal(loser.balance, 0, "the backdated copy opens empty");
      assert.equal(ledger.arrival(ledgerBlockHash(attackerOpen)).agreed, T + 30_000);
    }
  });

  it("a contested fingerprint is decided again when the witness statements arrive last", () => {
    const { w1, w2, witnessOpens } = witnessSet();
    const honest = testAccount(331);
    const attacker = testAccount(332);
    const fingerprint = testFingerprint("contested-late");
    const honestOpen = honest.open(fingerprint, T);
    const attackerOpen = attacker.open(fingerprint, T - 1);
    const ledger = new Ledger({ params });
    for (const block of witnessOpens) ledger.add(block, { now: LATER });
    ledger.add(honestOpen, { now: LATER });
    ledger.add(attackerOpen, { now: LATER });
    // The statements about the attacker's open (seen 40 s after its timestamp) arrive first.
    for (const block of statements([w1, w2], [{ open: attackerOpen, seenAt: T + 40_000 }])) ledger.add(block, { now: LATER });
    assert.equal(ledger.account(attacker.id, { now: LATER }).balance, 100_000, "alone and confirmed, it wins for now");
    for (const block of statements([w1, w2], [{ open: honestOpen, seenAt: T + 100 }])) ledger.add(block, { now: LATER });
    assert.equal(ledger.account(honest.id, { now: LATER }).balance, 100_000);
    assert.equal(ledger.account(attacker.id, { now: LATER }).balance, 0);
  });

  it("an open backdated 25 h is never confirmed: it moves nothing, and one lying witness is not a quorum", () => {
    const { w1, w2, w3, witnessOpens } = witnessSet();
    const attacker = testAccount(341);
    const accomplice = testAccount(342);
    const now = T + 2 * DAY;
    const backdated = attacker.open(testFingerprint("backdated"), now - 25 * HOUR);
    const accompliceOpen = accomplice.open(testFingerprint("accomplice"), T);
    const sendAll = attacker.send(accomplice.id, 100_000, now);
    // One corrupt witness states it saw the open on time; honest witnesses saw it 25 h late and say nothing.
    const lie = w3.witness([{ open: ledgerBlockHash(backdated), seenAt: now - 25 * HOUR + 10 }], now);
    const blocks = [
      ...witnessOpens,
      accompliceOpen,
      ...statements([w1, w2], [{ open: accompliceOpen, seenAt: T + 100 }]),
      backdated,
      sendAll,
      lie,
    ];
    for (const ledger of peers(blocks)) {
      const result = ledger.add(backdated, { now: LATER });
      assert.equal(result.status, "duplicate");
      assert.equal(ledger.account(attacker.id, { now: LATER }).opened, false);
      assert.equal(ledger.account(accomplice.id, { now: LATER }).balance, 100_000, "nothing arrived");
      assert.equal(ledger.totals().minted, 4 * 100_000, "no grant for the backdated open");
    }
    const fresh = new Ledger({ params });
    for (const block of blocks.slice(0, -3)) fresh.add(block, { now });
    const refused = fresh.add(backdated, { now });
    assert.equal(refused.status, "pending");
    assert.match(refused.error?.message ?? "", /not confirmed: 0 of the 2 time witnesses.*backdated open never is/);
    // A sighting outside the window after the open's timestamp does not count either.
    const tooLate = statements([w1, w2], [{ open: backdated, seenAt: now }]);
    for (const block of tooLate) fresh.add(block, { now });
    assert.equal(fresh.account(attacker.id, { now }).opened, false);
    assert.equal(fresh.arrival(ledgerBlockHash(backdated)).agreed, null);
  });
});

describe("locked credits cannot leave through a settlement (issue 13)", () => {
  function accompliceScenario() {
    const { w1, w2, witnessOpens } = witnessSet();
    const fresh = testAccount(351);
    const accomplice = testAccount(352);
    const receiver = testAccount(353);
    const other = testAccount(354);
    const freshOpen = fresh.open(testFingerprint("fresh"), T);
    const opens = [freshOpen, accomplice.open(testFingerprint("acc"), T - 2 * DAY), receiver.open(testFingerprint("rcv"), T)];
    const otherOpen = other.open(testFingerprint("other"), T);
    const witnessed = statements(
      [w1, w2],
      [...opens, otherOpen].map((open) => ({ open, seenAt: open.timestamp + 100 })),
    );
    // A self-signed "settlement" of 99,000 locked credits to an accomplice, who collects and sends them on.
    const { receipt } = testSettlement(fresh.identity, accomplice.identity, 99_000, { now: T + 60_000, maxCredits: 99_000 });
    const settle = fresh.settle(receipt, T + 60_000);
    const earn = accomplice.earn(ledgerBlockHash(settle), T + 61_000);
    return { fresh, accomplice, receiver, other, blocks: [...witnessOpens, ...opens, otherOpen, ...witnessed, settle, earn] };
  }

  it("the accomplice's send of them is refused until the payer's unlock, on every peer", () => {
    const { fresh, accomplice, receiver, other, blocks } = accompliceScenario();
    // The accomplice's own grant is unlocked (it opened 2 days earlier): only its own credits may leave.
    const tooMuch = accomplice.fork().send(receiver.id, 100_001, T + 120_000);
    const ledger = new Ledger({ params });
    for (const block of blocks) ledger.add(block, { now: T + 120_000 });
    const refused = ledger.add(tooMuch, { now: T + 120_000 });
    assert.equal(refused.status, "rejected");
    assert.ok(refused.error instanceof TimeLockedError);
    assert.match(refused.error.message, new RegExp(`only 100000 are transferable.*unlock at ${T + DAY}`));
    const view = ledger.account(accomplice.id, { now: T + 120_000 });
    assert.deepEqual([view.balance, view.locked, view.transferable], [199_000, 99_000, 100_000]);
    assert.equal(ledger.account(fresh.id, { now: T + 120_000 }).locked, 1_000);

    // Paying for inference with them again is allowed, and they stay locked at the next provider.
    const { receipt } = testSettlement(accomplice.identity, other.identity, 150_000, {
      id: "relay",
      now: T + 130_000,
      maxCredits: 150_000,
    });
    const relay = accomplice.settle(receipt, T + 130_000);
    const collected = other.earn(ledgerBlockHash(relay), T + 131_000);
    const tooEarlyBlock = other.fork().send(receiver.id, 100_001, T + DAY - 1);
    // After the payer's unlock, the rest of the accomplice's credits may go (and the relayed part at the other provider).
    const afterUnlock = accomplice.send(receiver.id, 49_000, T + DAY);
    const otherSends = other.send(receiver.id, 99_000, T + DAY);
    const everything = [...blocks, relay, collected, afterUnlock, otherSends];
    for (const peer of peers(everything)) {
      assert.equal(peer.account(accomplice.id, { now: LATER }).balance, 0);
      assert.equal(peer.account(receiver.id, { now: LATER }).balance, 100_000, "the sends are collected by nobody yet");
      assert.equal(peer.account(other.id, { now: LATER }).balance, 100_000 + 150_000 - 99_000);
    }
    const early = new Ledger({ params });
    for (const block of [...blocks, relay, collected]) early.add(block, { now: T + 140_000 });
    assert.equal(early.account(other.id, { now: T + 140_000 }).locked, 100_000 + 99_000, "grant + relayed locked credits");
    const tooEarly = early.add(tooEarlyBlock, { now: LATER });
    assert.ok(tooEarly.error instanceof TimeLockedError, "relayed credits stay locked until the first payer's unlock");
  });

  it("devnets (lockedCreditsTravel off) keep the old rule: earnings are transferable at once", () => {
    const devnet = testParams({ lockedCreditsTravel: false });
    const { accomplice, receiver, blocks } = accompliceScenario();
    const ledger = new Ledger({ params: { ...devnet, timeWitnesses: params.timeWitnesses, witnessQuorum: 2 } });
    for (const block of blocks) ledger.add(block, { now: T + 120_000 });
    const sent = ledger.add(accomplice.send(receiver.id, 199_000, T + 120_000), { now: T + 120_000 });
    assert.equal(sent.status, "applied");
  });
});

describe("TimeWitness: a node states the opens it saw arrive on time", () => {
  it("states timely opens (which then apply) and never a backdated one", async () => {
    const { w1, w2, witnessOpens } = witnessSet();
    const ledger = new Ledger({ params });
    for (const block of witnessOpens) ledger.add(block, { now: LATER });
    let clock = T;
    const writer = new ChainWriter(ledger, { now: () => clock });
    const witnesses = [w1, w2].map((w) => new TimeWitness(writer, w.identity, { now: () => clock, intervalMs: 60_000 }));
    for (const witness of witnesses) witness.start();
    try {
      const timely = testAccount(361).open(testFingerprint("timely"), T - 5_000);
      const backdated = testAccount(362).open(testFingerprint("backdated-2"), T - 25 * HOUR);
      assert.equal(ledger.add(timely, { now: clock }).status, "pending");
      assert.equal(ledger.add(backdated, { now: clock }).status, "pending");
      clock += 1_000;
      for (const witness of witnesses) assert.equal(await witness.flush(), 1);
      assert.equal(ledger.account(testAccount(361).id, { now: clock }).balance, 100_000);
      assert.equal(ledger.arrival(ledgerBlockHash(timely)).agreed, T);
      assert.equal(ledger.account(testAccount(362).id, { now: clock }).opened, false);
      assert.equal(ledger.arrival(ledgerBlockHash(backdated)).sightings.length, 0);
      for (const witness of witnesses) assert.equal(await witness.flush(), 0, "nothing left to state");
      // A registrant's own open goes through its writer: published while it waits for the witnesses.
      const registrant = testAccount(363);
      const registrantWriter = new ChainWriter(ledger, {
        now: () => clock,
        publish: (block, options) => ledger.submit(block, { ...options, now: clock }),
      });
      const open = await registrantWriter.append(registrant.identity, {
        kind: "open",
        fingerprint: testFingerprint("registrant"),
        powNonce: powNonce(registrant.identity, testFingerprint("registrant")),
      });
      assert.equal(open?.kind, "open");
      assert.equal(ledger.account(registrant.id).opened, false);
      for (const witness of witnesses) assert.equal(await witness.flush(), 1);
      assert.equal(ledger.account(registrant.id, { now: clock }).balance, 100_000);
    } finally {
      for (const witness of witnesses) witness.stop();
    }
  });
});
