import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { execFile, fork } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { WalletView } from "@opengateway/sdk";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import type { TestLocalNetwork } from "./test-local-network.js";
import { describeBothTransports, runExample, startTestLocalNetwork } from "./test-local-network.js";

const API_KEY = "og-e2e-test-key";
const MODEL = "stories260K";
const CLI_BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));
/** In stories260K's vocabulary, token 294 is "at". */
const TOKEN_AT = 294;
const story = [{ role: "user" as const, content: "Once upon a time" }];

/**
 * The whole OpenAI surface, checked with the official `openai` client over two transports: HTTP
 * to the gateway, and the SDK's P2P fetch with no gateway at all. Behind both: a real full node
 * (node-llama-cpp on the test model) in its own process, reached over libp2p.
 */
describe("OpenAI compatibility over a real network", { timeout: 300_000 }, () => {
  let network: TestLocalNetwork;
  const nodeLog: string[] = [];

  before(async () => {
    network = await startTestLocalNetwork({
      apiKey: API_KEY,
      nodeArgs: ["--parallel", "4"],
      onOutput: (part, line) => {
        if (part === "node") nodeLog.push(line);
      },
    });
  });

  after(async () => {
    await network?.stop();
  });

  describeBothTransports(
    () => network,
    (client) => {
      it("lists and retrieves the served model; an unknown one is a 404", async () => {
        const models = await client().models.list();
        assert.deepEqual(
          models.data.map((model) => model.id),
          [MODEL],
        );
        assert.equal((await client().models.retrieve(MODEL)).object, "model");
        await assert.rejects(client().models.retrieve("nope"), OpenAI.NotFoundError);
      });

      it("answers a chat completion with every required field and usage that adds up", async () => {
        const { data, response } = await client()
          .chat.completions.create({ model: MODEL, messages: story, max_tokens: 20 })
          .withResponse();
        assert.equal(response.headers.get("x-opengateway-provider"), network.nodePeerId);
        assert.match(data.id, /^chatcmpl-/);
        assert.equal(data.object, "chat.completion");
        assert.ok(!("system_fingerprint" in data), "absent, never null");
        const choice = data.choices[0];
        assert.ok(choice);
        assert.equal(choice.message.role, "assistant");
        assert.equal(choice.message.refusal, null);
        assert.equal(choice.logprobs, null);
        assert.ok((choice.message.content ?? "").length > 0);
        assert.equal(choice.finish_reason, "length");
        assert.equal(data.usage?.completion_tokens, 20);
        assert.equal(data.usage?.total_tokens, (data.usage?.prompt_tokens ?? 0) + 20);
      });

      it("streams with one id and created, usage null until a final usage chunk, one finish_reason", async () => {
        const request = { model: MODEL, messages: story, max_tokens: 30, seed: 1234, temperature: 0.8 };
        const stream = await client().chat.completions.create({
          ...request,
          stream: true,
          stream_options: { include_usage: true },
        });
        const ids = new Set<string>();
        const created = new Set<number>();
        let text = "";
        const finishReasons: string[] = [];
        let usage: OpenAI.CompletionUsage | undefined;
        for await (const chunk of stream) {
          assert.ok(!("system_fingerprint" in chunk), "absent, never null");
          ids.add(chunk.id);
          created.add(chunk.created);
          if (chunk.choices.length === 0) {
            usage = chunk.usage ?? undefined;
            continue;
          }
          assert.equal(chunk.usage, null);
          text += chunk.choices[0]?.delta.content ?? "";
          if (chunk.choices[0]?.finish_reason) finishReasons.push(chunk.choices[0].finish_reason);
        }
        assert.equal(ids.size, 1);
        assert.equal(created.size, 1);
        assert.deepEqual(finishReasons, ["length"]);
        assert.equal(usage?.completion_tokens, 30);
        assert.equal(usage?.total_tokens, (usage?.prompt_tokens ?? 0) + 30);
        const whole = await client().chat.completions.create(request);
        assert.equal(whole.choices[0]?.message.content, text, "same seed, same text, streamed or not");
      });

      it("honours max_tokens, max_completion_tokens and stop without leaking it, streamed or not", async () => {
        const base = { model: MODEL, messages: story, temperature: 0 };
        const free = (await client().chat.completions.create({ ...base, max_tokens: 60 })).choices[0]?.message.content ?? "";
        const word = free.trim().split(/\s+/)[3];
        assert.ok(word, `expected several words, got '${free}'`);
        const stopped = await client().chat.completions.create({ ...base, max_tokens: 60, stop: [word] });
        assert.equal(stopped.choices[0]?.finish_reason, "stop");
        const stoppedText = stopped.choices[0]?.message.content ?? "";
        assert.ok(!stoppedText.includes(word) && free.startsWith(stoppedText));
        let streamed = "";
        for await (const chunk of await client().chat.completions.create({ ...base, max_tokens: 60, stop: word, stream: true })) {
          streamed += chunk.choices[0]?.delta.content ?? "";
        }
        assert.equal(streamed, stoppedText);
        const short = await client().chat.completions.create({ ...base, max_completion_tokens: 3 });
        assert.equal(short.usage?.completion_tokens, 3);
      });

      it("returns n choices, each with its own finish_reason, streamed and not", async () => {
        const result = await client().chat.completions.create({ model: MODEL, messages: story, max_tokens: 8, n: 3 });
        assert.deepEqual(
          result.choices.map((choice) => [choice.index, choice.finish_reason]),
          [
            [0, "length"],
            [1, "length"],
            [2, "length"],
          ],
        );
        assert.equal(result.usage?.completion_tokens, 24);
        const finishes = new Map<number, number>();
        for await (const chunk of await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 8,
          n: 2,
          stream: true,
        })) {
          for (const choice of chunk.choices)
            if (choice.finish_reason) finishes.set(choice.index, (finishes.get(choice.index) ?? 0) + 1);
        }
        assert.deepEqual([...finishes.entries()].sort(), [
          [0, 1],
          [1, 1],
        ]);
      });

      it("applies penalties and logit_bias", async () => {
        const biased = await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 6,
          temperature: 0,
          logit_bias: { [TOKEN_AT]: 100 },
          presence_penalty: 0,
        });
        assert.equal(biased.choices[0]?.message.content, "atatatatatat");
        const penalised = await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 6,
          frequency_penalty: 1.5,
          presence_penalty: 0.5,
        });
        assert.equal(penalised.usage?.completion_tokens, 6);
      });

      it("produces JSON for json_object and the schema's shape for json_schema", async () => {
        const schema = {
          type: "object",
          properties: { hero: { enum: ["Tom", "Lily"] }, age: { type: "integer" } },
          required: ["hero", "age"],
        };
        const typed = await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 200,
          temperature: 0,
          response_format: { type: "json_schema", json_schema: { name: "character", schema } },
        });
        const parsed = JSON.parse(typed.choices[0]?.message.content ?? "") as { hero: unknown; age: unknown };
        assert.ok(parsed.hero === "Tom" || parsed.hero === "Lily");
        assert.ok(Number.isInteger(parsed.age));
        const loose = await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 200,
          response_format: { type: "json_object" },
        });
        if (loose.choices[0]?.finish_reason === "stop")
          assert.doesNotThrow(() => JSON.parse(loose.choices[0]?.message.content ?? ""));
      });

      it("calls a forced tool with JSON arguments, streams the call, and accepts the tool's result", async () => {
        const tools: OpenAI.ChatCompletionTool[] = [
          {
            type: "function",
            function: {
              name: "get_weather",
              description: "weather in a city",
              parameters: { type: "object", properties: { city: { enum: ["Oslo", "Lima", "Pune"] } }, required: ["city"] },
            },
          },
        ];
        const forced = { type: "function" as const, function: { name: "get_weather" } };
        const result = await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 100,
          tools,
          tool_choice: forced,
        });
        const choice = result.choices[0];
        assert.equal(choice?.finish_reason, "tool_calls");
        assert.equal(choice?.message.content, null);
        const call = choice?.message.tool_calls?.[0];
        assert.ok(call && call.type === "function");
        assert.equal(call.function.name, "get_weather");
        assert.ok(["Oslo", "Lima", "Pune"].includes((JSON.parse(call.function.arguments) as { city: string }).city));
        assert.match(call.id, /^call_/);

        let streamedName = "";
        let streamedArguments = "";
        let finish: string | null = null;
        for await (const chunk of await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 100,
          tools,
          tool_choice: forced,
          stream: true,
        })) {
          for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
            streamedName += delta.function?.name ?? "";
            streamedArguments += delta.function?.arguments ?? "";
          }
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(streamedName, "get_weather");
        assert.doesNotThrow(() => JSON.parse(streamedArguments));
        assert.equal(finish, "tool_calls");

        const followUp = await client().chat.completions.create({
          model: MODEL,
          max_tokens: 10,
          tools,
          messages: [
            ...story,
            { role: "assistant", content: null, tool_calls: [call] },
            { role: "tool", tool_call_id: call.id, content: "sunny" },
          ],
        });
        assert.ok(followUp.choices[0]);
      });

      it("returns a tool call cut by max_tokens as OpenAI does: the partial arguments, finish_reason length", async () => {
        const request = {
          model: MODEL,
          messages: story,
          max_tokens: 8,
          temperature: 0,
          tools: [
            {
              type: "function" as const,
              function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
            },
          ],
          tool_choice: { type: "function" as const, function: { name: "get_weather" } },
        };
        const result = await client().chat.completions.create(request);
        const choice = result.choices[0];
        assert.equal(choice?.finish_reason, "length");
        const call = choice?.message.tool_calls?.[0];
        assert.ok(call && call.type === "function");
        assert.equal(call.function.name, "get_weather");
        assert.match(call.function.arguments, /^\{/);
        assert.throws(() => JSON.parse(call.function.arguments), SyntaxError, "never completed into valid-looking JSON");
        let streamedArguments = "";
        let finish: string | null = null;
        for await (const chunk of await client().chat.completions.create({ ...request, stream: true })) {
          for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) streamedArguments += delta.function?.arguments ?? "";
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(streamedArguments, call.function.arguments);
        assert.equal(finish, "length");
      });

      it("serves legacy completions, streamed, with echo and several prompts", async () => {
        const single = await client().completions.create({
          model: MODEL,
          prompt: "Once upon a time",
          max_tokens: 5,
          temperature: 0,
        });
        assert.equal(single.object, "text_completion");
        assert.equal(single.usage?.completion_tokens, 5);
        const echoed = await client().completions.create({
          model: MODEL,
          prompt: "Once upon a time",
          max_tokens: 5,
          temperature: 0,
          echo: true,
        });
        assert.equal(echoed.choices[0]?.text, `Once upon a time${single.choices[0]?.text}`);
        const many = await client().completions.create({ model: MODEL, prompt: ["Tom", "Lily"], max_tokens: 4, n: 2 });
        assert.deepEqual(
          many.choices.map((choice) => choice.index),
          [0, 1, 2, 3],
        );
        assert.equal(many.usage?.completion_tokens, 16);
        let text = "";
        let finishes = 0;
        for await (const chunk of await client().completions.create({
          model: MODEL,
          prompt: "Once upon a time",
          max_tokens: 5,
          temperature: 0,
          stream: true,
        })) {
          text += chunk.choices[0]?.text ?? "";
          if (chunk.choices[0]?.finish_reason) finishes++;
        }
        assert.equal(text, single.choices[0]?.text);
        assert.equal(finishes, 1);
      });

      it("returns embeddings in order, as floats and as base64 (the client's default)", async () => {
        const asBase64 = await client().embeddings.create({ model: MODEL, input: ["a cat", "a dog", "a cat"] });
        assert.deepEqual(
          asBase64.data.map((item) => item.index),
          [0, 1, 2],
        );
        assert.equal(asBase64.data[0]?.embedding.length, 64);
        assert.deepEqual(asBase64.data[0]?.embedding, asBase64.data[2]?.embedding);
        const asFloats = await client().embeddings.create({ model: MODEL, input: "a cat", encoding_format: "float" });
        const a = asFloats.data[0]?.embedding ?? [];
        const b = asBase64.data[0]?.embedding ?? [];
        assert.ok(a.every((value, index) => Math.abs(value - (b[index] ?? Number.NaN)) < 1e-6));
        assert.ok((asFloats.usage.prompt_tokens ?? 0) > 0);
      });

      it("refuses bad input with OpenAI errors: 404 model, 400 types, roles, absurd max_tokens, unknown parameters", async () => {
        const isStatus = (status: number) => (error: unknown) => error instanceof OpenAI.APIError && error.status === status;
        await assert.rejects(client().chat.completions.create({ model: "no-such-model", messages: story }), isStatus(404));
        await assert.rejects(client().chat.completions.create({ model: MODEL, messages: story, max_tokens: 1e9 }), isStatus(400));
        await assert.rejects(client().chat.completions.create({ model: MODEL, messages: story, max_tokens: -5 }), isStatus(400));
        await assert.rejects(
          client().chat.completions.create({ model: MODEL, messages: story, temperature: "hot" as never }),
          isStatus(400),
        );
        await assert.rejects(
          client().chat.completions.create({ model: MODEL, messages: [{ role: "wizard", content: "hi" }] as never }),
          isStatus(400),
        );
        await assert.rejects(
          client().chat.completions.create({ model: MODEL, messages: story, frobnicate: true } as never),
          isStatus(400),
        );
        await assert.rejects(client().chat.completions.create({ model: MODEL, messages: story, logprobs: true }), isStatus(400));
        await assert.rejects(client().embeddings.create({ model: MODEL, input: [[1, 2, 3]] }), isStatus(400));
      });

      it("cancels generation on the node when the client aborts mid-stream, and keeps serving", async () => {
        const cancelledBefore = nodeLog.filter((line) => line.includes('"errorCode":"cancelled"')).length;
        const stream = await client().chat.completions.create({ model: MODEL, messages: story, max_tokens: 1500, stream: true });
        let received = 0;
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) received++;
          if (received >= 2) break; // leaving the loop aborts the request
        }
        const cancelled = () => nodeLog.filter((line) => line.includes('"errorCode":"cancelled"')).length > cancelledBefore;
        const deadline = Date.now() + 10_000;
        while (!cancelled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(cancelled(), `the node never reported a cancelled request:\n${nodeLog.slice(-3).join("\n")}`);
        const next = await client().chat.completions.create({ model: MODEL, messages: story, max_tokens: 8 });
        assert.equal(next.usage?.completion_tokens, 8);
      });

      it("runs 8 streams at once to [DONE]; aborting two leaves later requests working", async () => {
        const controllers = Array.from({ length: 8 }, () => new AbortController());
        const runs = controllers.map(async (controller, index) => {
          const response = await client()
            .chat.completions.create(
              { model: MODEL, messages: story, max_tokens: index < 2 ? 1500 : 40, stream: true },
              { signal: controller.signal },
            )
            .asResponse();
          const reader = response.body?.getReader();
          assert.ok(reader);
          const decoder = new TextDecoder();
          let raw = "";
          try {
            while (true) {
              const { done, value } = await reader.read();
              if (done) break;
              raw += decoder.decode(value, { stream: true });
              if (index < 2 && raw.includes('"content":"') && raw.split("\n\n").length > 4) controller.abort();
            }
          } catch (error) {
            if (index < 2) return "aborted";
            throw error;
          }
          if (index < 2 && controller.signal.aborted) return "aborted";
          const events = raw.split("\n\n").filter(Boolean);
          assert.equal(events.at(-1), "data: [DONE]");
          const chunks = events
            .slice(0, -1)
            .map((event) => JSON.parse(event.replace(/^data: /, "")) as OpenAI.ChatCompletionChunk);
          assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
          assert.equal(chunks.filter((chunk) => chunk.choices[0]?.finish_reason).length, 1);
          return "done";
        });
        const outcomes = await Promise.all(runs);
        assert.deepEqual(outcomes, ["aborted", "aborted", "done", "done", "done", "done", "done", "done"]);
        const plain = await client().chat.completions.create({ model: MODEL, messages: story, max_tokens: 5 });
        assert.equal(plain.usage?.completion_tokens, 5);
        let finished = false;
        for await (const chunk of await client().chat.completions.create({
          model: MODEL,
          messages: story,
          max_tokens: 5,
          stream: true,
        })) {
          if (chunk.choices[0]?.finish_reason) finished = true;
        }
        assert.ok(finished);
      });
    },
  );

  describe("gateway only", () => {
    it("charges the calling key's account on the ledger and shows it in /v1/opengateway/wallet", async () => {
      const walletOf = async () =>
        (await (
          await fetch(`${network.url}/opengateway/wallet`, { headers: { authorization: `Bearer ${API_KEY}` } })
        ).json()) as WalletView & {
          receipts: Array<{
            id: string;
            provider: string;
            usage: { promptTokens: number; completionTokens: number };
            credits: number;
          }>;
        };
      const before = await walletOf();
      assert.equal(before.registered, true);
      assert.match(before.identity, /^12D3KooW/);
      const result = await network.viaGateway.chat.completions.create({ model: MODEL, messages: story, max_tokens: 7 });
      const after = await walletOf();
      const receipt = after.receipts[0];
      assert.equal(receipt?.id, result.id);
      assert.equal(receipt?.provider, network.nodePeerId);
      assert.equal(receipt?.usage.completionTokens, 7);
      assert.equal(receipt?.credits, (result.usage?.prompt_tokens ?? 0) + 7);
      assert.equal(after.balance, before.balance - (receipt?.credits ?? 0), "exactly the receipt's credits were paid");
      assert.equal(after.reserved, 0, "the reservation was released");
      assert.equal(after.spendable, after.balance);
      // Zero-sum: what the payers paid, the provider collects (earn blocks, replicated back to the gateway).
      // Two accounts paid it: this key's, and the SDK client's own (the "sdk" tests above).
      const providerBalance = async () =>
        (
          (await (
            await fetch(`${network.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } })
          ).json()) as {
            peers: Array<{ peerId: string; balance: number | null }>;
          }
        ).peers.find((peer) => peer.peerId === network.nodePeerId)?.balance;
      const sdkPaid = () => 100_000 - (network.viaSdk.wallet.balance()?.balance ?? 100_000);
      const paid = () => 100_000 - after.balance + sdkPaid();
      assert.ok(sdkPaid() > 0, "the SDK client paid from its own account");
      const deadline = Date.now() + 20_000;
      let earned = await providerBalance();
      while (earned !== 100_000 + paid() && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        earned = await providerBalance();
      }
      assert.equal(earned, 100_000 + paid(), "the provider earned exactly what its payers paid");
    });

    it("refuses a missing or wrong API key with 401", async () => {
      const wrong = new OpenAI({ baseURL: network.url, apiKey: "og-not-a-key", maxRetries: 0 });
      await assert.rejects(wrong.models.list(), (error: unknown) => error instanceof OpenAI.AuthenticationError);
      const response = await fetch(`${network.url}/models`);
      assert.equal(response.status, 401);
      const body = (await response.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
    });

    it("answers malformed JSON with 400 and an oversized body with 413 the client can read", async () => {
      const post = (body: string) =>
        fetch(`${network.url}/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
          body,
        });
      const malformed = await post('{"model": "stories260K", "messages": [');
      assert.equal(malformed.status, 400);
      assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, "invalid_json");
      const huge = await post(
        JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] }),
      );
      assert.equal(huge.status, 413);
      assert.equal(((await huge.json()) as { error: { type: string } }).error.type, "invalid_request_error");
    });

    it("interoperates with the Vercel AI SDK's OpenAI-compatible provider", async () => {
      const provider = createOpenAICompatible({ name: "opengateway", baseURL: network.url, apiKey: API_KEY, includeUsage: true });
      const generated = await generateText({ model: provider(MODEL), prompt: "Once upon a time", maxOutputTokens: 12 });
      assert.ok(generated.text.length > 0);
      assert.equal(generated.usage.outputTokens, 12);
      const streamed = streamText({ model: provider(MODEL), prompt: "Once upon a time", maxOutputTokens: 12 });
      let text = "";
      for await (const part of streamed.textStream) text += part;
      assert.ok(text.length > 0);
      assert.equal((await streamed.usage).outputTokens, 12);
    });

    it("runs both examples unchanged against the local network", async () => {
      const env = {
        OPENAI_BASE_URL: network.url,
        OPENGATEWAY_API_KEY: API_KEY,
        OPENGATEWAY_PEERS: network.nodeAddresses.join(","),
        OPENGATEWAY_LOCAL: "1",
      };
      assert.match(await runExample("chat-via-gateway.mjs", env), /\[stories260K: \d+ prompt \+ 60 completion tokens\]/);
      assert.match(
        await runExample("chat-via-sdk.mjs", env),
        /\[stories260K: \d+ prompt \+ 60 completion tokens, paid by 12D3KooW\w+\]/,
      );
    });

    it("creates an encrypted wallet, registers it, and reads its balance with the opengateway CLI", async () => {
      const run = promisify(execFile);
      const keyFile = join(network.home, "cli-wallet.json");
      const tcp = network.nodeAddresses.filter((address) => !address.includes("/ws"));
      const env = { ...process.env, OPENGATEWAY_PASSPHRASE: "e2e passphrase" };
      const common = ["--key-file", keyFile, "--local", "--json", "--bootstrap", ...tcp];
      const created = await run(process.execPath, [CLI_BIN, "wallet", "create", "--register", ...common], {
        env,
        timeout: 60_000,
      });
      const identity = (JSON.parse(created.stdout.split("\n")[0] ?? "{}") as { identity: string }).identity;
      assert.match(identity, /^12D3KooW/);
      assert.ok(!(await import("node:fs")).readFileSync(keyFile, "utf8").includes('"seed"'), "the key file is encrypted");
      const balance = JSON.parse(
        (await run(process.execPath, [CLI_BIN, "wallet", "balance", ...common], { env, timeout: 60_000 })).stdout,
      ) as {
        balance: number;
        locked: number;
        transferable: number;
      };
      assert.deepEqual([balance.balance, balance.locked, balance.transferable], [100_000, 100_000, 0]);
      // Granted credits cannot be transferred for 24 h: refused with a clear reason.
      await assert.rejects(
        run(process.execPath, [CLI_BIN, "wallet", "transfer", "--to", network.nodePeerId, "--amount", "5", ...common], {
          env,
          timeout: 60_000,
        }),
        (error: unknown) => String((error as { stderr?: string }).stderr).includes("transferable"),
      );
      await assert.rejects(
        run(process.execPath, [CLI_BIN, "wallet", "show", ...common], {
          env: { ...env, OPENGATEWAY_PASSPHRASE: "wrong" },
          timeout: 30_000,
        }),
        (error: unknown) => String((error as { stderr?: string }).stderr).includes("wrong passphrase"),
      );
    });

    it("finds the full node through --bootstrap alone, with no --peer", async () => {
      const tcp = network.nodeAddresses.find((address) => !address.includes("/ws"));
      assert.ok(tcp);
      const gateway = fork(
        CLI_BIN,
        // A home of its own: the network's gateway holds this one (one gateway per data directory).
        [
          "gateway",
          "start",
          "--port",
          "0",
          "--api-key",
          API_KEY,
          "--home",
          join(network.home, "second-gateway"),
          "--local",
          "--bootstrap",
          tcp,
        ],
        {
          stdio: ["ignore", "ignore", "ignore", "ipc"],
        },
      );
      try {
        const ready = await new Promise<{ url: string }>((resolve, reject) => {
          gateway.once("message", (message) => resolve(message as { url: string }));
          gateway.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
        });
        const viaBootstrap = new OpenAI({ baseURL: ready.url, apiKey: API_KEY, maxRetries: 0 });
        assert.deepEqual(
          (await viaBootstrap.models.list()).data.map((model) => model.id),
          [MODEL],
        );
        const answer = await viaBootstrap.chat.completions.create({ model: MODEL, messages: story, max_tokens: 4 });
        assert.equal(answer.usage?.completion_tokens, 4);
      } finally {
        const exited = new Promise((resolve) => gateway.once("exit", resolve));
        gateway.kill("SIGTERM");
        await exited;
      }
    });

    it("keeps a history of receipts in the SDK's wallet, paid by its identity", async () => {
      const before = network.viaSdk.wallet.history().length;
      const result = await network.viaSdk.chat.completions.create({ model: MODEL, messages: story, max_tokens: 3 });
      const history = network.viaSdk.wallet.history();
      assert.equal(history.length, before + 1);
      assert.equal(history[0]?.requestId, result.id.replace(/^chatcmpl-/, ""));
      assert.equal(history[0]?.payer, network.viaSdk.wallet.identity);
      assert.equal(history[0]?.provider, network.nodePeerId);
      assert.equal(history[0]?.usage.completionTokens, 3);
    });
  });
});
