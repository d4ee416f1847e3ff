import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Identity } from "@opengateway/protocol";
import { base64url, errorClass, generateIdentity, identityFromSeed } from "@opengateway/protocol";

export interface IdentityFileOptions {
  /** Encrypts the key (scrypt → AES-256-GCM). Without it the file is plain, readable by its owner only. */
  passphrase?: string;
}

/** scrypt cost: 2^15 × 8 × 128 B = 32 MiB and ~0.1 s per unlock on this class of machine. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

interface KeyFile {
  v: 1 | 2;
  id: string;
  seed?: string;
  kdf?: { name: "scrypt"; N: number; r: number; p: number; salt: string };
  cipher?: { name: "aes-256-gcm"; iv: string; ciphertext: string; tag: string };
}

export class KeyFileError extends errorClass("KeyFileError", "invalid_key_file", (message: string) => message) {}

/**
 * Loads an identity from its key file, creating one (readable by its owner only) on first use.
 * With a passphrase, a plaintext file written before keys were encrypted is rewritten encrypted
 * (same identity); `onMigrated` hears of it.
 */
export async function loadOrCreateIdentity(
  path: string,
  options: IdentityFileOptions & { onMigrated?: (path: string) => void } = {},
): Promise<Identity> {
  try {
    const identity = await readIdentityFile(path, options);
    if (options.passphrase !== undefined && !(await isEncryptedKeyFile(path))) {
      // Written beside it and renamed over it: a crash mid-way leaves the old file, never half a key.
      await writeIdentityFile(`${path}.tmp`, identity, { passphrase: options.passphrase, overwrite: true });
      await rename(`${path}.tmp`, path);
      options.onMigrated?.(path);
    }
    return identity;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const identity = generateIdentity();
  await writeIdentityFile(path, identity, { ...options, overwrite: false });
  return identity;
}

/** Whether the key file at `path` is encrypted (v2); plaintext (v1) files still load. */
export async function isEncryptedKeyFile(path: string): Promise<boolean> {
  return (JSON.parse(await readFile(path, "utf8")) as KeyFile).v === 2;
}

export async function readIdentityFile(path: string, options: IdentityFileOptions = {}): Promise<Identity> {
  const parsed = JSON.parse(await readFile(path, "utf8")) as KeyFile;
  let seed: Uint8Array;
  if (parsed.v === 1 && typeof parsed.seed === "string") {
    seed = base64url.decode(parsed.seed);
  } else if (parsed.v === 2 && parsed.kdf?.name === "scrypt" && parsed.cipher?.name === "aes-256-gcm") {
    if (options.passphrase === undefined) throw new KeyFileError(`${path} is encrypted: a passphrase is needed`);
    const key = scryptSync(options.passphrase, base64url.decode(parsed.kdf.salt), 32, {
      N: parsed.kdf.N,
      r: parsed.kdf.r,
      p: parsed.kdf.p,
      maxmem: SCRYPT.maxmem,
    });
    const decipher = createDecipheriv("aes-256-gcm", key, base64url.decode(parsed.cipher.iv));
    decipher.setAAD(Buffer.from(parsed.id));
    decipher.setAuthTag(base64url.decode(parsed.cipher.tag));
    try {
      seed = new Uint8Array(Buffer.concat([decipher.update(base64url.decode(parsed.cipher.ciphertext)), decipher.final()]));
    } catch {
      throw new KeyFileError("wrong passphrase (or a damaged key file)");
    }
  } else {
    throw new KeyFileError(`${path} is not an OpenGateway key file`);
  }
  const identity = identityFromSeed(seed);
  if (identity.id !== parsed.id) throw new KeyFileError(`${path} names ${parsed.id} but holds the key of ${identity.id}`);
  return identity;
}

/** Writes a key file readable by its owner only; encrypted when a passphrase is given. */
export async function writeIdentityFile(
  path: string,
  identity: Identity,
  options: IdentityFileOptions & { overwrite?: boolean } = {},
): Promise<void> {
  let file: KeyFile;
  if (options.passphrase !== undefined) {
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const key = scryptSync(options.passphrase, salt, 32, SCRYPT);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    // The id is authenticated too: a file cannot be relabelled with someone else's id.
    cipher.setAAD(Buffer.from(identity.id));
    const ciphertext = Buffer.concat([cipher.update(identity.seed), cipher.final()]);
    file = {
      v: 2,
      id: identity.id,
      kdf: { name: "scrypt", N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: base64url.encode(salt) },
      cipher: {
        name: "aes-256-gcm",
        iv: base64url.encode(iv),
        ciphertext: base64url.encode(ciphertext),
        tag: base64url.encode(cipher.getAuthTag()),
      },
    };
  } else {
    file = { v: 1, id: identity.id, seed: base64url.encode(identity.seed) };
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: options.overwrite ? "w" : "wx" });
  await chmod(path, 0o600);
}

/** A 32-byte secret kept in a file readable by its owner only, created on first use. */
export async function loadOrCreateSecret(path: string): Promise<Uint8Array> {
  try {
    return base64url.decode((await readFile(path, "utf8")).trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = globalThis.crypto.getRandomValues(new Uint8Array(32));
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${base64url.encode(secret)}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}
