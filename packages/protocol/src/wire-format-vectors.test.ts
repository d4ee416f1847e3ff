// Fixed test vectors for what peers sign and hash: a request, a receipt and a capability advert,
// made by fixed keys at fixed times. Every other test builds both sides with the same code, so
// a change that alters the bytes on the wire passes them; this one compares against bytes
// pinned in test-vectors/wire-format-vectors.json. Changing that file breaks compatibility with
// every deployed peer: do it only with a new ENVELOPE_VERSION (or REQUEST_VERSION: regenerated for
// requests v2, which name their provider and accepted price). To regenerate it on purpose:
// OPENGATEWAY_UPDATE_TEST_VECTORS=1 node --test packages/protocol/dist/wire-format-vectors.test.js
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex } from "@noble/hashes/utils.js";
import { canonicalJson } from "./canonical-json.js";
import type { CapabilityAdvert } from "./capability-advert.js";
import { capabilityAdvertSchema, createCapabilityAdvert, verifyCapabilityAdvert } from "./capability-advert.js";
import { InvalidSignatureError } from "./errors.js";
import type { Identity } from "./identity.js";
import { identityFromSeed } from "./identity.js";
import type { InferenceReceipt } from "./inference-receipt.js";
import { createInferenceReceipt, inferenceReceiptSchema, verifyInferenceReceipt } from "./inference-receipt.js";
import type { InferenceRequest } from "./inference-request.js";
import { inferenceRequestSchema, verifyInferenceRequest } from "./inference-request.js";
import type { SignatureDomain } from "./signed-envelope.js";
import { envelopeHash, signEnvelope } from "./signed-envelope.js";
import { pinnedTestVectors } from "./test-support/pinned-test-vectors.js";

// Read from the source tree (dist/ and src/ are siblings), so the compiled test sees the committed file.
const VECTORS_FILE = new URL("../src/test-vectors/wire-format-vectors.json", import.meta.url);
const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/** Seed bytes 0x01 0x02 … 0x20 for the payer, 0x21 … 0x40 for the provider. */
function seededIdentity(first: number): Identity {
  return identityFromSeed(Uint8Array.from({ length: 32 }, (_, index) => first + index));
}

interface EnvelopeVector<T> {
  /** What the signature covers: the domain line, then the RFC 8785 canonical JSON of every field but `sig`. */
  signingText: string;
  envelope: T;
  /** envelopeHash: base64url SHA-256 of the canonical JSON of the whole envelope. */
  hash: string;
}

interface WireFormatVectors {
  identities: { name: string; seedHex: string; publicKeyHex: string; id: string }[];
  request: EnvelopeVector<InferenceRequest>;
  receipt: EnvelopeVector<InferenceReceipt>;
  advert: EnvelopeVector<CapabilityAdvert>;
}

function signingText(domain: SignatureDomain, envelope: { sig: string }): string {
  const { sig: _sig, ...unsigned } = envelope;
  return `opengateway:${domain}:v1\n${canonicalJson(unsigned)}`;
}

function vector<T extends { sig: string }>(domain: SignatureDomain, envelope: T): EnvelopeVector<T> {
  return { signingText: signingText(domain, envelope), envelope, hash: envelopeHash(envelope) };
}

