/**
 * Network benchmark (issue #7), not a test. Prints:
 *  1. routing decision time with 1,000 simulated providers in the table;
 *  2. aggregate throughput with 1, 2 and 4 providers as a fraction of the ideal — the providers
 *     run a FAKE engine that emits tokens at a fixed rate, so the figure measures the network
 *     (libp2p streams, framing, signing, routing), not the two CPU cores;
 *  3. time to recover a stream after its provider dies mid-way (last token from the dead provider
 *     → first token from its replacement);
 *  4. each contributor's share (issue #15): a fast full node with a smaller box or a slow one-slot
 *     tab, under sequential requests and under a burst, and the sequential latency against always
 *     sending to the fastest.
 */
import "@opengateway/p2p/node-runtime";
import type { Libp2p } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import type { NetworkServices } from "@opengateway/p2p";
import { createLibp2pNode, inferenceService, nodeInfoService } from "@opengateway/p2p";
import type * as Engine from "@opengateway/protocol";
import { encodeFrame, generateIdentity, INFERENCE_PROTOCOL } from "@opengateway/protocol";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
import { TickingEngine } from "@opengateway/protocol/test-support/ticking-engine";
import { InferenceRouter, ProviderTable } from "@opengateway/sdk";

const TOKEN_RATE = Number(process.env.BENCH_FAKE_TOKENS_PER_SECOND ?? 200);
const SLOTS = 4;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 4000);
const MODEL = "fake";
/** Long enough that per-request set-up is amortised as in real use; short enough for many requests per window. */
const TOKENS_PER_REQUEST = 200;
/** The share benchmark: sequential requests per run, and tokens per request. */
const SHARE_REQUESTS = Number(process.env.BENCH_SHARE_REQUESTS ?? 60);
const SHARE_TOKENS = 16;

/** A FAKE engine: one token every 1/rate seconds, per request, up to its slot count at once. */
class FixedRateFakeEngine extends TickingEngine {
  constructor(
    readonly rate = TOKEN_RATE,
    readonly slots = SLOTS,
  ) {
    super({
      name: "fixed-rate-fake",
      tickMs: 1000 / rate,
      text: " tok",
      promptTokens: 4,
      model: { id: MODEL, contextSize: 100_000, kinds: ["chat", "completion"] },
    });
  }
}

function capabilities(engine: FixedRateFakeEngine): Engine.NodeCapabilities {
  return {
    v: 1,
    agent: "bench",
    engine: engine.name,
    region: null,
    clusters: ["A"],
    models: engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
    activeRequests: engine.running,
    maxConcurrentRequests: engine.slots,
    queuedRequests: 0,
    tokensPerSecond: engine.rate,
  };
}

