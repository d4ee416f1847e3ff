import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GenerationEvent } from "@opengateway/protocol";
import { InvalidRequestError, ModelNotFoundError } from "@opengateway/protocol";
import { describeInferenceEngineContract } from "@opengateway/protocol/test-support/inference-engine-contract";
import { engineWithFake } from "../test-support/fake-mlc-engine.js";

describeInferenceEngineContract("WebLlmEngine over FakeMlcEngine", () => engineWithFake().engine);

async function all(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const collected: GenerationEvent[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

const sampling = { maxTokens: 5, temperature: 0.7, topP: 0.9, seed: 41, stop: ["\n\n"] };

describe("WebLlmEngine over WebLLM's engine interface (with FakeMlcEngine)", () => {
  it("maps the protocol's chat request onto WebLLM's streaming request, OpenAI defaults explicit", async () => {
    const { engine, fake } = engineWithFake();
    const events = await all(
      engine.generateChat({
        model: "tiny",
        messages: [
          { role: "system", content: "Be brief" },
          { role: "user", content: "Tell a story" },
          { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "look", arguments: "{}" }] },
          { role: "tool", content: "sunny", toolCallId: "c1" },
        ],
        ...sampling,
        repetitionPenalty: 1.2,
        responseFormat: { type: "json_schema", name: "s", schema: { type: "object" } },
      }),
    );
    const request = fake.chatRequests[0];
    assert.ok(request);
    assert.equal(request.model, "Tiny-q4f16_1-MLC");
    assert.equal(request.max_tokens, 5);
    assert.equal(request.temperature, 0.7);
    assert.equal(request.top_p, 0.9);
    assert.equal(request.seed, 41);
    assert.deepEqual(request.stop, ["\n\n"]);
    assert.equal(request.presence_penalty, 0);
    assert.equal(request.frequency_penalty, 0);
    assert.equal(request.repetition_penalty, 1.2);
    assert.deepEqual(request.stream_options, { include_usage: true });
    assert.deepEqual(request.response_format, { type: "json_object", schema: '{"type":"object"}' });
    assert.deepEqual(request.messages[2], {
      role: "assistant",
      content: "",
      tool_calls: [{ id: "c1", type: "function", function: { name: "look", arguments: "{}" } }],
    });
    assert.deepEqual(request.messages[3], { role: "tool", content: "sunny", tool_call_id: "c1" });
    const text = events.flatMap((event) => (event.type === "text" ? [event.text] : [])).join("");
    assert.equal(text, "Once upon a time there");
    assert.deepEqual(events.at(-1), {
      type: "done",
      choices: [{ index: 0, finishReason: "length" }],
      usage: { promptTokens: 7, completionTokens: 5 },
    });
    assert.deepEqual(engine.listModels(), [{ id: "tiny", contextSize: 1024, pricePerToken: 2, kinds: ["chat", "completion"] }]);
  });

  it("generates n choices one after another with seed + i, counting the prompt once", async () => {
    const { engine, fake } = engineWithFake();
    const events = await all(engine.generateCompletion({ model: "tiny", prompt: "Once upon", n: 2, ...sampling, maxTokens: 20 }));
    assert.deepEqual(
      fake.completionRequests.map((request) => [request.prompt, request.seed, request.stream]),
      [
        ["Once upon", 41, true],
        ["Once upon", 42, true],
      ],
    );
    assert.deepEqual(events.at(-1), {
      type: "done",
      choices: [
        { index: 0, finishReason: "stop" },
        { index: 1, finishReason: "stop" },
      ],
      usage: { promptTokens: 2, completionTokens: 18 },
    });
    assert.ok(events.some((event) => event.type === "text" && event.index === 1));
  });

  it("interrupts WebLLM when the consumer leaves early or aborts, and serves requests one at a time", async () => {
    const { engine, fake } = engineWithFake();
    for await (const event of engine.generateChat({ model: "tiny", messages: [{ role: "user", content: "Hi" }], ...sampling })) {
      if (event.type === "text") break;
    }
    assert.equal(fake.interrupts, 1);

    const controller = new AbortController();
    const aborted: GenerationEvent[] = [];
    for await (const event of engine.generateChat(
      { model: "tiny", messages: [{ role: "user", content: "Hi" }], ...sampling, maxTokens: 9 },
      { signal: controller.signal },
    )) {
      aborted.push(event);
      if (aborted.length === 2) controller.abort();
    }
    assert.ok(fake.interrupts >= 2);
    assert.ok(!aborted.some((event) => event.type === "done"), "an aborted generation reports no result");

    const together = await Promise.all([
      all(engine.generateCompletion({ model: "tiny", prompt: "a", ...sampling })),
      all(engine.generateCompletion({ model: "tiny", prompt: "b", ...sampling })),
    ]);
    assert.equal(fake.maxRunning, 1, "WebLLM never sees two generations at once");
    assert.ok(together.every((events) => events.at(-1)?.type === "done"));
  });

  it("refuses what it cannot serve before any event", async () => {
    const { engine, fake } = engineWithFake();
    await assert.rejects(
      all(engine.generateChat({ model: "other", messages: [{ role: "user", content: "x" }], ...sampling })),
      ModelNotFoundError,
    );
    await assert.rejects(
      all(
        engine.generateChat({
          model: "tiny",
          messages: [{ role: "user", content: "x" }],
          ...sampling,
          tools: [{ name: "look" }],
        }),
      ),
      InvalidRequestError,
    );
    const embeddings = engine.embed({ model: "tiny", input: ["x"] });
    await assert.rejects(async () => {
      for await (const _ of embeddings) assert.fail("no embedding expected");
    }, InvalidRequestError);
    assert.equal(fake.chatRequests.length, 0);
  });
});
