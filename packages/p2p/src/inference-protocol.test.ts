import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import type * as Engine from "@opengateway/protocol";
import type { Identity, InferenceRequest } from "@opengateway/protocol";
import {
  createInferenceRequest,
  decodeProviderFrame,
  encodeFrame,
  generateIdentity,
  INFERENCE_PROTOCOL,
  InsufficientCreditsError,
  ReplayGuard,
  utf8Encode,
} from "@opengateway/protocol";
import type { CreateLibp2pNodeOptions } from "./create-libp2p-node.js";
import { createLibp2pNode } from "./create-libp2p-node.js";
import { requestInference } from "./inference-client.js";
import { inferenceService } from "./inference-service.js";
import { fetchNodeInfo, nodeInfoService } from "./node-info.js";

/**
 * A scripted stand-in for an engine: these tests exercise the wire protocol and its checks,
 * so the engine emits known words at a known pace. Real node-llama-cpp runs in e2e/.
 */
class ScriptedEngine implements Engine.InferenceEngine {
  readonly name = "scripted-test-engine";
  aborted = 0;
  completed = 0;
  listModels(): Engine.ServedModel[] {
    return [{ id: "scripted", contextSize: 512, pricePerToken: 2, kinds: ["chat", "completion", "embedding"] as const }];
  }
  async *generateChat(
    request: Engine.ChatGeneration,
    options: Engine.GenerateOptions = {},
  ): AsyncIterable<Engine.GenerationEvent> {
    const words = ["Once", " upon", " a", " time"];
    let produced = 0;
    try {
      for (let i = 0; i < request.maxTokens; i++) {
        if (options.signal?.aborted) return;
        // Like the real engines: the prompt (3 tokens here) and the completion stay within the payer's reserve.
        if (options.maxTotalTokens !== undefined && 3 + produced >= options.maxTotalTokens) break;
        await new Promise((resolve) => setTimeout(resolve, request.temperature === 0 ? 0 : 20));
        produced++;
        yield { type: "text", index: 0, text: words[i % words.length] ?? "", tokens: 1 };
      }
      this.completed++;
      yield {
        type: "done",
        choices: [{ index: 0, finishReason: "length" }],
        usage: { promptTokens: 3, completionTokens: produced },
      };
    } finally {
      if (options.signal?.aborted && produced < request.maxTokens) this.aborted++;
    }
  }
  generateCompletion(
    request: Engine.CompletionGeneration,
    options: Engine.GenerateOptions = {},
  ): AsyncIterable<Engine.GenerationEvent> {
    return this.generateChat({ ...request, messages: [{ role: "user", content: request.prompt }] }, options);
  }
  async *embed(request: Engine.EmbeddingGeneration): AsyncIterable<Engine.EmbeddingEvent> {
    for (const [index, input] of request.input.entries()) yield { type: "embedding", index, embedding: [input.length, 0.5] };
    yield { type: "done", usage: { promptTokens: request.input.length, completionTokens: 0 } };
  }
  async close(): Promise<void> {}
}

const body = (maxTokens: number, temperature = 0) => ({
  messages: [{ role: "user" as const, content: "hi" }],
  maxTokens,
  temperature,
  topP: 1,
  seed: 1,
  stop: [],
});

/** A provider with these services and a client dialled to it. */
async function startProviderAndClient<T extends ServiceMap>(
  identity: Identity,
  services: CreateLibp2pNodeOptions<T>["services"],
): Promise<{ provider: Libp2p; client: Libp2p }> {
  const provider = await createLibp2pNode({ identity, services });
  const client = await createLibp2pNode({ identity: generateIdentity() });
  await client.dial(provider.getMultiaddrs()[0] ?? assert.fail("provider has no address"));
  return { provider, client };
}

