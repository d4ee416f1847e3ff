import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatBodySchema } from "@opengateway/protocol";
import { probeIntervalFor } from "./audit-service.js";
import { PROBE_MAX_TOKENS_RANGE } from "./constants.js";
import { probePayload } from "./probe-prompts.js";

/** A small seeded generator, so a failure names a reproducible case. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("challenge probes", () => {
  it("are valid, varied chat requests using only what the auditor can re-check", () => {
    const random = seeded(7);
    const prompts = new Set<string>();
    const temperatures = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const payload = probePayload(random);
      assert.equal(payload.kind, "chat");
      const body = chatBodySchema.parse(payload.body);
      assert.ok(body.maxTokens >= PROBE_MAX_TOKENS_RANGE[0] && body.maxTokens <= PROBE_MAX_TOKENS_RANGE[1]);
      // Nothing the auditor reports as unauditable (inference-auditor.ts #unsupported).
      assert.equal(body.tools, undefined);
      assert.equal(body.responseFormat, undefined);
      assert.equal(
        body.logitBias ?? body.minP ?? body.repetitionPenalty ?? body.presencePenalty ?? body.frequencyPenalty,
        undefined,
      );
      prompts.add(body.messages.map((message) => message.content).join("\n"));
      temperatures.add(body.temperature);
    }
    assert.ok(prompts.size >= 20, `${prompts.size} distinct conversations`);
    assert.ok(temperatures.has(0) && temperatures.size >= 3);
  });

  it("come more often as a provider's reputation falls", () => {
    const mean = 20_000;
    assert.equal(probeIntervalFor(500, mean), mean);
    assert.equal(probeIntervalFor(0, mean), Math.floor(mean / 6));
    let previous = 0;
    for (let score = 0; score <= 1000; score += 50) {
      const interval = probeIntervalFor(score, mean);
      assert.ok(interval > previous, `interval at ${score}`);
      previous = interval;
    }
  });
});
