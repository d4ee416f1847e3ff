import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestDevnet } from "./test-devnet.js";
import { startTestDevnet } from "./test-devnet.js";
import { waitFor } from "./wait-for.js";

const API_KEY = "og-chaos";
const MODEL = "stories260K";
const NODES = 3;
const SLOTS_PER_NODE = 2;
/** More streams than the devnet has slots: some wait in the gateway's queue. */
const STREAMS = 10;
const ROUNDS = 3;
const MAX_TOKENS = 1_000;

interface StreamOutcome {
  status: number;
  provider: string | null;
  retryAfter: string | null;
  /** SSE events, `[DONE]` included. */
  events: string[];
  /** Every provider that served part of it (from its finish chunk). */
  providers?: string[];
}

/**
 * Chaos (issue 14): a devnet under more concurrent streams than it has slots, the node serving
 * a stream killed with SIGKILL mid-stream, repeated. Every stream the gateway accepted completes,
 * behind one client stream; a stream the gateway could not start within its queue bound is a 429
 * with retry-after, never a 503 or a broken stream.
 */
describe("chaos: nodes killed mid-stream under load", { timeout: 900_000 }, () => {
  let devnet: TestDevnet;
  const peers = async () =>
    (
      (await (await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
        peers: Array<{ peerId: string }>;
      }
    ).peers.map((peer) => peer.peerId);

  before(async () => {
    devnet = await startTestDevnet({
      nodes: NODES, // each with the test devnet's --parallel 2 (SLOTS_PER_NODE)
      apiKey: API_KEY,
      gatewayArgs: ["--provider-idle-timeout-ms", "5000", "--queue-wait-ms", "60000"],
    });
    await waitFor(async () => (await peers()).length === NODES, "the gateway to learn every full node");
  });

  after(async () => {
    await devnet?.stop();
  });

  /** One streamed request, read to its end; `onContent` runs once, at its first text. */
  async function stream(onContent: (provider: string | null) => void): Promise<StreamOutcome> {
    const response = await fetch(`${devnet.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "Once upon a time" }],
        max_tokens: MAX_TOKENS,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const provider = response.headers.get("x-opengateway-provider");
    const outcome = { status: response.status, provider, retryAfter: response.headers.get("retry-after"), events: [] };
    if (response.status !== 200) {
      await response.text();
      return outcome;
    }
    let raw = "";
    let seen = false;
    const decoder = new TextDecoder();
    for await (const chunk of response.body ?? []) {
      raw += decoder.decode(chunk as Uint8Array, { stream: true });
      if (!seen && raw.includes('"content":"')) {
        seen = true;
        onContent(provider);
      }
    }
    return { ...outcome, events: raw.split("\n\n").filter(Boolean) };
  }

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: ${STREAMS} streams on ${NODES * SLOTS_PER_NODE} slots, the serving node of one killed mid-stream; every accepted stream completes`, async () => {
      let victim: string | null = null;
      let killed: Promise<void> | undefined;
      const kill = (provider: string | null) => {
        if (victim !== null || provider === null) return;
        const node = devnet.nodes.find((candidate) => candidate.peerId === provider);
        if (node === undefined) return;
        victim = provider;
        killed = node.process.kill();
      };
      const outcomes = await Promise.all(Array.from({ length: STREAMS }, () => stream(kill)));
      await killed;
      assert.ok(victim, "a node was killed mid-stream");

      for (const outcome of outcomes) {
        if (outcome.status === 429) {
          assert.ok(outcome.retryAfter, "a 429 says when to retry");
          continue;
        }
        assert.equal(outcome.status, 200, `a stream was refused with ${outcome.status}`);
        assert.equal(outcome.events.at(-1), "data: [DONE]");
        const chunks = outcome.events
          .slice(0, -1)
          .map((event) => JSON.parse(event.replace(/^data: /, "")) as Record<string, unknown>);
        const broken = chunks.find((chunk) => "error" in chunk);
        assert.equal(broken, undefined, `a stream carried an error: ${JSON.stringify(broken)}`);
        const usage = (chunks.at(-1) as { usage?: { prompt_tokens: number; completion_tokens: number } }).usage;
        assert.ok(usage && usage.completion_tokens > 0 && usage.completion_tokens <= MAX_TOKENS, JSON.stringify(usage));
        assert.ok(usage.prompt_tokens < 64, `prompt_tokens ${usage.prompt_tokens}: a resume is not billed as prompt`);
        const finish = chunks.find((chunk) => (chunk.choices as Array<{ finish_reason: string | null }>)[0]?.finish_reason) as
          | { opengateway?: { providers: string[] } }
          | undefined;
        outcome.providers = finish?.opengateway?.providers ?? [];
      }
      assert.ok(
        outcomes.some((outcome) => outcome.provider === victim && (outcome.providers?.length ?? 0) >= 2),
        "a stream of the killed node was resumed on another",
      );

      // Replace the dead node, so every round starts with the same devnet.
      const dead = devnet.nodes.find((node) => node.peerId === victim);
      if (dead) devnet.nodes.splice(devnet.nodes.indexOf(dead), 1);
      const fresh = await devnet.addNode();
      await waitFor(async () => (await peers()).includes(fresh.peerId), "the gateway to learn the new node");
    });
  }
});
