import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import type { RouterEvent } from "@opengateway/p2p";
import { InferenceRouter } from "@opengateway/p2p";
import { generateIdentity } from "@opengateway/protocol";
import { createOpenAIHandler } from "./openai-handler.js";
import { scriptedRouter, tableWithProvider } from "./test-support/scripted-router.js";

const payer = generateIdentity();
const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };
const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  new Request(`http://opengateway.test/v1${path}`, { method: "POST", body, headers });

const done = (completionTokens: number): RouterEvent => ({
  type: "done",
  choices: [{ index: 0, finishReason: "length" }],
  usage: { promptTokens: 3, completionTokens },
  receipts: [],
  providers: ["p1"],
});
const delta = (text: string): RouterEvent => ({ type: "delta", index: 0, text, tokens: 1, provider: "p1" });

describe("the OpenAI handler", () => {
  it("answers a full region with overloaded: a 429 with retry-after, without dialling anyone", async () => {
    const table = tableWithProvider();
    const entry = table.get("p1");
    assert.ok(entry);
    entry.inFlight = 2; // both slots and the queue allowance taken
    const unusedNode = {
      dialProtocol: () => {
        throw new Error("no provider should be dialled");
      },
    };
    const handler = createOpenAIHandler({ router: new InferenceRouter(unusedNode, table, { region: "europe" }) });
    const response = await handler(post("/chat/completions", JSON.stringify(chat)), { payer });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "1");
    assert.equal(((await response.json()) as { error: { type: string } }).error.type, "rate_limit_error");
  });

  it("refuses malformed JSON, an oversized body, an unknown encoding and an unknown URL as OpenAI does", async () => {
    const handler = createOpenAIHandler({ router: scriptedRouter().router, maxBodyBytes: 1024 });
    const codeOf = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;
    const malformed = await handler(post("/chat/completions", "{"), { payer });
    assert.deepEqual([malformed.status, await codeOf(malformed)], [400, "invalid_json"]);
    const huge = await handler(post("/chat/completions", JSON.stringify({ ...chat, pad: "x".repeat(4096) })), { payer });
    assert.deepEqual([huge.status, await codeOf(huge)], [413, "request_too_large"]);
    const encoded = await handler(post("/chat/completions", "{}", { "content-encoding": "zstd" }), { payer });
    assert.deepEqual([encoded.status, await codeOf(encoded)], [415, "unsupported_encoding"]);
    const unknown = await handler(new Request("http://opengateway.test/v1/nothing?x=1"), { payer });
    assert.deepEqual([unknown.status, await codeOf(unknown)], [404, "unknown_url"]);
  });

  it("reads a gzip body, and lists and retrieves models below any base path", async () => {
    const { router } = scriptedRouter([delta("Once"), done(1)]);
    const handler = createOpenAIHandler({ router, now: () => 5_000 });
    const body = new Uint8Array(await promisify(gzip)(JSON.stringify(chat)));
    const answer = await handler(post("/chat/completions", body, { "content-encoding": "gzip" }), { payer });
    assert.equal(answer.status, 200);
    const completion = (await answer.json()) as { created: number; choices: Array<{ message: { content: string } }> };
    assert.equal(completion.created, 5);
    assert.equal(completion.choices[0]?.message.content, "Once");
    const list = await handler(new Request("http://host.test/prefix/v1/models/"), { payer });
    assert.deepEqual(await list.json(), {
      object: "list",
      data: [{ id: "m", object: "model", created: 5, owned_by: "opengateway" }],
    });
    assert.equal((await handler(new Request("http://host.test/v1/models/m"), { payer })).status, 200);
    assert.equal((await handler(new Request("http://host.test/v1/models/other"), { payer })).status, 404);
  });

  it("names the providers and carries their receipts under opengateway in a whole chat or text completion", async () => {
    const { router } = scriptedRouter([delta("Once"), done(1)]);
    const handler = createOpenAIHandler({ router });
    for (const [path, body] of [
      ["/chat/completions", chat],
      ["/completions", { model: "m", prompt: "hi" }],
    ] as const) {
      const answer = (await (await handler(post(path, JSON.stringify(body)), { payer })).json()) as { opengateway: unknown };
      assert.deepEqual(answer.opengateway, { receipts: [], providers: ["p1"] }, path);
    }
  });

  it("streams server-sent events with one usage-only chunk, and [DONE]", async () => {
    const { router, ended } = scriptedRouter([delta("Once"), delta(" upon"), done(2)]);
    const handler = createOpenAIHandler({ router });
    const request = { ...chat, stream: true, stream_options: { include_usage: true } };
    const response = await handler(post("/chat/completions", JSON.stringify(request)), { payer });
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = (await response.text()).split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.slice("data: ".length)));
    assert.deepEqual(
      chunks.map((chunk) => chunk.choices[0]?.delta ?? null),
      [{ role: "assistant", content: "", refusal: null }, { content: "Once" }, { content: " upon" }, {}, null],
    );
    assert.deepEqual(
      chunks.map((chunk) => chunk.usage?.completion_tokens ?? chunk.usage),
      [null, null, null, null, 2],
    );
    assert.deepEqual(ended, ["done"]);
  });

  it("cancels the request upstream when the body is cancelled mid-stream", async () => {
    const { router, ended } = scriptedRouter([delta("Once"), delta(" upon"), delta(" a"), done(3)]);
    const handler = createOpenAIHandler({ router });
    const response = await handler(post("/completions", JSON.stringify({ model: "m", prompt: "x", stream: true })), { payer });
    const reader = response.body?.getReader();
    assert.ok(reader);
    await reader.read();
    await reader.cancel();
    assert.deepEqual(ended, ["cancelled"]);
  });
});
