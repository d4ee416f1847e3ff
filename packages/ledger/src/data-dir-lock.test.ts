import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DataDirLockedError, lockDataDir } from "./data-dir-lock.js";

const home = mkdtempSync(join(tmpdir(), "data-dir-lock-"));
after(() => rmSync(home, { recursive: true, force: true }));
const moduleUrl = pathToFileURL(fileURLToPath(new URL("data-dir-lock.js", import.meta.url))).href;

/** A child process that takes the lock, says so, and then waits to be killed. */
async function holdInChild(name: string) {
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { lockDataDir } = await import(${JSON.stringify(moduleUrl)});
       lockDataDir(${JSON.stringify(home)}, ${JSON.stringify(name)});
       process.stdout.write("held\\n");
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("held") && resolve());
    child.once("exit", (code) => reject(new Error(`the child exited (${code}) before taking the lock`)));
  });
  return child;
}

describe("lockDataDir", () => {
  it("refuses a second process on the same data directory and names the holder", async (t) => {
    const child = await holdInChild("node-abc");
    t.after(() => child.kill("SIGKILL"));
    assert.throws(
      () => lockDataDir(home, "node-abc"),
      (error: unknown) =>
        DataDirLockedError.isInstance(error) &&
        error.code === "data_dir_locked" &&
        error.message.includes(`process ${child.pid}`) &&
        error.message.includes(home),
    );
    // Another part of the same directory (a devnet's gateway beside its nodes) is free.
    lockDataDir(home, "gateway").release();
  });

  it("is free again at once when the holder dies, even by SIGKILL (no stale lock)", async () => {
    const child = await holdInChild("relay");
    assert.throws(() => lockDataDir(home, "relay"), DataDirLockedError);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const lock = lockDataDir(home, "relay");
    lock.release();
  });

  it("refuses a second holder in the same process until the first lets go", () => {
    const first = lockDataDir(home, "same-process");
    assert.throws(() => lockDataDir(home, "same-process"), DataDirLockedError);
    first.release();
    first.release();
    lockDataDir(home, "same-process").release();
  });
});
