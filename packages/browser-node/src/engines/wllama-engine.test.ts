import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { wllamaSampling } from "./wllama-engine.js";

const request = { maxTokens: 5, temperature: 0.7, topP: 0.9, seed: 41, stop: [] };

describe("wllamaSampling", () => {
  it("switches llama.cpp's extra samplers off for a plain OpenAI request", () => {
    const sampling = wllamaSampling(request, 1);
    assert.equal(sampling.seed, 42);
    assert.equal(sampling.top_k, 0);
    assert.equal(sampling.min_p, 0);
    assert.equal(sampling.repeat_penalty, 1);
  });

  it("passes top_k, min_p and the repetition penalty on as llama.cpp names them", () => {
    const sampling = wllamaSampling({ ...request, topK: 20, minP: 0.05, repetitionPenalty: 1.3 }, 0);
    assert.equal(sampling.top_k, 20);
    assert.equal(sampling.min_p, 0.05);
    assert.equal(sampling.repeat_penalty, 1.3);
  });
});
