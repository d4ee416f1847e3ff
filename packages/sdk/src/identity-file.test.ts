import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadOrCreateIdentity, loadOrCreateSecret } from "./identity-file.js";

describe("key files", () => {
  const dir = mkdtempSync(join(tmpdir(), "opengateway-keys-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("creates an identity readable by its owner only, and loads the same one again", async () => {
    const path = join(dir, "nested", "node-key.json");
    const first = await loadOrCreateIdentity(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = await loadOrCreateIdentity(path);
    assert.equal(second.id, first.id);
  });

  it("refuses a file that is not a key file", async () => {
    const path = join(dir, "garbage.json");
    writeFileSync(path, '{"hello":"world"}');
    await assert.rejects(loadOrCreateIdentity(path), /not an OpenGateway key file/);
  });

  it("keeps a secret across loads", async () => {
    const path = join(dir, "secret");
    const first = await loadOrCreateSecret(path);
    assert.equal(first.length, 32);
    assert.deepEqual(await loadOrCreateSecret(path), first);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });
});