/** Builds every vector from the fixed keys with today's code. */
function computeVectors(): WireFormatVectors {
  const payer = seededIdentity(0x01);
  const provider = seededIdentity(0x21);
  // Fields chosen to exercise canonical JSON: key order, non-ASCII text and escapes, fractions,
  // an exponent, negative numbers, nested objects and arrays, null.
  const request = signEnvelope(
    "inference-request",
    {
      v: 2,
      id: "req-vector-000000001",
      kind: "chat",
      model: "stories260K",
      body: {
        messages: [
          { role: "system", content: 'Be brief.\n"Quoted" \\ tab\t' },
          { role: "user", content: "Once upon a time — «café» 🙂 \u2028 \u0007" },
        ],
        maxTokens: 16,
        temperature: 0.7,
        topP: 0.95,
        seed: 4_294_967_295,
        stop: ["\n\n", "The end"],
        n: 2,
        presencePenalty: -0.5,
        frequencyPenalty: 1.25,
        logitBias: { "294": -100, "13": 1e-7, "7": 0.5 },
        responseFormat: { type: "json_schema", name: "hero", schema: { type: "object", required: ["name"], nullable: null } },
        tools: [{ name: "get_weather", description: "weather", parameters: { type: "object", properties: {} } }],
        toolChoice: "auto",
      },
      payer: payer.id,
      provider: provider.id,
      pricePerToken: 1,
      maxCredits: 5_000,
      nonce: "nonce-vector-0000001",
      issuedAt: T,
      expiresAt: T + 60_000,
      region: "europe",
    },
    payer,
  ) as InferenceRequest;
  const receipt = createInferenceReceipt(
    { request, usage: { promptTokens: 31, completionTokens: 16 }, credits: 47, finishReason: "length", now: T + 1_500 },
    provider,
  );
  const advert = createCapabilityAdvert(
    {
      capabilities: {
        v: 1,
        agent: "opengateway-full-node/0.1.0",
        engine: "node-llama-cpp",
        region: "europe",
        clusters: ["A", "B"],
        models: [{ id: "stories260K", contextSize: 2048, pricePerToken: 1, kinds: ["chat", "completion", "embedding"] }],
        activeRequests: 1,
        maxConcurrentRequests: 4,
        queuedRequests: 0,
        tokensPerSecond: 1234.5,
      },
      addresses: ["/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/tcp/4002/ws"],
      ttlMs: 30_000,
      now: T,
    },
    provider,
  );
  return {
    identities: [
      { name: "payer", identity: payer },
      { name: "provider", identity: provider },
    ].map(({ name, identity }) => ({
      name,
      seedHex: bytesToHex(identity.seed),
      publicKeyHex: bytesToHex(identity.publicKey),
      id: identity.id,
    })),
    request: vector("inference-request", request),
    receipt: vector("inference-receipt", receipt),
    advert: vector("capability-advert", advert),
  };
}

const pinnedVectors = pinnedTestVectors(VECTORS_FILE, computeVectors);

describe("wire format test vectors (pinned bytes of requests, receipts, adverts)", () => {
  it("derives the same identities from the same seeds", () => {
    assert.deepEqual(computeVectors().identities, pinnedVectors().identities);
  });

  for (const kind of ["request", "receipt", "advert"] as const) {
    it(`signs and hashes the ${kind} exactly as pinned`, () => {
      const computed = computeVectors()[kind];
      const pinned = pinnedVectors()[kind];
      assert.equal(computed.signingText, pinned.signingText, "canonical signing bytes");
      assert.equal(computed.envelope.sig, pinned.envelope.sig, "signature");
      assert.equal(computed.hash, pinned.hash, "envelope hash");
      assert.deepEqual(computed.envelope, pinned.envelope);
    });
  }

  it("accepts the pinned envelopes as a peer receives them: schema, signature, links", () => {
    const { request, receipt, advert } = pinnedVectors();
    const now = request.envelope.issuedAt + 2_000;
    const parsedRequest = inferenceRequestSchema.parse(request.envelope);
    verifyInferenceRequest(parsedRequest, { now });
    const parsedReceipt = inferenceReceiptSchema.parse(receipt.envelope);
    verifyInferenceReceipt(parsedReceipt, parsedRequest, parsedReceipt.provider);
    assert.equal(parsedReceipt.requestHash, request.hash, "the receipt points at the request's hash");
    verifyCapabilityAdvert(capabilityAdvertSchema.parse(advert.envelope), { now });
  });

  it("refuses the pinned request once any signed byte changes", () => {
    const { request } = pinnedVectors();
    const now = request.envelope.issuedAt + 2_000;
    const tampered = { ...request.envelope, maxCredits: request.envelope.maxCredits + 1 };
    assert.throws(() => verifyInferenceRequest(tampered, { now }), InvalidSignatureError);
  });
});
