import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Identity, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { useEd25519Backend } from "@opengateway/protocol";
import { createNodeEd25519Backend } from "@opengateway/protocol/node-ed25519-backend";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
import fc from "fast-check";
import { BlockAuthor } from "./block-author.js";
import { Ledger } from "./ledger.js";
import type { EvidenceBlock, LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash, settlementKey } from "./ledger-block.js";
import {
  badPowNonce,
  HOUR,
  T0,
  TestAccount,
  testFingerprint,
  testIdentity,
  testParams,
  testSettlement,
} from "./test-support/ledger-fixtures.js";

// Signatures are not what these properties are about: the native backend keeps thousands of blocks fast.
useEd25519Backend(createNodeEd25519Backend());

const PARAMS = testParams({ grantLockMs: 6 * HOUR });
const POOL: Identity[] = Array.from({ length: 24 }, (_, i) => testIdentity(100 + i));
const ACCOUNTS = POOL.map((identity) => identity.id);
/** Fewer machines than identities: some registrations contest a fingerprint. */
const FINGERPRINTS = Array.from({ length: 20 }, (_, i) => testFingerprint(`machine ${i}`));

/** Operation weights: mostly valid traffic, with invalid, duplicated and conflicting blocks mixed in. */
const OPS = [
  ["register", 12],
  ["send", 40],
  ["receive", 30],
  ["settle", 24],
  ["earn", 20],
  ["claim", 6],
  ["settleClaimed", 5],
  ["tick", 10],
  ["duplicate", 8],
  ["forged", 5],
  ["badPow", 2],
  ["overdraft", 2],
  ["replaySettlement", 2],
  ["receiveTwice", 1],
  ["equivocate", 2],
  ["forkBelowCollected", 3],
  ["slash", 4],
] as const;
type OpKind = (typeof OPS)[number][0];

interface Op {
  readonly kind: OpKind;
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

const opArbitrary: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof(...OPS.map(([kind, weight]) => ({ arbitrary: fc.constant(kind), weight }))),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
});

