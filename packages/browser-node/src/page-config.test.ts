import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidPageConfigError, loadPageConfig, modelIdFromUrl, parsePageConfig } from "./page-config.js";

describe("page config", () => {
  it("reads config.json's fields and names models after their GGUF file", () => {
    const config = parsePageConfig({
      bootstrap: ["/ip4/10.0.0.1/tcp/4002/ws/p2p/12D3KooWRelay"],
      models: [
        { url: "https://host/models/stories260K.gguf", sizeBytes: 1185376 },
        { id: "named", url: "/m.gguf" },
      ],
      iceServers: [{ urls: "stun:stun.example:3478" }, { urls: ["turn:turn.example"], username: "u", credential: "c" }],
      region: "europe",
      autostart: true,
    });
    assert.deepEqual(config.models, [
      { id: "stories260K", url: "https://host/models/stories260K.gguf", sizeBytes: 1185376 },
      { id: "named", url: "/m.gguf" },
    ]);
    assert.equal(config.iceServers.length, 2);
    assert.equal(config.region, "europe");
    assert.equal(config.autostart, true);
    assert.equal(modelIdFromUrl("/models/My%20Model.GGUF"), "My Model");
  });

  it("refuses malformed config with a message naming the field", () => {
    assert.throws(() => parsePageConfig([]), InvalidPageConfigError);
    assert.throws(() => parsePageConfig({ bootstrap: "x" }), /bootstrap must be a list of strings/);
    assert.throws(() => parsePageConfig({ models: [{}] }), /models\[0\] needs an id or a url/);
    assert.throws(() => parsePageConfig({ models: [{ url: "/a.gguf", sizeBytes: -1 }] }), /sizeBytes/);
    assert.throws(() => parsePageConfig({ models: [{ url: "/a.gguf", webllm: {} }] }), /WebLLM model record/);
  });

  it("reads the operator's ledger parameters: absent or null keeps no ledger", () => {
    assert.equal(parsePageConfig({}).ledger, undefined);
    assert.equal(parsePageConfig({ ledger: null }).ledger, null);
    assert.deepEqual(parsePageConfig({ ledger: { registrationDifficultyBits: 12, perAccountGrant: true } }).ledger, {
      registrationDifficultyBits: 12,
      perAccountGrant: true,
    });
    assert.deepEqual(parsePageConfig({ ledger: { registrationDifficultyBits: 26, perAccountGrant: false, extra: 1 } }).ledger, {
      registrationDifficultyBits: 26,
      perAccountGrant: false,
    });
  });

  it("keeps payment checks on unless the operator turns them off for a private network", () => {
    const base = { registrationDifficultyBits: 12, perAccountGrant: true };
    assert.equal(parsePageConfig({ ledger: base }).ledger?.paymentChecks, undefined);
    assert.equal(parsePageConfig({ ledger: { ...base, paymentChecks: true } }).ledger?.paymentChecks, undefined);
    assert.equal(parsePageConfig({ ledger: { ...base, paymentChecks: false } }).ledger?.paymentChecks, false);
    assert.throws(() => parsePageConfig({ ledger: { ...base, paymentChecks: "no" } }), /ledger\.paymentChecks/);
  });

  it("refuses malformed ledger parameters with a message naming the field", () => {
    assert.throws(() => parsePageConfig({ ledger: true }), /ledger must be an object or null/);
    assert.throws(() => parsePageConfig({ ledger: { perAccountGrant: false } }), /ledger\.registrationDifficultyBits/);
    for (const bits of [-1, 12.5, 65, "12", Number.NaN]) {
      assert.throws(
        () => parsePageConfig({ ledger: { registrationDifficultyBits: bits, perAccountGrant: false } }),
        /ledger\.registrationDifficultyBits must be an integer from 0 to 64/,
        String(bits),
      );
    }
    assert.throws(
      () => parsePageConfig({ ledger: { registrationDifficultyBits: 12, perAccountGrant: "yes" } }),
      /ledger\.perAccountGrant must be true or false/,
    );
    assert.throws(() => parsePageConfig({ ledger: { registrationDifficultyBits: 12 } }), /ledger\.perAccountGrant/);
  });

  it("lets URL query parameters override config.json, which may be absent", async () => {
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async () => new Response("not found", { status: 404 })) as typeof fetch;
    try {
      const config = await loadPageConfig({
        pageUrl:
          "https://host/contribute/?bootstrap=/dns4/a/tcp/443/wss/p2p/X,/dns4/b/tcp/443/wss/p2p/Y&model=/m/tiny.gguf&ice=stun:s:3478&autostart=1&region=",
      });
      assert.deepEqual(config.bootstrap, ["/dns4/a/tcp/443/wss/p2p/X", "/dns4/b/tcp/443/wss/p2p/Y"]);
      assert.deepEqual(config.models, [{ id: "tiny", url: "/m/tiny.gguf" }]);
      assert.deepEqual(config.iceServers, [{ urls: "stun:s:3478" }]);
      assert.equal(config.autostart, true);
      assert.equal(config.region, null);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
