import assert from "node:assert/strict";
import { execFile, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { LocalNetwork } from "@opengateway/cli";
import { startLocalNetwork } from "@opengateway/cli";
import OpenAI from "openai";
import { testModelPath } from "./test-model.js";

const API_KEY = "og-e2e-test-key";
const CLI_BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/chat-via-gateway.mjs", import.meta.url));

/**
 * A real full node (node-llama-cpp on the test model) and a real gateway, each in its own
 * process, talking over libp2p; driven with the official `openai` client.
 */
describe("walking skeleton: openai client → gateway → libp2p → full node", { timeout: 180_000 }, () => {
  let network: LocalNetwork;
  let client: OpenAI;
  let home: string;
  const nodeLog: string[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "opengateway-e2e-"));
    network = await startLocalNetwork({
      model: testModelPath(),
      host: "127.0.0.1",
      port: 0,
      apiKey: API_KEY,
      home,
      nodeArgs: ["--gpu", "off", "--parallel", "2"],
      onOutput: (part, line) => {
        if (part === "node") nodeLog.push(line);
      },
    });
    client = new OpenAI({ baseURL: network.url, apiKey: API_KEY, maxRetries: 0, timeout: 30_000 });
  });

  after(async () => {
    await network?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("lists and retrieves the served model", async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((model) => model.id),
      ["stories260K"],
    );
    const model = await client.models.retrieve("stories260K");
    assert.equal(model.object, "model");
  });

  it("answers a chat completion with usage that adds up, served by the full node over libp2p", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 20 })
      .withResponse();
    assert.equal(response.headers.get("x-opengateway-provider"), network.nodePeerId);
    assert.match(data.id, /^chatcmpl-/);
    assert.equal(data.object, "chat.completion");
    const choice = data.choices[0];
    assert.ok(choice);
    assert.equal(choice.message.role, "assistant");
    assert.ok((choice.message.content ?? "").length > 0);
    assert.equal(choice.finish_reason, "length");
    assert.ok(data.usage);
    assert.equal(data.usage.completion_tokens, 20);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
  });

  it("streams chunks with one id, one finish_reason and a final usage chunk", async () => {
    const request = {
      model: "stories260K",
      messages: [{ role: "user" as const, content: "Once upon a time" }],
      max_tokens: 30,
      seed: 1234,
      temperature: 0.8,
    };
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const ids = new Set<string>();
    let text = "";
    const finishReasons: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      ids.add(chunk.id);
      if (chunk.choices.length === 0) {
        assert.ok(chunk.usage, "the chunk without choices carries usage");
        usage = chunk.usage;
        continue;
      }
      assert.equal(chunk.usage, null);
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.choices[0]?.finish_reason) finishReasons.push(chunk.choices[0].finish_reason);
    }
    assert.ok(chunks > 3);
    assert.equal(ids.size, 1);
    assert.deepEqual(finishReasons, ["length"]);
    assert.ok(usage);
    assert.equal(usage.completion_tokens, 30);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    // Same seed, same sampling: the non-streaming answer is the same text.
    const whole = await client.chat.completions.create(request);
    assert.equal(whole.choices[0]?.message.content, text);
  });

  it("honours max_tokens and stop, without leaking the stop string", async () => {
    const base = { model: "stories260K", messages: [{ role: "user" as const, content: "Once upon a time" }], temperature: 0 };
    const free = await client.chat.completions.create({ ...base, max_tokens: 60 });
    const freeText = free.choices[0]?.message.content ?? "";
    const word = freeText.trim().split(/\s+/)[3];
    assert.ok(word, `expected several words, got '${freeText}'`);
    const stopped = await client.chat.completions.create({ ...base, max_tokens: 60, stop: [word] });
    const stoppedText = stopped.choices[0]?.message.content ?? "";
    assert.equal(stopped.choices[0]?.finish_reason, "stop");
    assert.ok(!stoppedText.includes(word));
    assert.ok(freeText.startsWith(stoppedText));
    const short = await client.chat.completions.create({ ...base, max_tokens: 3 });
    assert.equal(short.usage?.completion_tokens, 3);
  });

  it("refuses a missing or wrong API key with 401", async () => {
    const wrong = new OpenAI({ baseURL: network.url, apiKey: "og-not-a-key", maxRetries: 0 });
    await assert.rejects(
      wrong.models.list(),
      (error: unknown) => error instanceof OpenAI.AuthenticationError && error.status === 401,
    );
    const response = await fetch(`${network.url}/models`);
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: { message: string; type: string; param: unknown; code: unknown } };
    assert.equal(body.error.type, "invalid_request_error");
    assert.ok("param" in body.error && "code" in body.error);
  });

  it("answers an unknown model with 404 and malformed JSON or an absurd max_tokens with 400", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
      (error: unknown) => error instanceof OpenAI.NotFoundError && (error.error as { code?: string }).code === "model_not_found",
    );
    await assert.rejects(
      client.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "hi" }], max_tokens: 1e9 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    await assert.rejects(
      // @ts-expect-error: a wrong role is exactly what this checks
      client.chat.completions.create({ model: "stories260K", messages: [{ role: "wizard", content: "hi" }] }),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    const response = await fetch(`${network.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: '{"model": "stories260K", "messages": [',
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { type: string; code: string } };
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(body.error.code, "invalid_json");
  });

  it("cancels generation on the node when the client aborts mid-stream, and keeps serving", async () => {
    const stream = await client.chat.completions.create({
      model: "stories260K",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 1500,
      stream: true,
    });
    let received = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received >= 3) break; // leaving the loop aborts the HTTP request
    }
    // The node reports the request as cancelled, not as served to the end.
    const deadline = Date.now() + 10_000;
    const cancelled = () => nodeLog.some((line) => line.includes('"errorCode":"cancelled"'));
    while (!cancelled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(cancelled(), `the node never reported a cancelled request:\n${nodeLog.slice(-5).join("\n")}`);
    const next = await client.chat.completions.create({
      model: "stories260K",
      messages: [{ role: "user", content: "Tom" }],
      max_tokens: 8,
    });
    assert.equal(next.usage?.completion_tokens, 8);
    const nextStream = await client.chat.completions.create({
      model: "stories260K",
      messages: [{ role: "user", content: "Tom" }],
      max_tokens: 8,
      stream: true,
    });
    let finished = false;
    for await (const chunk of nextStream) if (chunk.choices[0]?.finish_reason) finished = true;
    assert.ok(finished);
  });

  it("runs the baseURL example unchanged against the gateway", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, "Once upon a time"], {
      env: { ...process.env, OPENAI_BASE_URL: network.url, OPENGATEWAY_API_KEY: API_KEY },
      timeout: 30_000,
    });
    assert.match(stdout, /\[stories260K: \d+ prompt \+ 60 completion tokens\]/);
  });

  it("finds the full node through --bootstrap alone, with no --peer", async () => {
    const tcp = network.nodeAddresses.find((address) => !address.includes("/ws"));
    assert.ok(tcp);
    const gateway = fork(CLI_BIN, ["gateway", "start", "--port", "0", "--api-key", API_KEY, "--home", home, "--bootstrap", tcp], {
      stdio: ["ignore", "ignore", "ignore", "ipc"],
    });
    try {
      const ready = await new Promise<{ url: string }>((resolve, reject) => {
        gateway.once("message", (message) => resolve(message as { url: string }));
        gateway.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
      });
      const viaBootstrap = new OpenAI({ baseURL: ready.url, apiKey: API_KEY, maxRetries: 0 });
      const models = await viaBootstrap.models.list();
      assert.deepEqual(
        models.data.map((model) => model.id),
        ["stories260K"],
      );
      const answer = await viaBootstrap.chat.completions.create({
        model: "stories260K",
        messages: [{ role: "user", content: "Hi" }],
        max_tokens: 4,
      });
      assert.equal(answer.usage?.completion_tokens, 4);
    } finally {
      const exited = new Promise((resolve) => gateway.once("exit", resolve));
      gateway.kill("SIGTERM");
      await exited;
    }
  });
});
