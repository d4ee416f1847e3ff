/**
 * How the tab's identity seed is kept at rest, with WebCrypto only. By default it is encrypted
 * with a non-extractable AES-GCM key that lives in IndexedDB next to it: script on this origin
 * can use the key but nobody can read it out (a copied database is useless elsewhere). A
 * contributor may instead set a passphrase: PBKDF2-SHA-256 stretches it into the AES-GCM key,
 * and nothing that could decrypt the seed is stored at all.
 */

import { errorClass } from "@opengateway/protocol";

const AAD_PREFIX = "opengateway/identity-seed/1:";
const IV_BYTES = 12;
const SALT_BYTES = 16;
/** OWASP's 2023 figure for PBKDF2-HMAC-SHA-256. */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

export type SealedSeed =
  | { protection: "device-key"; identityId: string; iv: Uint8Array; ciphertext: Uint8Array }
  | {
      protection: "passphrase";
      identityId: string;
      iv: Uint8Array;
      ciphertext: Uint8Array;
      salt: Uint8Array;
      iterations: number;
    };

export type SeedProtection = SealedSeed["protection"];

export class PassphraseRequiredError extends errorClass(
  "PassphraseRequiredError",
  "passphrase_required",
  (message: string = "this identity is protected by a passphrase") => message,
) {}
export class WrongPassphraseError extends errorClass(
  "WrongPassphraseError",
  "wrong_passphrase",
  (message: string = "the passphrase does not open this identity") => message,
) {}
export class DeviceKeyMissingError extends errorClass(
  "DeviceKeyMissingError",
  "device_key_missing",
  (message: string = "the key that protects this identity is gone from this browser") => message,
) {}

/** A fresh AES-256-GCM key that can encrypt and decrypt but never be exported. */
export function createDeviceKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

export async function sealWithDeviceKey(seed: Uint8Array, identityId: string, key: CryptoKey): Promise<SealedSeed> {
  const iv = randomBytes(IV_BYTES);
  const ciphertext = await encrypt(key, iv, seed, identityId);
  return { protection: "device-key", identityId, iv, ciphertext };
}

export async function sealWithPassphrase(
  seed: Uint8Array,
  identityId: string,
  passphrase: string,
  options: { iterations?: number } = {},
): Promise<SealedSeed> {
  if (passphrase.length === 0) throw new WrongPassphraseError("a passphrase cannot be empty");
  const salt = randomBytes(SALT_BYTES);
  const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  const key = await passphraseKey(passphrase, salt, iterations);
  const iv = randomBytes(IV_BYTES);
  const ciphertext = await encrypt(key, iv, seed, identityId);
  return { protection: "passphrase", identityId, iv, ciphertext, salt, iterations };
}

/** Decrypts a sealed seed; the identity id is authenticated with it, so a swapped record fails. */
export async function openSealedSeed(
  sealed: SealedSeed,
  keys: { deviceKey?: CryptoKey; passphrase?: string },
): Promise<Uint8Array> {
  if (sealed.protection === "device-key") {
    if (keys.deviceKey === undefined) throw new DeviceKeyMissingError();
    return decrypt(keys.deviceKey, sealed.iv, sealed.ciphertext, sealed.identityId, () => new DeviceKeyMissingError());
  }
  if (keys.passphrase === undefined || keys.passphrase.length === 0) throw new PassphraseRequiredError();
  const key = await passphraseKey(keys.passphrase, sealed.salt, sealed.iterations);
  return decrypt(key, sealed.iv, sealed.ciphertext, sealed.identityId, () => new WrongPassphraseError());
}

async function passphraseKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase.normalize("NFC")), "PBKDF2", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: buffer(salt), iterations },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function encrypt(key: CryptoKey, iv: Uint8Array, plaintext: Uint8Array, identityId: string): Promise<Uint8Array> {
  const additionalData = new TextEncoder().encode(AAD_PREFIX + identityId);
  return new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: buffer(iv), additionalData }, key, buffer(plaintext)));
}

async function decrypt(
  key: CryptoKey,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  identityId: string,
  onFailure: () => Error,
): Promise<Uint8Array> {
  const additionalData = new TextEncoder().encode(AAD_PREFIX + identityId);
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: buffer(iv), additionalData }, key, buffer(ciphertext)),
    );
  } catch {
    // AES-GCM cannot tell a wrong key from a tampered record: both are "does not open".
    throw onFailure();
  }
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** WebCrypto wants an ArrayBuffer-backed view; copies keep SharedArrayBuffer-backed input out. */
function buffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
