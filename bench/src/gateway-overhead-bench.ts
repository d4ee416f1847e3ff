/**
 * Gateway overhead benchmark (issue #3). For the same prompts on the same model it measures,
 * side by side in one run:
 *   (a) the node-llama-cpp engine called in-process, and
 *   (b) the same request through the official openai client → gateway → libp2p → full node,
 * and prints tokens/s, time to first token, their ratio, and the latency the network path adds
 * per request (p50/p99). Both sides use one generation thread and one sequence; they run in
 * alternation, never at once, so they do not compete for the two cores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNetwork } from "@opengateway/cli";
import { LlamaCppEngine } from "@opengateway/full-node";
import type { ChatGeneration } from "@opengateway/protocol";
import OpenAI from "openai";
import { BENCH_MODEL_PATH, BENCH_PROMPTS } from "./bench-workload.js";

const THROUGHPUT_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const THROUGHPUT_TOKENS = Number(process.env.BENCH_TOKENS ?? 512);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);

interface Sample {
  ttftMs: number;
  totalMs: number;
  tokens: number;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

async function inProcess(engine: LlamaCppEngine, request: ChatGeneration): Promise<Sample> {
  const start = performance.now();
  let ttft = Number.NaN;
  let tokens = 0;
  for await (const event of engine.generateChat(request)) {
    if (event.type === "text" && Number.isNaN(ttft)) ttft = performance.now() - start;
    if (event.type === "done") tokens = event.usage.completionTokens;
  }
  return { ttftMs: ttft, totalMs: performance.now() - start, tokens };
}

async function overNetwork(client: OpenAI, request: ChatGeneration): Promise<Sample> {
  const start = performance.now();
  let ttft = Number.NaN;
  let tokens = 0;
  const stream = await client.chat.completions.create({
    model: request.model,
    messages: request.messages.map((message) => ({ role: "user" as const, content: message.content })),
    max_tokens: request.maxTokens,
    temperature: request.temperature,
    seed: request.seed,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta.content && Number.isNaN(ttft)) ttft = performance.now() - start;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ttftMs: ttft, totalMs: performance.now() - start, tokens };
}

/** A non-streaming request with Node's own fetch: the least client-side work an HTTP call can take. */
async function overBareHttp(baseUrl: string, apiKey: string, request: ChatGeneration): Promise<number> {
  const start = performance.now();
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: request.model,
      messages: request.messages,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      seed: request.seed,
    }),
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return performance.now() - start;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "opengateway-bench-"));
  const apiKey = "og-bench";
  console.log(`model: ${BENCH_MODEL_PATH}`);
  const engine = await LlamaCppEngine.load({ modelPath: BENCH_MODEL_PATH, threads: 1, parallelRequests: 1 });
  const network = await startLocalNetwork({
    model: BENCH_MODEL_PATH,
    host: "127.0.0.1",
    port: 0,
    apiKey,
    home,
    nodeArgs: [
      "--gpu",
      "off",
      "--threads",
      "1",
      "--parallel",
      "1",
      ...(process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
    ],
    onOutput: () => {},
  });
  const client = new OpenAI({ baseURL: network.url, apiKey, maxRetries: 0 });
  const model = engine.listModels()[0]?.id ?? "";
  const request = (prompt: string, maxTokens: number, seed: number): ChatGeneration => ({
    model,
    messages: [{ role: "user", content: prompt }],
    maxTokens,
    temperature: 1,
    topP: 1,
    seed,
    stop: [],
  });
  try {
    // Warm-up: first requests pay for connection set-up and lazy initialisation on both sides.
    for (let i = 0; i < 5; i++) {
      await inProcess(engine, request(BENCH_PROMPTS[0] ?? "", 16, i));
      await overNetwork(client, request(BENCH_PROMPTS[0] ?? "", 16, i));
    }

    const local: Sample[] = [];
    const remote: Sample[] = [];
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
      for (const [index, prompt] of BENCH_PROMPTS.entries()) {
        const seed = round * 100 + index;
        // Alternate which side goes first so drift in machine load hits both equally.
        if ((round + index) % 2 === 0) {
          local.push(await inProcess(engine, request(prompt, THROUGHPUT_TOKENS, seed)));
          remote.push(await overNetwork(client, request(prompt, THROUGHPUT_TOKENS, seed)));
        } else {
          remote.push(await overNetwork(client, request(prompt, THROUGHPUT_TOKENS, seed)));
          local.push(await inProcess(engine, request(prompt, THROUGHPUT_TOKENS, seed)));
        }
      }
    }

    // Added latency: a one-token request both ways, paired, many times. The network side is
    // timed with a bare HTTP client (Node's fetch) and with the official openai client.
    const addedBare: number[] = [];
    const addedOpenAI: number[] = [];
    const localShort: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const one = request(BENCH_PROMPTS[i % BENCH_PROMPTS.length] ?? "", 1, i);
      const a = await inProcess(engine, one);
      const b = await overBareHttp(network.url, apiKey, one);
      const c = await overNetwork(client, { ...one, seed: one.seed + 1 });
      localShort.push(a.totalMs);
      addedBare.push(b - a.totalMs);
      addedOpenAI.push(c.totalMs - a.totalMs);
    }

    const rate = (samples: Sample[]) => (sum(samples.map((s) => s.tokens)) / sum(samples.map((s) => s.totalMs))) * 1000;
    const localRate = rate(local);
    const remoteRate = rate(remote);
    const ttft = (samples: Sample[]) => samples.map((s) => s.ttftMs);
    const row = (name: string, samples: Sample[], tokensPerSecond: number) =>
      `${name.padEnd(40)} ${tokensPerSecond.toFixed(0).padStart(8)} tok/s   TTFT p50 ${percentile(ttft(samples), 50).toFixed(2).padStart(7)} ms   p99 ${percentile(ttft(samples), 99).toFixed(2).padStart(7)} ms   (${sum(samples.map((s) => s.tokens))} tokens in ${samples.length} requests)`;

    console.log("");
    console.log(
      `Gateway overhead — ${model}, ${THROUGHPUT_TOKENS} max tokens × ${local.length} requests each way, 1 thread, 1 sequence`,
    );
    console.log(row("(a) in-process engine", local, localRate));
    console.log(row("(b) openai → gateway → libp2p → full node", remote, remoteRate));
    console.log(`throughput ratio (b)/(a): ${(remoteRate / localRate).toFixed(3)}   (target ≥ 0.95)`);
    console.log(
      `added latency per one-token request (${LATENCY_SAMPLES} paired; in-process p50 ${percentile(localShort, 50).toFixed(2)} ms; target p50 < 5 ms):`,
    );
    console.log(
      `  bare HTTP client (fetch)   p50 ${percentile(addedBare, 50).toFixed(2)} ms   p99 ${percentile(addedBare, 99).toFixed(2)} ms`,
    );
    console.log(
      `  official openai client     p50 ${percentile(addedOpenAI, 50).toFixed(2)} ms   p99 ${percentile(addedOpenAI, 99).toFixed(2)} ms`,
    );
  } finally {
    await network.stop();
    await engine.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
