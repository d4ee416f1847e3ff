import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Logger } from "@opengateway/protocol";
import { silentLogger } from "@opengateway/protocol";
import { AutoSweep, InvalidSweepRuleError } from "./auto-sweep.js";
import { ChainWriter } from "./chain-writer.js";
import { EarningsCollector } from "./earnings-collector.js";
import { Ledger } from "./ledger.js";
import { DebtOutstandingError } from "./ledger-errors.js";
import type { LedgerParams } from "./ledger-params.js";
import {
  conservationHolds,
  DAY,
  T0,
  TestAccount,
  testAccount,
  testFingerprint,
  testIdentity,
  testParams,
  testSettlement,
} from "./test-support/ledger-fixtures.js";

const MINUTE = 60_000;
/** Past the 24 h time lock of grants made at T0: transfers are allowed. */
const UNLOCKED = T0 + DAY + MINUTE;

/** A ledger with a payer and a provider registered at `openedAt`, and a clock the test moves. */
function setup(openedAt = T0, params: Partial<LedgerParams> = {}) {
  const clock = { now: openedAt + 1_000 };
  const ledger = new Ledger({ params: testParams(params) });
  const payer = testAccount(1);
  const provider = testIdentity(2);
  assert.equal(ledger.add(payer.open(testFingerprint("payer"), openedAt)).status, "applied");
  assert.equal(ledger.add(new TestAccount(provider).open(testFingerprint("provider"), openedAt)).status, "applied");
  const writer = new ChainWriter(ledger, { now: () => clock.now });
  // The provider's chain continues from its open block: the writer signs at the ledger's position.
  return { clock, ledger, payer, provider, writer };
}

/** A logger that keeps the errors it is given, for asserting on. */
function errorsInto(errors: unknown[]): Logger {
  return { ...silentLogger, warn: (fields) => errors.push(fields.err), error: (fields) => errors.push(fields.err) };
}

