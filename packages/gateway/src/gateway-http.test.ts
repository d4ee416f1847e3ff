import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Gateway } from "./start-gateway.js";
import type { StubContributorPage } from "./test-support/test-gateway.js";
import { startTestGateway, stubContributorPage } from "./test-support/test-gateway.js";

const KEY = "og-unit-test";

/** A real gateway (HTTP server and libp2p peer) with no provider reachable. */
describe("gateway HTTP surface without providers", () => {
  let gateway: Gateway;
  let page: StubContributorPage;
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${gateway.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...(init.headers ?? {}) },
    });
  const errorOf = async (response: Response) => {
    const body = (await response.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
    return body.error;
  };

  before(async () => {
    page = stubContributorPage();
    gateway = await startTestGateway(KEY, {
      contribute: {
        pageDir: page.pageDir,
        bootstrap: () => ["/ip4/127.0.0.1/tcp/1/ws/p2p/x"],
        modelFiles: [page.modelFile],
        modelUrls: ["https://models.example/stories/big.gguf"],
        ledger: { registrationDifficultyBits: 12, perAccountGrant: true },
      },
    });
  });
  after(async () => {
    await gateway?.stop();
    page?.remove();
  });

  it("serves the contributor page, its config and the offered models at /contribute", async () => {
    const root = gateway.url.replace(/\/v1$/, "");
    const redirect = await fetch(`${root}/contribute`, { redirect: "manual" });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/contribute/");
    assert.match(await (await fetch(`${root}/contribute/`)).text(), /Contribute/);
    const config = (await (await fetch(`${root}/contribute/config.json`)).json()) as {
      bootstrap: string[];
      models: Array<{ url: string; sizeBytes: number }>;
      ledger: unknown;
    };
    assert.deepEqual(config.bootstrap, ["/ip4/127.0.0.1/tcp/1/ws/p2p/x"]);
    // Tabs keep the ledger with the network's parameters (here a devnet's).
    assert.deepEqual(config.ledger, { registrationDifficultyBits: 12, perAccountGrant: true });
    assert.deepEqual(config.models, [
      { url: "models/tiny.gguf", sizeBytes: 1234 },
      { url: "https://models.example/stories/big.gguf" },
    ]);
    const head = await fetch(`${root}/contribute/models/tiny.gguf`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), "1234");
    const other = await fetch(`${root}/contribute/models/other.gguf`);
    assert.equal(other.status, 404);
    assert.equal((await errorOf(other)).code, "unknown_url");
  });

  it("reports no providers on /healthz", async () => {
    const response = await fetch(gateway.url.replace(/\/v1$/, "/healthz"));
    assert.equal(response.status, 503);
    assert.equal(((await response.json()) as { providers: number }).providers, 0);
  });

  it("requires a valid API key", async () => {
    const missing = await fetch(`${gateway.url}/models`);
    assert.equal(missing.status, 401);
    assert.equal((await errorOf(missing)).code, "missing_api_key");
    const wrong = await fetch(`${gateway.url}/models`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    assert.equal((await errorOf(wrong)).code, "invalid_api_key");
  });

  it("lists no models, answers an unknown one with 404 and a generation request with 503", async () => {
    const list = await call("/models");
    assert.deepEqual(await list.json(), { object: "list", data: [] });
    const one = await call("/models/stories260K");
    assert.equal(one.status, 404);
    const chat = await call("/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: "stories260K", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(chat.status, 503);
    assert.equal(chat.headers.get("retry-after"), "1");
    assert.equal((await errorOf(chat)).code, "no_provider");
  });

  it("answers malformed JSON with 400 and an oversized body with 413, after reading it", async () => {
    const malformed = await call("/chat/completions", { method: "POST", body: "{" });
    assert.equal(malformed.status, 400);
    assert.equal((await errorOf(malformed)).code, "invalid_json");
    const huge = await call("/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(1024 * 1024) }] }),
    });
    assert.equal(huge.status, 413);
    assert.equal((await errorOf(huge)).code, "request_too_large");
  });

  it("refuses an unknown region in x-opengateway-region with a 400 naming the header", async () => {
    const response = await call("/models", { headers: { "x-opengateway-region": "atlantis" } });
    assert.equal(response.status, 400);
    assert.equal((await errorOf(response)).param, "x-opengateway-region");
  });

  it("answers unknown URLs with an OpenAI-shaped 404", async () => {
    const response = await call("/nothing-here");
    assert.equal(response.status, 404);
    assert.equal((await errorOf(response)).type, "invalid_request_error");
  });
});
