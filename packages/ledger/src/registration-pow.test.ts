import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { identityFromSeed } from "@opengateway/protocol";
import { machineFingerprintHash } from "./machine-fingerprint.js";
import { collectNodeMachineFacts, nodeMachineFingerprintHash } from "./node-machine-fingerprint.js";
import { leadingZeroBits, registrationPowDigest, solveRegistrationPow, verifyRegistrationPow } from "./registration-pow.js";

const identity = identityFromSeed(new Uint8Array(32).fill(3));
const other = identityFromSeed(new Uint8Array(32).fill(4));
const fingerprintHash = machineFingerprintHash({ cpu: "test cpu", memoryGiB: "8" });

describe("registration proof-of-work", () => {
  it("the memory-hard puzzle: Argon2id tries, bound to key and fingerprint, found and verified", async () => {
    const work = { publicKey: identity.publicKey, fingerprintHash, difficultyBits: 5, memoryKiB: 64 };
    const nonce = await solveRegistrationPow(work);
    assert.ok(verifyRegistrationPow({ ...work, nonce }));
    for (let smaller = 0; smaller < nonce; smaller++) assert.equal(verifyRegistrationPow({ ...work, nonce: smaller }), false);
    assert.ok(leadingZeroBits(registrationPowDigest(identity.publicKey, fingerprintHash, nonce, 64)) >= 5);
    // The same nonce is no solution of the SHA-256 puzzle or at another memory size (bar luck: check the digests differ).
    const sha = registrationPowDigest(identity.publicKey, fingerprintHash, nonce, 0);
    const bigger = registrationPowDigest(identity.publicKey, fingerprintHash, nonce, 128);
    assert.notDeepEqual(sha, registrationPowDigest(identity.publicKey, fingerprintHash, nonce, 64));
    assert.notDeepEqual(bigger, registrationPowDigest(identity.publicKey, fingerprintHash, nonce, 64));
    assert.equal(verifyRegistrationPow({ ...work, publicKey: other.publicKey, nonce }) && nonce > 0, false);
    assert.throws(() => verifyRegistrationPow({ ...work, memoryKiB: 4, nonce }), /memoryKiB must be 0 or an integer from 8/);
  });

  it("the default network puzzle (16 MiB) yields to the event loop inside a try and stops on abort", async () => {
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    setTimeout(() => controller.abort(new Error("stop")), 400);
    await assert.rejects(
      solveRegistrationPow(
        { publicKey: identity.publicKey, fingerprintHash, difficultyBits: 64, memoryKiB: 16 * 1024 },
        { signal: controller.signal },
      ),
      /stop/,
    );
    clearInterval(timer);
    assert.ok(ticks >= 5, `the event loop ran (${ticks} ticks of 5 ms in 400 ms)`);
  });

  it("counts leading zero bits", () => {
    assert.equal(leadingZeroBits(Uint8Array.of(0x80)), 0);
    assert.equal(leadingZeroBits(Uint8Array.of(0x00, 0x01)), 15);
    assert.equal(leadingZeroBits(Uint8Array.of(0x00, 0x00)), 16);
  });

  it("solves a puzzle bound to the key and the fingerprint, and verifies it", async () => {
    const difficultyBits = 12;
    const nonce = await solveRegistrationPow({ publicKey: identity.publicKey, fingerprintHash, difficultyBits });
    assert.ok(leadingZeroBits(registrationPowDigest(identity.publicKey, fingerprintHash, nonce)) >= difficultyBits);
    assert.ok(verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash, difficultyBits, nonce }));
    // The smallest solution: every smaller nonce fails.
    for (let smaller = 0; smaller < nonce; smaller++) {
      assert.equal(
        verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash, difficultyBits, nonce: smaller }),
        false,
      );
    }
    const otherFingerprint = machineFingerprintHash({ cpu: "other cpu" });
    const solvesOthers =
      verifyRegistrationPow({ publicKey: other.publicKey, fingerprintHash, difficultyBits, nonce }) ||
      verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash: otherFingerprint, difficultyBits, nonce });
    assert.equal(solvesOthers, false);
    assert.equal(verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash, difficultyBits, nonce: -1 }), false);
    assert.equal(
      verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash: "not a hash", difficultyBits, nonce }),
      false,
    );
  });

  it("yields to the event loop while solving and stops when aborted", async () => {
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      if (ticks === 5) controller.abort(new Error("stop solving"));
    }, 5);
    try {
      await assert.rejects(
        solveRegistrationPow(
          { publicKey: identity.publicKey, fingerprintHash, difficultyBits: 60 },
          { signal: controller.signal },
        ),
        /stop solving/,
      );
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 5, "timers ran during the search");
    await assert.rejects(
      solveRegistrationPow({ publicKey: identity.publicKey, fingerprintHash, difficultyBits: 70 }),
      RangeError,
    );
  });
});

describe("machine fingerprint", () => {
  it("hashes canonical facts: key order does not matter, any fact does", () => {
    const a = machineFingerprintHash({ cpu: "x", memoryGiB: "16" });
    assert.equal(a, machineFingerprintHash({ memoryGiB: "16", cpu: "x" }));
    assert.notEqual(a, machineFingerprintHash({ cpu: "x", memoryGiB: "32" }));
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  });

  it("collects stable Node facts without the raw machine id", async () => {
    const facts = await collectNodeMachineFacts();
    assert.ok(facts.platform && facts.arch && facts.cpuCount && facts.memoryGiB);
    if (facts.machineId !== undefined) assert.match(facts.machineId, /^[0-9a-f]{64}$/);
    assert.equal(await nodeMachineFingerprintHash(), machineFingerprintHash(facts));
  });
});
