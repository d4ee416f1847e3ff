import { canonicalJson } from "@opengateway/protocol";
import type { DBSchema, IDBPDatabase } from "idb";
import { openDB } from "idb";
import { ledgerBlockSchema } from "./ledger-block.js";
import type { AccountSnapshot, LedgerCommit, LedgerStore, StoredBlock, StoreOptions } from "./ledger-store.js";
import { assertValidSnapshot } from "./ledger-store.js";

interface LedgerDatabase extends DBSchema {
  blocks: {
    key: number;
    value: { seq: number; hash: string; account: string; height: number; body: string };
    indexes: { hash: string };
  };
  accounts: { key: string; value: AccountSnapshot };
}

const SCHEMA_VERSION = 1;

/**
 * IndexedDB storage for browser nodes (through `idb`). Each commit is one readwrite
 * transaction over both object stores: if any write or check fails the transaction aborts and
 * nothing of the commit is stored.
 */
export class IndexedDbLedgerStore implements LedgerStore {
  readonly #db: IDBPDatabase<LedgerDatabase>;

  private constructor(db: IDBPDatabase<LedgerDatabase>) {
    this.#db = db;
  }

  static async open(name: string, options: StoreOptions = {}): Promise<IndexedDbLedgerStore> {
    options.signal?.throwIfAborted();
    const db = await openDB<LedgerDatabase>(name, SCHEMA_VERSION, {
      upgrade(database) {
        const blocks = database.createObjectStore("blocks", { keyPath: "seq" });
        blocks.createIndex("hash", "hash", { unique: true });
        database.createObjectStore("accounts", { keyPath: "account" });
      },
    });
    if (options.signal?.aborted) {
      db.close();
      options.signal.throwIfAborted();
    }
    return new IndexedDbLedgerStore(db);
  }

  async commit(commit: LedgerCommit, options: StoreOptions = {}): Promise<void> {
    const { signal } = options;
    signal?.throwIfAborted();
    const tx = this.#db.transaction(["blocks", "accounts"], "readwrite");
    const abort = (): void => tx.abort();
    signal?.addEventListener("abort", abort, { once: true });
    const writes: Promise<unknown>[] = [];
    try {
      try {
        const blocks = tx.objectStore("blocks");
        for (const { seq, hash, block } of commit.blocks) {
          // add, not put: a seq or hash that is already stored fails the whole transaction.
          writes.push(blocks.add({ seq, hash, account: block.account, height: block.height, body: canonicalJson(block) }));
        }
        const accounts = tx.objectStore("accounts");
        for (const snapshot of commit.accounts) {
          assertValidSnapshot(snapshot);
          writes.push(accounts.put({ ...snapshot }));
        }
      } catch (error) {
        tx.abort();
        await Promise.allSettled([...writes, tx.done]);
        throw error;
      }
      await Promise.all([...writes, tx.done]);
    } catch (error) {
      signal?.throwIfAborted();
      throw error;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  async loadBlocks(options: StoreOptions = {}): Promise<StoredBlock[]> {
    options.signal?.throwIfAborted();
    const rows = await this.#db.getAll("blocks");
    return rows.map((row) => ({ seq: row.seq, hash: row.hash, block: ledgerBlockSchema.parse(JSON.parse(row.body)) }));
  }

  async loadAccounts(options: StoreOptions = {}): Promise<AccountSnapshot[]> {
    options.signal?.throwIfAborted();
    return await this.#db.getAll("accounts");
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
