import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
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

  it("gives no work to a provider below the reputation threshold, and more work to a better reputation", () => {
    const reputation = new Map([
      ["trusted", 800],
      ["new", 500],
      ["newer", 520],
      ["cheater", 120],
    ]);
    const table = new ProviderTable({ reputationOf: (id) => reputation.get(id) ?? 500, random: seededRandom(1) });
    for (const id of reputation.keys()) table.upsert(id, info(["m"]), { expiresAt: Date.now() + 60_000 });
    const shares = firstPicks(table, 6_000);
    // Equal speed and slots: work in proportion to reputation, 800 : 500 : 520.
    assertShare(shares, "trusted", 800 / 1820);
    assertShare(shares, "new", 500 / 1820);
    assertShare(shares, "newer", 520 / 1820);
    assert.equal(shares.get("cheater"), undefined);
    assert.ok(!table.candidatesFor("m").some((entry) => entry.peerId === "cheater"));
    // Still listed (the network view shows it), just never a candidate.
    assert.ok(table.providersOf("m").some((entry) => entry.peerId === "cheater"));
  });

  it("prefers the less failing provider, gives the less loaded one more work, and a full one none", () => {
    const table = new ProviderTable({ random: seededRandom(2) });
    table.upsert("busy", info(["m"]), { expiresAt: Date.now() + 60_000 });
    table.upsert("idle", info(["m"]), { expiresAt: Date.now() + 60_000 });
    const busy = table.get("busy");
    assert.ok(busy);
    busy.inFlight = 3;
    // One free slot against four.
    assertShare(firstPicks(table, 4_000), "idle", 4 / 5);
    const idle = table.get("idle");
    assert.ok(idle);
    idle.failures = 1;
    for (let i = 0; i < 20; i++) assert.equal(table.candidatesFor("m")[0]?.peerId, "busy");
    assert.deepEqual(
      table.candidatesFor("m", { exclude: new Set(["busy"]) }).map((entry) => entry.peerId),
      ["idle"],
    );
    assert.deepEqual(table.candidatesFor("other"), []);
    // A provider with every slot taken by us is not a candidate at all.
    busy.inFlight = 4;
    assert.deepEqual(
      table.candidatesFor("m").map((entry) => entry.peerId),
      ["idle"],
    );
    // One that reports every slot taken (by other routers) comes after every one with room.
    busy.inFlight = 0;
    busy.info = { ...busy.info, activeRequests: 4 };
    idle.failures = 0;
    for (let i = 0; i < 20; i++) assert.equal(table.candidatesFor("m")[0]?.peerId, "idle");
  });

  it("shares sequential requests between a fast full node and a slow tab in proportion to speed × free slots", () => {
    const table = new ProviderTable({ random: seededRandom(3) });
    table.upsert("full-node", { ...info(["m"], 4), tokensPerSecond: 400 }, { expiresAt: Date.now() + 60_000 });
    table.upsert("tab", { ...info(["m"], 1), tokensPerSecond: 100 }, { expiresAt: Date.now() + 60_000 });
    // 400 × 4 against 100 × 1: the tab earns about one request in 17, not none.
    const idle = firstPicks(table, 6_000);
    assertShare(idle, "tab", 100 / 1_700);
    // With three of the full node's slots taken, 400 × 1 against 100 × 1.
    const fullNode = table.get("full-node");
    assert.ok(fullNode);
    fullNode.inFlight = 3;
    assertShare(firstPicks(table, 4_000), "tab", 100 / 500);
    // A provider that has not measured its speed yet counts as the median of the others (250), up to 100.
    fullNode.inFlight = 0;
    table.upsert("new", { ...info(["m"], 1), tokensPerSecond: null }, { expiresAt: Date.now() + 60_000 });
    assertShare(firstPicks(table, 6_000), "new", 100 / 1_800);
    table.upsert("full-node", { ...info(["m"], 4), tokensPerSecond: 50 }, { expiresAt: Date.now() + 60_000 });
    table.upsert("tab", { ...info(["m"], 1), tokensPerSecond: 60 }, { expiresAt: Date.now() + 60_000 });
    assertShare(firstPicks(table, 6_000), "new", 55 / (200 + 60 + 55));
    // The same seed, the same choices.
    const picks = (seed: number): string[] => {
      const seeded = new ProviderTable({ random: seededRandom(seed) });
      for (const entry of table.entries()) seeded.upsert(entry.peerId, entry.info, { expiresAt: entry.expiresAt });
      return Array.from({ length: 50 }, () => seeded.candidatesFor("m")[0]?.peerId ?? "");
    };
    assert.deepEqual(picks(7), picks(7));
    assert.notDeepEqual(picks(7), picks(8));
  });

  it("spreads equal providers evenly", () => {
    const even = new ProviderTable({ random: seededRandom(4) });
    even.upsert("x", info(["m"]), { expiresAt: Date.now() + 60_000 });
    even.upsert("y", info(["m"]), { expiresAt: Date.now() + 60_000 });
    assertShare(firstPicks(even, 4_000), "x", 1 / 2);
  });
});

/** How often each provider came first over `rounds` choices. */
function firstPicks(table: ProviderTable, rounds: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const first = table.candidatesFor("m")[0]?.peerId;
    assert.ok(first);
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return new Map([...counts].map(([peerId, count]) => [peerId, count / rounds]));
}

/** Within three standard deviations of a binomial share, and at least 1 point. */
function assertShare(shares: Map<string, number>, peerId: string, expected: number): void {
  const share = shares.get(peerId) ?? 0;
  const rounds = 4_000;
  const tolerance = Math.max(0.01, 3 * Math.sqrt((expected * (1 - expected)) / rounds));
  assert.ok(Math.abs(share - expected) <= tolerance, `${peerId}: share ${share.toFixed(3)}, expected ${expected.toFixed(3)}`);
}
