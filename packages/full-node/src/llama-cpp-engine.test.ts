import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChatGeneration, GenerationEvent } from "@opengateway/protocol";
import { LlamaCppEngine } from "./llama-cpp-engine.js";

const MODEL_PATH =
  process.env.OPENGATEWAY_TEST_MODEL ?? fileURLToPath(new URL("../../../../shared/models/stories260K.gguf", import.meta.url));

const story = (overrides: Partial<ChatGeneration> = {}): ChatGeneration => ({
  model: "stories260K",
  messages: [{ role: "user", content: "Once upon a time" }],
  maxTokens: 24,
  temperature: 1,
  topP: 1,
  seed: 42,
  stop: [],
  ...overrides,
});

async function collect(events: AsyncIterable<GenerationEvent>) {
  let text = "";
  let done: Extract<GenerationEvent, { type: "done" }> | undefined;
  for await (const event of events) {
    if (event.type === "text") text += event.text;
    else done = event;
  }
  return { text, done };
}

describe("LlamaCppEngine on the real test model", () => {
  let engine: LlamaCppEngine;

  before(async () => {
    assert.ok(existsSync(MODEL_PATH), `test model missing at ${MODEL_PATH}; set OPENGATEWAY_TEST_MODEL`);
    engine = await LlamaCppEngine.load({ modelPath: MODEL_PATH, threads: 1, parallelRequests: 2, maxQueuedRequests: 1 });
  });
  after(async () => engine?.close());

  it("serves the file under its name", () => {
    assert.deepEqual(
      engine.listModels().map((m) => m.id),
      ["stories260K"],
    );
  });

  it("stops at max_tokens and reports usage from the token meter", async () => {
    const { text, done } = await collect(engine.generateChat(story({ maxTokens: 12 })));
    assert.ok(text.length > 0);
    assert.equal(done?.finishReason, "length");
    assert.equal(done?.usage.completionTokens, 12);
    assert.ok((done?.usage.promptTokens ?? 0) > 4);
  });

  it("is reproducible for one seed and varies across seeds", async () => {
    const a = await collect(engine.generateChat(story({ seed: 7 })));
    const b = await collect(engine.generateChat(story({ seed: 7 })));
    const c = await collect(engine.generateChat(story({ seed: 8 })));
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, c.text);
  });

  it("ends at a stop string without emitting it", async () => {
    const free = await collect(engine.generateChat(story({ temperature: 0, maxTokens: 60 })));
    const word = free.text.trim().split(/\s+/)[2];
    assert.ok(word, `expected a few words, got '${free.text}'`);
    const stopped = await collect(engine.generateChat(story({ temperature: 0, maxTokens: 60, stop: [word] })));
    assert.equal(stopped.done?.finishReason, "stop");
    assert.ok(!stopped.text.includes(word), `'${stopped.text}' still contains '${word}'`);
    assert.ok(free.text.startsWith(stopped.text));
  });

  it("frees the sequence when the consumer leaves early, and queues then refuses past capacity", async () => {
    for await (const event of engine.generateChat(story({ maxTokens: 500 }))) {
      if (event.type === "text") break;
    }
    assert.equal(engine.activeRequests, 0);

    const running = [engine.generateChat(story({ maxTokens: 200 })), engine.generateChat(story({ maxTokens: 200 }))];
    const iterators = running.map((events) => events[Symbol.asyncIterator]());
    await Promise.all(iterators.map((iterator) => iterator.next()));
    assert.equal(engine.activeRequests, 2);
    const queued = collect(engine.generateChat(story({ maxTokens: 4 })));
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(engine.queuedRequests, 1);
    await assert.rejects(collect(engine.generateChat(story())), { name: "OverloadedError" });
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
    const result = await queued;
    assert.equal(result.done?.usage.completionTokens, 4);
    assert.equal(engine.activeRequests, 0);
  });

  it("stops when the signal aborts", async () => {
    const controller = new AbortController();
    let tokens = 0;
    for await (const event of engine.generateChat(story({ maxTokens: 1000 }), { signal: controller.signal })) {
      if (event.type === "text") tokens += event.tokens;
      if (tokens >= 3) controller.abort();
      assert.notEqual(event.type, "done");
    }
    assert.ok(tokens < 100);
    assert.equal(engine.activeRequests, 0);
  });
});
