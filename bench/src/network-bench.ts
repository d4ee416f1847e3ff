/**
 * Network benchmark (issue #7), not a test. Prints:
 *  1. routing decision time with 1,000 simulated providers in the table;
 *  2. aggregate throughput with 1, 2 and 4 providers as a fraction of the ideal — the providers
 *     run a FAKE engine that emits tokens at a fixed rate, so the figure measures the network
 *     (libp2p streams, framing, signing, routing), not the two CPU cores;
 *  3. time to recover a stream after its provider dies mid-way (last token from the dead provider
 *     → first token from its replacement).
 */
import "@opengateway/p2p/node-runtime";
import type { Libp2p } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode, inferenceService, nodeInfoService } from "@opengateway/p2p";
import type * as Engine from "@opengateway/protocol";
import { encodeFrame, generateIdentity, INFERENCE_PROTOCOL } from "@opengateway/protocol";
import { InferenceRouter, ProviderTable } from "@opengateway/sdk";

const TOKEN_RATE = Number(process.env.BENCH_FAKE_TOKENS_PER_SECOND ?? 200);
const SLOTS = 4;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 4000);
const MODEL = "fake";
/** Long enough that per-request set-up is amortised as in real use; short enough for many requests per window. */
const TOKENS_PER_REQUEST = 200;

/** A FAKE engine: one token every 1/rate seconds, per request, up to its slot count at once. */
class FixedRateFakeEngine implements Engine.InferenceEngine {
  readonly name = "fixed-rate-fake";
  active = 0;
  listModels(): Engine.ServedModel[] {
    return [{ id: MODEL, contextSize: 100_000, pricePerToken: 1, kinds: ["chat", "completion"] }];
  }
  async *generateChat(
    request: Engine.ChatGeneration,
    options: Engine.GenerateOptions = {},
  ): AsyncGenerator<Engine.GenerationEvent> {
    this.active++;
    try {
      const start = performance.now();
      for (let i = 0; i < request.maxTokens; i++) {
        // Fixed schedule from the start, so timer slack does not accumulate.
        const due = start + ((i + 1) * 1000) / TOKEN_RATE;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
        if (options.signal?.aborted) return;
        yield { type: "text", index: 0, text: " tok", tokens: 1 };
      }
      yield {
        type: "done",
        choices: [{ index: 0, finishReason: "length" }],
        usage: { promptTokens: 4, completionTokens: request.maxTokens },
      };
    } finally {
      this.active--;
    }
  }
  generateCompletion(
    request: Engine.CompletionGeneration,
    options?: Engine.GenerateOptions,
  ): AsyncGenerator<Engine.GenerationEvent> {
    return this.generateChat({ ...request, messages: [{ role: "user", content: request.prompt }] }, options);
  }
  // biome-ignore lint/correctness/useYield: the fake serves no embeddings
  async *embed(): AsyncGenerator<Engine.EmbeddingEvent> {
    throw new Error("no embeddings");
  }
  async close(): Promise<void> {}
}

function capabilities(engine: FixedRateFakeEngine): Engine.NodeCapabilities {
  return {
    v: 1,
    agent: "bench",
    engine: engine.name,
    region: null,
    clusters: ["A"],
    models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
    activeRequests: engine.active,
    maxConcurrentRequests: SLOTS,
    queuedRequests: 0,
    tokensPerSecond: TOKEN_RATE,
  };
}

async function startFakeProvider(): Promise<Libp2p<NetworkServices>> {
  const identity = generateIdentity();
  const engine = new FixedRateFakeEngine();
  return createLibp2pNode({
    identity,
    services: {
      inference: inferenceService({ engine, identity }),
      info: nodeInfoService({ getInfo: () => capabilities(engine) }),
    },
  });
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};

function routingDecisionBench(): void {
  const table = new ProviderTable();
  const regions = ["europe", "asia", "north-america", "africa"];
  for (let i = 0; i < 1000; i++) {
    table.upsert(
      `provider-${i}`,
      {
        ...capabilities(new FixedRateFakeEngine()),
        region: regions[i % regions.length] ?? null,
        models: [{ id: i % 10 === 0 ? "rare" : MODEL, contextSize: 4096, pricePerToken: 1, kinds: ["chat"] }],
        activeRequests: i % 5,
        tokensPerSecond: 50 + (i % 97),
      },
      { expiresAt: Date.now() + 3_600_000 },
    );
  }
  for (let i = 0; i < 200; i++) table.candidatesFor(MODEL, { region: "europe", kind: "chat" }); // warm up
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const start = performance.now();
    const best = table.candidatesFor(MODEL, { region: i % 2 === 0 ? "europe" : null, kind: "chat" })[0];
    samples.push(performance.now() - start);
    if (!best) throw new Error("no candidate");
  }
  console.log(
    `routing decision, 1,000 providers in the table: p50 ${(percentile(samples, 50) * 1000).toFixed(0)} µs   p99 ${(percentile(samples, 99) * 1000).toFixed(0)} µs`,
  );
}