describe("inference protocol over real libp2p nodes", () => {
  const engine = new ScriptedEngine();
  const providerIdentity = generateIdentity();
  const payer = generateIdentity();
  /** Requests are addressed to this provider at its advertised price. */
  const to = { provider: providerIdentity.id, pricePerToken: 2 };
  let provider: Libp2p;
  let client: Libp2p;

  before(async () => {
    ({ provider, client } = await startProviderAndClient(providerIdentity, {
      inference: inferenceService({ engine, identity: providerIdentity, maxFrameBytes: 64 * 1024 }),
      info: nodeInfoService({
        getInfo: () => ({
          v: 1,
          agent: "test",
          engine: engine.name,
          region: null,
          clusters: ["A"],
          queuedRequests: 0,
          tokensPerSecond: null,
          models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
          activeRequests: 0,
          maxConcurrentRequests: 1,
        }),
      }),
    }));
  });

  after(async () => {
    await client?.stop();
    await provider?.stop();
  });

  it("uses the OpenGateway identity as the libp2p peer id", () => {
    assert.equal(provider.peerId.toString(), providerIdentity.id);
  });

  it("streams each token as a delta as it comes, then a done frame with a receipt signed by the provider", async () => {
    const request = createInferenceRequest({ kind: "chat", model: "scripted", body: body(6), maxCredits: 1000, ...to }, payer);
    let text = "";
    let deltas = 0;
    let done: unknown;
    for await (const frame of requestInference(client, provider.peerId, request)) {
      if (frame.t === "delta") {
        text += frame.text;
        deltas++;
      }
      if (frame.t === "done") done = frame;
    }
    assert.equal(text, "Once upon a timeOnce upon");
    // The engine pauses 20 ms between tokens: nothing is held back to coalesce (30 ms batches gave at
    // most 4 frames for these 6). A token that comes while the previous frame is still being written
    // rides with the next one, which a loaded machine can cause once.
    assert.ok(deltas >= 5, `${deltas} delta frames for 6 tokens`);
    const frame = done as { usage: { completionTokens: number }; receipt: { credits: number; provider: string } };
    assert.equal(frame.usage.completionTokens, 6);
    assert.equal(frame.receipt.credits, (3 + 6) * 2);
    assert.equal(frame.receipt.provider, provider.peerId.toString());
  });

  it("stops generating where the payer's maxCredits ends, and never charges past it", async () => {
    // Price 2 per token: 20 credits pay for 10 tokens, 3 of them the prompt's.
    const request = createInferenceRequest({ kind: "chat", model: "scripted", body: body(50), maxCredits: 20, ...to }, payer);
    let done: { usage: { completionTokens: number }; receipt: { credits: number } } | undefined;
    for await (const frame of requestInference(client, provider.peerId, request)) if (frame.t === "done") done = frame;
    assert.equal(done?.usage.completionTokens, 7);
    assert.equal(done?.receipt.credits, 20);
  });

  it("streams one embedding frame per input, then done", async () => {
    const request = createInferenceRequest(
      { kind: "embedding", model: "scripted", body: { input: ["ab", "abcd"] }, maxCredits: 100, ...to },
      payer,
    );
    const frames = [];
    for await (const frame of requestInference(client, provider.peerId, request)) frames.push(frame);
    assert.deepEqual(
      frames.map((frame) => (frame.t === "embedding" ? frame.embedding[0] : frame.t)),
      [2, 4, "done"],
    );
  });

  it("answers node-info queries", async () => {
    const info = await fetchNodeInfo(client, provider.peerId);
    assert.deepEqual(
      info.models.map((m) => m.id),
      ["scripted"],
    );
  });

  async function rawExchange(bytes: Uint8Array) {
    const stream = await client.dialProtocol(provider.peerId, INFERENCE_PROTOCOL);
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 });
    await lp.write(bytes);
    const frame = decodeProviderFrame((await lp.read()).subarray());
    await stream.close().catch(() => {});
    return frame;
  }

  it("answers a bad signature, an expired request, a replay, an unknown model, garbage and an oversized frame with error frames", async () => {
    const good = createInferenceRequest({ kind: "chat", model: "scripted", body: body(1), maxCredits: 1000, ...to }, payer);
    const cases: Array<[string, Uint8Array]> = [
      ["invalid_signature", encodeFrame({ t: "request", request: { ...good, maxCredits: 999_999, ...to } })],
      [
        "request_expired",
        encodeFrame({
          t: "request",
          request: createInferenceRequest(
            { kind: "chat", model: "scripted", body: body(1), maxCredits: 1, ...to, now: Date.now() - 600_000 },
            payer,
          ),
        }),
      ],
      [
        "model_not_found",
        encodeFrame({
          t: "request",
          request: createInferenceRequest({ kind: "chat", model: "nope", body: body(1), maxCredits: 1, ...to }, payer),
        }),
      ],
      ["malformed_frame", utf8Encode("{this is not json")],
      ["malformed_frame", utf8Encode(JSON.stringify({ t: "request", request: { v: 1 } }))],
      ["protocol_violation", encodeFrame({ t: "cancel" })],
      ["frame_too_large", new Uint8Array(200 * 1024)],
    ];
    for (const [code, bytes] of cases) {
      const frame = await rawExchange(bytes);
      assert.equal(frame.t, "error", `expected an error frame for ${code}`);
      assert.equal(frame.t === "error" && frame.code, code);
    }
    // The same signed request twice: the second is a replay.
    assert.equal((await rawExchange(encodeFrame({ t: "request", request: good }))).t, "delta");
    const replay = await rawExchange(encodeFrame({ t: "request", request: good }));
    assert.equal(replay.t === "error" && replay.code, "replayed_nonce");
    // And the provider still serves a fresh request afterwards.
    const fresh = createInferenceRequest({ kind: "chat", model: "scripted", body: body(2), maxCredits: 1000, ...to }, payer);
    const frames = [];
    for await (const frame of requestInference(client, provider.peerId, fresh)) frames.push(frame.t);
    assert.equal(frames.at(-1), "done");
  });

  it("throws the provider's error as a typed error", async () => {
    const request = createInferenceRequest({ kind: "chat", model: "nope", body: body(1), maxCredits: 1, ...to }, payer);
    await assert.rejects(
      async () => {
        for await (const _ of requestInference(client, provider.peerId, request)) {
          /* drain */
        }
      },
      { name: "ModelNotFoundError" },
    );
  });

  it("stops generation on the provider when the client aborts or leaves the loop", async () => {
    const abortedBefore = engine.aborted;
    const controller = new AbortController();
    const request = createInferenceRequest(
      { kind: "chat", model: "scripted", body: body(200, 1), maxCredits: 10_000, ...to },
      payer,
    );
    await assert.rejects(async () => {
      for await (const frame of requestInference(client, provider.peerId, request, { signal: controller.signal })) {
        if (frame.t === "delta") controller.abort();
      }
    });
    const second = createInferenceRequest(
      { kind: "chat", model: "scripted", body: body(200, 1), maxCredits: 10_000, ...to },
      payer,
    );
    for await (const frame of requestInference(client, provider.peerId, second)) {
      if (frame.t === "delta") break;
    }
    // A fast producer cancelled mid-write must not take the provider down.
    const fast = createInferenceRequest(
      { kind: "chat", model: "scripted", body: body(500, 0), maxCredits: 100_000, ...to },
      payer,
    );
    for await (const frame of requestInference(client, provider.peerId, fast)) {
      if (frame.t === "delta") break;
    }
    const deadline = Date.now() + 5000;
    while (engine.aborted < abortedBefore + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(engine.aborted, abortedBefore + 3);
    const after = createInferenceRequest({ kind: "chat", model: "scripted", body: body(2), maxCredits: 1000, ...to }, payer);
    const kinds: string[] = [];
    for await (const frame of requestInference(client, provider.peerId, after)) kinds.push(frame.t);
    assert.equal(kinds.at(-1), "done");
  });
});

