import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADVERT_TOPIC, createLibp2pNode } from "@opengateway/p2p";
import type { CapabilityAdvert, NodeCapabilities } from "@opengateway/protocol";
import { createCapabilityAdvert, generateIdentity, signEnvelope, utf8Encode } from "@opengateway/protocol";
import OpenAI from "openai";
import { startFaultyProvider, tcpAddresses } from "./faulty-provider.js";
import type { TestDevnet } from "./test-devnet.js";
import { startTestDevnet } from "./test-devnet.js";
import { waitFor } from "./wait-for.js";

const API_KEY = "og-documented-behaviour";
const MODEL = "stories260K";
const REGION = "europe";
const story = [{ role: "user" as const, content: "Once upon a time" }];
const IDLE_TIMEOUT_MS = 6_000;
/** Well under the idle timeout: a request queued behind a hung one is answered before the slot frees. */
const QUEUE_WAIT_MS = 1_500;

interface NetworkView {
  peers: Array<{ peerId: string; region: string | null; models: string[]; load: { activeRequests: number } }>;
}

/**
 * What the README and docs/ promise over HTTP that no other suite checks, with the official
 * `openai` client against a real gateway: a devnet (bootstrap relay, one full node on the test
 * model, a gateway) plus, where a test needs one, test-only providers that misbehave on purpose.
 */
