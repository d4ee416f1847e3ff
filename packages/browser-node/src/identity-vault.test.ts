import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createDeviceKey,
  DeviceKeyMissingError,
  openSealedSeed,
  PassphraseRequiredError,
  sealWithDeviceKey,
  sealWithPassphrase,
  WrongPassphraseError,
} from "./identity-vault.js";

const seed = Uint8Array.from({ length: 32 }, (_, index) => index);
const id = "12D3KooWTestIdentity";
/** Real strength is 600,000 iterations; the round trip is the same with fewer. */
const fast = { iterations: 1_000 };

describe("identity vault (WebCrypto)", () => {
  it("seals the seed with a non-extractable device key and opens it again", async () => {
    const key = await createDeviceKey();
    assert.equal(key.extractable, false);
    await assert.rejects(crypto.subtle.exportKey("raw", key));
    const sealed = await sealWithDeviceKey(seed, id, key);
    assert.equal(sealed.protection, "device-key");
    assert.notDeepEqual(sealed.ciphertext.subarray(0, 32), seed);
    assert.deepEqual(await openSealedSeed(sealed, { deviceKey: key }), seed);
    await assert.rejects(openSealedSeed(sealed, {}), DeviceKeyMissingError);
    await assert.rejects(openSealedSeed(sealed, { deviceKey: await createDeviceKey() }), DeviceKeyMissingError);
  });

  it("seals with a passphrase (PBKDF2 → AES-GCM) and refuses a missing or wrong one", async () => {
    const sealed = await sealWithPassphrase(seed, id, "correct horse", fast);
    assert.equal(sealed.protection, "passphrase");
    assert.deepEqual(await openSealedSeed(sealed, { passphrase: "correct horse" }), seed);
    await assert.rejects(openSealedSeed(sealed, {}), PassphraseRequiredError);
    await assert.rejects(openSealedSeed(sealed, { passphrase: "wrong horse" }), WrongPassphraseError);
  });

  it("binds the sealed seed to its identity id: a record moved to another id does not open", async () => {
    const sealed = await sealWithPassphrase(seed, id, "pass", fast);
    await assert.rejects(
      openSealedSeed({ ...sealed, identityId: "12D3KooWOther" }, { passphrase: "pass" }),
      WrongPassphraseError,
    );
  });
});
