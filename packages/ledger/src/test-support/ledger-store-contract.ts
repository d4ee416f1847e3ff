// The contract every LedgerStore adapter must meet; sqlite-ledger-store.test.ts and
// indexeddb-ledger-store.test.ts run it against their adapter.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ledger } from "../ledger.js";
import type { EvidenceBlock, LedgerBlock } from "../ledger-block.js";
import { ledgerBlockHash } from "../ledger-block.js";
import type { AccountSnapshot, LedgerStore, StoredBlock } from "../ledger-store.js";
import {
  DAY,
  HOUR,
  T0,
  TestAccount,
  testFingerprint,
  testIdentity,
  testParams,
  testReceipt,
  testRequest,
} from "./ledger-fixtures.js";

/** Opens the named store; opening the same name again must reach the same data. */
export type StoreFactory = (name: string) => Promise<LedgerStore>;

const NOW = T0 + 30 * DAY;
const params = testParams();

/** A history that exercises every kind of kept block: applied, held, pending, equivocation proofs. */
function history(): { blocks: LedgerBlock[]; accounts: string[] } {
  const alice = new TestAccount(testIdentity(41));
  const bob = new TestAccount(testIdentity(42));
  const carol = new TestAccount(testIdentity(43));
  const mallory = new TestAccount(testIdentity(44));
  const copycat = new TestAccount(testIdentity(45));
  const blocks: LedgerBlock[] = [
    alice.open(testFingerprint("store-a")),
    bob.open(testFingerprint("store-b")),
    carol.open(testFingerprint("store-c")),
    mallory.open(testFingerprint("store-m")),
    copycat.open(testFingerprint("store-a"), T0 + HOUR),
  ];
  const send = alice.send(bob.id, 25_000, T0 + DAY);
  const receipt = testReceipt(testRequest(bob.identity), carol.identity, 777);
  const settle = bob.settle(receipt, T0 + DAY);
  blocks.push(send, bob.receive(ledgerBlockHash(send), T0 + DAY), settle, carol.earn(ledgerBlockHash(settle), T0 + DAY));
  const one = mallory.fork().send(alice.id, 10, T0 + DAY) as EvidenceBlock;
  const two = mallory.fork().send(bob.id, 10, T0 + DAY) as EvidenceBlock;
  blocks.push(one, two, carol.slash([one, two], T0 + DAY));
  // Waits forever for a source nobody has.
  blocks.push(alice.receive("C".repeat(43), T0 + DAY));
  return { blocks, accounts: [alice.id, bob.id, carol.id, mallory.id, copycat.id] };
}

function sampleBlock(n: number): StoredBlock {
  const block = new TestAccount(testIdentity(60 + n)).open(testFingerprint(`sample ${n}`));
  return { seq: n, hash: ledgerBlockHash(block), block };
}

function snapshot(account: string, balance: number): AccountSnapshot {
  return { account, height: 0, head: null, balance, frozenAt: null };
}

let counter = 0;
const uniqueName = (label: string): string => `ledger-contract-${label}-${process.pid}-${++counter}`;

function view(ledger: Ledger, accounts: readonly string[]) {
  return {
    root: ledger.merkleRoot(),
    heads: ledger.heads(),
    totals: ledger.totals(),
    accounts: accounts.map((account) => ledger.account(account, { now: NOW })),
    equivocations: ledger.equivocations().map((e) => [e.account, e.height, ...e.proof.map(ledgerBlockHash)]),
  };
}

