import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_PENALISED_PEERS, PeerPenalties } from "./peer-penalties.js";

describe("PeerPenalties", () => {
  it("bans a peer whose strikes pile up inside the window, and lifts the ban after banMs", () => {
    let now = 0;
    const penalties = new PeerPenalties({
      banAfter: 3,
      windowMs: 1_000,
      banMs: 5_000,
      ratePerSecond: 1,
      burst: 1,
      now: () => now,
    });
    assert.equal(penalties.strike("a"), false);
    assert.equal(penalties.strike("a"), false);
    assert.equal(penalties.strike("a"), true);
    assert.equal(penalties.isBanned("a"), true);
    now = 5_001;
    assert.equal(penalties.isBanned("a"), false);
  });

  it("keeps its table bounded when a sybil sends from ever new peer ids within one window", () => {
    const penalties = new PeerPenalties({
      banAfter: 50,
      windowMs: 60_000,
      banMs: 600_000,
      ratePerSecond: 200,
      burst: 1_000,
      now: () => 0,
    });
    for (let i = 0; i < 3 * MAX_PENALISED_PEERS; i++) penalties.take(`sybil-${i}`);
    assert.ok(penalties.trackedPeers <= MAX_PENALISED_PEERS, `${penalties.trackedPeers} peers tracked`);
    // The newest id is still counted: its burst is spent by one more take each.
    assert.equal(penalties.take(`sybil-${3 * MAX_PENALISED_PEERS - 1}`), true);
  });
});