describe("admission before work: a junk flood from one never-registered key", () => {
  let to: { provider: string; pricePerToken: number };
  const engine = new ScriptedEngine();
  const providerIdentity = generateIdentity();
  to = { provider: providerIdentity.id, pricePerToken: 2 };
  const honest = generateIdentity();
  const junk = generateIdentity();
  // Small on purpose: without admission and quotas, a few hundred junk requests would fill it.
  const replayGuard = new ReplayGuard({ maxEntries: 100, maxEntriesPerPayer: 10 });
  const admitted = new Set([honest.id]);
  let refusePayers = true;
  let provider: Libp2p;
  let client: Libp2p;

  const authorize = async (request: InferenceRequest) => {
    if (refusePayers && !admitted.has(request.payer)) throw new InsufficientCreditsError("not registered");
  };

  before(async () => {
    ({ provider, client } = await startProviderAndClient(providerIdentity, {
      inference: inferenceService({ engine, identity: providerIdentity, replayGuard, authorize }),
    }));
  });

  after(async () => {
    await client?.stop();
    await provider?.stop();
  });

  async function send(request: ReturnType<typeof createInferenceRequest>): Promise<string> {
    const stream = await client.dialProtocol(provider.peerId, INFERENCE_PROTOCOL);
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 });
    await lp.write(encodeFrame({ t: "request", request }));
    let last = "";
    for (;;) {
      const frame = decodeProviderFrame((await lp.read()).subarray());
      last = frame.t === "error" ? frame.code : frame.t;
      if (frame.t === "error" || frame.t === "done") break;
    }
    await stream.close().catch(() => {});
    return last;
  }
  const honestRequest = () =>
    createInferenceRequest({ kind: "chat", model: "scripted", body: body(2), maxCredits: 1000, ...to }, honest);

  it("drops requests for models not served and from refused payers before they take a replay-guard slot", async () => {
    for (let i = 0; i < 150; i++) {
      const model = i % 2 === 0 ? "nobody-serves-this" : "scripted";
      const code = await send(createInferenceRequest({ kind: "chat", model, body: body(1), maxCredits: 1, ...to }, junk));
      assert.equal(code, model === "scripted" ? "insufficient_credits" : "model_not_found");
    }
    assert.equal(replayGuard.size, 0, "no junk request holds a nonce");
    assert.equal(await send(honestRequest()), "done");
    assert.equal(replayGuard.countFor(honest.id), 1);
  });

  it("caps one payer's share of the guard: an admitted junk key cannot fill it, the honest payer is still served", async () => {
    refusePayers = false;
    const codes = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      const code = await send(
        createInferenceRequest({ kind: "chat", model: "scripted", body: body(1), maxCredits: 10, ...to }, junk),
      );
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    assert.equal(codes.get("done"), 10, "the payer's quota");
    assert.equal(codes.get("overloaded"), 140);
    assert.equal(replayGuard.countFor(junk.id), 10);
    for (let i = 0; i < 5; i++) assert.equal(await send(honestRequest()), "done");
  });
});
