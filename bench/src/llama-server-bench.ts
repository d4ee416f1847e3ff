/**
 * Side by side with llama.cpp's own llama-server (issue #15). On the same model, with one
 * generation thread and four parallel slots on both sides, and the official openai client, it
 * measures in interleaved rounds:
 *   (L) llama-server directly,
 *   (O) our path: gateway → libp2p → full node (node-llama-cpp), and
 *   (U) the same path with the node serving through `--upstream` that very llama-server,
 * four figures each (requests/s at max_tokens 1 with 8 in flight; TTFT p50 of one stream;
 * aggregate tok/s of 8 streams × 128 tokens; total time p50 of one 64-token stream), their
 * medians over the rounds and the ratios of the medians to llama-server's; and the CPU time the
 * gateway, the node and llama-server spend per request in the small-request run.
 * Skipped, with the reason, where llama-server cannot start.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalNetwork } from "@opengateway/cli";
import { startLocalNetwork } from "@opengateway/cli";
import type { LlamaServerProcess } from "@opengateway/full-node";
import { startLlamaServer } from "@opengateway/full-node";
import { errorMessage } from "@opengateway/protocol";
import OpenAI from "openai";
import { BENCH_MODEL_PATH } from "./bench-workload.js";

const modelPath = BENCH_MODEL_PATH;
const LLAMA_SERVER =
  process.env.OPENGATEWAY_LLAMA_SERVER ?? fileURLToPath(new URL("../../../shared/tools/llama-server.sh", import.meta.url));
const ROUNDS = Number(process.env.BENCH_LLAMA_ROUNDS ?? 5);
const SMALL_REQUESTS = Number(process.env.BENCH_SMALL_REQUESTS ?? 160);
const TTFT_SAMPLES = Number(process.env.BENCH_TTFT_SAMPLES ?? 20);
const STREAM_SAMPLES = Number(process.env.BENCH_STREAM_SAMPLES ?? 8);
/** Extra `node start` flags for both of our nodes, to compare settings (e.g. `--stream-batch-ms 30`). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
const MODEL = "stories260K";
const API_KEY = "og-bench";
const PROMPT = [{ role: "user" as const, content: "Once upon a time" }];
/** Token 2 is </s>: banned, so every answer is as long as asked. */
const NO_END = { "2": -100 };

type Target = "llama-server" | "ours" | "upstream";
/** CPU ms of each process, one sample per round: per small request, and per 100 tokens streamed. */
interface Cpu {
  readonly perRequest: Map<string, number[]>;
  readonly per100Tokens: Map<string, number[]>;
}
const TARGETS: Target[] = ["llama-server", "ours", "upstream"];
const LABELS: Record<Target, string> = {
  "llama-server": "llama-server",
  ours: "gateway → full node",
  upstream: "gateway → node --upstream",
};

