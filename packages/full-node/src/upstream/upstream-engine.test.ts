import assert from "node:assert/strict";
import { once } from "node:events";
import type { Server } from "node:http";
import { createServer } from "node:http";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChatGeneration, GenerationEvent } from "@opengateway/protocol";
import {
  EngineFailedError,
  errorMessage,
  InsufficientCreditsError,
  InvalidRequestError,
  ModelNotFoundError,
  OverloadedError,
} from "@opengateway/protocol";
import { describeInferenceEngineContract } from "@opengateway/protocol/test-support/inference-engine-contract";
import type { LlamaServerProcess } from "./llama-server-process.js";
import { startLlamaServer } from "./llama-server-process.js";
import { UpstreamEngine } from "./upstream-engine.js";

const LLAMA_SERVER =
  process.env.OPENGATEWAY_LLAMA_SERVER ?? fileURLToPath(new URL("../../../../../shared/tools/llama-server.sh", import.meta.url));
const MODEL = "stories260K";

/** llama-server with 2 slots over 2048 tokens: each request gets 1024 of context. */
const startReal = (): Promise<LlamaServerProcess> =>
  startLlamaServer({ command: LLAMA_SERVER, threads: 1, parallel: 2, model: process.env.OPENGATEWAY_TEST_MODEL, alias: MODEL });

// Without llama-server there is nothing to test against: skipped with the reason on a developer's
// machine that cannot run it, a failure in CI.
const real = await startReal().catch((error: unknown) => {
  if (process.env.CI) throw error;
  return new Error(errorMessage(error).split("\n")[0]);
});
const skip = real instanceof Error ? `llama-server cannot start here (${real.message})` : false;

const chat = (overrides: Partial<ChatGeneration> = {}): ChatGeneration => ({
  model: MODEL,
  messages: [{ role: "user", content: "Once upon a time" }],
  maxTokens: 12,
  temperature: 0.8,
  topP: 1,
  seed: 42,
  stop: [],
  ...overrides,
});

async function collect(events: AsyncIterable<GenerationEvent>) {
  const texts = new Map<number, string>();
  let tokens = 0;
  let done: Extract<GenerationEvent, { type: "done" }> | undefined;
  const all: GenerationEvent[] = [];
  for await (const event of events) {
    all.push(event);
    if (event.type === "text") {
      texts.set(event.index, (texts.get(event.index) ?? "") + event.text);
      tokens += event.tokens;
    } else if (event.type === "done") done = event;
  }
  return { texts, tokens, done, all };
}

/** An HTTP server that lists one model and answers completions as `answer` says. */
async function fakeUpstream(
  answer: (response: import("node:http").ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.url === "/v1/models") {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model" }] }));
    } else if (request.url === "/props") {
      response.statusCode = 404;
      response.end();
    } else answer(response);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  assert.ok(address && typeof address === "object");
  return { url: `http://127.0.0.1:${address.port}/v1`, server };
}

