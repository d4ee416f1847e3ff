import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeCapabilities } from "@opengateway/protocol";
import { generateIdentity, NoProviderError, OverloadedError } from "@opengateway/protocol";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
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

/** Payment hooks that record what the router holds and releases, and settle nothing. */
function recordingPayments(): { held: Array<[string, number]>; released: string[]; payments: PaymentHooks } {
  const held: Array<[string, number]> = [];
  const released: string[] = [];
  const payments: PaymentHooks = {
    reserve: (_payer, requestId, maxCredits) => void held.push([requestId, maxCredits]),
    settle: async () => {},
    release: (requestId) => void released.push(requestId),
  };
  return { held, released, payments };
}

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

  // Premise changed (issue 12): a provider whose estimate exceeds the per-request cap used to be
  // held at the cap and paid up to it; now it is skipped, and nothing is held for it.
  it("skips a provider whose price makes the request's estimate exceed maxCreditsPerRequest, holding nothing for it", async () => {
    const table = new ProviderTable();
    const provider = generateIdentity().id;
    const expensive = {
      ...capabilities("europe"),
      models: [{ id: "m", contextSize: 2048, pricePerToken: 1_000, kinds: ["chat" as const] }],
    };
    table.upsert(provider, expensive, { expiresAt: Date.now() + 60_000 });
    const { held, released, payments } = recordingPayments();
    const router = new InferenceRouter(unusedNode, table, { region: null, payments, maxCreditsPerRequest: 500 });
    const route = { kind: "chat" as const, model: "m", body, requestId: "r1" };
    await assert.rejects(router.route(generateIdentity(), route).next(), /asks more than this request may cost \(500 credits\)/);
    assert.deepEqual(held, []);
    assert.deepEqual(released, []);
  });

  it("holds the chosen provider's estimate per attempt, and releases each when no provider answers", async () => {
    // The one provider's dial fails every time: it is dialled again after a pause (a flaky dial is
    // not "no provider"), up to maxAttempts, and only then is the client told no provider could serve.
    const table = new ProviderTable();
    const provider = generateIdentity().id;
    table.upsert(provider, capabilities("europe"), { expiresAt: Date.now() + 60_000 });
    const { held, released, payments } = recordingPayments();
    const router = new InferenceRouter(unusedNode, table, { region: null, payments });
    const route = { kind: "chat" as const, model: "m", body, requestId: "r1" };
    await assert.rejects(router.route(generateIdentity(), route).next(), NoProviderError);
    // 64 + 4 + (2 + 32 + 2) prompt tokens and 10 completion tokens at 1 credit each.
    assert.deepEqual(held, [
      ["r1", 114],
      ["r1-1", 114],
      ["r1-2", 114],
    ]);
    assert.deepEqual(released, ["r1", "r1-1", "r1-2"]);
    assert.equal(table.get(provider)?.failures, 3, "each failed dial counts: the provider is tried last next time");
  });

  it("never picks a provider above the price cap, and prefers a cheaper tier over a faster dear one", () => {
    const table = new ProviderTable();
    const priced = (price: number, tokensPerSecond: number): NodeCapabilities => ({
      ...capabilities("europe"),
      tokensPerSecond,
      models: [{ id: "m", contextSize: 2048, pricePerToken: price, kinds: ["chat" as const] }],
    });
    table.upsert("cheap", priced(1, 10), { expiresAt: Date.now() + 60_000 });
    table.upsert("fast-dear", priced(100, 1_000), { expiresAt: Date.now() + 60_000 });
    table.upsert("absurd", priced(1_000_000, 100_000), { expiresAt: Date.now() + 60_000 });
    assert.deepEqual(
      table.candidatesFor("m").map((entry) => entry.peerId),
      ["cheap", "fast-dear", "absurd"],
    );
    assert.deepEqual(
      table.candidatesFor("m", { maxPricePerToken: 100 }).map((entry) => entry.peerId),
      ["cheap", "fast-dear"],
    );
    // Within a factor of two, price is a tie and speed per credit weighs the choice: 100 / 1.5 against 10.
    const tier = new ProviderTable({ random: seededRandom(5) });
    tier.upsert("cheap", priced(1, 10), { expiresAt: Date.now() + 60_000 });
    tier.upsert("cheap-fast", priced(1.5, 100), { expiresAt: Date.now() + 60_000 });
    tier.upsert("fast-dear", priced(100, 1_000), { expiresAt: Date.now() + 60_000 });
    const firsts = Array.from({ length: 2_000 }, () => tier.candidatesFor("m")[0]?.peerId);
    const share = firsts.filter((id) => id === "cheap-fast").length / firsts.length;
    assert.ok(Math.abs(share - 100 / 1.5 / (100 / 1.5 + 10)) < 0.04, `cheap-fast first ${share}`);
    assert.ok(!firsts.includes("fast-dear"), "a dearer tier only when the cheaper one is full");
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
