import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChatGeneration, GenerationEvent, ToolDefinition } from "@opengateway/protocol";
import { describeInferenceEngineContract } from "@opengateway/protocol/test-support/inference-engine-contract";
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
  const texts: string[] = [];
  const toolCalls: Array<Extract<GenerationEvent, { type: "tool_calls" }>> = [];
  let done: Extract<GenerationEvent, { type: "done" }> | undefined;
  for await (const event of events) {
    if (event.type === "text") {
      if (event.index === 0) text += event.text;
      texts[event.index] = (texts[event.index] ?? "") + event.text;
    } else if (event.type === "tool_calls") toolCalls.push(event);
    else done = event;
  }
  return { text, texts, toolCalls, done, finishReason: done?.choices[0]?.finishReason };
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
    assert.equal(done?.choices[0]?.finishReason, "length");
    assert.equal(done?.usage.completionTokens, 12);
    assert.ok((done?.usage.promptTokens ?? 0) > 4);
  });

  it("clamps max_tokens to the context the prompt leaves, so usage counts the prompt once (issue 14)", async () => {
    const contextSize = engine.listModels()[0]?.contextSize ?? assert.fail("no model");
    const small = await collect(engine.generateChat(story({ maxTokens: 4 })));
    const prompt = small.done?.usage.promptTokens ?? assert.fail("no usage");
    for (const generation of [
      engine.generateChat(story({ maxTokens: contextSize, temperature: 0 })),
      engine.generateCompletion({ ...story({ maxTokens: contextSize, temperature: 0 }), prompt: "Once upon a time" }),
    ]) {
      const { done } = await collect(generation);
      const usage = done?.usage ?? assert.fail("no usage");
      assert.ok(usage.promptTokens <= prompt, `prompt_tokens ${usage.promptTokens} for a ${prompt}-token prompt`);
      assert.ok(usage.promptTokens + usage.completionTokens <= contextSize, `${JSON.stringify(usage)} in ${contextSize}`);
    }
    // A prompt that fills the context leaves no room for an answer: refused, before any work.
    await assert.rejects(
      collect(engine.generateCompletion({ ...story(), prompt: "Once upon a time ".repeat(contextSize) })),
      (error: unknown) => error instanceof Error && "code" in error && error.code === "invalid_request",
    );
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
    assert.equal(stopped.finishReason, "stop");
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

  it("stops at the payer's reserve: prompt plus completion tokens never pass maxTotalTokens", async () => {
    const free = await collect(engine.generateChat(story({ maxTokens: 40 })));
    const prompt = free.done?.usage.promptTokens ?? 0;
    assert.equal(free.done?.usage.completionTokens, 40);
    const capped = await collect(engine.generateChat(story({ maxTokens: 40 }), { maxTotalTokens: prompt + 15 }));
    assert.equal(capped.finishReason, "length");
    assert.equal(capped.done?.usage.promptTokens, prompt);
    assert.ok((capped.done?.usage.completionTokens ?? 0) <= 15, `${capped.done?.usage.completionTokens} completion tokens`);
    assert.ok((capped.done?.usage.completionTokens ?? 0) >= 14);
    assert.ok(free.text.startsWith(capped.text), "the same generation, cut where the reserve ends");
    // A prompt that alone uses the reserve is refused before it is evaluated, with the code that means 402.
    await assert.rejects(
      collect(engine.generateChat(story({ maxTokens: 40 }), { maxTotalTokens: prompt })),
      (error: unknown) => error instanceof Error && "code" in error && error.code === "insufficient_credits",
    );
    await assert.rejects(
      collect(engine.generateCompletion({ ...story(), prompt: "Once upon a time there was a dog" }, { maxTotalTokens: 3 })),
      (error: unknown) => error instanceof Error && "code" in error && error.code === "insufficient_credits",
    );
    // n choices share one budget: the second choice gets what the first left.
    const shared = await collect(engine.generateChat(story({ maxTokens: 10, n: 3 }), { maxTotalTokens: prompt + 15 }));
    assert.ok((shared.done?.usage.completionTokens ?? 0) <= 15);
    assert.deepEqual(
      shared.done?.choices.map((choice) => choice.finishReason),
      ["length", "length", "length"],
    );
  });

  it("generates n choices with their own seeds, counting the prompt once", async () => {
    const one = await collect(engine.generateChat(story({ maxTokens: 10 })));
    const three = await collect(engine.generateChat(story({ maxTokens: 10, n: 3 })));
    assert.deepEqual(
      three.done?.choices.map((choice) => choice.index),
      [0, 1, 2],
    );
    assert.equal(three.texts.length, 3);
    assert.equal(three.texts[0], one.text);
    assert.notEqual(three.texts[1], three.texts[0]);
    assert.equal(three.done?.usage.promptTokens, one.done?.usage.promptTokens);
    assert.equal(three.done?.usage.completionTokens, 30);
  });

  it("continues raw text without a chat template", async () => {
    const result = await collect(
      engine.generateCompletion({
        model: "stories260K",
        prompt: "Once upon a time",
        maxTokens: 8,
        temperature: 0,
        topP: 1,
        seed: 1,
        stop: [],
      }),
    );
    assert.ok(result.text.length > 0);
    assert.equal(result.done?.usage.completionTokens, 8);
    assert.ok((result.done?.usage.promptTokens ?? 0) >= 3 && (result.done?.usage.promptTokens ?? 0) < 10);
  });

  it("returns one embedding per input", async () => {
    const events = [];
    for await (const event of engine.embed({ model: "stories260K", input: ["a cat", "a dog", "a cat"] })) events.push(event);
    const vectors = events.flatMap((event) => (event.type === "embedding" ? [event.embedding] : []));
    assert.equal(vectors.length, 3);
    assert.equal(vectors[0]?.length, 64);
    assert.deepEqual(vectors[0], vectors[2]);
    assert.notDeepEqual(vectors[0], vectors[1]);
    const done = events.at(-1);
    assert.equal(done?.type, "done");
  });

  it("writes valid JSON under json_object and follows a json_schema", async () => {
    const json = await collect(engine.generateChat(story({ maxTokens: 120, responseFormat: { type: "json_object" } })));
    if (json.finishReason === "stop") assert.doesNotThrow(() => JSON.parse(json.text));
    else assert.match(json.text.trimStart(), /^[[{"\d-tfn]/);
    const schema = { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } } };
    const typed = await collect(
      engine.generateChat(story({ maxTokens: 200, responseFormat: { type: "json_schema", name: "p", schema } })),
    );
    assert.equal(typed.finishReason, "stop", `schema output was cut: ${typed.text}`);
    const parsed = JSON.parse(typed.text) as { name: unknown; age: unknown };
    assert.equal(typeof parsed.name, "string");
    assert.ok(Number.isInteger(parsed.age));
  });

  it("turns a forced tool_choice into a tool call with JSON arguments", async () => {
    const tools: ToolDefinition[] = [
      {
        name: "get_weather",
        description: "weather for a city",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
      { name: "get_time", parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } } } },
    ];
    const forced = await collect(engine.generateChat(story({ maxTokens: 200, tools, toolChoice: { name: "get_weather" } })));
    assert.equal(forced.finishReason, "tool_calls");
    assert.equal(forced.text, "");
    const call = forced.toolCalls[0]?.calls[0];
    assert.equal(call?.name, "get_weather");
    assert.equal(typeof (JSON.parse(call?.arguments ?? "") as { city: unknown }).city, "string");
    const required = await collect(engine.generateChat(story({ maxTokens: 200, tools, toolChoice: "required" })));
    assert.equal(required.finishReason, "tool_calls");
    const chosen = required.toolCalls[0]?.calls[0];
    assert.ok(chosen && ["get_weather", "get_time"].includes(chosen.name));
    assert.doesNotThrow(() => JSON.parse(chosen.arguments));
    await assert.rejects(collect(engine.generateChat(story({ tools, toolChoice: { name: "nope" } }))), {
      name: "InvalidRequestError",
    });
  });

  it("passes a tool call cut by max_tokens on as its partial arguments text, with finish_reason length", async () => {
    const tools: ToolDefinition[] = [
      { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
      { name: "get_time", parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } } } },
    ];
    for (const toolChoice of [{ name: "get_weather" }, "required"] as const) {
      // Greedy, so the cut run writes a prefix of the whole one: cut at three quarters of it (the
      // last tokens may be whitespace after the closing brace).
      const whole = await collect(engine.generateChat(story({ temperature: 0, maxTokens: 200, tools, toolChoice })));
      assert.equal(whole.finishReason, "tool_calls");
      const maxTokens = Math.floor(((whole.done?.usage.completionTokens ?? 0) * 3) / 4);
      const cut = await collect(engine.generateChat(story({ temperature: 0, maxTokens, tools, toolChoice })));
      assert.equal(cut.finishReason, "length", `${JSON.stringify(toolChoice)}`);
      assert.equal(cut.text, "");
      const call = cut.toolCalls[0]?.calls[0];
      assert.equal(call?.name, whole.toolCalls[0]?.calls[0]?.name);
      assert.match(call?.arguments ?? "", /^\{/, "the partial arguments as the model wrote them");
      assert.throws(() => JSON.parse(call?.arguments ?? ""), SyntaxError, `'${call?.arguments}' must not be completed JSON`);
    }
  });

  it("honours top_k, min_p and repetition_penalty", async () => {
    const greedy = (await collect(engine.generateChat(story({ temperature: 0, maxTokens: 20 })))).text;
    // One candidate left (the likeliest): sampling at temperature 1 writes the greedy text.
    const topK = await collect(engine.generateChat(story({ temperature: 1, topK: 1, maxTokens: 20 })));
    assert.equal(topK.text, greedy);
    const minP = await collect(engine.generateChat(story({ temperature: 1, minP: 1, maxTokens: 20 })));
    assert.equal(minP.text, greedy);
    const free = await collect(engine.generateChat(story({ temperature: 1, maxTokens: 20 })));
    assert.notEqual(free.text, greedy, "without them, temperature 1 samples another text (seed 42)");
    const penalised = await collect(engine.generateChat(story({ temperature: 0, repetitionPenalty: 1.8, maxTokens: 20 })));
    assert.notEqual(penalised.text, greedy);
  });

  it("applies logit_bias: +100 makes a token win every step, an unknown token id is refused", async () => {
    const token = engine.tokenize(" cat").at(-1); // "at": a token with visible text
    assert.ok(token !== undefined);
    const piece = engine.detokenize([token]);
    const biased = await collect(
      engine.generateChat(story({ temperature: 0, maxTokens: 12, logitBias: { [String(token)]: 100 } })),
    );
    assert.equal(biased.text.split(piece.trim()).length - 1, 12, `expected '${piece}' twelve times in '${biased.text}'`);
    await assert.rejects(collect(engine.generateChat(story({ logitBias: { "999999": -100 } }))), { name: "InvalidRequestError" });
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

describeInferenceEngineContract("LlamaCppEngine on the real test model", () =>
  LlamaCppEngine.load({ modelPath: MODEL_PATH, threads: 1, parallelRequests: 2, maxQueuedRequests: 1 }),
);
