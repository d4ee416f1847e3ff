import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RouterEvent } from "@opengateway/p2p";
import { generateIdentity, WireError } from "@opengateway/protocol";
import { createOpenAIHandler } from "./openai-handler.js";
import { MemoryResponseStore } from "./response-store.js";
import { scriptedRouter } from "./test-support/scripted-router.js";

const payer = generateIdentity();

const delta = (text: string): RouterEvent => ({ type: "delta", index: 0, text, tokens: 1, provider: "p1" });
const done = (finishReason: "stop" | "length" | "tool_calls", completionTokens = 2): RouterEvent => ({
  type: "done",
  choices: [{ index: 0, finishReason }],
  usage: { promptTokens: 5, completionTokens },
  receipts: [],
  providers: ["p1"],
});

const post = (body: unknown) =>
  new Request("http://opengateway.test/v1/responses", { method: "POST", body: JSON.stringify(body) });
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

/** The named events of a Responses stream, checked for framing on the way. */
async function eventsOf(response: Response): Promise<Array<Record<string, unknown> & { type: string }>> {
  const frames = (await response.text()).split("\n\n").filter(Boolean);
  return frames.map((frame) => {
    const [name, data, ...rest] = frame.split("\n");
    assert.equal(rest.length, 0);
    const event = JSON.parse((data ?? "").replace(/^data: /, "")) as Record<string, unknown> & { type: string };
    assert.equal(name, `event: ${event.type}`, "every event names itself");
    return event;
  });
}

