import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GenerationEvent, InferenceEngine } from "@opengateway/protocol";
import { OverloadedError } from "@opengateway/protocol";
import { describeInferenceEngineContract } from "@opengateway/protocol/test-support/inference-engine-contract";
import { engineWithFake } from "../test-support/fake-mlc-engine.js";
import { generatorEngine } from "../test-support/generator-engine.js";
import { ThrottledEngine } from "./throttled-engine.js";

describeInferenceEngineContract(
  "ThrottledEngine (WebLlmEngine over FakeMlcEngine)",
  () => new ThrottledEngine(engineWithFake().engine, { maxConcurrentRequests: 2 }),
);

/** A stand-in engine that emits a few one-token texts, slowly enough to overlap requests. */
function slowEngine(): InferenceEngine {
  async function* generate(): AsyncGenerator<GenerationEvent> {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      yield { type: "text", index: 0, text: "x", tokens: 1 };
    }
    yield { type: "done", choices: [{ index: 0, finishReason: "length" }], usage: { promptTokens: 1, completionTokens: 3 } };
  }
  return generatorEngine("slow", { id: "m", contextSize: 64, pricePerToken: 1, kinds: ["completion"] }, generate);
}

const request = { model: "m", prompt: "p", maxTokens: 3, temperature: 0, topP: 1, seed: 0, stop: [] };

async function drain(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const all: GenerationEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

describe("ThrottledEngine (the contributor's throttle)", () => {
  it("refuses past the concurrency limit as overloaded, before any event", async () => {
    let changes = 0;
    const engine = new ThrottledEngine(slowEngine(), { maxConcurrentRequests: 1, onChange: () => changes++ });
    const first = drain(engine.generateCompletion(request));
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(engine.activeRequests, 1);
    await assert.rejects(drain(engine.generateCompletion(request)), OverloadedError);
    assert.equal((await first).at(-1)?.type, "done");
    assert.equal(engine.activeRequests, 0);
    assert.equal(changes, 2);
    engine.maxConcurrentRequests = 2;
    const both = await Promise.all([drain(engine.generateCompletion(request)), drain(engine.generateCompletion(request))]);
    assert.ok(both.every((events) => events.at(-1)?.type === "done"));
  });

  it("takes no requests while paused, and measures live speed from the tokens served", async () => {
    let now = 0;
    const engine = new ThrottledEngine(slowEngine(), { maxConcurrentRequests: 1, now: () => now });
    engine.pause("the tab is hidden");
    await assert.rejects(drain(engine.generateCompletion(request)), /not taking requests: the tab is hidden/);
    engine.resume();
    await drain(engine.generateCompletion(request));
    now = 2_000;
    assert.equal(engine.liveTokensPerSecond(), 1.5);
    now = 60_000;
    assert.equal(engine.liveTokensPerSecond(), 0);
  });
});