describe("EarningsCollector", () => {
  it("earns a receipt once the payer settles it, and never twice", async () => {
    const { clock, ledger, payer, provider, writer } = setup();
    const errors: unknown[] = [];
    // The settlement reaches the collector twice (as a tracked receipt and as a block applied while it
    // listens; every pass also rescans): it must be earned once, and the second attempt is no error.
    let signatures = 0;
    const counted = {
      ...provider,
      sign: (message: Uint8Array) => {
        signatures++;
        return provider.sign(message);
      },
    };
    const collector = new EarningsCollector(writer, counted, {
      now: () => clock.now,
      scanIntervalMs: 0,
      intervalMs: 3_600_000,
      logger: errorsInto(errors),
    });
    collector.start();
    after(() => collector.stop());
    const { request, receipt } = testSettlement(payer.identity, provider, 1_234, { now: clock.now });
    collector.track(receipt, request);
    await collector.collect();
    assert.equal(collector.collected, 0, "nothing to earn before the settlement");
    assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
    await collector.collect();
    await collector.collect();
    assert.equal(collector.collected, 1_234);
    assert.equal(collector.pending, 0);
    assert.equal(ledger.account(provider.id).balance, 100_000 + 1_234);
    assert.equal(ledger.account(payer.id).balance, 100_000 - 1_234);
    assert.deepEqual(
      ledger.history(provider.id).map((block) => block.kind),
      ["open", "earn"],
    );
    assert.deepEqual(errors, []);
    // A settlement already collected is skipped before signing: no earn block is signed to be refused.
    assert.equal(signatures, 1);
    assert.ok(conservationHolds(ledger.totals()));
  });

  it("claims a receipt its payer left unsettled after the request expired, which gets the payer refused until it settles", async () => {
    const { clock, ledger, payer, provider, writer } = setup();
    const claimAfterMs = 5 * MINUTE;
    const collector = new EarningsCollector(writer, provider, { now: () => clock.now, claimAfterMs });
    const { request, receipt } = testSettlement(payer.identity, provider, 2_000, { now: clock.now, ttlMs: MINUTE });
    collector.track(receipt, request);

    clock.now = request.expiresAt + claimAfterMs - 1;
    await collector.collect();
    assert.equal(collector.claimed, 0, "the payer still has time to settle");
    assert.equal(ledger.account(payer.id).debt, 0);

    clock.now = request.expiresAt + claimAfterMs;
    await collector.collect();
    assert.equal(collector.claimed, 2_000);
    const claim = ledger.history(provider.id).at(-1);
    assert.equal(claim?.kind, "claim");
    assert.equal(ledger.account(payer.id).debt, 2_000);
    assert.equal(ledger.account(payer.id).balance, 100_000, "a claim moves no credits");
    assert.throws(() => ledger.reserve(payer.id, "next-request", 1_000), DebtOutstandingError);

    await collector.collect();
    assert.equal(ledger.history(provider.id).filter((block) => block.kind === "claim").length, 1, "claimed once");

    // The payer settles after all: the debt is gone and the provider earns through the normal path.
    assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
    assert.equal(ledger.account(payer.id).debt, 0);
    await collector.collect();
    assert.equal(collector.collected, 2_000);
    assert.equal(ledger.account(provider.id).balance, 102_000);
    assert.doesNotThrow(() => ledger.reserve(payer.id, "next-request", 1_000));
    assert.ok(conservationHolds(ledger.totals()));
  });

  it("tries a claim again when writing it failed", async () => {
    const { clock, ledger, payer, provider } = setup();
    let failNext = true;
    const flaky = new ChainWriter(ledger, {
      now: () => clock.now,
      publish: async (block) => {
        if (failNext) {
          failNext = false;
          throw new Error("disk full");
        }
        return ledger.submit(block);
      },
    });
    const errors: unknown[] = [];
    const collector = new EarningsCollector(flaky, provider, {
      now: () => clock.now,
      claimAfterMs: 0,
      logger: errorsInto(errors),
    });
    const { request, receipt } = testSettlement(payer.identity, provider, 1_100, { now: clock.now, ttlMs: MINUTE });
    collector.track(receipt, request);
    clock.now = request.expiresAt;
    await collector.collect();
    assert.equal(errors.length, 1);
    assert.equal(ledger.account(payer.id).debt, 0);
    await collector.collect();
    assert.equal(ledger.account(payer.id).debt, 1_100);
    assert.equal(collector.claimed, 1_100);
  });

  it("never claims from a payer that has no account: the claim would publish a prompt and weigh on nobody", async () => {
    const { clock, ledger, provider, writer } = setup();
    const stranger = testIdentity(9);
    const collector = new EarningsCollector(writer, provider, { now: () => clock.now, claimAfterMs: 0 });
    const { request, receipt } = testSettlement(stranger, provider, 1_000, { now: clock.now, ttlMs: MINUTE });
    collector.track(receipt, request);
    clock.now = request.expiresAt + MINUTE;
    await collector.collect();
    assert.equal(collector.claimed, 0);
    assert.deepEqual(
      ledger.history(provider.id).map((block) => block.kind),
      ["open"],
    );
  });

  it("never claims without the signed request, nor when claims are switched off", async () => {
    const { clock, ledger, payer, provider, writer } = setup();
    const { request, receipt } = testSettlement(payer.identity, provider, 1_500, { now: clock.now, ttlMs: MINUTE });
    const withoutRequest = new EarningsCollector(writer, provider, { now: () => clock.now, claimAfterMs: 0 });
    withoutRequest.track(receipt);
    const switchedOff = new EarningsCollector(writer, provider, { now: () => clock.now, claimAfterMs: null });
    switchedOff.track(receipt, request);
    clock.now = request.expiresAt + 60 * MINUTE;
    await withoutRequest.collect();
    await switchedOff.collect();
    assert.equal(ledger.account(payer.id).debt, 0);
    assert.deepEqual(
      ledger.history(provider.id).map((block) => block.kind),
      ["open"],
    );
  });

  it("after a restart, collects settlements of receipts it no longer remembers and transfers sent to it", async () => {
    const { clock, ledger, payer, provider, writer } = setup();
    clock.now = UNLOCKED;
    const { receipt } = testSettlement(payer.identity, provider, 3_000, { now: clock.now });
    assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
    assert.equal(ledger.add(payer.send(provider.id, 700, clock.now)).status, "applied");
    const fresh = new EarningsCollector(writer, provider, { now: () => clock.now });
    await fresh.collect();
    assert.equal(fresh.collected, 3_000);
    assert.equal(fresh.received, 700);
    assert.equal(ledger.account(provider.id).balance, 103_700);
    assert.deepEqual(ledger.uncollected(provider.id), []);
    assert.ok(conservationHolds(ledger.totals()));
  });
  it("collects credits that arrive after it started as they apply, without waiting for the next full scan", async () => {
    const { clock, ledger, payer, provider, writer } = setup();
    clock.now = UNLOCKED;
    const collector = new EarningsCollector(writer, provider, {
      now: () => clock.now,
      intervalMs: 3_600_000,
      scanIntervalMs: 3_600_000,
    });
    collector.start();
    try {
      await collector.collect();
      const { receipt } = testSettlement(payer.identity, provider, 900, { now: clock.now });
      // Untracked: a receipt signed before a restart, settled while this peer was away.
      assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
      assert.equal(ledger.add(payer.send(provider.id, 100, clock.now)).status, "applied");
      await collector.collect();
      assert.equal(collector.collected, 900);
      assert.equal(collector.received, 100);
    } finally {
      await collector.stop();
    }
  });
});