interface Figures {
  requestsPerSecond: number;
  ttftMs: number;
  aggregateTokensPerSecond: number;
  stream64Ms: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/** User + system CPU time of a process so far, in ms (Linux /proc; NaN elsewhere). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name; in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

async function inFlight(count: number, concurrency: number, run: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await run(next++);
    }),
  );
}

async function stream(
  client: OpenAI,
  maxTokens: number,
  seed: number,
): Promise<{ ttftMs: number; totalMs: number; tokens: number }> {
  const start = performance.now();
  let ttftMs = Number.NaN;
  let tokens = 0;
  const chunks = await client.chat.completions.create({
    model: MODEL,
    messages: PROMPT,
    max_tokens: maxTokens,
    seed,
    logit_bias: NO_END,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of chunks) {
    if (Number.isNaN(ttftMs) && chunk.choices[0]?.delta.content) ttftMs = performance.now() - start;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ttftMs, totalMs: performance.now() - start, tokens };
}

async function smallRequests(client: OpenAI, seed: number): Promise<number> {
  const start = performance.now();
  await inFlight(SMALL_REQUESTS, 8, async (index) => {
    await client.chat.completions.create({ model: MODEL, messages: PROMPT, max_tokens: 1, seed: seed + index });
  });
  return (SMALL_REQUESTS / (performance.now() - start)) * 1000;
}

async function measure(client: OpenAI, round: number, cpu: Cpu, pids: Record<string, number>): Promise<Figures> {
  let before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const record = (into: Map<string, number[]>, per: number): void => {
    for (const [name, pid] of Object.entries(pids)) {
      const now = cpuMs(pid);
      into.set(name, [...(into.get(name) ?? []), (now - (before[name] ?? 0)) / per]);
      before[name] = now;
    }
  };
  const requestsPerSecond = await smallRequests(client, round * 1000);
  record(cpu.perRequest, SMALL_REQUESTS);
  const ttfts: number[] = [];
  for (let i = 0; i < TTFT_SAMPLES; i++) ttfts.push((await stream(client, 8, round * 100 + i)).ttftMs);
  before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const start = performance.now();
  const parallel = await Promise.all(Array.from({ length: 8 }, (_, i) => stream(client, 128, round * 10 + i)));
  const streamedTokens = parallel.reduce((total, sample) => total + sample.tokens, 0);
  const aggregateTokensPerSecond = (streamedTokens / (performance.now() - start)) * 1000;
  // Per 100 tokens: the cost of streaming (frames, chunks) as well as of generating.
  record(cpu.per100Tokens, streamedTokens / 100);
  const totals: number[] = [];
  for (let i = 0; i < STREAM_SAMPLES; i++) totals.push((await stream(client, 64, round * 100 + i)).totalMs);
  return { requestsPerSecond, ttftMs: median(ttfts), aggregateTokensPerSecond, stream64Ms: median(totals) };
}

async function main(): Promise<void> {
  let llama: LlamaServerProcess;
  try {
    llama = await startLlamaServer({ command: LLAMA_SERVER, threads: 1, parallel: 4, model: modelPath, alias: MODEL });
  } catch (error) {
    console.log(`llama-server side by side: skipped, llama-server cannot start here (${errorMessage(error).split("\n")[0]})`);
    return;
  }
  const homes: string[] = [];
  const output: string[] = [];
  const networks: LocalNetwork[] = [];
  const network = async (upstream?: string): Promise<LocalNetwork> => {
    const home = mkdtempSync(join(tmpdir(), "opengateway-bench-"));
    homes.push(home);
    const started = await startLocalNetwork({
      model: modelPath,
      upstream,
      host: "127.0.0.1",
      port: 0,
      apiKey: API_KEY,
      home,
      nodeArgs: [...(upstream ? [] : ["--gpu", "off", "--threads", "1", "--parallel", "4"]), ...NODE_ARGS],
      // Kept for the report of a failed run.
      onOutput: (part, line) => {
        output.push(`${upstream ? "upstream " : ""}${part}: ${line}`);
        if (output.length > 60) output.shift();
      },
    });
    networks.push(started);
    return started;
  };
  try {
    const ours = await network();
    const viaUpstream = await network(llama.baseURL);
    const clients: Record<Target, OpenAI> = {
      "llama-server": new OpenAI({ baseURL: llama.baseURL, apiKey: "none", maxRetries: 0 }),
      ours: new OpenAI({ baseURL: ours.url, apiKey: API_KEY, maxRetries: 0 }),
      upstream: new OpenAI({ baseURL: viaUpstream.url, apiKey: API_KEY, maxRetries: 0 }),
    };
    const pids: Record<Target, Record<string, number>> = {
      "llama-server": { "llama-server": llama.pid },
      ours: { gateway: ours.pids.gateway, node: ours.pids.node },
      upstream: { gateway: viaUpstream.pids.gateway, node: viaUpstream.pids.node, "llama-server": llama.pid },
    };
    // Warm-up: connections, lazy initialisation and the prompt cache on every side.
    for (const target of TARGETS) for (let i = 0; i < 5; i++) await stream(clients[target], 8, i);

    const figures: Record<Target, Figures[]> = { "llama-server": [], ours: [], upstream: [] };
    const cpu: Record<Target, Cpu> = {
      "llama-server": { perRequest: new Map(), per100Tokens: new Map() },
      ours: { perRequest: new Map(), per100Tokens: new Map() },
      upstream: { perRequest: new Map(), per100Tokens: new Map() },
    };
    for (let round = 0; round < ROUNDS; round++) {
      // A different side goes first each round, so drift in machine load hits all of them alike.
      for (let k = 0; k < TARGETS.length; k++) {
        const target = TARGETS[(round + k) % TARGETS.length] as Target;
        const measured = await measure(clients[target], round, cpu[target], pids[target]).catch((error: unknown) => {
          throw new Error(`${LABELS[target]} failed: ${errorMessage(error)}\n${output.join("\n")}`);
        });
        figures[target].push(measured);
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    const med = (target: Target, key: keyof Figures) => median(figures[target].map((sample) => sample[key]));
    const rows: [string, keyof Figures, string, number][] = [
      ["requests/s, max_tokens 1, 8 in flight", "requestsPerSecond", "", 0],
      ["TTFT p50, one stream", "ttftMs", " ms", 2],
      ["aggregate tok/s, 8 streams × 128 tokens", "aggregateTokensPerSecond", "", 0],
      ["64-token stream, total time p50", "stream64Ms", " ms", 1],
    ];
    console.log("");
    console.log(
      `llama-server side by side — ${MODEL}, 1 generation thread and 4 slots on both sides, official openai client, medians of ${ROUNDS} interleaved rounds`,
    );
    console.log(
      `${"figure".padEnd(42)}${"llama-server".padStart(14)}${"ours".padStart(12)}${"ratio".padStart(8)}${"--upstream".padStart(12)}${"ratio".padStart(8)}`,
    );
    for (const [label, key, unit, digits] of rows) {
      const l = med("llama-server", key);
      const o = med("ours", key);
      const u = med("upstream", key);
      console.log(
        `${label.padEnd(42)}${(l.toFixed(digits) + unit).padStart(14)}${(o.toFixed(digits) + unit).padStart(12)}${(o / l).toFixed(2).padStart(8)}${(u.toFixed(digits) + unit).padStart(12)}${(u / l).toFixed(2).padStart(8)}`,
      );
    }
    console.log("CPU per request in the small-request run (median over rounds, ms):");
    for (const target of TARGETS) {
      const parts = [...cpu[target].perRequest].map(([name, values]) => `${name} ${median(values).toFixed(2)}`);
      console.log(`  ${LABELS[target].padEnd(28)} ${parts.join("   ")}`);
    }
    console.log("CPU per 100 streamed tokens in the 8 × 128 run (median over rounds, ms):");
    for (const target of TARGETS) {
      const parts = [...cpu[target].per100Tokens].map(([name, values]) => `${name} ${median(values).toFixed(1)}`);
      console.log(`  ${LABELS[target].padEnd(28)} ${parts.join("   ")}`);
    }
  } finally {
    await Promise.all(networks.map((started) => started.stop()));
    await llama.stop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  }
}

await main();