describe("documented behaviour over HTTP", { timeout: 300_000 }, () => {
  let devnet: TestDevnet;
  let client: OpenAI;
  const isStatus = (status: number) => (error: unknown) => error instanceof OpenAI.APIError && error.status === status;
  const network = async () =>
    (await (
      await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } })
    ).json()) as NetworkView;
  const knows = async (peerId: string) => (await network()).peers.some((peer) => peer.peerId === peerId);
  const inRegion = (region: string) => ({ headers: { "x-opengateway-region": region } });

  before(async () => {
    devnet = await startTestDevnet({
      nodes: 1,
      apiKey: API_KEY,
      regions: [REGION],
      gatewayArgs: ["--provider-idle-timeout-ms", String(IDLE_TIMEOUT_MS), "--queue-wait-ms", String(QUEUE_WAIT_MS)],
    });
    client = new OpenAI({ baseURL: devnet.url, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
    await waitFor(async () => (await network()).peers.length === 1, "the gateway to learn the full node");
  });

  after(() => devnet?.stop());

  describe("the OpenAI surface (docs/openai-compatibility.md)", () => {
    it("changes greedy output with presence_penalty and frequency_penalty", async () => {
      const base = { model: MODEL, messages: story, max_tokens: 48, temperature: 0 };
      const plain = (await client.chat.completions.create(base, inRegion(REGION))).choices[0]?.message.content;
      const again = (await client.chat.completions.create(base, inRegion(REGION))).choices[0]?.message.content;
      assert.equal(again, plain, "greedy decoding is deterministic");
      const penalised = await client.chat.completions.create(
        { ...base, presence_penalty: 2, frequency_penalty: 2 },
        inRegion(REGION),
      );
      assert.notEqual(penalised.choices[0]?.message.content, plain, "the penalties changed nothing");
      assert.equal(penalised.usage?.completion_tokens, 48);
    });

    it("accepts tool_choice auto, streamed and not, answering in text or with a well-formed call", async () => {
      const tools: OpenAI.ChatCompletionTool[] = [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "weather in a city",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        },
      ];
      const request = { model: MODEL, messages: story, max_tokens: 40, temperature: 0, tools, tool_choice: "auto" as const };
      const result = await client.chat.completions.create(request, inRegion(REGION));
      const choice = result.choices[0];
      assert.ok(choice);
      if (choice.finish_reason === "tool_calls") {
        const call = choice.message.tool_calls?.[0];
        assert.ok(call && call.type === "function" && call.function.name === "get_weather");
        assert.doesNotThrow(() => JSON.parse(call.function.arguments));
      } else {
        assert.ok(["stop", "length"].includes(choice.finish_reason), choice.finish_reason);
        assert.equal(typeof choice.message.content, "string");
        assert.equal(choice.message.tool_calls ?? undefined, undefined);
      }
      let finish: string | null = null;
      for await (const chunk of await client.chat.completions.create({ ...request, stream: true }, inRegion(REGION)))
        finish = chunk.choices[0]?.finish_reason ?? finish;
      assert.ok(finish !== null && ["stop", "length", "tool_calls"].includes(finish), `finish_reason ${finish}`);
    });

    it("refuses suffix, best_of other than n and dimensions with a 400 that names the parameter and says why", async () => {
      const refusal = (param: string, why: RegExp) => (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.param, param);
        assert.equal(error.code, "unsupported_parameter");
        assert.match(error.message, why);
        return true;
      };
      const prompt = { model: MODEL, prompt: "Once upon a time", max_tokens: 4 };
      await assert.rejects(client.completions.create({ ...prompt, suffix: "The end." }), refusal("suffix", /not supported/));
      await assert.rejects(client.completions.create({ ...prompt, best_of: 3 }), refusal("best_of", /not supported/));
      await assert.rejects(
        client.embeddings.create({ model: MODEL, input: "a cat", dimensions: 8 }),
        refusal("dimensions", /not supported/),
      );
      // The harmless spellings of the same parameters are served.
      const served = await client.completions.create({ ...prompt, best_of: 2, n: 2, suffix: "" }, inRegion(REGION));
      assert.equal(served.choices.length, 2);
    });
  });

  describe("backpressure and limits (docs/http-limits.md)", () => {
    it("under more concurrent streams than the node has slots answers each with text or a 429 with retry-after, never a 503", async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, async () => {
          try {
            const stream = await client.chat.completions.create(
              { model: MODEL, messages: story, max_tokens: 64, stream: true },
              inRegion(REGION),
            );
            let text = "";
            for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
            return text.length > 0 ? "text" : "empty";
          } catch (error) {
            if (error instanceof OpenAI.APIError && error.status === 429 && error.headers?.get("retry-after")) return "429";
            return `unexpected: ${String(error)}`;
          }
        }),
      );
      assert.deepEqual(
        outcomes.filter((outcome) => outcome !== "text" && outcome !== "429"),
        [],
      );
      assert.ok(outcomes.filter((outcome) => outcome === "text").length >= 2, outcomes.join(", "));
    });

    it("ends a max_tokens as large as the context where the context ends, counting the prompt once", async () => {
      const contextSize = 2048; // the test model's, as the node advertises it
      const answer = await client.chat.completions.create(
        { model: MODEL, messages: story, max_tokens: contextSize, temperature: 0 },
        inRegion(REGION),
      );
      const usage = answer.usage ?? assert.fail("no usage");
      assert.ok(usage.prompt_tokens < 64, `prompt_tokens ${usage.prompt_tokens} for a short prompt`);
      assert.ok(usage.prompt_tokens + usage.completion_tokens <= contextSize, JSON.stringify(usage));
      await assert.rejects(
        client.chat.completions.create({ model: MODEL, messages: story, max_tokens: contextSize + 1 }, inRegion(REGION)),
        isStatus(400),
      );
    });
  });

  describe("the network (docs/network.md)", () => {
    it("refuses forged adverts: another peer's id, a tampered field, an expired or over-long one", async () => {
      const victim = devnet.nodes[0];
      assert.ok(victim);
      const attacker = generateIdentity();
      const node = await createLibp2pNode({
        identity: attacker,
        bootstrap: tcpAddresses(devnet.relay.addresses),
        localNetwork: true,
      });
      try {
        node.services.pubsub.subscribe(ADVERT_TOPIC);
        await waitFor(() => node.services.pubsub.getSubscribers(ADVERT_TOPIC).length > 0, "a peer on the advert topic");
        const capabilities = (models: string[], activeRequests = 0): NodeCapabilities => ({
          v: 1,
          agent: "advert-forger",
          engine: "none",
          region: "africa",
          clusters: ["A"],
          models: models.map((id) => ({ id, contextSize: 2048, pricePerToken: 0, kinds: ["chat"] })),
          activeRequests,
          maxConcurrentRequests: 64,
          queuedRequests: 0,
          tokensPerSecond: 1e6,
        });
        const publish = (advert: CapabilityAdvert) =>
          node.services.pubsub.publish(ADVERT_TOPIC, utf8Encode(JSON.stringify(advert)));
        const genuine = (activeRequests: number) =>
          createCapabilityAdvert(
            { capabilities: capabilities(["honest-model"], activeRequests), addresses: [], ttlMs: 60_000 },
            attacker,
          );

        // A genuine advert first: it is how the forger's later messages are known to have arrived.
        await publish(genuine(0));
        await waitFor(() => knows(attacker.id), "the forger's genuine advert");

        const now = Date.now();
        const unsigned = (fields: Partial<CapabilityAdvert>) => ({
          v: 1 as const,
          peer: attacker.id,
          capabilities: capabilities(["forged-model"]),
          addresses: [],
          issuedAt: now,
          expiresAt: now + 60_000,
          ...fields,
        });
        const forged: CapabilityAdvert[] = [
          // Speaking for the real full node: signed, but not by it.
          signEnvelope("capability-advert", unsigned({ peer: victim.peerId }), attacker),
          // Signed by the forger, then changed.
          {
            ...createCapabilityAdvert({ capabilities: capabilities(["honest-model"]), addresses: [], ttlMs: 60_000 }, attacker),
            capabilities: capabilities(["forged-model"]),
          },
          // Properly signed, but expired.
          signEnvelope("capability-advert", unsigned({ issuedAt: now - 600_000, expiresAt: now - 300_000 }), attacker),
          // Properly signed, but claiming to live an hour.
          signEnvelope("capability-advert", unsigned({ expiresAt: now + 3_600_000 }), attacker),
        ];
        for (const advert of forged) await publish(advert);
        // Published after the forgeries on the same path: once it shows, they have all been seen.
        await publish(genuine(7));
        await waitFor(
          async () => (await network()).peers.some((peer) => peer.peerId === attacker.id && peer.load.activeRequests === 7),
          "the forger's second genuine advert",
        );

        const view = await network();
        assert.deepEqual(view.peers.find((peer) => peer.peerId === attacker.id)?.models, ["honest-model"]);
        const real = view.peers.find((peer) => peer.peerId === victim.peerId);
        assert.equal(real?.region, REGION, "the full node's entry was not overwritten");
        assert.deepEqual(real?.models, [MODEL]);
        assert.ok(!view.peers.some((peer) => peer.models.includes("forged-model")));
        const models = await client.models.list();
        assert.ok(!models.data.some((model) => model.id === "forged-model"));
      } finally {
        await node.stop();
      }
    });

    it("fails over across two bad providers in a row to a good one", async () => {
      const bootstrap = tcpAddresses(devnet.relay.addresses);
      const bad = [
        await startFaultyProvider(bootstrap, "dies-before-first-token", { region: REGION }),
        await startFaultyProvider(bootstrap, "sends-garbage", { region: REGION }),
      ];
      try {
        for (const provider of bad) await waitFor(() => knows(provider.identity.id), "a faulty provider's advert");
        const { data, response } = await client.chat.completions
          .create({ model: MODEL, messages: story, max_tokens: 5 }, inRegion(REGION))
          .withResponse();
        assert.deepEqual(
          bad.map((provider) => provider.served()),
          [1, 1],
          "the gateway tried both bad providers first",
        );
        assert.equal(response.headers.get("x-opengateway-provider"), devnet.nodes[0]?.peerId);
        assert.equal(data.usage?.completion_tokens, 5);
      } finally {
        await Promise.all(bad.map((provider) => provider.node.stop()));
      }
    });

    it("continues a stream on another provider when its provider goes silent mid-stream", async () => {
      const silent = await startFaultyProvider(tcpAddresses(devnet.relay.addresses), "goes-silent-mid-stream", {
        region: REGION,
      });
      try {
        await waitFor(() => knows(silent.identity.id), "the silent provider's advert");
        const started = Date.now();
        const stream = await client.chat.completions.create(
          {
            model: MODEL,
            messages: story,
            max_tokens: 20,
            temperature: 0,
            stream: true,
            stream_options: { include_usage: true },
          },
          inRegion(REGION),
        );
        const ids = new Set<string>();
        let text = "";
        let providers: string[] = [];
        let completionTokens = 0;
        for await (const chunk of stream) {
          ids.add(chunk.id);
          text += chunk.choices[0]?.delta.content ?? "";
          const extension = (chunk as unknown as { opengateway?: { providers: string[] } }).opengateway;
          if (extension) providers = extension.providers;
          if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
        }
        assert.equal(silent.served(), 1);
        assert.ok(Date.now() - started >= IDLE_TIMEOUT_MS, "the gateway waited out the idle timeout");
        assert.equal(ids.size, 1, "one stream, one id");
        assert.ok(text.startsWith("Once upon a"), text);
        assert.deepEqual(providers, [silent.identity.id, devnet.nodes[0]?.peerId]);
        assert.equal(completionTokens, 20, "3 tokens from the silent provider + 17 from the next");
      } finally {
        await silent.node.stop();
      }
    });

    it("answers 502 when the providers of a region misbehave, and 429 with retry-after when all are busy", async () => {
      const bootstrap = tcpAddresses(devnet.relay.addresses);
      const garbage = await startFaultyProvider(bootstrap, "sends-garbage", { region: "africa" });
      const busy = await startFaultyProvider(bootstrap, "hangs", { region: "oceania", maxConcurrentRequests: 1 });
      try {
        await waitFor(async () => (await knows(garbage.identity.id)) && (await knows(busy.identity.id)), "both adverts");
        const request = { model: MODEL, messages: story, max_tokens: 5 };
        await assert.rejects(client.chat.completions.create(request, inRegion("africa")), isStatus(502));
        assert.ok(garbage.served() >= 1);

        // Its one slot held by a request it never answers: the next request waits in the gateway for
        // the slot, up to the queue wait, and then gets 429 with retry-after. It is never sent to wait
        // unseen in the provider's own queue.
        const held = client.chat.completions.create(request, inRegion("oceania"));
        held.catch(() => {});
        await waitFor(() => busy.served() === 1, "a request held by the busy provider");
        const started = Date.now();
        const full = await client.chat.completions.create(request, inRegion("oceania")).then(
          () => assert.fail("expected a 429"),
          (error: unknown) => error,
        );
        assert.ok(full instanceof OpenAI.APIError && full.status === 429, String(full));
        assert.equal(full.headers?.get("retry-after"), "1");
        assert.equal(full.type, "rate_limit_error");
        assert.ok(Date.now() - started >= QUEUE_WAIT_MS - 100, "it waited for a slot first");
        assert.equal(busy.served(), 1, "the provider was sent no more than its one slot");
        // The held request ends with a clean error once the provider's silence passes the idle timeout.
        await assert.rejects(held, (error: unknown) => error instanceof OpenAI.APIError);
      } finally {
        await Promise.all([garbage.node.stop(), busy.node.stop()]);
      }
    });
  });
});
