import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalJson } from "./canonical-json.js";
import { InvalidSignatureError, ReplayedNonceError, RequestExpiredError } from "./errors.js";
import { generateIdentity } from "./identity.js";
import { createInferenceReceipt, verifyInferenceReceipt } from "./inference-receipt.js";
import type { InferenceRequest } from "./inference-request.js";
import { createInferenceRequest, inferenceRequestSchema, verifyInferenceRequest } from "./inference-request.js";
import { creditsForUsage } from "./pricing.js";
import { ReplayGuard } from "./replay-guard.js";
import { sampleChatBody } from "./test-support/sample-chat-body.js";

const body = sampleChatBody;

describe("canonical JSON", () => {
  it("orders keys and formats numbers as RFC 8785 says", () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, "x"], c: { z: 1e21, y: 0.5 } }),
      '{"a":[true,null,"x"],"b":1,"c":{"y":0.5,"z":1e+21}}',
    );
    assert.equal(canonicalJson({ "\u20ac": 1, "\r": 2 }), '{"\\r":2,"€":1}');
  });
  it("refuses values that have no canonical form", () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), /non-finite/);
    assert.throws(() => canonicalJson({ a: () => 1 }), /cannot be signed/);
  });
});

describe("inference request envelope", () => {
  const payer = generateIdentity();
  const to = { provider: generateIdentity().id, pricePerToken: 1 };

  it("signs and verifies, and survives a JSON round trip with reordered keys", () => {
    const request = createInferenceRequest({ kind: "chat", model: "stories260K", body, maxCredits: 5000, ...to }, payer);
    verifyInferenceRequest(request);
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(request).reverse())));
    const parsed = inferenceRequestSchema.parse(reordered);
    verifyInferenceRequest(parsed);
  });

  it("rejects any tampered field", () => {
    const request = createInferenceRequest({ kind: "chat", model: "stories260K", body, maxCredits: 5000, ...to }, payer);
    const tampered: InferenceRequest[] = [
      { ...request, maxCredits: 5001 },
      { ...request, model: "other" },
      { ...request, kind: "chat", body: { ...body, maxTokens: 17 } },
      { ...request, payer: generateIdentity().id },
      { ...request, provider: generateIdentity().id },
      { ...request, pricePerToken: 0.5 },
      { ...request, sig: request.sig.replace(/^./, (c) => (c === "A" ? "B" : "A")) },
    ];
    for (const bad of tampered) assert.throws(() => verifyInferenceRequest(bad), InvalidSignatureError);
  });

  it("rejects expired and future-dated requests", () => {
    const now = Date.now();
    const old = createInferenceRequest(
      { kind: "chat", model: "m", body, maxCredits: 1, now: now - 120_000, ttlMs: 60_000, ...to },
      payer,
    );
    assert.throws(() => verifyInferenceRequest(old, { now }), RequestExpiredError);
    const future = createInferenceRequest({ kind: "chat", model: "m", body, maxCredits: 1, now: now + 120_000, ...to }, payer);
    assert.throws(() => verifyInferenceRequest(future, { now }), RequestExpiredError);
  });

  it("the replay guard refuses a nonce twice and forgets it after expiry", () => {
    const guard = new ReplayGuard({ clockSkewMs: 0 });
    const now = 1_000_000;
    guard.check("payer", "nonce-1", now + 100, now);
    assert.throws(() => guard.check("payer", "nonce-1", now + 100, now + 50), ReplayedNonceError);
    guard.check("other-payer", "nonce-1", now + 100, now);
    guard.prune(now + 200);
    assert.equal(guard.size, 0);
  });

  it("the replay guard fails closed when full", () => {
    const guard = new ReplayGuard({ maxEntries: 2 });
    guard.check("p", "a", Date.now() + 60_000);
    guard.check("q", "b", Date.now() + 60_000);
    assert.throws(() => guard.check("r", "c", Date.now() + 60_000), /full/);
  });

  it("the replay guard caps each payer's and each peer's share, and frees it on expiry", () => {
    const now = 1_000_000;
    const guard = new ReplayGuard({ maxEntries: 100, maxEntriesPerPayer: 3, maxEntriesPerPeer: 5, clockSkewMs: 0 });
    for (let i = 0; i < 3; i++) guard.check("junk", `n${i}`, now + 100, now, "peer-a");
    assert.throws(() => guard.check("junk", "n3", now + 100, now, "peer-a"), /this payer/);
    assert.equal(guard.countFor("junk"), 3);
    // Another payer over the same peer, up to the peer's share.
    guard.check("honest", "h0", now + 100, now, "peer-a");
    guard.check("honest", "h1", now + 100, now, "peer-a");
    assert.throws(() => guard.check("honest", "h2", now + 100, now, "peer-a"), /this peer/);
    // The same payer over another peer is still within the payer's share.
    guard.check("honest", "h2", now + 100, now, "peer-b");
    assert.equal(guard.size, 6);
    // Once expired, the shares are free again.
    guard.check("junk", "n3", now + 5_000, now + 2_000, "peer-a");
    assert.equal(guard.size, 1);
    assert.equal(guard.countFor("junk"), 1);
    assert.equal(guard.countFor("honest"), 0);
  });
});

