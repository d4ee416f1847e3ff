import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode, inferenceService, nodeInfoService } from "@opengateway/p2p";
import type { GenerationEvent, Identity, InferenceEngine, InferenceRequest } from "@opengateway/protocol";
import { EngineFailedError, generateIdentity } from "@opengateway/protocol";
import type { ChatPayer } from "./tab-chat.js";
import { TabChat } from "./tab-chat.js";
import { generatorEngine } from "./test-support/generator-engine.js";

/** A provider's engine: says "Once upon a time", or fails before its first token. */
function scriptedEngine(fails: boolean): InferenceEngine {
  async function* generate(): AsyncGenerator<GenerationEvent> {
    if (fails) throw new EngineFailedError("the model crashed");
    for (const text of ["Once", " upon", " a", " time"]) yield { type: "text", index: 0, text, tokens: 1 };
    yield { type: "done", choices: [{ index: 0, finishReason: "length" }], usage: { promptTokens: 3, completionTokens: 4 } };
  }
  const model = { id: "m", contextSize: 512, pricePerToken: 10, kinds: ["chat" as const] };
  return generatorEngine(fails ? "broken" : "scripted", model, generate);
}

/** A provider node; the faster one (the broken one here) is tried first. */
async function startProvider(identity: Identity, fails: boolean): Promise<Libp2p> {
  const engine = scriptedEngine(fails);
  return createLibp2pNode({
    identity,
    services: {
      inference: inferenceService({ engine, identity }),
      info: nodeInfoService({
        getInfo: () => ({
          v: 1,
          agent: "test",
          engine: engine.name,
          region: fails ? "europe" : "asia",
          clusters: ["A"],
          models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
          activeRequests: 0,
          maxConcurrentRequests: 1,
          queuedRequests: 0,
          // The broken one is tried first: a router picks by speed, with odds of ten million to one here.
          tokensPerSecond: fails ? 1e7 : 1,
        }),
      }),
    },
  });
}

describe("TabChat", () => {
  const broken = generateIdentity();
  const good = generateIdentity();
  const providers: Libp2p[] = [];
  let tab: Libp2p<NetworkServices>;
  let chat: TabChat;

  before(async () => {
    providers.push(await startProvider(broken, true), await startProvider(good, false));
    const identity = generateIdentity();
    tab = await createLibp2pNode({ identity });
    chat = new TabChat(tab, identity);
    chat.start();
    for (const provider of providers) await tab.dial(provider.getMultiaddrs()[0] ?? assert.fail("no address"));
    const deadline = Date.now() + 10_000;
    while (chat.providers().length < 2) {
      assert.ok(Date.now() < deadline, "the tab never learned of both providers");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  after(async () => {
    chat?.stop();
    await tab?.stop();
    await Promise.all(providers.map((provider) => provider.stop()));
  });

  it("fails over like any router, in any region, capping and releasing the reserve and reporting a failed settlement", async () => {
    const held: Array<Pick<InferenceRequest, "id" | "maxCredits" | "expiresAt">> = [];
    const released: string[] = [];
    const ledger: ChatPayer = {
      assertCanPay: () => {},
      reserve: (request) => void held.push(request),
      settle: async () => {
        throw new Error("the chain is busy");
      },
      release: (id) => void released.push(id),
    };
    const stream = chat.chat({ messages: [{ role: "user", content: "Tell me a story" }], maxTokens: 8 }, ledger);
    let streamed = "";
    let next = await stream.next();
    for (; !next.done; next = await stream.next()) streamed += next.value;
    const result = next.value;
    assert.equal(result.text, "Once upon a time");
    assert.equal(streamed, result.text);
    assert.deepEqual(result.providers, [good.id], "the broken provider failed before any token and was replaced");
    assert.equal(chat.providers().find((entry) => entry.peerId === broken.id)?.failures, 1, "the broken one was tried first");
    assert.equal(result.provider, good.id);
    assert.equal(result.model, "m");
    assert.equal(result.credits, result.receipts[0]?.credits);
    assert.equal(result.credits, 70, "(3 prompt + 4 completion tokens) × 10");
    // One hold per attempt (issue 12): each provider's estimate at its own price, the previous one released first.
    assert.equal(held.length, 2);
    // Premise changed (issue 12): a provider over the cap is skipped, so the hold is its estimate, within the cap.
    assert.ok((held[0]?.maxCredits ?? 0) > 0 && (held[0]?.maxCredits ?? 0) <= 20_000);
    assert.deepEqual(
      released,
      held.map((hold) => hold.id),
    );
    assert.equal(result.paid, false);
    assert.equal(result.paymentError, "the chain is busy");
  });

  it("refuses before routing when the tab cannot pay", async () => {
    const ledger: ChatPayer = {
      assertCanPay: () => {
        throw new Error("not registered yet");
      },
      reserve: () => assert.fail("nothing is reserved"),
      settle: async () => assert.fail("nothing is settled"),
      release: () => assert.fail("nothing is released"),
    };
    await assert.rejects(chat.chat({ messages: [{ role: "user", content: "hi" }] }, ledger).next(), /not registered yet/);
  });
});