async function startFakeProvider(engine = new FixedRateFakeEngine()): Promise<Libp2p<NetworkServices>> {
  const identity = generateIdentity();
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
      { ...capabilities(new FixedRateFakeEngine()), tokensPerSecond: 1e7 },
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

interface ShareProvider {
  name: string;
  rate: number;
  slots: number;
}

/**
 * Sequential requests, then a burst of as many workers as all slots, over a fast full node and a
 * smaller provider: each one's share of the requests against what its speed × slots predicts,
 * and the sequential latency against a table holding only the fastest (always-the-fastest).
 */
async function shareBench(pair: ShareProvider[], baselineMs: number[] | undefined): Promise<number[]> {
  const engines = pair.map((p) => new FixedRateFakeEngine(p.rate, p.slots));
  const providers = await Promise.all(engines.map((engine) => startFakeProvider(engine)));
  const client = await createLibp2pNode({ identity: generateIdentity(), listen: [] });
  const payer = generateIdentity();
  const names = new Map<string, string>();
  const router = (count: number): InferenceRouter => {
    const table = new ProviderTable({ random: seededRandom(15) });
    for (const [i, provider] of providers.slice(0, count).entries()) {
      const engine = engines[i] as FixedRateFakeEngine;
      table.upsert(provider.peerId.toString(), capabilities(engine), { expiresAt: Date.now() + 3_600_000 });
    }
    return new InferenceRouter(client, table);
  };
  for (const [i, provider] of providers.entries()) {
    await client.dial(provider.getMultiaddrs());
    names.set(provider.peerId.toString(), pair[i]?.name ?? "?");
  }
  const run = async (r: InferenceRouter): Promise<{ ms: number; provider: string }> => {
    const start = performance.now();
    let provider = "?";
    for await (const event of r.route(payer, {
      kind: "chat",
      model: MODEL,
      body: { messages: [{ role: "user", content: "go" }], maxTokens: SHARE_TOKENS, temperature: 1, topP: 1, seed: 1, stop: [] },
    })) {
      if (event.type === "done") provider = names.get(event.providers[0] ?? "") ?? "?";
    }
    return { ms: performance.now() - start, provider };
  };
  const shares = (served: string[]): string =>
    pair
      .map((p) => `${p.name} ${((served.filter((name) => name === p.name).length / served.length) * 100).toFixed(1)}%`)
      .join(", ");
  const capacity = pair.reduce((sum, p) => sum + p.rate * p.slots, 0);
  const predicted = pair.map((p) => `${p.name} ${(((p.rate * p.slots) / capacity) * 100).toFixed(1)}%`).join(", ");
  const label = pair.map((p) => `${p.name} ${p.rate} tok/s × ${p.slots}`).join(" + ");

  let baseline = baselineMs;
  if (baseline === undefined) {
    const fastest = router(1);
    baseline = [];
    for (let i = 0; i < SHARE_REQUESTS; i++) baseline.push((await run(fastest)).ms);
  }
  const both = router(pair.length);
  const sequential: Array<{ ms: number; provider: string }> = [];
  for (let i = 0; i < SHARE_REQUESTS; i++) sequential.push(await run(both));
  const ms = sequential.map((s) => s.ms);
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(
    `share, ${label}, ${SHARE_REQUESTS} sequential × ${SHARE_TOKENS} tokens: ${shares(sequential.map((s) => s.provider))} (speed × slots: ${predicted}); latency p50 ${percentile(ms, 50).toFixed(0)} ms, mean ${mean(ms).toFixed(0)} ms, p90 ${percentile(ms, 90).toFixed(0)} ms; always-the-fastest p50 ${percentile(baseline, 50).toFixed(0)} ms, mean ${mean(baseline).toFixed(0)} ms, p90 ${percentile(baseline, 90).toFixed(0)} ms (mean ×${(mean(ms) / mean(baseline)).toFixed(2)})`,
  );

  const burst: string[] = [];
  const deadline = performance.now() + WINDOW_MS;
  const slots = pair.reduce((sum, p) => sum + p.slots, 0);
  await Promise.all(
    Array.from({ length: slots }, async () => {
      while (performance.now() < deadline) burst.push((await run(both)).provider);
    }),
  );
  console.log(
    `share, ${label}, ${slots} workers for ${WINDOW_MS / 1000} s (every slot busy): ${shares(burst)} of ${burst.length} requests`,
  );
  await client.stop();
  await Promise.all(providers.map((provider) => provider.stop()));
  return baseline;
}

console.log("Network benchmark (providers and client in one process, loopback TCP, FAKE fixed-rate engines)");
routingDecisionBench();
for (const count of [1, 2, 4]) await throughputBench(count);
await recoveryBench(Number(process.env.BENCH_RECOVERY_RUNS ?? 20));
const fullNode = { name: "full node", rate: TOKEN_RATE, slots: SLOTS };
const baseline = await shareBench([fullNode, { name: "small box", rate: TOKEN_RATE / 2, slots: SLOTS / 2 }], undefined);
await shareBench([fullNode, { name: "tab", rate: TOKEN_RATE / 4, slots: 1 }], baseline);
