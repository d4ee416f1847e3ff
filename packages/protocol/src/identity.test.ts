import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  generateIdentity,
  identityFromSeed,
  identityIdFromPublicKey,
  isIdentityId,
  publicKeyFromIdentityId,
  verifySignature,
} from "./identity.js";

// RFC 8032 section 7.1, tests 1-3 (Ed25519).
const RFC8032_VECTORS = [
  {
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

describe("identity (Ed25519)", () => {
  for (const [index, vector] of RFC8032_VECTORS.entries()) {
    it(`matches RFC 8032 test ${index + 1}`, () => {
      const identity = identityFromSeed(hexToBytes(vector.secret));
      assert.equal(bytesToHex(identity.publicKey), vector.public);
      const signature = identity.sign(hexToBytes(vector.message));
      assert.equal(bytesToHex(signature), vector.signature);
      assert.ok(verifySignature(identity.publicKey, hexToBytes(vector.message), signature));
    });
  }

  it("rejects a signature over another message or by another key", () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const message = new TextEncoder().encode("pay 10 credits");
    const signature = alice.sign(message);
    assert.ok(verifySignature(alice.publicKey, message, signature));
    assert.equal(verifySignature(bob.publicKey, message, signature), false);
    assert.equal(verifySignature(alice.publicKey, new TextEncoder().encode("pay 99 credits"), signature), false);
    const flipped = Uint8Array.from(signature);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    assert.equal(verifySignature(alice.publicKey, message, flipped), false);
    assert.equal(verifySignature(alice.publicKey, message, signature.subarray(0, 63)), false);
  });

  it("round-trips the peer-id-like identity string", () => {
    const identity = generateIdentity();
    assert.match(identity.id, /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
    assert.deepEqual(publicKeyFromIdentityId(identity.id), identity.publicKey);
    assert.equal(identityIdFromPublicKey(identity.publicKey), identity.id);
    assert.ok(isIdentityId(identity.id));
    assert.equal(isIdentityId("not-an-id"), false);
    assert.equal(isIdentityId("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"), false);
  });

  it("refuses seeds and keys of the wrong size", () => {
    assert.throws(() => identityFromSeed(new Uint8Array(31)), /32 bytes/);
    assert.throws(() => identityIdFromPublicKey(new Uint8Array(33)), /32 bytes/);
  });
});
