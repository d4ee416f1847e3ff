import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { canonicalJson } from "@opengateway/protocol";
import Database from "better-sqlite3";
import { ledgerBlockSchema } from "./ledger-block.js";
import type { AccountSnapshot, LedgerCommit, LedgerStore, StoredBlock, StoreOptions } from "./ledger-store.js";
import { assertValidSnapshot } from "./ledger-store.js";

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ledger_blocks (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL,
  height INTEGER NOT NULL,
  body TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS ledger_blocks_by_account ON ledger_blocks (account, height);
CREATE TABLE IF NOT EXISTS ledger_accounts (
  account TEXT PRIMARY KEY,
  height INTEGER NOT NULL CHECK (height >= -1),
  head TEXT,
  balance INTEGER NOT NULL CHECK (balance >= 0),
  frozen_at INTEGER CHECK (frozen_at IS NULL OR frozen_at >= 0)
) STRICT;
`;

interface AccountRow {
  account: string;
  height: number;
  head: string | null;
  balance: number;
  frozen_at: number | null;
}

/**
 * SQLite storage for full nodes and gateways (better-sqlite3, WAL). Each commit is one SQLite
 * transaction: a block and the account snapshots it produced land together or not at all, even
 * if the process dies half-way.
 */
export class SqliteLedgerStore implements LedgerStore {
  readonly #db: Database.Database;
  readonly #commit: (commit: LedgerCommit) => void;

  private constructor(db: Database.Database) {
    this.#db = db;
    const insertBlock = db.prepare("INSERT INTO ledger_blocks (seq, hash, account, height, body) VALUES (?, ?, ?, ?, ?)");
    const upsertAccount = db.prepare(
      `INSERT INTO ledger_accounts (account, height, head, balance, frozen_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account) DO UPDATE SET height = excluded.height, head = excluded.head,
         balance = excluded.balance, frozen_at = excluded.frozen_at`,
    );
    this.#commit = db.transaction((commit: LedgerCommit) => {
      for (const { seq, hash, block } of commit.blocks)
        insertBlock.run(seq, hash, block.account, block.height, canonicalJson(block));
      for (const snapshot of commit.accounts) {
        assertValidSnapshot(snapshot);
        upsertAccount.run(snapshot.account, snapshot.height, snapshot.head, snapshot.balance, snapshot.frozenAt);
      }
    });
  }

  /** Opens (creating it and its directory if needed) the database at `path`; ":memory:" gives a private in-memory one. */
  static async open(path: string, options: StoreOptions = {}): Promise<SqliteLedgerStore> {
    options.signal?.throwIfAborted();
    if (path !== ":memory:") await mkdir(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      // With WAL, NORMAL never corrupts and never splits a transaction; a power cut may lose the last commits.
      db.pragma("synchronous = NORMAL");
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > SCHEMA_VERSION)
        throw new Error(`ledger database schema ${version} is newer than this software (${SCHEMA_VERSION})`);
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteLedgerStore(db);
  }

  async commit(commit: LedgerCommit, options: StoreOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#commit(commit);
  }

  async loadBlocks(options: StoreOptions = {}): Promise<StoredBlock[]> {
    options.signal?.throwIfAborted();
    const rows = this.#db.prepare("SELECT seq, hash, body FROM ledger_blocks ORDER BY seq").all() as {
      seq: number;
      hash: string;
      body: string;
    }[];
    return rows.map((row) => ({ seq: row.seq, hash: row.hash, block: ledgerBlockSchema.parse(JSON.parse(row.body)) }));
  }

  async loadAccounts(options: StoreOptions = {}): Promise<AccountSnapshot[]> {
    options.signal?.throwIfAborted();
    const rows = this.#db.prepare("SELECT * FROM ledger_accounts ORDER BY account").all() as AccountRow[];
    return rows.map((row) => ({
      account: row.account,
      height: row.height,
      head: row.head,
      balance: row.balance,
      frozenAt: row.frozen_at,
    }));
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