/** Turns random operations into signed blocks (valid, invalid, duplicated), checked against a model ledger fed in order. */
function generate(ops: readonly Op[]): { blocks: unknown[]; now: number } {
  const model = new Ledger({ params: PARAMS });
  const blocks: unknown[] = [];
  const credits: { hash: string; kind: "send" | "settle"; to: string }[] = [];
  const receipts: { payer: Identity; receipt: InferenceReceipt }[] = [];
  const claims: { request: InferenceRequest; receipt: InferenceReceipt; payer: Identity }[] = [];
  let clock = T0;
  let requestCounter = 0;

  const emit = (block: unknown): void => {
    blocks.push(block);
    model.add(block, { now: clock });
  };
  const registered = new Set<string>();
  const live = (): Identity[] =>
    POOL.filter((identity) => {
      const view = model.account(identity.id, { now: clock });
      return view.opened && view.frozenAt === null;
    });
  const pick = <T>(items: readonly T[], n: number): T | undefined => items[n % Math.max(1, items.length)];
  /** The n-th identity of the pool other than `actor` (the pool has many). */
  const someoneElse = (actor: Identity, n: number): Identity =>
    pick(
      POOL.filter((identity) => identity.id !== actor.id),
      n,
    ) as Identity;
  const author = (identity: Identity): TestAccount => new TestAccount(identity, model.position(identity.id));
  const requestId = (): string => `req-${String(++requestCounter).padStart(12, "0")}`;
  const uncollected = (kind: "send" | "settle") =>
    credits.filter((credit) => {
      const entry = model.state.blocks.get(credit.hash);
      const view = model.account(credit.to, { now: clock });
      return credit.kind === kind && entry?.credit?.collectedBy === null && view.opened && view.frozenAt === null;
    });

  for (const op of ops) {
    const actors = live();
    const actor = pick(actors, op.a);
    switch (op.kind) {
      case "register": {
        // Each identity registers once (a second open is an equivocation: see "equivocate").
        const identity = pick(
          POOL.filter((candidate) => !registered.has(candidate.id)),
          op.a,
        );
        if (identity === undefined) break;
        registered.add(identity.id);
        emit(new TestAccount(identity).open(FINGERPRINTS[op.b % FINGERPRINTS.length] as string, clock));
        break;
      }
      case "send": {
        if (actor === undefined) break;
        const to = someoneElse(actor, op.b).id;
        const transferable = model.account(actor.id, { now: clock }).transferable;
        if (transferable < 1) break;
        const block = author(actor).send(to, 1 + (op.c % Math.min(transferable, 30_000)), clock);
        credits.push({ hash: ledgerBlockHash(block), kind: "send", to });
        emit(block);
        break;
      }
      case "receive":
      case "earn": {
        const credit = pick(uncollected(op.kind === "receive" ? "send" : "settle"), op.a);
        if (credit === undefined) break;
        const recipient = POOL.find((identity) => identity.id === credit.to) as Identity;
        const account = author(recipient);
        emit(op.kind === "receive" ? account.receive(credit.hash, clock) : account.earn(credit.hash, clock));
        break;
      }
      case "settle": {
        if (actor === undefined) break;
        const provider = someoneElse(actor, op.b);
        const balance = model.account(actor.id, { now: clock }).balance;
        const amount = op.c % (Math.min(balance, 20_000) + 1);
        const { receipt } = testSettlement(actor, provider, amount, {
          id: requestId(),
          maxCredits: amount + 100,
          now: clock,
        });
        const block = author(actor).settle(receipt, clock);
        credits.push({ hash: ledgerBlockHash(block), kind: "settle", to: provider.id });
        receipts.push({ payer: actor, receipt });
        emit(block);
        break;
      }
      case "claim": {
        if (actor === undefined) break;
        const payer = someoneElse(actor, op.b);
        const { request, receipt } = testSettlement(payer, actor, op.c % 3_001, {
          id: requestId(),
          maxCredits: 3_000,
          now: clock - 2 * HOUR,
          ttlMs: 60_000,
        });
        claims.push({ request, receipt, payer });
        emit(author(actor).claim(request, receipt, clock));
        break;
      }
      case "settleClaimed": {
        const claim = pick(
          claims.filter(({ payer, receipt }) => {
            const view = model.account(payer.id, { now: clock });
            const key = settlementKey(payer.id, receipt.requestId, receipt.provider);
            return view.opened && view.frozenAt === null && !model.state.settlements.has(key) && view.balance >= receipt.credits;
          }),
          op.a,
        );
        if (claim === undefined) break;
        const block = author(claim.payer).settle(claim.receipt, clock);
        credits.push({ hash: ledgerBlockHash(block), kind: "settle", to: claim.receipt.provider });
        emit(block);
        break;
      }
      case "overdraft": {
        if (actor === undefined) break;
        const to = someoneElse(actor, op.b).id;
        emit(author(actor).send(to, model.account(actor.id, { now: clock }).balance + 1 + (op.c % 10), clock));
        break;
      }
      case "replaySettlement": {
        const earlier = pick(
          receipts.filter(({ payer }) => actors.includes(payer)),
          op.a,
        );
        if (earlier !== undefined) emit(author(earlier.payer).settle(earlier.receipt, clock));
        break;
      }
      case "receiveTwice": {
        const collected = pick(
          credits.filter((credit) => credit.kind === "send" && model.state.blocks.get(credit.hash)?.credit?.collectedBy != null),
          op.a,
        );
        const recipient = POOL.find((identity) => identity.id === collected?.to);
        if (collected !== undefined && recipient !== undefined && actors.includes(recipient)) {
          emit(author(recipient).receive(collected.hash, clock));
        }
        break;
      }
      case "forged": {
        const original = pick(blocks, op.a) as LedgerBlock | undefined;
        if (original !== undefined && typeof original === "object" && "timestamp" in original) {
          emit({ ...original, timestamp: original.timestamp + 1 + (op.b % 1000) });
        }
        break;
      }
      case "badPow": {
        const identity = POOL[op.a % POOL.length] as Identity;
        const fingerprint = FINGERPRINTS[op.b % FINGERPRINTS.length] as string;
        emit(
          new BlockAuthor(identity).append({ kind: "open", fingerprint, powNonce: badPowNonce(identity, fingerprint) }, clock),
        );
        break;
      }
      case "equivocate": {
        if (actor === undefined) break;
        const history = model.history(actor.id);
        const to = someoneElse(actor, op.b).id;
        if (op.c % 2 === 0 || history.length < 2) {
          // Two competing blocks at the next height.
          const base = author(actor);
          emit(base.fork().send(to, 1, clock));
          emit(base.fork().send(to, 2, clock));
        } else {
          // A rewrite of an old height.
          const height = 1 + (op.c % (history.length - 1));
          const previous = history[height - 1] as LedgerBlock;
          const rewriter = new TestAccount(actor, { height, previous: ledgerBlockHash(previous), notBefore: previous.timestamp });
          emit(rewriter.send(to, 1, previous.timestamp));
        }
        break;
      }
      case "forkBelowCollected": {
        // Issue 13's attack: a send or settle is collected, then its signer rewrites that height.
        const collected = pick(
          credits.filter((credit) => model.state.blocks.get(credit.hash)?.credit?.collectedBy != null),
          op.a,
        );
        const entry = collected === undefined ? undefined : model.state.blocks.get(collected.hash);
        const signer = POOL.find((identity) => identity.id === entry?.account);
        if (entry === undefined || signer === undefined || !actors.includes(signer)) break;
        const previous = model.history(signer.id)[entry.height - 1] as LedgerBlock;
        const rewriter = new TestAccount(signer, {
          height: entry.height,
          previous: ledgerBlockHash(previous),
          notBefore: previous.timestamp,
        });
        emit(rewriter.send(ACCOUNTS.find((id) => id !== signer.id) as string, 1 + (op.b % 3), clock));
        break;
      }
      case "slash": {
        const reporter = actor;
        const proof = pick(
          model.equivocations().filter((e) => e.account !== reporter?.id && e.proof.every((block) => block.kind !== "slash")),
          op.b,
        );
        if (reporter === undefined || proof === undefined) break;
        emit(author(reporter).slash(proof.proof as unknown as [EvidenceBlock, EvidenceBlock], clock));
        break;
      }
      case "duplicate": {
        const earlier = pick(blocks, op.a);
        if (earlier !== undefined) emit(earlier);
        break;
      }
      case "tick":
        clock += op.c % 7 === 0 ? 7 * HOUR : op.c % (2 * HOUR);
        break;
    }
  }
  return { blocks, now: clock + 1 };
}