describe("inference receipt", () => {
  const payer = generateIdentity();
  const provider = generateIdentity();
  const to = { provider: provider.id, pricePerToken: 1 };
  const request = createInferenceRequest({ kind: "chat", model: "stories260K", body, maxCredits: 100, ...to }, payer);
  const usage = { promptTokens: 10, completionTokens: 16 };

  it("verifies for the provider that signed it and the request it names", () => {
    const receipt = createInferenceReceipt({ request, usage, credits: creditsForUsage(usage), finishReason: "length" }, provider);
    assert.equal(receipt.credits, 26);
    verifyInferenceReceipt(receipt, request, provider.id);
  });

  it("is refused when signed by someone else, about another request, or over budget", () => {
    const receipt = createInferenceReceipt({ request, usage, credits: 26, finishReason: "length" }, provider);
    assert.throws(() => verifyInferenceReceipt(receipt, request, generateIdentity().id), /another identity/);
    assert.throws(() => verifyInferenceReceipt({ ...receipt, credits: 1 }, request, provider.id), InvalidSignatureError);
    const other = createInferenceRequest({ kind: "chat", model: "stories260K", body, maxCredits: 100, ...to }, payer);
    assert.throws(() => verifyInferenceReceipt(receipt, other, provider.id), /does not refer/);
    // The charge is recomputed from the usage at the accepted price: 26, not 101 (above maxCredits too).
    const greedy = createInferenceReceipt({ request, usage, credits: 101, finishReason: "length" }, provider);
    assert.throws(() => verifyInferenceReceipt(greedy, request, provider.id), /101 credits charged; .* costs 26/);
  });

  it("is refused when the usage exceeds what the request can produce, or the credits are not the accepted price's", () => {
    const refused = (receiptUsage: { promptTokens: number; completionTokens: number }, credits: number, pattern: RegExp) => {
      const receipt = createInferenceReceipt({ request, usage: receiptUsage, credits, finishReason: "length" }, provider);
      assert.throws(() => verifyInferenceReceipt(receipt, request, provider.id), pattern);
    };
    // max_tokens 16, n 1: 1,240 completion tokens cannot be.
    refused({ promptTokens: 10, completionTokens: 1_240 }, 100, /1240 completion tokens charged; .* at most 16/);
    // "Once upon a time" (16 bytes) in a chat template: at most 64 + 4 + (16 + 32 + 2) prompt tokens.
    refused({ promptTokens: 119, completionTokens: 16 }, 100, /119 prompt tokens charged; .* at most 118/);
    // A price above the accepted one (2 per token instead of 1), or a rounding in the provider's favour.
    refused(usage, 52, /52 credits charged; .* costs 26/);
    refused(usage, 27, /27 credits charged/);
    // Charging less than the usage costs is refused too: the receipt must say exactly what it costs.
    refused(usage, 25, /25 credits charged/);
    // Capped at maxCredits: 100 tokens at 1 credit cost 100 of the 100 allowed.
    const capped = createInferenceRequest(
      { kind: "chat", model: "stories260K", body: { ...body, maxTokens: 200 }, maxCredits: 100, ...to },
      payer,
    );
    const full = createInferenceReceipt(
      { request: capped, usage: { promptTokens: 10, completionTokens: 150 }, credits: 100, finishReason: "length" },
      provider,
    );
    verifyInferenceReceipt(full, capped, provider.id);
  });

  it("a receipt of partial work charges no more completion tokens than were delivered", () => {
    const partial = createInferenceReceipt(
      { request, usage: { promptTokens: 0, completionTokens: 5 }, credits: 5, finishReason: "cancelled" },
      provider,
    );
    verifyInferenceReceipt(partial, request, provider.id, { deliveredCompletionTokens: 5 });
    assert.throws(
      () => verifyInferenceReceipt(partial, request, provider.id, { deliveredCompletionTokens: 4 }),
      /5 completion tokens charged for a cancelled request that delivered 4/,
    );
  });

  it("binds the request to its provider: a receipt by any other peer is refused", () => {
    const other = generateIdentity();
    const receipt = createInferenceReceipt({ request, usage, credits: 26, finishReason: "length" }, other);
    assert.throws(() => verifyInferenceReceipt(receipt, request, other.id), /addressed to another provider/);
  });
});
