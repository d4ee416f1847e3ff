import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeInfo } from "@opengateway/p2p";
import { ProviderTable } from "./provider-table.js";

const info = (models: string[], maxConcurrentRequests = 4): NodeInfo => ({
  v: 1,
  agent: "test",
  engine: "test",
  region: null,
  models: models.map((id) => ({ id, contextSize: 2048, pricePerToken: 1, kinds: ["chat" as const] })),
  activeRequests: 0,
  maxConcurrentRequests,
});

describe("ProviderTable", () => {
  it("merges the models that providers serve", () => {
    const table = new ProviderTable();
    table.upsert("a", info(["m1", "m2"]));
    table.upsert("b", info(["m2"]));
    assert.deepEqual(
      table.models().map((model) => [model.id, model.providers]),
      [
        ["m1", 1],
        ["m2", 2],
      ],
    );
    table.remove("a");
    assert.deepEqual(
      table.models().map((model) => model.id),
      ["m2"],
    );
  });

  it("prefers the less loaded and the less failing provider, and spreads ties", () => {
    const table = new ProviderTable();
    table.upsert("busy", info(["m"]));
    table.upsert("idle", info(["m"]));
    const busy = table.get("busy");
    assert.ok(busy);
    busy.inFlight = 3;
    assert.equal(table.candidatesFor("m")[0]?.peerId, "idle");
    const idle = table.get("idle");
    assert.ok(idle);
    idle.failures = 1;
    assert.equal(table.candidatesFor("m")[0]?.peerId, "busy");
    assert.deepEqual(
      table.candidatesFor("m", new Set(["busy"])).map((entry) => entry.peerId),
      ["idle"],
    );
    assert.deepEqual(table.candidatesFor("other"), []);

    const even = new ProviderTable();
    even.upsert("x", info(["m"]));
    even.upsert("y", info(["m"]));
    const firsts = new Set(Array.from({ length: 50 }, () => even.candidatesFor("m")[0]?.peerId));
    assert.deepEqual([...firsts].sort(), ["x", "y"]);
  });
});
