// The contract every InferenceEngine (and every wrapper around one) must meet, as a test suite:
// each engine's test file runs it against its own engine, the way LedgerStore adapters run
// ledger-store-contract. It checks only what inference-engine.ts promises, so it holds for a
// real model and for a fake alike.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ModelNotFoundError, OpenGatewayError } from "../errors.js";
import type * as Engine from "../inference-engine.js";

export interface InferenceEngineContractOptions {
  /** The model to ask for (default: the first the engine lists). */
  model?: string;
  /** Times the consumer leaves a stream early in a row: more than the engine has slots (default 6). */
  earlyExits?: number;
}

type Done = Extract<Engine.GenerationEvent, { type: "done" }>;

/** Runs the InferenceEngine contract against the engine `makeEngine` returns (made once, closed at the end). */
export function describeInferenceEngineContract(
  name: string,
  makeEngine: () => Engine.InferenceEngine | Promise<Engine.InferenceEngine>,
  options: InferenceEngineContractOptions = {},
): void {
  describe(`InferenceEngine contract: ${name}`, () => {
    let engine: Engine.InferenceEngine;
    let model: Engine.ServedModel;
    const serves = (kind: Engine.ServedModel["kinds"][number]) => model.kinds.includes(kind);

    before(async () => {
      engine = await makeEngine();
      const listed = engine.listModels();
      const chosen = options.model === undefined ? listed[0] : listed.find((served) => served.id === options.model);
      assert.ok(chosen, `the engine lists no model${options.model ? ` '${options.model}'` : ""}`);
      model = chosen;
    });
    after(async () => engine?.close());

    const sampling = (maxTokens: number) => ({ maxTokens, temperature: 0, topP: 1, seed: 1, stop: [] });
    const chat = (maxTokens: number, overrides: Partial<Engine.ChatGeneration> = {}): Engine.ChatGeneration => ({
      model: model.id,
      messages: [{ role: "user", content: "Once upon a time" }],
      ...sampling(maxTokens),
      ...overrides,
    });
    const completion = (
      maxTokens: number,
      overrides: Partial<Engine.CompletionGeneration> = {},
    ): Engine.CompletionGeneration => ({
      model: model.id,
      prompt: "Once upon a time",
      ...sampling(maxTokens),
      ...overrides,
    });
    /** A text generation of whichever kind the model serves. */
    const generate = (maxTokens: number, generateOptions: Engine.GenerateOptions = {}, n?: number) =>
      serves("chat")
        ? engine.generateChat(chat(maxTokens, n === undefined ? {} : { n }), generateOptions)
        : engine.generateCompletion(completion(maxTokens, n === undefined ? {} : { n }), generateOptions);

    async function collect<T>(events: () => AsyncIterable<T>): Promise<T[]> {
      const collected: T[] = [];
      for await (const event of events()) collected.push(event);
      return collected;
    }

    /** What every finished stream of text must look like; returns its `done`. */
    function checkStream(events: Engine.GenerationEvent[], maxTokens: number, n = 1): Done {
      const done = events.at(-1);
      assert.ok(done?.type === "done", `the last event is done, not ${done?.type}`);
      assert.equal(events.filter((event) => event.type === "done").length, 1, "exactly one done");
      assert.deepEqual(
        done.choices.map((choice) => choice.index),
        Array.from({ length: n }, (_, index) => index),
        "one end per choice, in order",
      );
      for (const choice of done.choices) assert.ok(["stop", "length"].includes(choice.finishReason), choice.finishReason);
      const { promptTokens, completionTokens } = done.usage;
      assert.ok(Number.isInteger(promptTokens) && promptTokens >= 0, `promptTokens ${promptTokens}`);
      assert.ok(Number.isInteger(completionTokens) && completionTokens >= 0, `completionTokens ${completionTokens}`);
      assert.ok(completionTokens <= maxTokens * n, `${completionTokens} completion tokens for maxTokens ${maxTokens} × ${n}`);
      let streamed = 0;
      for (const event of events.slice(0, -1)) {
        assert.equal(event.type, "text", "only text before done (no tools were offered)");
        if (event.type !== "text") continue;
        assert.ok(Number.isInteger(event.index) && event.index >= 0 && event.index < n, `text for choice ${event.index}`);
        assert.ok(Number.isInteger(event.tokens) && event.tokens >= 0);
        streamed += event.tokens;
      }
      assert.ok(streamed <= completionTokens, `${streamed} tokens streamed, ${completionTokens} counted`);
      assert.ok(
        events.some((event) => event.type === "text" && event.text.length > 0),
        "some text was generated",
      );
      return done;
    }

    /** Refused with a typed error before any event, whether it throws at once or on the first pull. */
    async function assertRefusedBeforeAnyEvent(
      start: () => AsyncIterable<unknown>,
      expected: { readonly name: string; isInstance(value: unknown): boolean },
    ) {
      const seen: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const event of start()) seen.push(event);
        },
        (error: unknown) => expected.isInstance(error) || assert.fail(`expected a ${expected.name}, got ${String(error)}`),
      );
      assert.deepEqual(seen, [], "no event before the refusal");
    }

    it("names itself and lists the models it serves", () => {
      assert.equal(typeof engine.name, "string");
      assert.ok(engine.name.length > 0);
      for (const served of engine.listModels()) {
        assert.ok(served.id.length > 0);
        assert.ok(Number.isInteger(served.contextSize) && served.contextSize >= 1);
        assert.ok(served.pricePerToken >= 0);
        assert.ok(served.kinds.length > 0 && served.kinds.every((kind) => ["chat", "completion", "embedding"].includes(kind)));
      }
      assert.ok(serves("chat") || serves("completion"), "the model serves text generation");
    });

    for (const kind of ["chat", "completion"] as const) {
      it(`streams a ${kind} as text events ending in exactly one done, within maxTokens`, async (t) => {
        if (!serves(kind)) return t.skip(`the model does not serve ${kind}`);
        const events = await collect(() =>
          kind === "chat" ? engine.generateChat(chat(6)) : engine.generateCompletion(completion(6)),
        );
        checkStream(events, 6);
      });
    }

    it("generates n choices, each ending once", async () => {
      checkStream(await collect(() => generate(4, {}, 2)), 4, 2);
    });

    it("refuses an unknown model with ModelNotFoundError before any event", async () => {
      const unknown = `${model.id}-not-served`;
      await assertRefusedBeforeAnyEvent(
        () =>
          serves("chat")
            ? engine.generateChat(chat(4, { model: unknown }))
            : engine.generateCompletion(completion(4, { model: unknown })),
        ModelNotFoundError,
      );
    });

    it("embeds each input in order when it serves embeddings, and otherwise refuses before any event", async () => {
      const request = { model: model.id, input: ["a cat", "a dog", "a cat"] };
      if (!serves("embedding")) {
        await assertRefusedBeforeAnyEvent(() => engine.embed(request), OpenGatewayError);
        return;
      }
      const events: Engine.EmbeddingEvent[] = await collect(() => engine.embed(request));
      const done = events.at(-1);
      assert.ok(done?.type === "done");
      const vectors = events.flatMap((event) => (event.type === "embedding" ? [event] : []));
      assert.deepEqual(
        vectors.map((event) => event.index),
        [0, 1, 2],
      );
      assert.equal(vectors.length, events.length - 1);
      const size = vectors[0]?.embedding.length ?? 0;
      assert.ok(size > 0 && vectors.every((event) => event.embedding.length === size));
      assert.deepEqual(vectors[0]?.embedding, vectors[2]?.embedding, "one input, one vector");
      assert.ok(done.usage.promptTokens > 0);
    });

    it("frees its slot when the consumer leaves the loop early, again and again", async () => {
      for (let exit = 0; exit < (options.earlyExits ?? 6); exit++) {
        for await (const event of generate(200)) if (event.type === "text") break;
      }
      checkStream(await collect(() => generate(4)), 4);
    });

    it("ends a stream without a result when its signal is aborted, and keeps serving", async () => {
      const controller = new AbortController();
      const afterAbort: Engine.GenerationEvent[] = [];
      try {
        for await (const event of generate(200, { signal: controller.signal })) {
          if (controller.signal.aborted) afterAbort.push(event);
          else if (event.type === "text") controller.abort();
        }
      } catch {
        // Ending with an error is as good as ending quietly: the consumer asked to stop.
      }
      assert.ok(controller.signal.aborted, "the stream produced text before the abort");
      assert.ok(!afterAbort.some((event) => event.type === "done"), "no result after the abort");
      checkStream(await collect(() => generate(4)), 4);
    });
  });
}
