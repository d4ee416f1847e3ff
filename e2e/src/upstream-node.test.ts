import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { LocalNetwork } from "@opengateway/cli";
import { startLocalNetwork } from "@opengateway/cli";
import type { LlamaServerProcess } from "@opengateway/full-node";
import { startLlamaServer } from "@opengateway/full-node";
import { errorMessage } from "@opengateway/protocol";
import OpenAI from "openai";
import { streamStory } from "./stream-story.js";
import { testModelPath } from "./test-model.js";

const API_KEY = "og-e2e-upstream";
const MODEL = "stories260K";
const LLAMA_SERVER =
  process.env.OPENGATEWAY_LLAMA_SERVER ?? fileURLToPath(new URL("../../../shared/tools/llama-server.sh", import.meta.url));

interface GatewayWallet {
  ledger: "on" | "off";
  receipts: Array<{ provider: string; credits: number }>;
}

// Without llama-server there is nothing to put behind the node: skipped with the reason on a
// developer's machine that cannot run it, a failure in CI.
const upstream = await startLlamaServer({
  command: LLAMA_SERVER,
  threads: 1,
  parallel: 4,
  // 2048 tokens per slot: room for a long answer to kill llama-server in the middle of.
  contextSize: 8192,
  model: testModelPath(),
  alias: MODEL,
}).catch((error: unknown) => {
  if (process.env.CI) throw error;
  return new Error(errorMessage(error).split("\n")[0]);
});
const skip = upstream instanceof Error ? `llama-server cannot start here (${upstream.message})` : false;

/**
 * `opengateway node start --upstream`: a full node with no model of its own serves llama-server's
 * model to the network. The official openai client streams through the gateway, the node signs a
 * receipt the gateway pays, and llama-server dying mid-stream is a clean provider failure.
 */
describe("a full node serving through an upstream llama-server", { skip, timeout: 240_000 }, () => {
  const server = upstream as LlamaServerProcess;
  let network: LocalNetwork;
  let home: string;
  let client: OpenAI;
  const nodeLog: string[] = [];

  after(async () => {
    await network?.stop();
    await server.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("lists the upstream's model through the gateway", async () => {
    home = mkdtempSync(join(tmpdir(), "opengateway-e2e-upstream-"));
    network = await startLocalNetwork({
      model: "",
      upstream: server.baseURL,
      host: "127.0.0.1",
      port: 0,
      apiKey: API_KEY,
      home,
      onOutput: (part, line) => {
        if (part === "node") nodeLog.push(line);
      },
    });
    client = new OpenAI({ baseURL: network.url, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
    assert.deepEqual(network.models, [MODEL]);
    assert.deepEqual(
      (await client.models.list()).data.map((model) => model.id),
      [MODEL],
    );
  });

  it("streams a chat completion from llama-server with the official client, and the gateway pays the node's receipt", async () => {
    const { provider, text, chunks, usage } = await streamStory(client, { model: MODEL, max_tokens: 24, seed: 7 });
    assert.equal(provider, network.nodePeerId);
    assert.ok(text.length > 0);
    assert.ok(chunks >= 1);
    assert.equal(usage?.completion_tokens, 24);
    assert.ok((usage?.prompt_tokens ?? 0) > 0);
    // The same request straight to llama-server gives the same text: the node streams it through.
    const direct = await new OpenAI({ baseURL: server.baseURL, apiKey: "none", maxRetries: 0 }).chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 24,
      seed: 7,
      temperature: 1,
      top_p: 1,
    });
    assert.equal(text, direct.choices[0]?.message.content);

    const deadline = Date.now() + 10_000;
    let wallet: GatewayWallet;
    let paid: GatewayWallet["receipts"][number] | undefined;
    do {
      const answer = await fetch(`${network.url}/opengateway/wallet`, { headers: { authorization: `Bearer ${API_KEY}` } });
      wallet = (await answer.json()) as GatewayWallet;
      paid = wallet.receipts.find((receipt) => receipt.provider === network.nodePeerId);
      if (paid === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
    } while (paid === undefined && Date.now() < deadline);
    assert.equal(wallet.ledger, "on");
    assert.ok(paid, `the gateway's receipts: ${JSON.stringify(wallet.receipts)}`);
    assert.equal(paid.credits, (usage?.prompt_tokens ?? 0) + 24, "one credit per token at the default price");
  });

  it("reports llama-server dying mid-stream as a clean provider failure, and refuses at once after", async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 1900,
      // No end of story (token 2 is </s>): the answer is long enough to kill llama-server in the middle.
      logit_bias: { "2": -100 },
      stream: true,
    });
    let received = "";
    const failure = await (async () => {
      try {
        for await (const chunk of stream) {
          received += chunk.choices[0]?.delta.content ?? "";
          if (received.length > 0 && server.pid > 0) await server.stop("SIGKILL");
        }
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    assert.ok(received.length > 0);
    assert.ok(failure instanceof OpenAI.APIError, `expected an in-band API error, got ${String(failure)}`);
    assert.ok(
      nodeLog.some((line) => line.includes("engine_failed")),
      "the node logged the failed request",
    );

    const started = Date.now();
    await assert.rejects(
      client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hello" }], max_tokens: 4 }),
      OpenAI.APIError,
    );
    assert.ok(Date.now() - started < 10_000, "the failure is reported, not waited out");
  });
});
