import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, Output, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { assertShape, responseObject, streamEvent } from "./responses-api-shapes.js";
import type { TestLocalNetwork } from "./test-local-network.js";
import { describeBothTransports, runExample, startTestLocalNetwork } from "./test-local-network.js";

const API_KEY = "og-e2e-responses-key";
const MODEL = "stories260K";
const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "weather in a city",
  parameters: {
    type: "object",
    properties: { city: { enum: ["Oslo", "Lima", "Pune"] } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

/**
 * The Responses API (`/v1/responses`) with the clients people use: the official `openai` client's
 * `responses.create` / `responses.stream` and the Vercel AI SDK's default `createOpenAI()` model,
 * over HTTP to the gateway (stored responses in its SQLite file) and over the SDK's P2P fetch (kept
 * in memory). Every object and event is checked against the spec's required fields.
 */
describe("the Responses API over a real network", { timeout: 300_000 }, () => {
  let network: TestLocalNetwork;

  before(async () => {
    network = await startTestLocalNetwork({ apiKey: API_KEY, nodeArgs: ["--parallel", "2"] });
  });

  after(async () => {
    await network?.stop();
  });

  describeBothTransports(
    () => network,
    (client, transport) => {
      it("answers responses.create with the spec's response object and usage that adds up", async () => {
        const request = { model: MODEL, instructions: "Tell a story.", input: "Once upon a time", max_output_tokens: 20 };
        const { data, response } = await client().responses.create(request).withResponse();
        assert.equal(response.headers.get("x-opengateway-provider"), network.nodePeerId);
        const raw = assertShape(
          responseObject,
          await (await client().responses.create(request).asResponse()).json(),
          "the response",
        );
        assert.ok(!("output_text" in raw), "output_text is computed by the SDKs");
        assertShape(responseObject, data, "the response as the client returns it");
        assert.equal(data.status, "incomplete");
        assert.deepEqual(data.incomplete_details, { reason: "max_output_tokens" });
        assert.equal(data.instructions, "Tell a story.");
        assert.ok(data.output_text.length > 0);
        assert.equal(data.usage?.output_tokens, 20);
        assert.equal(data.usage?.total_tokens, (data.usage?.input_tokens ?? 0) + 20);
        const plain = await client().responses.create({ model: MODEL, input: "Tom", max_output_tokens: 200, temperature: 0 });
        assertShape(responseObject, plain, "a whole response");
        assert.ok(plain.status === "completed" || plain.status === "incomplete");
      });

      it("streams the Responses event sequence, the same text as a whole answer with the same seed", async () => {
        const request = { model: MODEL, input: "Once upon a time", max_output_tokens: 24, temperature: 0 };
        const events: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const event of await client().responses.create({ ...request, stream: true })) {
          events.push(assertShape(streamEvent, event, `event ${events.length}`) as OpenAI.Responses.ResponseStreamEvent);
        }
        const types = events.map((event) => event.type);
        assert.deepEqual(types.slice(0, 4), [
          "response.created",
          "response.in_progress",
          "response.output_item.added",
          "response.content_part.added",
        ]);
        assert.deepEqual(types.slice(-4), [
          "response.output_text.done",
          "response.content_part.done",
          "response.output_item.done",
          "response.incomplete",
        ]);
        assert.ok(types.slice(4, -4).every((type) => type === "response.output_text.delta"));
        assert.deepEqual(
          events.map((event) => event.sequence_number),
          events.map((_, index) => index),
        );
        const text = events.map((event) => (event.type === "response.output_text.delta" ? event.delta : "")).join("");
        const last = events.at(-1);
        assert.ok(last?.type === "response.incomplete");
        assert.equal(last.response.usage?.output_tokens, 24);
        const whole = await client().responses.create(request);
        assert.equal(whole.output_text, text, "temperature 0: the same text, streamed or not");
      });

      it("serves responses.stream with its helpers and final response", async () => {
        let deltas = "";
        let ended: OpenAI.Responses.Response | undefined;
        const stream = client()
          .responses.stream({ model: MODEL, input: "Lily", max_output_tokens: 16 })
          .on("response.output_text.delta", (event) => {
            deltas += event.delta;
          })
          .on("response.incomplete", (event) => {
            ended = event.response;
          });
        const final = await stream.finalResponse();
        assertShape(responseObject, final, "the final response");
        const text = final.output
          .flatMap((item) => (item.type === "message" ? item.content : []))
          .map((part) => (part.type === "output_text" ? part.text : ""))
          .join("");
        assert.ok(text.length > 0);
        assert.equal(text, deltas);
        // The client takes the final object whole only from `response.completed`; a cut one comes in `response.incomplete`.
        assert.equal(ended?.status, "incomplete");
        assert.equal(ended?.usage?.output_tokens, 16);
      });

      it("calls a forced function tool, streams the call, and continues with its output by previous_response_id", async () => {
        const first = await client().responses.create({
          model: MODEL,
          input: "What is the weather?",
          tools: [weatherTool],
          tool_choice: { type: "function", name: "get_weather" },
          max_output_tokens: 100,
        });
        assertShape(responseObject, first, "the tool call");
        const call = first.output.find((item) => item.type === "function_call");
        assert.ok(call && call.type === "function_call");
        assert.equal(call.name, "get_weather");
        assert.ok(["Oslo", "Lima", "Pune"].includes((JSON.parse(call.arguments) as { city: string }).city));

        let streamedArguments = "";
        let doneArguments: string | undefined;
        for await (const event of await client().responses.create({
          model: MODEL,
          input: "What is the weather?",
          tools: [weatherTool],
          tool_choice: "required",
          max_output_tokens: 100,
          stream: true,
        })) {
          assertShape(streamEvent, event, event.type);
          if (event.type === "response.function_call_arguments.delta") streamedArguments += event.delta;
          if (event.type === "response.function_call_arguments.done") doneArguments = event.arguments;
        }
        assert.equal(streamedArguments, doneArguments);
        assert.doesNotThrow(() => JSON.parse(streamedArguments));

        const followUp = await client().responses.create({
          model: MODEL,
          previous_response_id: first.id,
          input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
          tools: [weatherTool],
          max_output_tokens: 10,
        });
        assertShape(responseObject, followUp, "the follow-up");
        assert.equal(followUp.previous_response_id, first.id);
        // The whole conversation was sent again: more input than the first request's input and output.
        assert.ok((followUp.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0) + (first.usage?.output_tokens ?? 0) / 2);
      });

      it("returns the json_schema format's shape through the grammar", async () => {
        const schema = {
          type: "object",
          properties: { hero: { enum: ["Tom", "Lily"] }, age: { type: "integer" } },
          required: ["hero", "age"],
          additionalProperties: false,
        };
        const typed = await client().responses.create({
          model: MODEL,
          input: "Once upon a time",
          max_output_tokens: 200,
          temperature: 0,
          text: { format: { type: "json_schema", name: "character", schema, strict: true } },
        });
        assertShape(responseObject, typed, "the typed response");
        assert.equal(typed.text?.format?.type, "json_schema");
        const parsed = JSON.parse(typed.output_text) as { hero: unknown; age: unknown };
        assert.ok(parsed.hero === "Tom" || parsed.hero === "Lily");
        assert.ok(Number.isInteger(parsed.age));
      });

      it("continues a conversation by previous_response_id, retrieves and deletes the stored response", async () => {
        const first = await client().responses.create({ model: MODEL, input: "Tom had a dog.", max_output_tokens: 12 });
        const second = await client().responses.create({
          model: MODEL,
          previous_response_id: first.id,
          input: "What was its name?",
          max_output_tokens: 12,
        });
        assert.equal(second.previous_response_id, first.id);
        assert.ok((second.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0) + 12 - 1);
        const retrieved = await client().responses.retrieve(first.id);
        assert.equal(retrieved.id, first.id);
        assert.equal(retrieved.output_text, first.output_text);
        await client().responses.delete(first.id);
        await assert.rejects(client().responses.retrieve(first.id), OpenAI.NotFoundError);
        await assert.rejects(
          client().responses.create({ model: MODEL, previous_response_id: first.id, input: "x" }),
          (error: unknown) => error instanceof OpenAI.BadRequestError && /not found/.test(error.message),
        );
        const unstored = await client().responses.create({ model: MODEL, input: "x", store: false, max_output_tokens: 4 });
        await assert.rejects(client().responses.retrieve(unstored.id), OpenAI.NotFoundError);
      });

      it("refuses what it does not serve with a 400 naming it", async () => {
        await assert.rejects(
          client().responses.create({ model: MODEL, input: "x", tools: [{ type: "web_search" }] }),
          (error: unknown) => error instanceof OpenAI.BadRequestError && /web_search/.test(error.message),
        );
        await assert.rejects(
          client().responses.create({ model: MODEL, input: "x", background: true }),
          (error: unknown) => error instanceof OpenAI.BadRequestError && /background/.test(error.message),
        );
      });

      it("works as the Vercel AI SDK's default createOpenAI() model: text, stream, tools and structured output", async () => {
        const provider =
          transport === "gateway"
            ? createOpenAI({ baseURL: network.url, apiKey: API_KEY })
            : createOpenAI({ baseURL: "http://opengateway.p2p/v1", apiKey: "p2p", fetch: network.viaSdk.p2pFetch });
        const model = provider(MODEL);
        const generated = await generateText({ model, prompt: "Once upon a time", maxOutputTokens: 12 });
        assert.ok(generated.text.length > 0);
        assert.equal(generated.usage.outputTokens, 12);
        assert.equal(generated.finishReason, "length");

        const streamed = streamText({ model, prompt: "Once upon a time", maxOutputTokens: 12 });
        let text = "";
        for await (const part of streamed.textStream) text += part;
        assert.ok(text.length > 0);
        assert.equal((await streamed.usage).outputTokens, 12);

        // A tool loop: the model calls, the SDK runs the tool and sends its output back in the next step.
        let ran = 0;
        const looped = await generateText({
          model,
          prompt: "What is the weather?",
          maxOutputTokens: 60,
          tools: {
            get_weather: tool({
              description: "weather in a city",
              inputSchema: jsonSchema<{ city: string }>(weatherTool.parameters as never),
              execute: async ({ city }) => {
                ran++;
                return `sunny in ${city}`;
              },
            }),
          },
          toolChoice: { type: "tool", toolName: "get_weather" },
          prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: "none" } : {}),
          stopWhen: stepCountIs(2),
        });
        assert.equal(ran, 1);
        assert.equal(looped.steps.length, 2);
        assert.equal(looped.steps[0]?.toolCalls[0]?.toolName, "get_weather");

        const structured = await generateText({
          model,
          prompt: "Once upon a time",
          maxOutputTokens: 200,
          temperature: 0,
          output: Output.object({
            schema: jsonSchema<{ hero: "Tom" | "Lily" }>({
              type: "object",
              properties: { hero: { enum: ["Tom", "Lily"] } },
              required: ["hero"],
              additionalProperties: false,
            }),
          }),
        });
        assert.ok(structured.output.hero === "Tom" || structured.output.hero === "Lily");
      });
    },
  );

  it("runs the Responses example unchanged against the gateway", async () => {
    const stdout = await runExample("responses-via-gateway.mjs", { OPENAI_BASE_URL: network.url, OPENGATEWAY_API_KEY: API_KEY });
    assert.match(stdout, /\[stories260K: resp_\w+ \(\w+\) then resp_\w+, which continued it: \d+ input \+ \d+ output tokens\]/);
  });
});