describe("UpstreamEngine against a real llama-server", { skip, timeout: 120_000 }, () => {
  const server = real as LlamaServerProcess;
  let engine: UpstreamEngine;
  after(async () => {
    await engine?.close();
    await server.stop();
  });

  describeInferenceEngineContract("UpstreamEngine over llama-server", () => UpstreamEngine.connect({ baseURL: server.baseURL }));

  it("lists the upstream's model with its context, its slots and its build", async () => {
    engine = await UpstreamEngine.connect({ baseURL: server.baseURL });
    assert.deepEqual(engine.listModels(), [{ id: MODEL, contextSize: 1024, pricePerToken: 1, kinds: ["chat", "completion"] }]);
    assert.equal(engine.parallelRequests, 2);
    assert.match(engine.name, /^upstream llama-server /);
    assert.ok((engine.modelSizeBytes ?? 0) > 0);
  });

  it("streams a chat answer token by token, with llama-server's own text and usage", async () => {
    const { texts, tokens, done, all } = await collect(engine.generateChat(chat()));
    assert.deepEqual(done?.choices, [{ index: 0, finishReason: "length" }]);
    assert.equal(done?.usage.completionTokens, 12);
    assert.equal(tokens, 12);
    assert.ok((done?.usage.promptTokens ?? 0) > 0);
    assert.ok(all.filter((event) => event.type === "text").length >= 10, "one event per token, not batches");
    const direct = (await (
      await fetch(`${server.baseURL}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: MODEL, messages: chat().messages, max_tokens: 12, temperature: 0.8, top_p: 1, seed: 42 }),
      })
    ).json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    assert.equal(texts.get(0), direct.choices[0]?.message.content);
    assert.equal(done?.usage.promptTokens, direct.usage.prompt_tokens);
  });

  it("serves raw completions, stop sequences and n choices (choice i with seed + i)", async () => {
    const story = { model: MODEL, prompt: "Once upon a time", maxTokens: 8, temperature: 0, topP: 1, seed: 1 };
    const completion = await collect(engine.generateCompletion({ ...story, stop: [] }));
    assert.equal(completion.done?.usage.completionTokens, 8);
    const free = completion.texts.get(0) ?? "";
    const word = free.trim().split(/\s+/)[1];
    assert.ok(word, `expected words in '${free}'`);
    const stopped = await collect(engine.generateCompletion({ ...story, stop: [word] }));
    assert.equal(stopped.done?.choices[0]?.finishReason, "stop");
    assert.ok(!(stopped.texts.get(0) ?? "").includes(word));

    const two = await collect(engine.generateChat(chat({ n: 2, maxTokens: 6 })));
    assert.deepEqual(two.done?.choices, [
      { index: 0, finishReason: "length" },
      { index: 1, finishReason: "length" },
    ]);
    assert.equal(two.done?.usage.completionTokens, 12);
    const second = await collect(engine.generateChat(chat({ seed: 43, maxTokens: 6 })));
    assert.equal(two.texts.get(1), second.texts.get(0));
  });

  it("stops at the payer's reserve, across choices, and refuses a prompt the reserve cannot pay", async () => {
    const prompt = (await collect(engine.generateChat(chat({ maxTokens: 1 })))).done?.usage.promptTokens ?? 0;
    const capped = await collect(engine.generateChat(chat({ maxTokens: 50 }), { maxTotalTokens: prompt + 5 }));
    assert.deepEqual(capped.done?.usage, { promptTokens: prompt, completionTokens: 5 });
    assert.equal(capped.done?.choices[0]?.finishReason, "length");
    const split = await collect(engine.generateChat(chat({ maxTokens: 5, n: 3 }), { maxTotalTokens: prompt + 7 }));
    assert.deepEqual(split.done?.usage, { promptTokens: prompt, completionTokens: 7 });
    assert.deepEqual(
      split.done?.choices.map((choice) => choice.finishReason),
      ["length", "length", "length"],
    );
    assert.equal(split.texts.get(2), undefined, "the third choice had nothing left to spend");
    await assert.rejects(collect(engine.generateChat(chat(), { maxTotalTokens: prompt - 1 })), InsufficientCreditsError);
  });

  it("refuses what it cannot serve before any event: another model, tools without a tool template, embeddings", async () => {
    await assert.rejects(collect(engine.generateChat(chat({ model: "other" }))), ModelNotFoundError);
    const tools = engine.generateChat(chat({ tools: [{ name: "lookup", parameters: { type: "object" } }] }));
    await assert.rejects(tools.next(), InvalidRequestError);
    await assert.rejects(engine.embed().next(), InvalidRequestError);
  });

  it("cancels the upstream request when the consumer stops or aborts: the slot is free again", async () => {
    const controller = new AbortController();
    let received = 0;
    for await (const event of engine.generateChat(chat({ maxTokens: 400 }), { signal: controller.signal })) {
      if (event.type === "text" && ++received === 3) controller.abort();
    }
    for await (const event of engine.generateChat(chat({ maxTokens: 400 }))) {
      if (event.type === "text") break;
    }
    assert.equal(engine.activeRequests, 0);
    const root = server.baseURL.replace(/\/v1$/, "");
    for (let i = 0; i < 50; i++) {
      const slots = (await (await fetch(`${root}/slots`)).json()) as { is_processing: boolean }[];
      if (slots.every((slot) => !slot.is_processing)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail("llama-server still generates for a cancelled request");
  });

  it("reports llama-server dying mid-stream as engine_failed, and one that is gone as well", async () => {
    const doomed = await startReal();
    const doomedEngine = await UpstreamEngine.connect({ baseURL: doomed.baseURL });
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const event of doomedEngine.generateChat(chat({ maxTokens: 500 }))) {
          if (event.type === "text" && ++received === 2) await doomed.stop("SIGKILL");
        }
      })(),
      EngineFailedError,
    );
    await assert.rejects(collect(doomedEngine.generateChat(chat())), (error: unknown) => {
      assert.ok(EngineFailedError.isInstance(error));
      assert.match(errorMessage(error), /ECONNREFUSED/);
      return true;
    });
    await assert.rejects(UpstreamEngine.connect({ baseURL: doomed.baseURL }), EngineFailedError);
  });
});

describe("UpstreamEngine failures from a misbehaving upstream", () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });
  const engineFor = async (answer: (response: import("node:http").ServerResponse) => void, timeoutMs = 10_000) => {
    const { url, server } = await fakeUpstream(answer);
    servers.push(server);
    return UpstreamEngine.connect({ baseURL: url, firstByteTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs });
  };

  it("maps 5xx to engine_failed and 503/429 to overloaded, with the upstream's message", async () => {
    const failing = await engineFor((response) => {
      response.statusCode = 500;
      response.end(JSON.stringify({ error: { message: "out of memory" } }));
    });
    await assert.rejects(collect(failing.generateChat(chat())), (error: unknown) => {
      assert.ok(EngineFailedError.isInstance(error));
      assert.match(errorMessage(error), /500: out of memory/);
      return true;
    });
    const busy = await engineFor((response) => {
      response.statusCode = 503;
      response.end("loading model");
    });
    await assert.rejects(collect(busy.generateChat(chat())), OverloadedError);
  });

  it("fails a slow first byte and a stalled stream as engine_failed", async () => {
    const silent = await engineFor(() => {}, 300);
    await assert.rejects(collect(silent.generateChat(chat())), /timed out: no answer for 300 ms/);
    const stalls = await engineFor((response) => {
      response.setHeader("content-type", "text/event-stream");
      response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Once" } }] })}\n\n`);
    }, 300);
    const events: GenerationEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stalls.generateChat(chat())) events.push(event);
      })(),
      (error: unknown) => EngineFailedError.isInstance(error) && /silence for 300 ms/.test(errorMessage(error)),
    );
    assert.deepEqual(events, [{ type: "text", index: 0, text: "Once", tokens: 1 }]);
  });

  it("fails a stream that ends without finishing the answer, and passes tool calls through", async () => {
    const cut = await engineFor((response) => {
      response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Once" } }] })}\n\n`);
      response.end();
    });
    await assert.rejects(collect(cut.generateChat(chat())), /ended the stream before the answer was finished/);
    const calling = await engineFor((response) => {
      const call = (delta: object) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [delta] } }] })}\n\n`;
      response.write(call({ index: 0, id: "c1", type: "function", function: { name: "lookup", arguments: "" } }));
      response.write(call({ index: 0, function: { arguments: '{"q":' } }));
      response.write(call({ index: 0, function: { arguments: '"x"}' } }));
      response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })}\n\n`);
      response.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 6 } })}\n\n`);
      response.end("data: [DONE]\n\n");
    });
    const { all } = await collect(calling.generateChat(chat({ tools: [{ name: "lookup" }] })));
    assert.deepEqual(all, [
      { type: "tool_calls", index: 0, calls: [{ name: "lookup", arguments: '{"q":"x"}' }] },
      { type: "done", choices: [{ index: 0, finishReason: "tool_calls" }], usage: { promptTokens: 9, completionTokens: 6 } },
    ]);
  });
});
