import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InferenceRouter, ProviderTable } from "@opengateway/p2p";
import type { NodeCapabilities } from "@opengateway/protocol";
import { generateIdentity } from "@opengateway/protocol";
import { OpenAIApi } from "./openai-api.js";

const capabilities: NodeCapabilities = {
  v: 1,
  agent: "test",
  engine: "test",
  region: "europe",
  clusters: ["A"],
  models: [{ id: "m", contextSize: 2048, pricePerToken: 1, kinds: ["chat"] }],
  activeRequests: 0,
  maxConcurrentRequests: 1,
  queuedRequests: 0,
  tokensPerSecond: null,
};
const unusedNode = {
  dialProtocol: () => {
    throw new Error("no provider should be dialled");
  },
};

describe("OpenAIApi", () => {
  it("answers a full region with a 429 and retry-after, without dialling anyone", async () => {
    const table = new ProviderTable();
    table.upsert("p1", capabilities, { expiresAt: Date.now() + 60_000 });
    const entry = table.get("p1");
    assert.ok(entry);
    entry.inFlight = 2; // both slots and the queue allowance taken
    const api = new OpenAIApi(new InferenceRouter(unusedNode, table, { region: "europe" }));
    await assert.rejects(
      api.chatCompletions({ model: "m", messages: [{ role: "user", content: "hi" }] }, { payer: generateIdentity() }),
      (error: unknown) =>
        (error as { status?: number }).status === 429 &&
        (error as { headers: Record<string, string> }).headers["retry-after"] === "1",
    );
  });
});
