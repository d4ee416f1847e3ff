import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { errorClass } from "@opengateway/protocol";
import Database from "better-sqlite3";

/** Another process holds the same part of a data directory (see `lockDataDir`). */
export class DataDirLockedError extends errorClass(
  "DataDirLockedError",
  "data_dir_locked",
  (dir: string, name: string, holder: string) =>
    `the data directory ${dir} is in use by another process (${name}: ${holder}); stop it, or give this one its own --home`,
) {}

/** Held locks: a connection that is garbage-collected closes, and would let go of its lock. */
const held = new Set<Database.Database>();

export interface DataDirLock {
  /** The lock file (`<dir>/<name>.lock`). */
  readonly path: string;
  /** Lets go (idempotent); the OS also lets go when the process dies, however it dies. */
  release(): void;
}

/**
 * Holds `<dir>/<name>.lock` exclusively while this process runs, so two processes never write one
 * chain (the same key signing two blocks at one height freezes the account for good) or one
 * ledger file. The lock is SQLite's exclusive lock on that file, a kernel byte-range lock: the
 * OS drops it when the holder dies (kill -9 included), so there is no stale lock to guess about,
 * no race between two processes taking one over, and a restart right after a crash succeeds. A
 * second holder in the same process is refused too. `<name>.lock.holder` says who holds it, for
 * the error message only.
 */
export function lockDataDir(dir: string, name: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const holderPath = `${path}.holder`;
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    // The first write takes the exclusive lock, which EXCLUSIVE mode then keeps until close.
    db.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY); COMMIT;");
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code?.startsWith("SQLITE_BUSY")) {
      throw new DataDirLockedError(dir, name, describeHolder(holderPath));
    }
    throw error;
  }
  writeFileSync(holderPath, `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`);
  held.add(db);
  return {
    path,
    release() {
      if (!held.delete(db)) return;
      rmSync(holderPath, { force: true });
      db.close();
    },
  };
}

function describeHolder(holderPath: string): string {
  try {
    const holder = JSON.parse(readFileSync(holderPath, "utf8")) as { pid?: unknown; host?: unknown; since?: unknown };
    return `process ${String(holder.pid)} on ${String(holder.host)} since ${String(holder.since)}`;
  } catch {
    return "a process that is still starting";
  }
}