/** Deterministic Fisher–Yates from a 32-bit seed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function observe(ledger: Ledger, now: number) {
  return {
    root: ledger.merkleRoot(),
    heads: ledger.heads(),
    totals: ledger.totals(),
    accounts: ACCOUNTS.map((account) => ledger.account(account, { now })),
    equivocations: ledger.equivocations().map((e) => [e.account, e.height, ...e.proof.map(ledgerBlockHash)]),
  };
}

/**
 * Invariants checked against each account's chain independently of the state machine's
 * bookkeeping: balances, minted, in-flight, burned and debts recomputed from the histories.
 */
let voidCollections = 0;
function assertInvariants(ledger: Ledger, now: number): void {
  const totals = ledger.totals();
  assert.equal(totals.minted, totals.balances + totals.inFlight + totals.burned, "conservation");
  assert.equal(ledger.state.balances, totals.balances, "running balance total");
  let minted = 0;
  let outflow = 0;
  let inflow = 0;
  let burned = 0;
  const claimed = new Map<string, number>();
  const settled = new Set<string>();
  for (const account of ACCOUNTS) {
    let balance = 0;
    for (const block of ledger.history(account)) {
      if (block.kind === "open") {
        // Only the open that won its fingerprint's contest is granted; the others open empty.
        const granted = ledger.state.fingerprints.get(block.fingerprint) === ledgerBlockHash(block) ? PARAMS.grantCredits : 0;
        balance += granted;
        minted += granted;
      } else if (block.kind === "send") {
        balance -= block.amount;
        outflow += block.amount;
      } else if (block.kind === "settle") {
        balance -= block.receipt.credits;
        outflow += block.receipt.credits;
        settled.add(settlementKey(account, block.receipt.requestId, block.receipt.provider));
      } else if (block.kind === "receive" || block.kind === "earn") {
        const source = ledger.block(block.source);
        // A void collection: it names an equivocator's excluded block and moves nothing.
        const voided = source === undefined && ledger.excludedBlock(block.source) !== undefined;
        if (voided) voidCollections++;
        const amount = voided
          ? 0
          : source?.kind === "send"
            ? source.amount
            : source?.kind === "settle"
              ? source.receipt.credits
              : Number.NaN;
        balance += amount;
        inflow += amount;
      } else if (block.kind === "claim") {
        claimed.set(settlementKey(block.receipt.payer, block.receipt.requestId, account), block.receipt.credits);
      }
      assert.ok(balance >= 0, `balance of ${account} went negative at height ${block.height}`);
    }
    const view = ledger.account(account, { now });
    if (view.slashed) burned += balance;
    assert.equal(view.balance, view.slashed ? 0 : balance, `balance of ${account}`);
    assert.ok(view.spendable >= 0 && view.transferable >= 0 && view.transferable <= view.balance);
  }
  assert.equal(totals.minted, minted, "minted = grants of applied opens");
  assert.equal(totals.inFlight, outflow - inflow, "in flight = sent or settled, not yet collected");
  assert.equal(totals.burned, burned, "burned = slashed balances");
  for (const account of ACCOUNTS) {
    let debt = 0;
    for (const [key, amount] of claimed) if (key.startsWith(`${account}\n`) && !settled.has(key)) debt += amount;
    assert.equal(ledger.account(account, { now }).debt, debt, `debt of ${account}`);
  }
}

