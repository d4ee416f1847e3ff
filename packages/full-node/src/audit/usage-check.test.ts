import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkUsage } from "./usage-check.js";

const counted = {
  promptTokens: 30,
  choices: [
    { tokens: 20, finishReason: "stop" as const },
    { tokens: 48, finishReason: "length" as const },
  ],
};

describe("checkUsage", () => {
  it("accepts usage as the engine's meter counts it", () => {
    const { reasons, figures } = checkUsage({ promptTokens: 29, completionTokens: 21 + 48 }, counted, 48);
    assert.deepEqual(reasons, []);
    assert.equal(figures.expectedCompletionTokens, 69);
  });

  it("refuses an inflated prompt or completion, and a completion above max_tokens", () => {
    const codes = (promptTokens: number, completionTokens: number) =>
      checkUsage({ promptTokens, completionTokens }, counted, 48).reasons.map((reason) => reason.code);
    assert.deepEqual(codes(40, 69), ["prompt-usage-mismatch"]);
    assert.deepEqual(codes(29, 90), ["completion-usage-mismatch"]);
    assert.match(checkUsage({ promptTokens: 29, completionTokens: 1240 }, counted, 48).reasons[0]?.message ?? "", /allow 96/);
  });
});
