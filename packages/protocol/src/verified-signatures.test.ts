import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateIdentity, verifySignature } from "./identity.js";
import { VerifiedSignatures } from "./verified-signatures.js";

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("VerifiedSignatures", () => {
  it("answers only for the same key, message and signature, byte for byte", () => {
    const memory = new VerifiedSignatures({ maxEntries: 8, maxBytes: 1024 });
    const key = new Uint8Array(32).fill(1);
    const signature = new Uint8Array(64).fill(2);
    memory.add(key, bytes(1, 2, 3), signature);
    assert.equal(memory.has(key, bytes(1, 2, 3), signature), true);
    assert.equal(memory.has(key, bytes(1, 2, 4), signature), false);
    assert.equal(memory.has(key, bytes(1, 2), signature), false);
    assert.equal(memory.has(new Uint8Array(32).fill(9), bytes(1, 2, 3), signature), false);
    assert.equal(memory.has(key, bytes(1, 2, 3), new Uint8Array(64).fill(3)), false);
  });

  it("keeps copies, so a caller reusing its buffer cannot change what was verified", () => {
    const memory = new VerifiedSignatures({ maxEntries: 8, maxBytes: 1024 });
    const key = new Uint8Array(32).fill(1);
    const message = bytes(1, 2, 3);
    const signature = new Uint8Array(64).fill(2);
    memory.add(key, message, signature);
    message[0] = 9;
    assert.equal(memory.has(key, message, signature), false);
    assert.equal(memory.has(key, bytes(1, 2, 3), signature), true);
  });

  it("stays within its entry and byte bounds, forgetting the oldest first", () => {
    const memory = new VerifiedSignatures({ maxEntries: 4, maxBytes: 64 });
    const key = new Uint8Array(32);
    const signatureOf = (n: number) => new Uint8Array(64).fill(n);
    for (let n = 0; n < 10; n++) memory.add(key, bytes(n), signatureOf(n));
    assert.equal(memory.size, 4);
    assert.equal(memory.has(key, bytes(0), signatureOf(0)), false);
    assert.equal(memory.has(key, bytes(9), signatureOf(9)), true);
    // Four 4-byte messages fill the 64 bytes... of which each may take at most 1/16.
    memory.add(key, new Uint8Array(5), signatureOf(20));
    assert.equal(memory.has(key, new Uint8Array(5), signatureOf(20)), false);
    for (let n = 30; n < 40; n++) memory.add(key, new Uint8Array(4).fill(n), signatureOf(n));
    assert.ok(memory.size <= 4);
  });
});

describe("verifySignature with the memory of verified signatures", () => {
  it("still refuses a changed message or signature after the original verified", () => {
    const identity = generateIdentity();
    const message = new TextEncoder().encode("settle 42 credits");
    const signature = identity.sign(message);
    assert.equal(verifySignature(identity.publicKey, message, signature), true);
    assert.equal(verifySignature(identity.publicKey, message, signature), true);
    const changed = Uint8Array.from(message);
    changed[0] = (changed[0] ?? 0) ^ 1;
    assert.equal(verifySignature(identity.publicKey, changed, signature), false);
    const forged = Uint8Array.from(signature);
    forged[10] = (forged[10] ?? 0) ^ 1;
    assert.equal(verifySignature(identity.publicKey, message, forged), false);
    assert.equal(verifySignature(generateIdentity().publicKey, message, signature), false);
  });
});