describe("ChainWriter", () => {
  it("appends concurrent blocks of one account one after another: no fork, every block applied", async () => {
    const { clock, ledger, payer, writer } = setup();
    clock.now = UNLOCKED;
    const target = testIdentity(3);
    const blocks = await Promise.all(
      Array.from({ length: 25 }, () => writer.append(payer.identity, { kind: "send", to: target.id, amount: 10 })),
    );
    assert.deepEqual(
      blocks.map((block) => block?.height),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(ledger.equivocations().length, 0);
    assert.equal(ledger.account(payer.id).balance, 100_000 - 250);
  });

  it("signs nothing the ledger would refuse, and the next append still works", async () => {
    const { clock, ledger, payer, writer } = setup();
    clock.now = UNLOCKED;
    const target = testIdentity(3);
    await assert.rejects(
      writer.append(payer.identity, { kind: "send", to: target.id, amount: 100_001 }),
      (error: unknown) => error instanceof Error && "code" in error && error.code === "insufficient_balance",
    );
    assert.equal(ledger.account(payer.id).height, 0);
    const sent = await writer.append(payer.identity, { kind: "send", to: target.id, amount: 5 });
    assert.equal(sent?.height, 1);
  });
});

describe("AutoSweep", () => {
  /** The provider's earnings unlocked, and a sweep of what it holds above `above` to a registered owner. */
  const sweepToOwner = (above: number) => {
    const fixture = setup();
    fixture.clock.now = UNLOCKED;
    const owner = testAccount(4);
    assert.equal(fixture.ledger.add(owner.open(testFingerprint("owner"), T0)).status, "applied");
    return { ...fixture, owner, sweep: new AutoSweep(fixture.writer, fixture.provider, { to: owner.id, above }) };
  };

  it("sends what the account holds above the threshold to the target, which collects it", async () => {
    const { clock, ledger, provider, owner, sweep } = sweepToOwner(40_000);
    await sweep.sweep();
    assert.equal(sweep.swept, 60_000);
    assert.equal(ledger.account(provider.id).balance, 40_000);
    await sweep.sweep();
    assert.equal(sweep.swept, 60_000, "nothing more above the threshold");
    const ownerCollector = new EarningsCollector(new ChainWriter(ledger, { now: () => clock.now }), owner.identity, {
      now: () => clock.now,
    });
    await ownerCollector.collect();
    assert.equal(ownerCollector.received, 60_000);
    assert.equal(ledger.account(owner.id).balance, 160_000);
    assert.ok(conservationHolds(ledger.totals()));
  });

  it("sweeps only transferable credits: a fresh grant, and what a fresh grant paid, stay", async () => {
    const openedAt = Date.now() - 1_000;
    const { clock, ledger, payer, provider, writer } = setup(openedAt);
    const owner = testIdentity(4);
    assert.equal(ledger.add(new TestAccount(owner).open(testFingerprint("owner"), openedAt)).status, "applied");
    const { receipt } = testSettlement(payer.identity, provider, 4_321, { now: clock.now });
    assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
    const sweep = new AutoSweep(writer, provider, { to: owner.id, above: 0 });
    const collector = new EarningsCollector(writer, provider, { now: () => clock.now });
    await collector.collect();
    assert.equal(collector.collected, 4_321);
    await sweep.sweep();
    assert.equal(sweep.swept, 0, "the payer paid with locked grant credits: they stay locked until its unlock");
    assert.equal(ledger.account(provider.id).locked, 104_321);
  });

  it("on a devnet (lockedCreditsTravel off) earnings go at once, the grant stays", async () => {
    const openedAt = Date.now() - 1_000;
    const { clock, ledger, payer, provider, writer } = setup(openedAt, { lockedCreditsTravel: false });
    const owner = testIdentity(4);
    assert.equal(ledger.add(new TestAccount(owner).open(testFingerprint("owner"), openedAt)).status, "applied");
    const { receipt } = testSettlement(payer.identity, provider, 4_321, { now: clock.now });
    assert.equal(ledger.add(payer.settle(receipt, clock.now)).status, "applied");
    const sweep = new AutoSweep(writer, provider, { to: owner.id, above: 0 });
    await sweep.sweep();
    assert.equal(sweep.swept, 0, "the grant is time-locked and nothing was earned yet");
    const collector = new EarningsCollector(writer, provider, { now: () => clock.now });
    await collector.collect();
    await sweep.sweep();
    assert.equal(sweep.swept, 4_321);
    assert.equal(ledger.account(provider.id).balance, 100_000);
    const swept = ledger.history(provider.id).at(-1);
    assert.equal(swept?.kind === "send" ? swept.to : null, owner.id);
  });

  it("never sends to an identity that has no account: nobody could ever receive it", async () => {
    const { clock, ledger, provider, writer } = setup();
    clock.now = UNLOCKED;
    const errors: unknown[] = [];
    const sweep = new AutoSweep(writer, provider, { to: testIdentity(5).id, above: 0 }, { logger: errorsInto(errors) });
    await sweep.sweep();
    assert.equal(sweep.swept, 0);
    assert.equal(ledger.account(provider.id).balance, 100_000);
    assert.match(String(errors[0]), /no account/);
  });

  it("does nothing once stopped", async () => {
    const { sweep } = sweepToOwner(0);
    await sweep.stop();
    await sweep.sweep();
    assert.equal(sweep.swept, 0);
  });

  it("refuses rules that make no sense before signing anything", () => {
    const { provider, writer } = setup();
    assert.throws(() => new AutoSweep(writer, provider, { to: provider.id, above: 0 }), InvalidSweepRuleError);
    assert.throws(() => new AutoSweep(writer, provider, { to: "not-an-id", above: 0 }), InvalidSweepRuleError);
    assert.throws(() => new AutoSweep(writer, provider, { to: testIdentity(4).id, above: -1 }), InvalidSweepRuleError);
    assert.throws(() => new AutoSweep(writer, provider, { to: testIdentity(4).id, above: 1.5 }), InvalidSweepRuleError);
  });
});
