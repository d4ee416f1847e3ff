/**
 * Browser node benchmark (issue #6). On the same model and prompts, in one run and one after the
 * other (never at once: the machines have two cores), it measures:
 *   (a) the full node's engine, node-llama-cpp in-process with one thread, and
 *   (b) the browser node's engine, wllama (llama.cpp in WebAssembly, single-threaded: the page is
 *       not cross-origin isolated) in its Web Worker in headless Chromium, driven through the
 *       contributor page,
 * and prints tokens/s of each, their ratio, and the time from opening the page to the first
 * token the tab serves (download, WebAssembly start, model load, warm-up, first request).
 *
 * Run: `pnpm build` (the page too), then `node bench/dist/browser-node-bench.js`.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { CONTRIBUTE_PAGE_DIR, startContributeServer } from "@opengateway/browser-node/server";
import { launchBrowser } from "@opengateway/e2e/browser-launch";
import { LlamaCppEngine } from "@opengateway/full-node";
import type { CompletionGeneration } from "@opengateway/protocol";
import type { Page } from "playwright-core";
import { BENCH_MODEL_PATH, BENCH_PROMPTS } from "./bench-workload.js";

const MODEL = basename(BENCH_MODEL_PATH).replace(/\.gguf$/i, "");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 256);

interface Sample {
  tokens: number;
  ms: number;
}

const request = (prompt: string, seed: number): CompletionGeneration => ({
  model: MODEL,
  prompt,
  maxTokens: TOKENS,
  temperature: 0.8,
  topP: 1,
  seed,
  stop: [],
});

async function fullNodeSample(engine: LlamaCppEngine, generation: CompletionGeneration): Promise<Sample> {
  const start = performance.now();
  let tokens = 0;
  for await (const event of engine.generateCompletion(generation))
    if (event.type === "done") tokens = event.usage.completionTokens;
  return { tokens, ms: performance.now() - start };
}

/** Times one generation inside the page, on the tab's engine (the clock is the page's own). */
function browserSample(page: Page, generation: CompletionGeneration): Promise<Sample> {
  return page.evaluate(async (body) => {
    type Engine = { generateCompletion(request: unknown): AsyncIterable<{ type: string; usage?: { completionTokens: number } }> };
    const engine = (globalThis as unknown as { opengateway: { engine: Engine } }).opengateway.engine;
    const start = performance.now();
    let tokens = 0;
    for await (const event of engine.generateCompletion(body))
      if (event.type === "done") tokens = event.usage?.completionTokens ?? 0;
    return { tokens, ms: performance.now() - start };
  }, generation);
}

const rate = (samples: Sample[]): number =>
  (samples.reduce((sum, sample) => sum + sample.tokens, 0) * 1000) / samples.reduce((sum, sample) => sum + sample.ms, 0);

async function main(): Promise<void> {
  if (!existsSync(join(CONTRIBUTE_PAGE_DIR, "index.html"))) {
    throw new Error(
      "the contributor page is not built: run `pnpm build` (or `pnpm --filter @opengateway/browser-node build:page`)",
    );
  }
  console.log(`model ${MODEL}, ${BENCH_PROMPTS.length} prompts × ${ROUNDS} rounds, ${TOKENS} tokens each, temperature 0.8\n`);

  const engine = await LlamaCppEngine.load({ modelPath: BENCH_MODEL_PATH, threads: 1, parallelRequests: 1 });
  const full: Sample[] = [];
  try {
    await fullNodeSample(engine, request(BENCH_PROMPTS[0] ?? "", 0));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [index, prompt] of BENCH_PROMPTS.entries())
        full.push(await fullNodeSample(engine, request(prompt, round * 100 + index)));
    }
  } finally {
    await engine.close();
  }

  // The page's own server, offering the model file; `autostart=1` has the tab serve at once.
  const server = await startContributeServer({ bootstrap: () => [], modelFiles: [BENCH_MODEL_PATH] });
  const chromium = await launchBrowser();
  const browser: Sample[] = [];
  let openToServingMs = Number.NaN;
  let openToFirstTokenMs = Number.NaN;
  let warmUpTokensPerSecond: number | null = null;
  try {
    const page = await chromium.newPage();
    const opened = performance.now();
    await page.goto(`${server.url}?autostart=1`);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { opengateway?: { status(): { phase: string } } }).opengateway?.status().phase === "serving",
      undefined,
      { timeout: 120_000, polling: 20 },
    );
    openToServingMs = performance.now() - opened;
    const firstToken = await page.evaluate(
      async (body) => {
        type Engine = { generateCompletion(request: unknown): AsyncIterable<{ type: string }> };
        const engine = (globalThis as unknown as { opengateway: { engine: Engine } }).opengateway.engine;
        const start = performance.now();
        for await (const event of engine.generateCompletion(body)) if (event.type === "text") return performance.now() - start;
        return Number.NaN;
      },
      request(BENCH_PROMPTS[0] ?? "", 0),
    );
    openToFirstTokenMs = openToServingMs + firstToken;
    warmUpTokensPerSecond = await page.evaluate(
      () =>
        (globalThis as unknown as { opengateway: { status(): { measuredTokensPerSecond: number | null } } }).opengateway.status()
          .measuredTokensPerSecond,
      undefined,
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const [index, prompt] of BENCH_PROMPTS.entries())
        browser.push(await browserSample(page, request(prompt, round * 100 + index)));
    }
  } finally {
    await chromium.close();
    await server.close();
  }

  const fullRate = rate(full);
  const browserRate = rate(browser);
  const row = (name: string, value: string) => console.log(`${name.padEnd(68)}${value}`);
  row("full node, node-llama-cpp (1 thread), tokens/s", fullRate.toFixed(0));
  row("browser node, wllama in headless Chromium (1 thread), tokens/s", browserRate.toFixed(0));
  row("ratio browser / full node", `${(browserRate / fullRate).toFixed(2)}×`);
  row("browser warm-up measurement (what the tab advertises), tokens/s", String(warmUpTokensPerSecond));
  row("page open → serving (download, wasm, load, warm-up), ms", openToServingMs.toFixed(0));
  row("page open → first served token, ms", openToFirstTokenMs.toFixed(0));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
