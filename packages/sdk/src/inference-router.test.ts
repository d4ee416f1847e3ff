import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeCapabilities } from "@opengateway/protocol";
import { generateIdentity, OverloadedError } from "@opengateway/protocol";
import { InferenceRouter, maxCreditsFor, resumePayload } from "./inference-router.js";
import { ProviderTable } from "./provider-table.js";

const capabilities = (region: string): NodeCapabilities => ({
  v: 1,
  agent: "test",
  engine: "test",
  region,
  clusters: ["A"],
  models: [{ id: "m", contextSize: 2048, pricePerToken: 1, kinds: ["chat"] }],
  activeRequests: 0,
  maxConcurrentRequests: 1,
  queuedRequests: 0,
  tokensPerSecond: null,
});
const body = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 10, temperature: 1, topP: 1, seed: 1, stop: [] };
const unusedNode = {
  dialProtocol: () => {
    throw new Error("no provider should be dialled");
  },
};

describe("InferenceRouter", () => {
  it("answers a full region with overloaded (a 429 with retry-after), without dialling anyone", async () => {
    const table = new ProviderTable();
    table.upsert("p1", capabilities("europe"), { expiresAt: Date.now() + 60_000 });
    const entry = table.get("p1");
    assert.ok(entry);
    entry.inFlight = 2; // both slots and the queue allowance taken
    const router = new InferenceRouter(unusedNode, table, { region: "europe" });
    await assert.rejects(router.route(generateIdentity(), { kind: "chat", model: "m", body }).next(), OverloadedError);
  });

  it("resumes plain text only: a grammar, tools or several choices cannot continue mid-way", () => {
    const delivered = { text: "Once upon", tokens: 2 };
    const resumed = resumePayload({ kind: "chat", body }, delivered);
    assert.equal(resumed?.kind, "chat");
    assert.equal(resumed?.kind === "chat" && resumed.body.maxTokens, 8);
    assert.deepEqual(resumed?.kind === "chat" && resumed.body.messages.at(-1), { role: "assistant", content: "Once upon" });
    assert.equal(resumed?.kind === "chat" && resumed.body.continueFinal, true);
    assert.equal(resumePayload({ kind: "chat", body: { ...body, n: 2 } }, delivered), undefined);
    assert.equal(
      resumePayload({ kind: "chat", body: { ...body, responseFormat: { type: "json_object" } } }, delivered),
      undefined,
    );
    assert.equal(resumePayload({ kind: "chat", body: { ...body, tools: [{ name: "f" }] } }, delivered), undefined);
    assert.equal(resumePayload({ kind: "chat", body }, { text: "x", tokens: 10 }), undefined);
    const completion = resumePayload({ kind: "completion", body: { ...body, prompt: "Tom " } }, delivered);
    assert.equal(completion?.kind === "completion" && completion.body.prompt, "Tom Once upon");
  });

  it("authorises at most what the prompt and max_tokens × n can cost", () => {
    // 64 template + 4 (no tools, no format) + one message (2 chars + 32 + "[]") + max_tokens.
    assert.equal(maxCreditsFor({ kind: "chat", body }, 1), 64 + 4 + (2 + 32 + 2) + 10);
    assert.equal(maxCreditsFor({ kind: "chat", body: { ...body, n: 3 } }, 2), (64 + 4 + (2 + 32 + 2) + 30) * 2);
    assert.equal(maxCreditsFor({ kind: "embedding", body: { input: ["abc", "de"] } }, 1), 5 + 4);
    // Byte-fallback tokenizers make up to one token per UTF-8 byte: CJK is 3 bytes a character, an emoji 4.
    const cjk = { ...body, messages: [{ role: "user" as const, content: "猫が好き🐈" }] };
    assert.equal(maxCreditsFor({ kind: "chat", body: cjk }, 1), 64 + 4 + (4 * 3 + 4 + 32 + 2) + 10);
  });
});
