import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { InferenceReceipt } from "@opengateway/protocol";
import { createClient } from "@opengateway/sdk";
import OpenAI from "openai";
import { startFaultyProvider, tcpAddresses as tcp } from "./faulty-provider.js";
import type { TestDevnet } from "./test-devnet.js";
import { startTestDevnet } from "./test-devnet.js";
import { waitFor } from "./wait-for.js";

const API_KEY = "og-network-test";
const MODEL = "stories260K";
const story = [{ role: "user" as const, content: "Once upon a time" }];
const IDLE_TIMEOUT_MS = 2_000;

describe("a network with no centre: discovery, regions, failover, churn", { timeout: 600_000 }, () => {
  let devnet: TestDevnet;
  let client: OpenAI;
  const network = async () =>
    (await (await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
      peers: Array<{ peerId: string; region: string | null; connected: boolean }>;
    };
  const providerOf = async (region: string) => {
    const { response } = await client.chat.completions
      .create({ model: MODEL, messages: story, max_tokens: 3 }, { headers: { "x-opengateway-region": region } })
      .withResponse();
    return response.headers.get("x-opengateway-provider") ?? "";
  };

  before(async () => {
    devnet = await startTestDevnet({
      nodes: 3,
      apiKey: API_KEY,
      regions: ["europe", "europe", "asia"],
      nodeArgs: ["--require-payment"],
      gatewayArgs: ["--provider-idle-timeout-ms", String(IDLE_TIMEOUT_MS)],
    });
    client = new OpenAI({ baseURL: devnet.url, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
    await waitFor(async () => (await network()).peers.length === 3, "the gateway to learn all three full nodes");
  });

  after(() => devnet?.stop());

  it("finds every full node through the bootstrap node alone and spreads concurrent requests over them", async () => {
    const view = await network();
    assert.deepEqual(view.peers.map((peer) => peer.peerId).sort(), devnet.nodes.map((node) => node.peerId).sort());
    const providers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const { response } = await client.chat.completions
          .create({ model: MODEL, messages: story, max_tokens: 150 }, { headers: { "x-opengateway-region": "any" } })
          .withResponse();
        return response.headers.get("x-opengateway-provider");
      }),
    );
    assert.equal(
      new Set(providers).size,
      3,
      `6 concurrent requests used ${new Set(providers).size} providers: ${providers.join(" ")}`,
    );
  });

  it("keeps a request in the region it asks for, and refuses a region nobody serves", async () => {
    const asian = devnet.nodes.find((node) => node.region === "asia")?.peerId;
    const european = new Set(devnet.nodes.filter((node) => node.region === "europe").map((node) => node.peerId));
    for (let i = 0; i < 4; i++) assert.equal(await providerOf("asia"), asian);
    for (let i = 0; i < 4; i++) assert.ok(european.has(await providerOf("europe")));
    await assert.rejects(
      client.chat.completions.create(
        { model: MODEL, messages: story, max_tokens: 3 },
        { headers: { "x-opengateway-region": "africa" } },
      ),
      (error: unknown) => error instanceof OpenAI.APIError && error.status === 503,
    );
    await assert.rejects(
      client.chat.completions.create(
        { model: MODEL, messages: story, max_tokens: 3 },
        { headers: { "x-opengateway-region": "atlantis" } },
      ),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
  });

  it("serves only payers the ledger says can pay: a client that pays from no account gets 402, a default one registers and pays", async () => {
    const bootstrap = tcp(devnet.relay.addresses);
    const unpaid = await createClient({ bootstrap, localNetwork: true, region: null, ledger: false, openai: { maxRetries: 0 } });
    try {
      await assert.rejects(
        unpaid.chat.completions.create({ model: MODEL, messages: story, max_tokens: 3 }),
        (error: unknown) => error instanceof OpenAI.APIError && error.status === 402,
      );
    } finally {
      await unpaid.close();
    }
    // No ledger option: the client registers its new identity itself (the devnet's trivial proof-of-work).
    const paying = await createClient({ bootstrap, localNetwork: true, region: null, openai: { maxRetries: 0 } });
    try {
      const before = paying.wallet.balance();
      assert.equal(before?.balance, 100_000);
      const result = await paying.chat.completions.create({ model: MODEL, messages: story, max_tokens: 5 });
      const paid = paying.wallet.history()[0]?.credits ?? 0;
      assert.equal(paid, (result.usage?.prompt_tokens ?? 0) + 5);
      assert.equal(paying.wallet.balance()?.balance, 100_000 - paid);
      assert.equal(paying.wallet.balance()?.reserved, 0);
    } finally {
      await paying.close();
    }
  });

  for (const misbehaviour of ["dies-before-first-token", "hangs", "sends-garbage"] as const) {
    it(`fails over transparently from a provider that ${misbehaviour.replaceAll("-", " ")}`, async () => {
      const faulty = await startFaultyProvider(tcp(devnet.relay.addresses), misbehaviour);
      try {
        await waitFor(
          async () => (await network()).peers.some((peer) => peer.peerId === faulty.identity.id),
          "the faulty provider's advert",
        );
        const { data, response } = await client.chat.completions
          .create({ model: MODEL, messages: story, max_tokens: 5 }, { headers: { "x-opengateway-region": "any" } })
          .withResponse();
        assert.equal(faulty.served(), 1, "the gateway tried the faulty provider first");
        assert.equal(data.usage?.completion_tokens, 5);
        const provider = response.headers.get("x-opengateway-provider") ?? "";
        assert.ok(
          devnet.nodes.some((node) => node.peerId === provider),
          `served by ${provider}`,
        );
      } finally {
        await faulty.node.stop();
      }
    });
  }

  it("continues a stream on another provider when its provider dies mid-stream, billing each for its part", async () => {
    const faulty = await startFaultyProvider(tcp(devnet.relay.addresses), "dies-mid-stream");
    try {
      await waitFor(
        async () => (await network()).peers.some((peer) => peer.peerId === faulty.identity.id),
        "the faulty provider's advert",
      );
      const result = await client.chat.completions.create(
        { model: MODEL, messages: story, max_tokens: 20, temperature: 0 },
        { headers: { "x-opengateway-region": "any" } },
      );
      const extension = (result as unknown as { opengateway: { providers: string[]; receipts: InferenceReceipt[] } }).opengateway;
      assert.equal(extension.providers[0], faulty.identity.id);
      assert.equal(extension.providers.length, 2);
      assert.ok(result.choices[0]?.message.content?.startsWith("Once upon a"));
      assert.equal(result.usage?.completion_tokens, 20, "3 tokens from the first provider + 17 from the second");
      // Only the provider that finished its part holds a receipt, for exactly the 17 tokens it made.
      assert.equal(extension.receipts.length, 1);
      assert.equal(extension.receipts[0]?.provider, extension.providers[1]);
      assert.equal(extension.receipts[0]?.usage.completionTokens, 17);
    } finally {
      await faulty.node.stop();
    }
  });

  it("survives kill -9 of a full node while it streams: the client's stream completes", async () => {
    const response = await fetch(`${devnet.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", "x-opengateway-region": "any" },
      body: JSON.stringify({
        model: MODEL,
        messages: story,
        max_tokens: 1800,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    assert.equal(response.status, 200);
    const victim = devnet.nodes.find((node) => node.peerId === response.headers.get("x-opengateway-provider"));
    assert.ok(victim, "the stream names its provider");
    const reader = response.body?.getReader();
    assert.ok(reader);
    const decoder = new TextDecoder();
    let raw = "";
    let killed = false;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
      if (!killed && raw.includes('"content":"')) {
        killed = true;
        await victim.process.kill();
      }
    }
    const events = raw.split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.replace(/^data: /, "")) as Record<string, unknown>);
    assert.ok(!chunks.some((chunk) => "error" in chunk), `the stream carried an error: ${raw.slice(-400)}`);
    const finish = chunks.find((chunk) => (chunk.choices as Array<{ finish_reason: string | null }>)[0]?.finish_reason) as
      | { opengateway?: { providers: string[] } }
      | undefined;
    assert.ok(finish?.opengateway && finish.opengateway.providers.length >= 2, "a second provider finished the stream");
    assert.equal(finish.opengateway.providers[0], victim.peerId);
    const usage = (chunks.at(-1) as { usage: { completion_tokens: number } }).usage;
    const delivered = chunks.reduce(
      (sum, chunk) => sum + ((chunk.choices as Array<{ delta?: { content?: string } }>)[0]?.delta?.content ? 1 : 0),
      0,
    );
    assert.ok(delivered > 0 && usage.completion_tokens <= 1800);
    // Replace the dead node so later tests keep three providers.
    devnet.nodes.splice(devnet.nodes.indexOf(victim), 1);
    await devnet.addNode(victim.region ?? undefined);
  });

  it("under churn (nodes joining and leaving during 200 requests) no request hangs and every failure is a clean error", async () => {
    const outcomes: Array<"ok" | number> = [];
    let next = 0;
    const worker = async () => {
      while (next < 200) {
        next++;
        try {
          await client.chat.completions.create(
            { model: MODEL, messages: story, max_tokens: 4 },
            { headers: { "x-opengateway-region": "any" }, timeout: 30_000 },
          );
          outcomes.push("ok");
        } catch (error) {
          assert.ok(
            error instanceof OpenAI.APIError && typeof error.status === "number",
            `not a clean OpenAI error: ${String(error)}`,
          );
          outcomes.push(error.status ?? 0);
        }
      }
    };
    const churn = async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const joined = await devnet.addNode("europe");
      await new Promise((resolve) => setTimeout(resolve, 500));
      const leaving = devnet.nodes[0];
      if (leaving && leaving !== joined) {
        await leaving.process.kill();
        devnet.nodes.splice(0, 1);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker(), churn()]);
    assert.equal(outcomes.length, 200);
    const ok = outcomes.filter((outcome) => outcome === "ok").length;
    assert.ok(ok >= 190, `only ${ok}/200 succeeded: ${outcomes.filter((o) => o !== "ok").join(",")}`);
  });

  it("keeps routing after the bootstrap node dies", async () => {
    await devnet.relay.process.kill();
    for (let i = 0; i < 5; i++) {
      const result = await client.chat.completions.create(
        { model: MODEL, messages: story, max_tokens: 4 },
        { headers: { "x-opengateway-region": "any" } },
      );
      assert.equal(result.usage?.completion_tokens, 4);
    }
  });
});
