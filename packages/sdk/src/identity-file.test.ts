import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { base64url } from "@opengateway/protocol";
import {
  isEncryptedKeyFile,
  isEncryptedSecretFile,
  KeyFileError,
  loadOrCreateIdentity,
  loadOrCreateSecret,
  readIdentityFile,
} from "./identity-file.js";

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

  it("encrypts a key under a passphrase and refuses a wrong one", async () => {
    const path = join(dir, "encrypted.json");
    const first = await loadOrCreateIdentity(path, { passphrase: "correct horse" });
    const text = readFileSync(path, "utf8");
    assert.ok(!text.includes(Buffer.from(first.seed).toString("base64url")), "the seed is not in the file");
    assert.equal(JSON.parse(text).cipher.name, "aes-256-gcm");
    assert.equal((await readIdentityFile(path, { passphrase: "correct horse" })).id, first.id);
    await assert.rejects(readIdentityFile(path, { passphrase: "wrong" }), KeyFileError);
    await assert.rejects(readIdentityFile(path), /passphrase is needed/);
    const tampered = JSON.parse(text);
    tampered.id = (await loadOrCreateIdentity(join(dir, "other.json"))).id;
    writeFileSync(path, JSON.stringify(tampered));
    await assert.rejects(readIdentityFile(path, { passphrase: "correct horse" }), KeyFileError);
  });

  it("rewrites a plaintext key file encrypted, same identity, once a passphrase is given", async () => {
    const path = join(dir, "old-plain.json");
    const plain = await loadOrCreateIdentity(path);
    assert.equal(await isEncryptedKeyFile(path), false);
    const migrated: string[] = [];
    const again = await loadOrCreateIdentity(path, { passphrase: "pw", onMigrated: (file) => migrated.push(file) });
    assert.equal(again.id, plain.id);
    assert.deepEqual(migrated, [path]);
    assert.equal(await isEncryptedKeyFile(path), true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal((await readIdentityFile(path, { passphrase: "pw" })).id, plain.id);
    await assert.rejects(readIdentityFile(path), /passphrase is needed/);
  });

  it("keeps a secret across loads", async () => {
    const path = join(dir, "secret");
    const first = await loadOrCreateSecret(path);
    assert.equal(first.length, 32);
    assert.deepEqual(await loadOrCreateSecret(path), first);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it("keeps a secret encrypted under a passphrase, and rewrites a plaintext one encrypted (issue 14)", async () => {
    const path = join(dir, "encrypted-secret");
    const secret = await loadOrCreateSecret(path, { passphrase: "operator pw" });
    assert.ok(await isEncryptedSecretFile(path));
    assert.ok(!readFileSync(path, "utf8").includes(base64url.encode(secret)), "the secret is not in the file");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateSecret(path, { passphrase: "operator pw" }), secret);
    await assert.rejects(loadOrCreateSecret(path, { passphrase: "wrong" }), /wrong passphrase/);
    await assert.rejects(loadOrCreateSecret(path), /passphrase is needed/);

    const legacy = join(dir, "plaintext-secret");
    const old = await loadOrCreateSecret(legacy);
    assert.ok(!(await isEncryptedSecretFile(legacy)));
    const migrated: string[] = [];
    assert.deepEqual(await loadOrCreateSecret(legacy, { passphrase: "pw", onMigrated: (at) => migrated.push(at) }), old);
    assert.deepEqual(migrated, [legacy]);
    assert.ok(await isEncryptedSecretFile(legacy));
    assert.deepEqual(await loadOrCreateSecret(legacy, { passphrase: "pw" }), old, "the same secret, now encrypted");
  });
});