describe("ledger properties", () => {
  it("conserves credits, never overdraws, and converges on every peer whatever the arrival order", () => {
    let operations = 0;
    let applied = 0;
    fc.assert(
      fc.property(
        fc.array(opArbitrary, { minLength: 200, maxLength: 320 }),
        fc.array(fc.integer(), { minLength: 3, maxLength: 3 }),
        (ops, seeds) => {
          operations += ops.length;
          const { blocks, now } = generate(ops);
          const inOrder = new Ledger({ params: PARAMS });
          for (const block of blocks) inOrder.add(block, { now });
          assertInvariants(inOrder, now);
          const expected = observe(inOrder, now);
          applied += expected.totals.blocks;
          console.log(ops.length, blocks.length, expected.totals.blocks, expected.equivocations.length, expected.totals.burned);
          for (const seed of seeds) {
            const peer = new Ledger({ params: PARAMS });
            for (const block of shuffled(blocks, seed)) peer.add(block, { now });
            assertInvariants(peer, now);
            assert.deepEqual(observe(peer, now), expected);
          }
        },
      ),
      // A failure shrinks for at most a minute, then reports the smallest counterexample found so far.
      { numRuns: 12, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
    assert.ok(operations >= 2_000, `only ${operations} operations`);
    assert.ok(applied >= 800, `only ${applied} blocks applied`);
    // Collections of an equivocator's excluded blocks happen, and apply alike everywhere.
    assert.ok(voidCollections > 0, "no void collection was generated");
  });

  it("a reloaded peer that reconciles with another ends with the same root", () => {
    fc.assert(
      fc.property(fc.array(opArbitrary, { minLength: 150, maxLength: 200 }), fc.integer(), (ops, seed) => {
        const { blocks, now } = generate(ops);
        const order = shuffled(blocks, seed);
        const cut = Math.floor(order.length / 2);
        const a = new Ledger({ params: PARAMS });
        const b = new Ledger({ params: PARAMS });
        for (const block of order.slice(0, cut)) a.add(block, { now });
        for (const block of order.slice(Math.floor(cut / 2))) b.add(block, { now });
        // Repeat while blocks flow: a block buffered on one side may become applicable only
        // after the other side's blocks arrive, and then travel back in the next round.
        for (let moved = 1, round = 0; moved > 0 && round < 20 && a.merkleRoot() !== b.merkleRoot(); round++) {
          const toB = a.blocksMissingFrom(b.heads());
          for (const block of toB) b.add(block, { now });
          const toA = b.blocksMissingFrom(a.heads());
          for (const block of toA) a.add(block, { now });
          moved = toB.length + toA.length;
        }
        assert.equal(a.merkleRoot(), b.merkleRoot());
        assert.deepEqual(observe(a, now).accounts, observe(b, now).accounts);
        assertInvariants(a, now);
      }),
      { numRuns: 4, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
  });
});