export function describeLedgerStoreContract(adapter: string, open: StoreFactory): void {
  describe(`LedgerStore contract: ${adapter}`, () => {
    it("starts empty", async () => {
      const store = await open(uniqueName("empty"));
      assert.deepEqual(await store.loadBlocks(), []);
      assert.deepEqual(await store.loadAccounts(), []);
      await store.close();
    });

    it("keeps commits across reopening, blocks by seq, the latest snapshot per account", async () => {
      const name = uniqueName("roundtrip");
      const store = await open(name);
      const [a, b, c] = [sampleBlock(0), sampleBlock(1), sampleBlock(2)];
      await store.commit({ blocks: [a, b], accounts: [snapshot("acct-2", 5), snapshot("acct-1", 1)] });
      await store.commit({ blocks: [c], accounts: [snapshot("acct-1", 2)] });
      await store.close();
      const reopened = await open(name);
      assert.deepEqual(await reopened.loadBlocks(), [a, b, c]);
      assert.deepEqual(await reopened.loadAccounts(), [snapshot("acct-1", 2), snapshot("acct-2", 5)]);
      await reopened.close();
    });

    it("writes nothing of a commit that fails half-way", async () => {
      const store = await open(uniqueName("atomic"));
      const first = sampleBlock(0);
      await store.commit({ blocks: [first], accounts: [snapshot("acct-1", 1)] });
      // The block is written first; the invalid snapshot after it must take it down too.
      await assert.rejects(store.commit({ blocks: [sampleBlock(1)], accounts: [snapshot("acct-1", 9), snapshot("acct-2", -1)] }));
      // A block already stored (same hash) fails the commit after a valid block was written in it.
      await assert.rejects(store.commit({ blocks: [sampleBlock(2), { ...first, seq: 3 }], accounts: [] }));
      assert.deepEqual(await store.loadBlocks(), [first]);
      assert.deepEqual(await store.loadAccounts(), [snapshot("acct-1", 1)]);
      await store.close();
    });

    it("honours an aborted signal", async () => {
      const store = await open(uniqueName("abort"));
      const controller = new AbortController();
      controller.abort(new Error("gave up"));
      await assert.rejects(store.commit({ blocks: [sampleBlock(0)], accounts: [] }, { signal: controller.signal }), /gave up/);
      await assert.rejects(store.loadBlocks({ signal: controller.signal }), /gave up/);
      assert.deepEqual(await store.loadBlocks(), []);
      await store.close();
    });

    it("reloads a ledger with the same state, Merkle root and equivocations", async () => {
      const name = uniqueName("reload");
      const { blocks, accounts } = history();
      const store = await open(name);
      const ledger = new Ledger({ params, store });
      for (const block of blocks) await ledger.submit(block, { now: NOW });
      assert.equal(ledger.unsavedCount, 0);
      assert.equal(ledger.equivocations().length, 1);
      assert.ok(ledger.totals().burned > 0);
      await store.close();

      const reopened = await open(name);
      const reloaded = await Ledger.load(reopened, { params, now: NOW });
      assert.deepEqual(view(reloaded, accounts), view(ledger, accounts));
      // The derived snapshots written with each block agree with the replayed state.
      for (const snap of await reopened.loadAccounts()) {
        const account = reloaded.account(snap.account, { now: NOW });
        assert.deepEqual(
          [snap.height, snap.head, snap.balance, snap.frozenAt],
          [account.height, account.head, account.balance, account.frozenAt],
        );
      }
      // Blocks added after the reload land in the same store.
      const dave = new TestAccount(testIdentity(46));
      await reloaded.submit(dave.open(testFingerprint("store-d")), { now: NOW });
      const again = await Ledger.load(reopened, { params, now: NOW });
      assert.equal(again.merkleRoot(), reloaded.merkleRoot());
      await reopened.close();
    });

    it("keeps unsaved blocks queued when a commit fails, and writes them on the next save", async () => {
      const name = uniqueName("retry");
      const store = await open(name);
      let failures = 1;
      const flaky: LedgerStore = {
        commit: async (commit, options) => {
          if (failures-- > 0) throw new Error("disk full");
          return store.commit(commit, options);
        },
        loadBlocks: (options) => store.loadBlocks(options),
        loadAccounts: (options) => store.loadAccounts(options),
        close: () => store.close(),
      };
      const ledger = new Ledger({ params, store: flaky });
      const { blocks, accounts } = history();
      for (const block of blocks.slice(0, 4)) ledger.add(block, { now: NOW });
      await assert.rejects(ledger.save(), /disk full/);
      assert.equal(ledger.unsavedCount, 4);
      await ledger.save();
      assert.equal(ledger.unsavedCount, 0);
      const reloaded = await Ledger.load(store, { params, now: NOW });
      assert.deepEqual(view(reloaded, accounts), view(ledger, accounts));
      await store.close();
    });
  });
}
