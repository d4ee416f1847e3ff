import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import type { Identity, NodeCapabilities } from "@opengateway/protocol";
import { generateIdentity, NoProviderError, OverloadedError } from "@opengateway/protocol";
import { TickingEngine } from "@opengateway/protocol/test-support/ticking-engine";
import { createLibp2pNode } from "./create-libp2p-node.js";
import type { InferenceRouterOptions, RouterEvent } from "./inference-router.js";
import { InferenceRouter } from "./inference-router.js";
import { inferenceService } from "./inference-service.js";
import { ProviderTable } from "./provider-table.js";

const capabilities = (slots: number): NodeCapabilities => ({
  v: 1,
  agent: "test",
  engine: "ticking-test-engine",
  region: null,
  clusters: ["A"],
  models: [{ id: "m", contextSize: 512, pricePerToken: 1, kinds: ["chat"] }],
  activeRequests: 0,
  maxConcurrentRequests: slots,
  queuedRequests: 0,
  tokensPerSecond: null,
});

const chat = (label: string, maxTokens: number) => ({
  kind: "chat" as const,
  model: "m",
  body: { messages: [{ role: "user" as const, content: label }], maxTokens, temperature: 1, topP: 1, seed: 1, stop: [] },
});

/** Runs a routed request to its end: the text it delivered, or the error it ended with. */
async function collect(events: AsyncGenerator<RouterEvent>, onDelta?: () => void): Promise<{ text: string; error?: unknown }> {
  let text = "";
  try {
    for await (const event of events) {
      if (event.type === "delta") {
        text += event.text;
        onDelta?.();
      }
    }
    return { text };
  } catch (error) {
    return { text, error };
  }
}

describe("router backpressure over real libp2p nodes", { timeout: 120_000 }, () => {
  const started: Libp2p[] = [];
  after(async () => {
    await Promise.all(started.map((node) => node.stop()));
  });

  async function provider(engine: TickingEngine): Promise<{ node: Libp2p; identity: Identity }> {
    const identity = generateIdentity();
    const node = await createLibp2pNode({ identity, services: { inference: inferenceService({ engine, identity }) } });
    started.push(node);
    return { node, identity };
  }

  async function router(options: InferenceRouterOptions, ...providers: Libp2p[]) {
    const client = await createLibp2pNode({ identity: generateIdentity() });
    started.push(client);
    for (const node of providers) await client.dial(node.getMultiaddrs()[0] ?? assert.fail("no address"));
    const table = new ProviderTable();
    return { table, router: new InferenceRouter(client, table, { region: null, ...options }) };
  }

  it("sends a provider no more than its slots; the rest wait in the router and all complete", async () => {
    const engine = new TickingEngine({ tickMs: 10 });
    const { node, identity } = await provider(engine);
    const { table, router: r } = await router({}, node);
    table.upsert(identity.id, capabilities(2), { expiresAt: Date.now() + 600_000 });
    const payer = generateIdentity();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => collect(r.route(payer, chat(`r${i}`, 10)))));
    assert.deepEqual(
      results.map((result) => result.error),
      results.map(() => undefined),
    );
    assert.ok(results.every((result) => result.text === " w".repeat(10)));
    assert.equal(engine.maxRunning, 2, "never more requests at once than the provider's slots");
    assert.equal(r.queued, 0);
  });

  it("past the queue bound answers OverloadedError (a 429) at once, never 'no provider', and serves the rest", async () => {
    const engine = new TickingEngine({ tickMs: 10 });
    const { node, identity } = await provider(engine);
    const { table, router: r } = await router({ maxQueuedRequests: 2 }, node);
    table.upsert(identity.id, capabilities(1), { expiresAt: Date.now() + 600_000 });
    const payer = generateIdentity();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => collect(r.route(payer, chat(`r${i}`, 10)))));
    const refused = results.filter((result) => result.error !== undefined);
    assert.equal(results.length - refused.length, 3, "one running and two queued are served");
    for (const { error, text } of refused) {
      assert.ok(OverloadedError.isInstance(error), `refused with ${String(error)}`);
      assert.ok(!NoProviderError.isInstance(error));
      assert.equal(text, "");
    }
  });

  it("a stream whose provider dies mid-stream waits for a busy provider's slot and resumes ahead of new requests", async () => {
    const dying = new TickingEngine({ tickMs: 20 });
    const busy = new TickingEngine({ tickMs: 20 });
    const a = await provider(dying);
    const b = await provider(busy);
    const { table, router: r } = await router({}, a.node, b.node);
    const payer = generateIdentity();
    table.upsert(a.identity.id, capabilities(1), { expiresAt: Date.now() + 600_000 });
    let firstDelta: () => void = () => {};
    const streaming = new Promise<void>((resolve) => {
      firstDelta = resolve;
    });
    const resumed = collect(r.route(payer, chat("s1", 60)), () => firstDelta());
    await streaming;
    // Only then does B appear: s2 takes its one slot, and r3 finds every slot taken and queues.
    table.upsert(b.identity.id, capabilities(1), { expiresAt: Date.now() + 600_000 });
    const s2 = collect(r.route(payer, chat("s2", 40)));
    while (busy.served.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const r3 = collect(r.route(payer, chat("r3", 5)));
    while (r.queued === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await a.node.stop(); // A dies with s1 half delivered; s2 still holds B's slot

    const [first, second, third] = await Promise.all([resumed, s2, r3]);
    assert.equal(first.error, undefined, `s1 ended with ${String(first.error)}`);
    assert.equal(first.text, " w".repeat(60), "the client got the whole answer once, across both providers");
    assert.equal(second.error, undefined);
    assert.equal(third.error, undefined);
    // The first user message of each request served, with "+resume" when it continues an answer.
    const served = busy.served.map((request) => `${request.messages[0]?.content}${request.continueFinal ? "+resume" : ""}`);
    assert.deepEqual(served, ["s2", "s1+resume", "r3"], "the resuming stream went ahead of the new request");
    assert.equal(busy.maxRunning, 1);
  });
});
