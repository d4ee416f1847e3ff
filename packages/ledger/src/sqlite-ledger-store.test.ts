import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SqliteLedgerStore } from "./sqlite-ledger-store.js";
import { describeLedgerStoreContract } from "./test-support/ledger-store-contract.js";

const directory = mkdtempSync(join(tmpdir(), "ledger-sqlite-"));
after(() => rmSync(directory, { recursive: true, force: true }));

describeLedgerStoreContract("SQLite (temp file)", (name) => SqliteLedgerStore.open(join(directory, `${name}.sqlite`)));

describe("SqliteLedgerStore", () => {
  it("works in memory", async () => {
    const store = await SqliteLedgerStore.open(":memory:");
    assert.deepEqual(await store.loadBlocks(), []);
    await store.close();
  });

  it("leaves nothing behind when the process dies inside a commit", async () => {
    const path = join(directory, "crash.sqlite");
    const moduleUrl = pathToFileURL(fileURLToPath(new URL("sqlite-ledger-store.js", import.meta.url))).href;
    // The child commits a block and a snapshot whose balance getter kills the process: the block
    // row is already inserted in the open transaction when SQLite reads the snapshot.
    const child = `
      const { SqliteLedgerStore } = await import(${JSON.stringify(moduleUrl)});
      const store = await SqliteLedgerStore.open(${JSON.stringify(path)});
      await store.commit({ blocks: [], accounts: [{ account: "before", height: 0, head: null, balance: 1, frozenAt: null }] });
      const block = { v: 1, kind: "send", account: "a", height: 1, previous: "p", timestamp: 0, to: "b", amount: 1, sig: "s" };
      const dying = { account: "dies", height: 0, head: null, frozenAt: null, get balance() { process.kill(process.pid, "SIGKILL"); return 0; } };
      await store.commit({ blocks: [{ seq: 0, hash: "h".repeat(43), block }], accounts: [dying] });
    `;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", child], { encoding: "utf8" });
    assert.equal(result.signal, "SIGKILL", result.stderr);
    const store = await SqliteLedgerStore.open(path);
    assert.deepEqual(await store.loadBlocks(), []);
    assert.deepEqual(
      (await store.loadAccounts()).map((snapshot) => snapshot.account),
      ["before"],
    );
    await store.close();
  });
});
