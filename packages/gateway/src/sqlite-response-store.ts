import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ResponseOutputItem, ResponseStore, ResponseStoreLimits, StoredResponse } from "@opengateway/sdk";
import { DEFAULT_STORED_BYTES_PER_OWNER, DEFAULT_STORED_RESPONSES_PER_OWNER } from "@opengateway/sdk";
import Database from "better-sqlite3";

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS responses (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  id TEXT NOT NULL,
  body TEXT NOT NULL,
  size INTEGER NOT NULL,
  UNIQUE (owner, id)
) STRICT;
CREATE INDEX IF NOT EXISTS responses_by_owner ON responses (owner, seq);
CREATE TABLE IF NOT EXISTS response_items (
  owner TEXT NOT NULL,
  id TEXT NOT NULL,
  response_seq INTEGER NOT NULL REFERENCES responses (seq) ON DELETE CASCADE,
  body TEXT NOT NULL,
  PRIMARY KEY (owner, id)
) STRICT;
CREATE INDEX IF NOT EXISTS response_items_by_response ON response_items (response_seq);
`;

/**
 * The gateway's stored Responses API answers, per API key's account, in SQLite (better-sqlite3,
 * WAL): they outlive a restart. Each account keeps at most `maxPerOwner` responses and
 * `maxBytesPerOwner` bytes of them; storing one more forgets its oldest as needed, with their items.
 */
export class SqliteResponseStore implements ResponseStore {
  readonly #db: Database.Database;
  readonly #put: (owner: string, stored: StoredResponse) => void;
  readonly #get: Database.Statement<[string, string], { body: string }>;
  readonly #item: Database.Statement<[string, string], { body: string }>;
  readonly #delete: Database.Statement<[string, string]>;

  /** Opens (creating it and its directory if needed) the database at `path`; ":memory:" gives a private one. */
  constructor(path: string, options: ResponseStoreLimits = {}) {
    const maxPerOwner = options.maxPerOwner ?? DEFAULT_STORED_RESPONSES_PER_OWNER;
    const maxBytes = options.maxBytesPerOwner ?? DEFAULT_STORED_BYTES_PER_OWNER;
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`response store schema ${version} is newer than this software (${SCHEMA_VERSION})`);
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
    const insert = db.prepare<[string, string, string, number]>(
      "INSERT OR REPLACE INTO responses (owner, id, body, size) VALUES (?, ?, ?, ?)",
    );
    const insertItem = db.prepare<[string, string, number | bigint, string]>(
      "INSERT OR REPLACE INTO response_items (owner, id, response_seq, body) VALUES (?, ?, ?, ?)",
    );
    // Everything of this owner's beyond its newest `maxPerOwner`, or beyond `maxBytes` counted from the newest.
    const prune = db.prepare<[string, string, number, number]>(
      `DELETE FROM responses WHERE owner = ? AND seq IN (
         SELECT seq FROM (
           SELECT seq, ROW_NUMBER() OVER newest AS rank, SUM(size) OVER newest AS total
           FROM responses WHERE owner = ? WINDOW newest AS (ORDER BY seq DESC))
         WHERE rank > ? OR total > ?)`,
    );
    this.#put = db.transaction((owner: string, stored: StoredResponse) => {
      const body = JSON.stringify(stored);
      const seq = insert.run(owner, stored.response.id, body, body.length).lastInsertRowid;
      for (const item of stored.response.output) insertItem.run(owner, item.id, seq, JSON.stringify(item));
      prune.run(owner, owner, maxPerOwner, maxBytes);
    });
    this.#get = db.prepare("SELECT body FROM responses WHERE owner = ? AND id = ?");
    this.#item = db.prepare("SELECT body FROM response_items WHERE owner = ? AND id = ?");
    this.#delete = db.prepare("DELETE FROM responses WHERE owner = ? AND id = ?");
  }

  async get(owner: string, id: string): Promise<StoredResponse | undefined> {
    const row = this.#get.get(owner, id);
    return row === undefined ? undefined : (JSON.parse(row.body) as StoredResponse);
  }

  async item(owner: string, id: string): Promise<ResponseOutputItem | undefined> {
    const row = this.#item.get(owner, id);
    return row === undefined ? undefined : (JSON.parse(row.body) as ResponseOutputItem);
  }

  async put(owner: string, stored: StoredResponse): Promise<void> {
    this.#put(owner, stored);
  }

  async delete(owner: string, id: string): Promise<boolean> {
    return this.#delete.run(owner, id).changes > 0;
  }

  close(): void {
    this.#db.close();
  }
}