async function throughputBench(providerCount: number): Promise<void> {
  const providers = await Promise.all(Array.from({ length: providerCount }, () => startFakeProvider()));
  const client = await createLibp2pNode({ identity: generateIdentity(), listen: [] });
  const table = new ProviderTable();
  for (const provider of providers) {
    await client.dial(provider.getMultiaddrs());
    table.upsert(provider.peerId.toString(), capabilities(new FixedRateFakeEngine()), { expiresAt: Date.now() + 3_600_000 });
  }
  const router = new InferenceRouter(client, table);
  const payer = generateIdentity();
  const concurrency = providerCount * SLOTS;
  let tokens = 0;
  const deadline = performance.now() + WINDOW_MS;
  const worker = async () => {
    while (performance.now() < deadline) {
      const events = router.route(payer, {
        kind: "chat",
        model: MODEL,
        body: {
          messages: [{ role: "user", content: "go" }],
          maxTokens: TOKENS_PER_REQUEST,
          temperature: 1,
          topP: 1,
          seed: 1,
          stop: [],
        },
      });
      for await (const event of events) {
        if (event.type === "delta" && performance.now() < deadline) tokens += event.tokens;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Math.min(performance.now() - start, WINDOW_MS) / 1000;
  const ideal = providerCount * SLOTS * TOKEN_RATE;
  const rate = tokens / seconds;
  console.log(
    `aggregate throughput, ${providerCount} provider(s) × ${SLOTS} slots × ${TOKEN_RATE} tok/s: ${rate.toFixed(0)} tok/s of ideal ${ideal} = ${(rate / ideal).toFixed(3)}`,
  );
  await client.stop();
  await Promise.all(providers.map((provider) => provider.stop()));
}

async function recoveryBench(runs: number): Promise<void> {
  const healthy = await startFakeProvider();
  const client = await createLibp2pNode({ identity: generateIdentity(), listen: [] });
  await client.dial(healthy.getMultiaddrs());
  const payer = generateIdentity();
  const gaps: number[] = [];
  for (let run = 0; run < runs; run++) {
    // A provider that streams a few tokens, then its process "dies" (the stream resets).
    const dying = await createLibp2pNode({ identity: generateIdentity() });
    await dying.handle(INFERENCE_PROTOCOL, async (stream) => {
      const lp = lpStream(stream);
      await lp.read();
      for (let i = 0; i < 5; i++) {
        await lp.write(encodeFrame({ t: "delta", index: 0, text: " tok", tokens: 1 }));
        await new Promise((resolve) => setTimeout(resolve, 1000 / TOKEN_RATE));
      }
      stream.abort(new Error("died"));
    });
    await client.dial(dying.getMultiaddrs());
    const table = new ProviderTable();
    table.upsert(
      dying.peerId.toString(),
      { ...capabilities(new FixedRateFakeEngine()), tokensPerSecond: 1e6 },
      { expiresAt: Date.now() + 60_000 },
    );
    table.upsert(healthy.peerId.toString(), capabilities(new FixedRateFakeEngine()), { expiresAt: Date.now() + 60_000 });
    const router = new InferenceRouter(client, table);
    let lastFromDying = 0;
    let gap: number | undefined;
    for await (const event of router.route(payer, {
      kind: "chat",
      model: MODEL,
      body: { messages: [{ role: "user", content: "go" }], maxTokens: 10, temperature: 1, topP: 1, seed: 1, stop: [] },
    })) {
      if (event.type !== "delta") continue;
      if (event.provider === dying.peerId.toString()) lastFromDying = performance.now();
      else if (gap === undefined) gap = performance.now() - lastFromDying;
    }
    if (gap === undefined) throw new Error("the stream was not resumed");
    gaps.push(gap);
    await dying.stop();
  }
  console.log(
    `stream recovery after a provider dies mid-stream (${runs} runs, fake engine at ${TOKEN_RATE} tok/s, so one token gap = ${(1000 / TOKEN_RATE).toFixed(1)} ms): p50 ${percentile(gaps, 50).toFixed(1)} ms   p99 ${percentile(gaps, 99).toFixed(1)} ms`,
  );
  await client.stop();
  await healthy.stop();
}

console.log("Network benchmark (providers and client in one process, loopback TCP, FAKE fixed-rate engines)");
routingDecisionBench();
for (const count of [1, 2, 4]) await throughputBench(count);
await recoveryBench(Number(process.env.BENCH_RECOVERY_RUNS ?? 20));
