import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import type { AccountSnapshot, LedgerCommit, LedgerStore, StoredBlock } from "@opengateway/ledger";
import { machineFingerprintHash, registerAccount } from "@opengateway/ledger";
import { generateIdentity } from "@opengateway/protocol";
import { LEDGER_SYNC_PROTOCOL } from "./constants.js";
import type { NetworkServices } from "./create-libp2p-node.js";
import { createLibp2pNode } from "./create-libp2p-node.js";
import type { LedgerReplica, LedgerReplicaInit } from "./ledger-replica.js";
import { ledgerReplica } from "./ledger-replica.js";

const params = { registrationDifficultyBits: 4, registrationMemoryKiB: 0, grantLockMs: 0 };

/** A store in memory that notes what happened to it, and whether the node still served the sync protocol then. */
class NotingStore implements LedgerStore {
  readonly events: string[] = [];
  readonly #blocks: StoredBlock[] = [];
  node: Libp2p | undefined;

  async commit(commit: LedgerCommit): Promise<void> {
    this.#blocks.push(...commit.blocks);
    this.events.push(`commit ${commit.blocks.length}${this.#syncServed() ? "" : " after sync stopped"}`);
  }

  async loadBlocks(): Promise<StoredBlock[]> {
    this.events.push("load");
    return [...this.#blocks];
  }

  async loadAccounts(): Promise<AccountSnapshot[]> {
    return [];
  }

  async close(): Promise<void> {
    this.events.push(`close${this.#syncServed() ? "" : " after sync stopped"}`);
  }

  #syncServed(): boolean {
    return this.node?.getProtocols().includes(LEDGER_SYNC_PROTOCOL) ?? false;
  }
}

const nodes: Libp2p<NetworkServices & { ledger: LedgerReplica }>[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

async function peer(init: LedgerReplicaInit = {}) {
  const node = await createLibp2pNode({
    identity: generateIdentity(),
    services: { ledger: ledgerReplica({ params, syncIntervalMs: 60 * 60 * 1000, ...init }) },
  });
  nodes.push(node);
  return node;
}

describe("ledgerReplica", () => {
  it("loads its store when the node starts, and stops in order: sync, save, close", async () => {
    const store = new NotingStore();
    const node = await peer({ openStore: async () => store, firstSyncWaitMs: 0 });
    store.node = node;
    const replica = node.services.ledger;
    assert.deepEqual(store.events, ["load"]);
    assert.equal(await replica.ready, false, "no peer keeps a ledger: the first reconciliation ends without one");
    const alice = generateIdentity();
    const open = await registerAccount(alice, {
      fingerprintHash: machineFingerprintHash({ alice: alice.id }),
      difficultyBits: 4,
    });
    // Added without saving: the node's stop saves it.
    assert.equal(replica.ledger.add(open).status, "applied");
    await node.stop();
    assert.deepEqual(store.events, ["load", "commit 1 after sync stopped", "close after sync stopped"]);
    assert.throws(() => replica.ledger, /not started/);
  });

  it("signs nothing before its first reconciliation: a chain continues where the network has it", async () => {
    const alice = generateIdentity();
    const fingerprintHash = machineFingerprintHash({ alice: alice.id });
    const open = await registerAccount(alice, { fingerprintHash, difficultyBits: 4 });
    const network = await peer({ firstSyncWaitMs: 0 });
    assert.equal(network.services.ledger.ledger.add(open).status, "applied");

    // A peer whose copy of the ledger was lost: it must not sign alice's open a second time.
    const restarted = await peer({ firstSyncWaitMs: 10_000 });
    const replica = restarted.services.ledger;
    let decided: boolean | undefined;
    const writing = replica.writer.append(alice, (ledger) => {
      decided = ledger.account(alice.id).opened;
      return decided ? null : { kind: "open", fingerprint: fingerprintHash, powNonce: open.powNonce };
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(decided, undefined, "the writer waits for the first reconciliation");
    await restarted.dial(network.getMultiaddrs());
    assert.equal(await replica.ready, true);
    assert.equal(await writing, null, "alice's open came from the network: nothing to sign");
    assert.equal(decided, true);
    assert.equal(replica.ledger.merkleRoot(), network.services.ledger.ledger.merkleRoot());
  });
});
