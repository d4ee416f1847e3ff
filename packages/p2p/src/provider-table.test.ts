import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeInfo } from "./node-info.js";
import { ProviderTable } from "./provider-table.js";

const info = (models: string[], maxConcurrentRequests = 4): NodeInfo => ({
  v: 1,
  agent: "test",
  engine: "test",
  region: null,
  clusters: ["A"],
  queuedRequests: 0,
  tokensPerSecond: null,
  models: models.map((id) => ({ id, contextSize: 2048, pricePerToken: 1, kinds: ["chat" as const] })),
  activeRequests: 0,
  maxConcurrentRequests,
});

describe("ProviderTable", () => {
  it("merges the models that providers serve", () => {
    const table = new ProviderTable();
    table.upsert("a", info(["m1", "m2"]), { expiresAt: Date.now() + 60_000 });
    table.upsert("b", info(["m2"]), { expiresAt: Date.now() + 60_000 });
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

  it("keeps only providers of the region asked for, and forgets expired ones", () => {
    let now = 1_000;
    const table = new ProviderTable({ now: () => now });
    table.upsert("eu", { ...info(["m"]), region: "europe" }, { expiresAt: 2_000 });
    table.upsert("asia", { ...info(["m"]), region: "asia" }, { expiresAt: 5_000 });
    assert.deepEqual(
      table.candidatesFor("m", { region: "asia" }).map((entry) => entry.peerId),
      ["asia"],
    );
    assert.equal(table.candidatesFor("m", { region: null }).length, 2);
    now = 3_000;
    assert.deepEqual(
      table.candidatesFor("m").map((entry) => entry.peerId),
      ["asia"],
    );
    table.prune();
    assert.equal(table.size, 1);
  });

  it("gives no work to a provider below the reputation threshold, and prefers a better reputation band to a lighter load", () => {
    const reputation = new Map([
      ["trusted", 800],
      ["new", 500],
      ["newer", 520],
      ["cheater", 120],
    ]);
    const table = new ProviderTable({ reputationOf: (id) => reputation.get(id) ?? 500 });
    for (const id of reputation.keys()) table.upsert(id, info(["m"]), { expiresAt: Date.now() + 60_000 });
    const trusted = table.get("trusted");
    assert.ok(trusted);
    trusted.inFlight = 3;
    const order = table.candidatesFor("m").map((entry) => entry.peerId);
    assert.equal(order[0], "trusted", "a better band first, though busier");
    assert.deepEqual(order.slice(1).sort(), ["new", "newer"], "one band: load and chance decide");
    assert.ok(!order.includes("cheater"));
    // Still listed (the network view shows it), just never a candidate.
    assert.ok(table.providersOf("m").some((entry) => entry.peerId === "cheater"));
  });

  it("prefers the less loaded and the less failing provider, and spreads ties", () => {
    const table = new ProviderTable();
    table.upsert("busy", info(["m"]), { expiresAt: Date.now() + 60_000 });
    table.upsert("idle", info(["m"]), { expiresAt: Date.now() + 60_000 });
    const busy = table.get("busy");
    assert.ok(busy);
    busy.inFlight = 3;
    assert.equal(table.candidatesFor("m")[0]?.peerId, "idle");
    const idle = table.get("idle");
    assert.ok(idle);
    idle.failures = 1;
    assert.equal(table.candidatesFor("m")[0]?.peerId, "busy");
    assert.deepEqual(
      table.candidatesFor("m", { exclude: new Set(["busy"]) }).map((entry) => entry.peerId),
      ["idle"],
    );
    assert.deepEqual(table.candidatesFor("other"), []);
    // A provider with every slot and its queue taken by us is not a candidate at all.
    busy.inFlight = 8;
    assert.deepEqual(
      table.candidatesFor("m").map((entry) => entry.peerId),
      ["idle"],
    );

    const even = new ProviderTable();
    even.upsert("x", info(["m"]), { expiresAt: Date.now() + 60_000 });
    even.upsert("y", info(["m"]), { expiresAt: Date.now() + 60_000 });
    const firsts = new Set(Array.from({ length: 50 }, () => even.candidatesFor("m")[0]?.peerId));
    assert.deepEqual([...firsts].sort(), ["x", "y"]);
  });
});
