// Fixed test vectors for ledger blocks: a small history signed by fixed keys at fixed times, with
// each block's signed bytes and hash and the resulting Merkle root pinned in
// test-vectors/ledger-block-vectors.json. The other tests make and check blocks with the same
// code, so a change to the encoding passes them while splitting the network's ledger in two.
// Changing that file is a new LEDGER_BLOCK_VERSION (regenerated once, deliberately, for requests v2:
// the settled receipt's requestHash names a v2 request; the block encoding is unchanged). To regenerate it on purpose:
// OPENGATEWAY_UPDATE_TEST_VECTORS=1 node --test packages/ledger/dist/ledger-block-vectors.test.js
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Identity, InferenceRequest } from "@opengateway/protocol";
import { canonicalJson, createInferenceReceipt, identityFromSeed, signEnvelope } from "@opengateway/protocol";
import { pinnedTestVectors } from "@opengateway/protocol/test-support/pinned-test-vectors";
import { BlockAuthor } from "./block-author.js";
import { Ledger } from "./ledger.js";
import type { LedgerBlock } from "./ledger-block.js";
import { ledgerBlockHash, verifyLedgerBlock } from "./ledger-block.js";
import { ledgerParams } from "./ledger-params.js";
import { machineFingerprintHash } from "./machine-fingerprint.js";
import { powNonce } from "./test-support/ledger-fixtures.js";

// Read from the source tree (dist/ and src/ are siblings), so the compiled test sees the committed file.
const VECTORS_FILE = new URL("../src/test-vectors/ledger-block-vectors.json", import.meta.url);
const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY = 86_400_000;
const params = ledgerParams({ registrationDifficultyBits: 6, registrationMemoryKiB: 0 });

interface BlockVector {
  /** What the signature covers: the domain line, then the RFC 8785 canonical JSON of every field but `sig`. */
  signingText: string;
  block: LedgerBlock;
  /** ledgerBlockHash: base64url SHA-256 of the canonical JSON of the whole block. */
  hash: string;
}

interface LedgerBlockVectors {
  accounts: { name: string; seedHex: string; id: string }[];
  blocks: BlockVector[];
  /** The ledger's Merkle root once every block above is applied. */
  merkleRoot: string;
}

function seededIdentity(fill: number): Identity {
  return identityFromSeed(new Uint8Array(32).fill(fill));
}

function computeVectors(): LedgerBlockVectors {
  const named = { alice: seededIdentity(0xa1), bob: seededIdentity(0xb0), carol: seededIdentity(0xc0) };
  const { alice, bob, carol } = named;
  const authors = new Map(Object.values(named).map((identity) => [identity.id, new BlockAuthor(identity)]));
  const append = (identity: Identity, body: Parameters<BlockAuthor["append"]>[0], timestamp: number) =>
    authors.get(identity.id)?.append(body, timestamp) as LedgerBlock;
  const open = (identity: Identity, machine: string) => {
    const fingerprint = machineFingerprintHash({ machine });
    return append(
      identity,
      { kind: "open", fingerprint, powNonce: powNonce(identity, fingerprint, params.registrationDifficultyBits) },
      T,
    );
  };

  const blocks: LedgerBlock[] = [open(alice, "vector-a"), open(bob, "vector-b"), open(carol, "vector-c")];
  const send = append(alice, { kind: "send", to: bob.id, amount: 30_000 }, T + DAY);
  blocks.push(send, append(bob, { kind: "receive", source: ledgerBlockHash(send) }, T + DAY));
  const request = signEnvelope(
    "inference-request",
    {
      v: 2,
      id: "ledger-vector-request",
      kind: "completion",
      model: "stories260K",
      body: { prompt: "Once upon a time", maxTokens: 8, temperature: 0, topP: 1, seed: 7, stop: [] },
      payer: bob.id,
      provider: carol.id,
      pricePerToken: 1,
      maxCredits: 5_000,
      nonce: "ledger-vector-nonce1",
      issuedAt: T + DAY,
      expiresAt: T + DAY + 60_000,
      region: null,
    },
    bob,
  ) as InferenceRequest;
  const receipt = createInferenceReceipt(
    { request, usage: { promptTokens: 5, completionTokens: 8 }, credits: 13, finishReason: "length", now: T + DAY + 900 },
    carol,
  );
  const settle = append(bob, { kind: "settle", receipt }, T + DAY + 1_000);
  blocks.push(settle, append(carol, { kind: "earn", source: ledgerBlockHash(settle) }, T + DAY + 2_000));

  const ledger = new Ledger({ params });
  for (const block of blocks) assert.equal(ledger.add(block, { now: T + 2 * DAY }).status, "applied");
  return {
    accounts: Object.entries(named).map(([name, identity]) => ({
      name,
      seedHex: Buffer.from(identity.seed).toString("hex"),
      id: identity.id,
    })),
    blocks: blocks.map((block) => {
      const { sig: _sig, ...unsigned } = block;
      return { signingText: `opengateway:ledger-block:v1\n${canonicalJson(unsigned)}`, block, hash: ledgerBlockHash(block) };
    }),
    merkleRoot: ledger.merkleRoot(),
  };
}

const pinnedVectors = pinnedTestVectors(VECTORS_FILE, computeVectors);

describe("ledger block test vectors (pinned bytes, hashes and Merkle root)", () => {
  it("signs and hashes every block kind of the history exactly as pinned", () => {
    const computed = computeVectors();
    const pinned = pinnedVectors();
    assert.deepEqual(computed.accounts, pinned.accounts);
    assert.deepEqual(
      computed.blocks.map((vector) => vector.block.kind),
      ["open", "open", "open", "send", "receive", "settle", "earn"],
    );
    for (const [index, vector] of computed.blocks.entries()) {
      const expected = pinned.blocks[index];
      assert.equal(vector.signingText, expected?.signingText, `block ${index}: canonical signing bytes`);
      assert.equal(vector.block.sig, expected?.block.sig, `block ${index}: signature`);
      assert.equal(vector.hash, expected?.hash, `block ${index}: hash`);
      assert.deepEqual(vector.block, expected?.block);
    }
    assert.equal(computed.merkleRoot, pinned.merkleRoot);
  });

  it("verifies and applies the pinned blocks as a peer receives them, to the pinned Merkle root", () => {
    const pinned = pinnedVectors();
    const ledger = new Ledger({ params });
    for (const { block, hash } of pinned.blocks) {
      verifyLedgerBlock(block, params);
      assert.equal(ledgerBlockHash(block), hash);
      assert.equal(ledger.add(block, { now: T + 2 * DAY }).status, "applied");
    }
    assert.equal(ledger.merkleRoot(), pinned.merkleRoot);
  });
});
