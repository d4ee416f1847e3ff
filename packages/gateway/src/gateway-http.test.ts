import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import type { Gateway } from "./start-gateway.js";
import { startGateway } from "./start-gateway.js";

const KEY = "og-unit-test";

/** A real gateway (HTTP server and libp2p peer) with no provider reachable. */
describe("gateway HTTP surface without providers", () => {
  let gateway: Gateway;
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
    gateway = await startGateway({ port: 0, apiKeys: [KEY], logger: pino({ level: "silent" }), maxBodyBytes: 64 * 1024 });
  });
  after(async () => gateway?.stop());

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

  it("answers unknown URLs with an OpenAI-shaped 404", async () => {
    const response = await call("/nothing-here");
    assert.equal(response.status, 404);
    assert.equal((await errorOf(response)).type, "invalid_request_error");
  });
});
