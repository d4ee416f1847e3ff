import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseChatCompletionRequest } from "./chat-completion-request.js";
import { OpenAIHttpError } from "./openai-error.js";

const limits = { contextSize: 2048, defaultMaxTokens: 1024 };
const parse = (body: unknown) => parseChatCompletionRequest(body, limits);

function rejects(body: unknown, status: number, param?: string) {
  assert.throws(
    () => parse(body),
    (error: unknown) =>
      error instanceof OpenAIHttpError && error.status === status && (param === undefined || error.param === param),
  );
}

describe("parseChatCompletionRequest", () => {
  it("maps OpenAI's defaults explicitly", () => {
    const parsed = parse({ model: "m", messages: [{ role: "user", content: "hi" }] });
    assert.equal(parsed.body.temperature, 1);
    assert.equal(parsed.body.topP, 1);
    assert.equal(parsed.body.maxTokens, 1024);
    assert.deepEqual(parsed.body.stop, []);
    assert.equal(parsed.stream, false);
    assert.ok(Number.isInteger(parsed.body.seed) && parsed.body.seed >= 0 && parsed.body.seed < 2 ** 32);
  });

  it("draws a fresh seed per request when none is given, and keeps a given one", () => {
    const seeds = new Set(
      Array.from({ length: 20 }, () => parse({ model: "m", messages: [{ role: "user", content: "x" }] }).body.seed),
    );
    assert.ok(seeds.size > 15);
    assert.equal(parse({ model: "m", messages: [{ role: "user", content: "x" }], seed: 42 }).body.seed, 42);
    assert.equal(parse({ model: "m", messages: [{ role: "user", content: "x" }], seed: -1 }).body.seed, 2 ** 32 - 1);
  });

  it("accepts text-part content, developer messages, a stop string and max_completion_tokens", () => {
    const parsed = parse({
      model: "m",
      messages: [
        { role: "developer", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "text", text: "Once " },
            { type: "text", text: "upon" },
          ],
        },
      ],
      stop: "\n",
      max_tokens: 10,
      max_completion_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.deepEqual(parsed.body.messages, [
      { role: "system", content: "be brief" },
      { role: "user", content: "Once upon" },
    ]);
    assert.deepEqual(parsed.body.stop, ["\n"]);
    assert.equal(parsed.body.maxTokens, 20);
    assert.equal(parsed.stream, true);
    assert.equal(parsed.includeUsage, true);
  });

  it("refuses bad input with a 400 naming the parameter", () => {
    rejects(null, 400);
    rejects([], 400);
    rejects({ messages: [{ role: "user", content: "x" }] }, 400, "model");
    rejects({ model: "m", messages: [] }, 400, "messages");
    rejects({ model: "m", messages: [{ role: "wizard", content: "x" }] }, 400, "messages.0.role");
    rejects({ model: "m", messages: [{ role: "user", content: 5 }] }, 400, "messages.0.content");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: -1 }, 400, "max_tokens");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 1e9 }, 400, "max_tokens");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 4096 }, 400, "max_tokens");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], temperature: 3 }, 400, "temperature");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], stop: ["a", "b", "c", "d", "e"] }, 400, "stop");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], n: 9 }, 400, "n");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "function" }] }, 400, "tools.0.function");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], tool_choice: "required" }, 400, "tool_choice");
    rejects({ model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, 400);
  });

  it("takes top_k, min_p and repetition_penalty as llama-server and vLLM do, and says how many stop strings fit", () => {
    const user = { model: "m", messages: [{ role: "user", content: "x" }] };
    const parsed = parse({ ...user, top_k: 20, min_p: 0.05, repetition_penalty: 1.1 });
    assert.equal(parsed.body.topK, 20);
    assert.equal(parsed.body.minP, 0.05);
    assert.equal(parsed.body.repetitionPenalty, 1.1);
    // vLLM's -1 and llama-server's 0 both mean every token; llama-server's own name for the penalty.
    assert.equal(parse({ ...user, top_k: -1 }).body.topK, 0);
    assert.equal(parse({ ...user, repeat_penalty: 1.3 }).body.repetitionPenalty, 1.3);
    // Absent or neutral, nothing is added: the body is what a plain OpenAI request makes.
    const plain = parse({ ...user, repetition_penalty: 1, top_k: null });
    assert.equal("repetitionPenalty" in plain.body || "topK" in plain.body || "minP" in plain.body, false);
    rejects({ ...user, top_k: 1.5 }, 400, "top_k");
    rejects({ ...user, top_k: -2 }, 400, "top_k");
    rejects({ ...user, min_p: 1.5 }, 400, "min_p");
    rejects({ ...user, repetition_penalty: 0 }, 400, "repetition_penalty");
    rejects({ ...user, repetition_penalty: 1.1, repeat_penalty: 1.2 }, 400, "repeat_penalty");
    assert.throws(
      () => parse({ ...user, stop: ["a", "b", "c", "d", "e"] }),
      (error: unknown) => error instanceof OpenAIHttpError && /at most 4 stop sequences/.test(error.message),
    );
  });

  it("refuses parameters this release does not implement, by name, and unknown ones like OpenAI", () => {
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], logprobs: true }, 400, "logprobs");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], functions: [{ name: "f" }] }, 400, "functions");
    rejects({ model: "m", messages: [{ role: "user", content: "x" }], frobnicate: 1 }, 400, "frobnicate");
    assert.doesNotThrow(() =>
      parse({ model: "m", messages: [{ role: "user", content: "x" }], logprobs: false, tools: null, store: false }),
    );
  });

  it("maps tools, tool_choice, tool results and response formats", () => {
    const parsed = parse({
      model: "m",
      messages: [
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "cold" },
      ],
      tools: [
        {
          type: "function",
          function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
        },
      ],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      response_format: { type: "json_schema", json_schema: { name: "w", schema: { type: "object" } } },
      n: 2,
      presence_penalty: 0.5,
      logit_bias: { "42": -100 },
    });
    assert.deepEqual(parsed.body.messages[1], {
      role: "assistant",
      content: "",
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }],
    });
    assert.deepEqual(parsed.body.messages[2], { role: "tool", content: "cold", toolCallId: "call_1" });
    assert.deepEqual(parsed.body.toolChoice, { name: "get_weather" });
    assert.equal(parsed.body.tools?.[0]?.name, "get_weather");
    assert.deepEqual(parsed.body.responseFormat, { type: "json_schema", name: "w", schema: { type: "object" } });
    assert.equal(parsed.body.n, 2);
    assert.equal(parsed.body.presencePenalty, 0.5);
    assert.deepEqual(parsed.body.logitBias, { "42": -100 });
    rejects(
      {
        model: "m",
        messages: [{ role: "user", content: "x" }],
        tools: [{ type: "function", function: { name: "get_weather" } }],
        tool_choice: { type: "function", function: { name: "nope" } },
      },
      400,
      "tool_choice",
    );
  });
});
