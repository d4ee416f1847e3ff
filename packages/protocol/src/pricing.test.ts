import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maxCreditsFor } from "./pricing.js";

const body = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 10, temperature: 1, topP: 1, seed: 1, stop: [] };

describe("maxCreditsFor", () => {
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
