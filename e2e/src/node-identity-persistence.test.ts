import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import type { NetworkServices, NodeLedgerSummary } from "@opengateway/p2p";
import { createLibp2pNode, fetchNodeInfo } from "@opengateway/p2p";
import { generateIdentity } from "@opengateway/protocol";
import { startFullNodeProcess } from "./browser-network-parts.js";
import { testModelPath } from "./test-model.js";

/**
 * `node start` without `--key-file` keeps its identity in the data directory, encrypted: a
 * restart on the same home is the same peer with the same account and balance.
 */
describe("a node's identity across restarts (real processes)", { timeout: 240_000 }, () => {
  let home: string;
  let peer: Libp2p<NetworkServices>;
  const args = () => [
    "--model",
    testModelPath(),
    "--home",
    home,
    "--local",
    "--registration-difficulty",
    "8",
    "--gpu",
    "off",
    "--listen",
    "/ip4/127.0.0.1/tcp/0",
  ];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "opengateway-node-home-"));
    peer = await createLibp2pNode({ identity: generateIdentity(), localNetwork: true, listen: [] });
  });
  after(async () => {
    await peer?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const ledgerOf = async (address: string): Promise<NodeLedgerSummary> => {
    const info = await fetchNodeInfo(peer, multiaddr(address), { signal: AbortSignal.timeout(5_000) });
    assert.ok(info.ledger, "the node keeps a ledger");
    return info.ledger;
  };
  const registered = async (address: string): Promise<NodeLedgerSummary> => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const ledger = await ledgerOf(address).catch(() => undefined);
      if (ledger?.self.opened && ledger.self.balance > 0) return ledger;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return assert.fail("the node did not register in time");
  };

  it("comes back with the same peer id, account and balance, its key encrypted at rest", async () => {
    const first = await startFullNodeProcess(args());
    let before: NodeLedgerSummary;
    try {
      before = await registered(first.ready.addresses[0] ?? "");
      // A second process on the same home would sign with the same key: it is refused before it loads anything.
      await assert.rejects(startFullNodeProcess(args()), (error: Error) => {
        assert.match(error.message, /exited with 1/);
        assert.match(error.message, new RegExp(`data directory .* is in use by another process \\(node-.*process ${first.pid}`));
        return true;
      });
    } finally {
      await first.stop();
    }
    const keyFile = join(home, "node-key.json");
    const file = JSON.parse(readFileSync(keyFile, "utf8")) as { v: number; id: string; seed?: string };
    assert.equal(file.v, 2, "encrypted (scrypt → AES-256-GCM)");
    assert.equal(file.seed, undefined, "no plaintext seed");
    assert.equal(file.id, first.ready.peerId);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.ok(existsSync(join(home, "node-key.passphrase")), "an unattended node's default passphrase");

    const second = await startFullNodeProcess(args());
    try {
      assert.equal(second.ready.peerId, first.ready.peerId);
      const again = await ledgerOf(second.ready.addresses[0] ?? "");
      assert.equal(again.self.opened, true);
      assert.equal(again.self.balance, before.self.balance);
      assert.equal(again.self.height, before.self.height, "no second open: the account is the same");
      assert.ok(!second.output.some((line) => line.includes("registration failed")), second.output.join("\n"));
    } finally {
      await second.stop();
    }
  });
});
