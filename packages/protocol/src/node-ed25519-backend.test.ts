import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nobleEd25519Backend } from "./ed25519-backend.js";
import { createNodeEd25519Backend } from "./node-ed25519-backend.js";

const native = createNodeEd25519Backend();
const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });

describe("native Ed25519 backend", () => {
  it("derives the same keys and signatures as the portable backend", () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ maxLength: 256 }), (seed, message) => {
        const publicKey = native.publicKey(seed);
        assert.deepEqual(publicKey, nobleEd25519Backend.publicKey(seed));
        const signature = native.sign(seed, message);
        assert.deepEqual(signature, nobleEd25519Backend.sign(seed, message));
        assert.ok(native.verify(publicKey, message, signature));
      }),
      { numRuns: 200 },
    );
  });

  it("accepts and refuses exactly what the strict portable backend does, for tampered and random input", () => {
    fc.assert(
      fc.property(
        bytes(32),
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(63),
        fc.integer({ min: 1, max: 255 }),
        (seed, message, index, flip) => {
          const publicKey = nobleEd25519Backend.publicKey(seed);
          const signature = nobleEd25519Backend.sign(seed, message);
          const tampered = Uint8Array.from(signature);
          tampered[index] = (tampered[index] ?? 0) ^ flip;
          assert.equal(native.verify(publicKey, message, tampered), nobleEd25519Backend.verify(publicKey, message, tampered));
          const otherKey = Uint8Array.from(publicKey);
          otherKey[index % 32] = (otherKey[index % 32] ?? 0) ^ flip;
          assert.equal(native.verify(otherKey, message, signature), nobleEd25519Backend.verify(otherKey, message, signature));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a signature whose s is not reduced below the group order", () => {
    const seed = new Uint8Array(32).fill(7);
    const message = new TextEncoder().encode("malleable?");
    const publicKey = native.publicKey(seed);
    const signature = native.sign(seed, message);
    // s + L is the same scalar mod L: accepted by lax verifiers, refused by strict RFC 8032.
    const L = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14];
    const malleated = Uint8Array.from(signature);
    let carry = 0;
    for (let i = 0; i < 32; i++) {
      const sum = (malleated[32 + i] ?? 0) + (i < 16 ? (L[i] ?? 0) : i === 31 ? 0x10 : 0) + carry;
      malleated[32 + i] = sum & 0xff;
      carry = sum >> 8;
    }
    assert.equal(carry, 0);
    assert.equal(nobleEd25519Backend.verify(publicKey, message, malleated), false);
    assert.equal(native.verify(publicKey, message, malleated), false);
  });
});
