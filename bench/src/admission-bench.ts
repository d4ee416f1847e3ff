/**
 * Admission under a junk flood (issue 13). One provider (libp2p, a scripted engine, a payer
 * check like `--require-payment`, the default replay guard); an honest payer sends
 * requests one after another, first alone, then while a second peer floods the provider with
 * signed junk from a never-registered key (half for a model nobody serves, half for the served
 * model). Prints the honest payer's latency (p50/p99) and success rate in both phases and the
 * replay guard's size afterwards: admission drops the junk before it takes a slot.
 */
import "@opengateway/p2p/node-runtime";
import { lpStream } from "@libp2p/utils";
import { createLibp2pNode, inferenceService, requestInference } from "@opengateway/p2p";
import {
  createInferenceRequest,
  encodeFrame,
  generateIdentity,
  INFERENCE_PROTOCOL,
  InsufficientCreditsError,
  ReplayGuard,
} from "@opengateway/protocol";
import { TickingEngine } from "@opengateway/protocol/test-support/ticking-engine";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const FLOODERS = Number(process.env.BENCH_FLOODERS ?? 8);

/** Ten tokens (the request's max), a millisecond apart: the cost of serving, without a model. */
const engine = new TickingEngine({ name: "bench-engine", tickMs: 1, text: "x", promptTokens: 1, model: { id: "bench" } });

const body = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 10, temperature: 0, topP: 1, seed: 1, stop: [] };
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};

const providerIdentity = generateIdentity();
const honest = generateIdentity();
const junk = generateIdentity();
// The default guard (200,000 nonces, 10,000 per payer, 50,000 per peer).
const replayGuard = new ReplayGuard();
const provider = await createLibp2pNode({
  identity: providerIdentity,
  listen: ["/ip4/127.0.0.1/tcp/0"],
  services: {
    inference: inferenceService({
      engine,
      identity: providerIdentity,
      replayGuard,
      authorize: async (request) => {
        if (request.payer !== honest.id) throw new InsufficientCreditsError(`payer ${request.payer} is not registered`);
      },
    }),
  },
});
const client = await createLibp2pNode({ identity: generateIdentity(), listen: [] });
const flooder = await createLibp2pNode({ identity: generateIdentity(), listen: [] });
const address = provider.getMultiaddrs()[0];
if (address === undefined) throw new Error("the provider has no address");
await client.dial(address);
await flooder.dial(address);

async function honestPhase(label: string): Promise<void> {
  const latencies: number[] = [];
  let ok = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const request = createInferenceRequest(
      { kind: "chat", model: "bench", body, maxCredits: 100, provider: provider.peerId.toString(), pricePerToken: 1 },
      honest,
    );
    const started = performance.now();
    try {
      for await (const frame of requestInference(client, provider.peerId, request, { signal: AbortSignal.timeout(10_000) })) {
        if (frame.t === "done") ok++;
      }
    } catch {
      // counted as a failure
    }
    latencies.push(performance.now() - started);
  }
  console.log(
    `${label.padEnd(16)} honest ok ${ok}/${SAMPLES} (${((100 * ok) / SAMPLES).toFixed(1)}%)  p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  replay guard ${replayGuard.size}`,
  );
}

let junkSent = 0;
async function flood(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const model = junkSent % 2 === 0 ? "nobody-serves-this" : "bench";
    const request = createInferenceRequest(
      { kind: "chat", model, body, maxCredits: 100, provider: provider.peerId.toString(), pricePerToken: 1 },
      junk,
    );
    try {
      const stream = await flooder.dialProtocol(provider.peerId, INFERENCE_PROTOCOL, { signal });
      const lp = lpStream(stream);
      await lp.write(encodeFrame({ t: "request", request }), { signal });
      await lp.read({ signal });
      await stream.close().catch(() => {});
      junkSent++;
    } catch {
      // the provider refuses: that is the point
    }
  }
}

await honestPhase("normal");
const controller = new AbortController();
const started = performance.now();
const flooders = Array.from({ length: FLOODERS }, () => flood(controller.signal));
await honestPhase("under flood");
controller.abort();
await Promise.allSettled(flooders);
const seconds = (performance.now() - started) / 1000;
console.log(`junk requests answered ${junkSent} (${(junkSent / seconds).toFixed(0)}/s from ${FLOODERS} streams at once)`);
await Promise.all([client.stop(), flooder.stop(), provider.stop()]);
