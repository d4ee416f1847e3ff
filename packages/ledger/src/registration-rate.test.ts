// Issue 13: the registration difficulty follows the network's registration rate, decided from the
// ledger so that every peer agrees whatever order the opens arrive in.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import { registrationSurchargeBits } from "./ledger-params.js";
import { registrationPowBits } from "./registration-pow.js";
import { HOUR, powNonce, T0, testAccount, testFingerprint, testParams } from "./test-support/ledger-fixtures.js";

const params = testParams({ registrationTarget: 2, registrationEpochMs: HOUR });
const EPOCH = Math.floor(T0 / HOUR) * HOUR;

/** An account whose smallest base-difficulty nonce reaches fewer than `bits`, so the surcharge matters. */
function weakAccount(from: number, bits: number) {
  for (let n = from; ; n++) {
    const account = testAccount(n);
    const fingerprint = testFingerprint(`weak-${n}`);
    const nonce = powNonce(account.identity, fingerprint, params.registrationDifficultyBits);
    if (registrationPowBits({ publicKey: account.identity.publicKey, fingerprintHash: fingerprint, nonce }) < bits)
      return { account, fingerprint };
  }
}

describe("registration difficulty follows the registration rate (issue 13)", () => {
  it("counts the surcharge per doubling above the target", () => {
    assert.deepEqual(
      [0, 2, 3, 4, 5, 8, 9].map((opens) => registrationSurchargeBits(opens, params)),
      [0, 0, 1, 1, 2, 2, 3],
    );
    assert.equal(registrationSurchargeBits(1_000_000, testParams({ registrationTarget: 0 })), 0);
  });

  it("an open two epochs after a busy one needs more work: without it, it opens empty, on every peer", () => {
    // Five opens in one epoch (target 2): opens dated two epochs later need 2 more bits.
    const busy = Array.from({ length: 5 }, (_, i) => testAccount(500 + i).open(testFingerprint(`busy-${i}`), EPOCH + i));
    const later = EPOCH + 2 * HOUR + 10;
    const required = params.registrationDifficultyBits + 2;
    const weak = weakAccount(600, required);
    const weakOpen = weak.account.open(weak.fingerprint, later);
    const strong = testAccount(700);
    const strongOpen = strong.open(testFingerprint("strong"), later, required);
    const blocks: LedgerBlock[] = [...busy, weakOpen, strongOpen];
    const roots = new Set<string>();
    for (const order of [blocks, [...blocks].reverse(), [weakOpen, strongOpen, ...busy]]) {
      const ledger = new Ledger({ params });
      for (const block of order) ledger.add(block, { now: later + HOUR });
      assert.equal(ledger.requiredRegistrationBits(later), required);
      assert.equal(ledger.account(weak.account.id).balance, 0, "too little work for its epoch: no grant");
      assert.equal(ledger.account(weak.account.id).opened, true);
      assert.equal(ledger.account(strong.id).balance, 100_000);
      assert.equal(ledger.totals().minted, 6 * 100_000);
      roots.add(ledger.merkleRoot());
    }
    assert.equal(roots.size, 1, "one Merkle root whatever the order");
  });

  it("tells a registrant what to solve: enough for this epoch and the next", () => {
    const ledger = new Ledger({ params });
    for (let i = 0; i < 9; i++)
      ledger.add(testAccount(800 + i).open(testFingerprint(`rate-${i}`), EPOCH + i), { now: EPOCH + HOUR });
    assert.deepEqual(ledger.registrationWork(EPOCH + HOUR), {
      difficultyBits: params.registrationDifficultyBits + 3,
      memoryKiB: 0,
    });
    assert.equal(ledger.registrationWork(EPOCH + 3 * HOUR).difficultyBits, params.registrationDifficultyBits);
  });
});