describe("POST /v1/responses", () => {
  it("maps instructions and input to chat messages and answers a whole response object", async () => {
    const { router, bodies } = scriptedRouter([delta("Once"), delta(" upon"), done("stop")]);
    const handler = createOpenAIHandler({ router, now: () => 7_000 });
    const response = await handler(
      post({ model: "m", instructions: "Be brief.", input: "Tell a story", max_output_tokens: 20, temperature: 0.5 }),
      { payer },
    );
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown> & {
      output: Array<{ type: string; id: string; status: string; content: Array<{ type: string; text: string }> }>;
    };
    assert.match(String(body.id), /^resp_[0-9a-f]{48}$/);
    assert.equal(body.object, "response");
    assert.equal(body.created_at, 7);
    assert.equal(body.status, "completed");
    assert.equal(body.instructions, "Be brief.");
    assert.equal(body.max_output_tokens, 20);
    assert.equal(body.temperature, 0.5);
    assert.equal(body.store, true);
    assert.equal(body.previous_response_id, null);
    assert.ok(!("output_text" in body), "output_text is the SDKs' own convenience");
    assert.equal(body.output.length, 1);
    assert.equal(body.output[0]?.type, "message");
    assert.match(body.output[0]?.id ?? "", /^msg_/);
    assert.equal(body.output[0]?.status, "completed");
    assert.deepEqual(body.output[0]?.content, [{ type: "output_text", text: "Once upon", annotations: [], logprobs: [] }]);
    assert.deepEqual(body.usage, {
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 7,
    });
    assert.deepEqual(bodies[0]?.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Tell a story" },
    ]);
    assert.equal(bodies[0]?.maxTokens, 20);
    assert.equal(bodies[0]?.temperature, 0.5);
  });

  it("streams the Responses event sequence with increasing sequence numbers and no [DONE]", async () => {
    const { router } = scriptedRouter([delta("Once"), delta(" upon"), done("length")]);
    const handler = createOpenAIHandler({ router });
    const response = await handler(post({ model: "m", input: "x", stream: true, max_output_tokens: 2 }), { payer });
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = await eventsOf(response);
    assert.deepEqual(
      events.map((event) => event.type),
      [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
      ],
    );
    assert.deepEqual(
      events.map((event) => event.sequence_number),
      events.map((_, index) => index),
    );
    const last = events.at(-1)?.response as { status: string; incomplete_details: unknown; output: unknown[] };
    assert.equal(last.status, "incomplete");
    assert.deepEqual(last.incomplete_details, { reason: "max_output_tokens" });
    assert.equal((events[0]?.response as { status?: string } | undefined)?.status, "in_progress");
    assert.equal(events[6]?.text, "Once upon");
    assert.equal((events[8]?.item as { status?: string } | undefined)?.status, "incomplete");
    assert.deepEqual(last.output, [events[8]?.item]);
  });

  it("turns tool calls into function_call items, and takes function_call_output back in", async () => {
    const calls: RouterEvent = {
      type: "tool_calls",
      index: 0,
      calls: [{ name: "get_weather", arguments: '{"city":"Oslo"}' }],
      provider: "p1",
    };
    const { router, bodies } = scriptedRouter([calls, done("tool_calls")], [delta("Sunny."), done("stop")]);
    const handler = createOpenAIHandler({ router });
    const tools = [
      {
        type: "function",
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } } },
        strict: true,
      },
    ];
    const first = (await (
      await handler(post({ model: "m", input: "Weather?", tools, tool_choice: { type: "function", name: "get_weather" } }), {
        payer,
      })
    ).json()) as { id: string; output: Array<Record<string, string>>; tools: unknown[] };
    const call = first.output[0];
    assert.equal(first.output.length, 1);
    assert.equal(call?.type, "function_call");
    assert.match(call?.id ?? "", /^fc_/);
    assert.match(call?.call_id ?? "", /^call_/);
    assert.equal(call?.arguments, '{"city":"Oslo"}');
    assert.equal(call?.status, "completed");
    assert.deepEqual(first.tools, [{ ...tools[0], description: null }]);
    assert.deepEqual(bodies[0]?.toolChoice, { name: "get_weather" });

    const second = await handler(
      post({
        model: "m",
        tools,
        previous_response_id: first.id,
        input: [{ type: "function_call_output", call_id: call?.call_id, output: "sunny" }],
      }),
      { payer },
    );
    assert.equal(second.status, 200);
    assert.deepEqual(bodies[1]?.messages, [
      { role: "user", content: "Weather?" },
      { role: "assistant", content: "", toolCalls: [{ id: call?.call_id, name: "get_weather", arguments: '{"city":"Oslo"}' }] },
      { role: "tool", content: "sunny", toolCallId: call?.call_id },
    ]);
  });

  it("continues a stored conversation without its instructions, and resolves item references", async () => {
    const { router, bodies } = scriptedRouter(
      [delta("Hello"), done("stop")],
      [delta("Again"), done("stop")],
      [delta("Third"), done("stop")],
    );
    const handler = createOpenAIHandler({ router });
    const first = (await (await handler(post({ model: "m", instructions: "Rhyme.", input: "Hi" }), { payer })).json()) as {
      id: string;
      output: Array<{ id: string }>;
    };
    await handler(post({ model: "m", previous_response_id: first.id, input: [{ role: "user", content: "More" }] }), {
      payer,
    });
    assert.deepEqual(bodies[1]?.messages, [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "More" },
    ]);
    await handler(
      post({
        model: "m",
        input: [
          { role: "user", content: [{ type: "input_text", text: "Hi" }] },
          { type: "item_reference", id: first.output[0]?.id },
          { role: "developer", content: "Shout." },
        ],
      }),
      { payer },
    );
    assert.deepEqual(bodies[2]?.messages, [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "system", content: "Shout." },
    ]);
    // Another payer sees none of it.
    const stranger = await handler(post({ model: "m", previous_response_id: first.id, input: "x" }), {
      payer: generateIdentity(),
    });
    assert.equal(stranger.status, 400);
    assert.equal((await errorOf(stranger)).code, "previous_response_not_found");
  });

  it("retrieves and deletes a stored response; store: false keeps nothing", async () => {
    const { router } = scriptedRouter([delta("Kept"), done("stop")], [delta("Not kept"), done("stop")]);
    const store = new MemoryResponseStore();
    const handler = createOpenAIHandler({ router, responses: store });
    const kept = (await (await handler(post({ model: "m", input: "a" }), { payer })).json()) as { id: string };
    const retrieved = await handler(new Request(`http://opengateway.test/v1/responses/${kept.id}`), { payer });
    assert.equal(((await retrieved.json()) as { id: string }).id, kept.id);
    const other = await handler(new Request(`http://opengateway.test/v1/responses/${kept.id}`), { payer: generateIdentity() });
    assert.equal(other.status, 404);
    const notKept = (await (await handler(post({ model: "m", input: "b", store: false }), { payer })).json()) as {
      id: string;
      store: boolean;
    };
    assert.equal(notKept.store, false);
    assert.equal(await store.get(payer.id, notKept.id), undefined);
    const deleted = await handler(new Request(`http://opengateway.test/v1/responses/${kept.id}`, { method: "DELETE" }), {
      payer,
    });
    assert.deepEqual(await deleted.json(), { id: kept.id, object: "response", deleted: true });
    assert.equal((await handler(new Request(`http://opengateway.test/v1/responses/${kept.id}`), { payer })).status, 404);
    const items = await handler(new Request(`http://opengateway.test/v1/responses/${kept.id}/input_items`), { payer });
    assert.equal(items.status, 400);
    assert.match((await errorOf(items)).message, /input_items/);
  });

  it("cancels the request upstream when the client leaves after the opening events", async () => {
    const { router, ended } = scriptedRouter([delta("Once"), delta(" upon"), delta(" a"), done("stop")]);
    const handler = createOpenAIHandler({ router });
    const response = await handler(post({ model: "m", input: "x", stream: true }), { payer });
    const reader = response.body?.getReader();
    assert.ok(reader);
    assert.match(new TextDecoder().decode((await reader.read()).value), /^event: response\.created\n/);
    await reader.cancel();
    assert.deepEqual(ended, ["cancelled"]);
  });

  it("reports a failure after the stream started as an error event and response.failed", async () => {
    const { router } = scriptedRouter([delta("Once"), new WireError("engine_failed", "the engine crashed")]);
    const handler = createOpenAIHandler({ router });
    const events = await eventsOf(await handler(post({ model: "m", input: "x", stream: true }), { payer }));
    const [error, failed] = events.slice(-2);
    assert.deepEqual([error?.type, error?.code, error?.message], ["error", "engine_failed", "the engine crashed"]);
    assert.equal(failed?.type, "response.failed");
    assert.equal((failed?.response as { status?: string } | undefined)?.status, "failed");
  });

  it("refuses what it does not serve with a 400 that names it and says why", async () => {
    const { router } = scriptedRouter();
    const handler = createOpenAIHandler({ router });
    const refusal = async (body: Record<string, unknown>) => {
      const response = await handler(post({ model: "m", input: "x", ...body }), { payer });
      assert.equal(response.status, 400, JSON.stringify(body));
      return (await errorOf(response)).message;
    };
    assert.match(await refusal({ background: true }), /'background' is not supported: background responses/);
    assert.match(await refusal({ conversation: "conv_1" }), /'conversation' is not supported/);
    assert.match(await refusal({ truncation: "auto" }), /'truncation' is not supported/);
    assert.match(await refusal({ include: ["message.output_text.logprobs"] }), /'include' is not supported/);
    assert.match(await refusal({ tools: [{ type: "web_search" }] }), /tools of type 'web_search' are not supported/);
    assert.match(
      await refusal({ input: [{ role: "user", content: [{ type: "input_image", image_url: "x", detail: "auto" }] }] }),
      /only text content parts/,
    );
    assert.match(await refusal({ input: [{ type: "computer_call_output", call_id: "c" }] }), /'computer_call_output'/);
    assert.match(await refusal({ frobnicate: 1 }), /Unrecognized request argument supplied: frobnicate/);
    assert.match(await refusal({ previous_response_id: "resp_nope" }), /Previous response with id 'resp_nope' not found/);
    assert.match(await refusal({ input: [{ type: "item_reference", id: "msg_nope" }] }), /'msg_nope' not found/);
    assert.match(await refusal({ input: undefined }), /input is required/);
    assert.match(await refusal({ max_output_tokens: 100_000 }), /max_output_tokens is too large/);
  });
});
