import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatRequestBody, completionRequestBody } from "./upstream-request-body.js";

const choice = { index: 1, maxTokens: 8, llamaServerTimings: false };
const sampling = { model: "m", maxTokens: 8, temperature: 0.7, topP: 0.9, seed: 10, stop: [] };

describe("upstream request bodies", () => {
  it("pass top_k, min_p and the repetition penalty on in the names llama-server, vLLM and Ollama take", () => {
    const body = completionRequestBody({ ...sampling, prompt: "p", topK: 20, minP: 0.1, repetitionPenalty: 1.2 }, choice);
    assert.equal(body.top_k, 20);
    assert.equal(body.min_p, 0.1);
    assert.equal(body.repetition_penalty, 1.2);
    assert.equal(body.repeat_penalty, 1.2);
    assert.equal(body.seed, 11);
    // "All tokens" is -1 to vLLM and any k <= 0 to llama-server.
    assert.equal(completionRequestBody({ ...sampling, prompt: "p", topK: 0 }, choice).top_k, -1);
  });

  it("leave them out when the request has none, as a plain OpenAI upstream wants", () => {
    const body = chatRequestBody({ ...sampling, messages: [{ role: "user", content: "hi" }] }, choice);
    for (const name of ["top_k", "min_p", "repetition_penalty", "repeat_penalty"]) assert.equal(name in body, false, name);
  });
});
