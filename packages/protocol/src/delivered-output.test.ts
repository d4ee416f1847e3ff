import "./node-ed25519-backend.js";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deliveredOutputHash, deliveredOutputSchema } from "./delivered-output.js";
import { generateIdentity } from "./identity.js";
import { createInferenceReceipt, inferenceReceiptSchema, verifyInferenceReceipt } from "./inference-receipt.js";
import { createInferenceRequest } from "./inference-request.js";

const a = { index: 0, text: "Once upon a time", finishReason: "stop" as const };
const b = { index: 1, text: " there was", finishReason: "length" as const };

describe("delivered output commitment", () => {
  it("hashes the choices in index order, and any change to a text or an ending changes it", () => {
    assert.equal(deliveredOutputHash([a, b]), deliveredOutputHash([b, a]));
    assert.notEqual(deliveredOutputHash([a, b]), deliveredOutputHash([a, { ...b, text: " there were" }]));
    assert.notEqual(deliveredOutputHash([a]), deliveredOutputHash([{ ...a, finishReason: "length" }]));
    assert.match(deliveredOutputHash([a]), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(deliveredOutputSchema.safeParse([]).success, false);
    assert.equal(deliveredOutputSchema.safeParse([{ ...a, extra: 1 }]).success, false);
  });

  it("is signed into the receipt when given; receipts without it still verify", () => {
    const payer = generateIdentity();
    const provider = generateIdentity();
    const request = createInferenceRequest(
      {
        kind: "chat",
        model: "m",
        body: { messages: [{ role: "user", content: "hi" }], maxTokens: 8, temperature: 1, topP: 1, seed: 1, stop: [] },
        provider: provider.id,
        pricePerToken: 1,
        maxCredits: 100,
      },
      payer,
    );
    const usage = { promptTokens: 5, completionTokens: 4 };
    const committed = createInferenceReceipt(
      { request, usage, credits: 9, finishReason: "stop", output: deliveredOutputHash([a]) },
      provider,
    );
    const plain = createInferenceReceipt({ request, usage, credits: 9, finishReason: "stop" }, provider);
    assert.equal(committed.output, deliveredOutputHash([a]));
    assert.equal("output" in plain, false);
    for (const receipt of [committed, plain]) {
      inferenceReceiptSchema.parse(receipt);
      verifyInferenceReceipt(receipt, request, provider.id);
    }
    // The commitment is under the signature: changing it breaks the receipt.
    assert.throws(() => verifyInferenceReceipt({ ...committed, output: deliveredOutputHash([b]) }, request, provider.id));
  });
});
