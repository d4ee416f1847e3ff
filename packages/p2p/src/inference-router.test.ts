import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeCapabilities } from "@opengateway/protocol";
import { generateIdentity, NoProviderError, OverloadedError } from "@opengateway/protocol";
import type { PaymentHooks } from "./inference-router.js";
import { InferenceRouter, resumePayload } from "./inference-router.js";
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
  it("answers a full region with overloaded, without dialling anyone, once its queue is full or its wait is over", async () => {
    const table = new ProviderTable();
    table.upsert("p1", capabilities("europe"), { expiresAt: Date.now() + 60_000 });
    const entry = table.get("p1");
    assert.ok(entry);
    entry.inFlight = 1; // its one slot taken
    const noQueue = new InferenceRouter(unusedNode, table, { region: "europe", maxQueuedRequests: 0 });
    await assert.rejects(noQueue.route(generateIdentity(), { kind: "chat", model: "m", body }).next(), {
      name: "OverloadedError",
      message: /0 requests are waiting/,
    });
    const shortWait = new InferenceRouter(unusedNode, table, { region: "europe", queueWaitMs: 300 });
    const started = Date.now();
    await assert.rejects(shortWait.route(generateIdentity(), { kind: "chat", model: "m", body }).next(), OverloadedError);
    assert.ok(Date.now() - started >= 250, "it waited for a slot before giving up");
    assert.equal(shortWait.queued, 0, "the queue forgets a request that gave up");
  });

  it("a queued request leaves the queue when its client goes away", async () => {
    const table = new ProviderTable();
    table.upsert("p1", capabilities("europe"), { expiresAt: Date.now() + 60_000 });
    const entry = table.get("p1");
    assert.ok(entry);
    entry.inFlight = 1;
    const router = new InferenceRouter(unusedNode, table, { region: "europe" });
    const controller = new AbortController();
    const pending = router.route(generateIdentity(), { kind: "chat", model: "m", body }, { signal: controller.signal }).next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(router.queued, 1);
    controller.abort(new Error("client left"));
    await assert.rejects(pending, /client left/);
    assert.equal(router.queued, 0);
  });

  it("holds at most maxCreditsPerRequest whatever a provider charges, and releases it when no provider answers", async () => {
    // The one provider's dial fails every time: it is dialled again after a pause (a flaky dial is
    // not "no provider"), up to maxAttempts, and only then is the client told no provider could serve.
    const table = new ProviderTable();
    const provider = generateIdentity().id;
    const expensive = {
      ...capabilities("europe"),
      models: [{ id: "m", contextSize: 2048, pricePerToken: 1_000, kinds: ["chat" as const] }],
    };
    table.upsert(provider, expensive, { expiresAt: Date.now() + 60_000 });
    const held: Array<[string, number]> = [];
    const released: string[] = [];
    const payments: PaymentHooks = {
      reserve: (_payer, requestId, maxCredits) => void held.push([requestId, maxCredits]),
      settle: async () => {},
      release: (requestId) => void released.push(requestId),
    };
    const router = new InferenceRouter(unusedNode, table, { region: null, payments, maxCreditsPerRequest: 500 });
    const route = { kind: "chat" as const, model: "m", body, requestId: "r1" };
    await assert.rejects(router.route(generateIdentity(), route).next(), NoProviderError);
    assert.deepEqual(held, [["r1", 500]]);
    assert.deepEqual(released, ["r1"]);
    assert.equal(table.get(provider)?.failures, 3, "each failed dial counts: the provider is tried last next time");
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
});
