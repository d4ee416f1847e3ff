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
    seed = openSealed(parsed as Sealed, options.passphrase, parsed.id);
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
    // The id is authenticated too: a file cannot be relabelled with someone else's id.
    file = { v: 2, id: identity.id, ...seal(identity.seed, options.passphrase, identity.id) };
  } else {
    file = { v: 1, id: identity.id, seed: base64url.encode(identity.seed) };
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: options.overwrite ? "w" : "wx" });
  await chmod(path, 0o600);
}

/** Encrypted bytes and how to derive their key from a passphrase. */
interface Sealed {
  kdf: { name: "scrypt"; N: number; r: number; p: number; salt: string };
  cipher: { name: "aes-256-gcm"; iv: string; ciphertext: string; tag: string };
}

/** Encrypts bytes under a passphrase (scrypt → AES-256-GCM); `label` is authenticated with them. */
function seal(plain: Uint8Array, passphrase: string, label: string): Sealed {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = scryptSync(passphrase, salt, 32, SCRYPT);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(label));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return {
    kdf: { name: "scrypt", N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: base64url.encode(salt) },
    cipher: {
      name: "aes-256-gcm",
      iv: base64url.encode(iv),
      ciphertext: base64url.encode(ciphertext),
      tag: base64url.encode(cipher.getAuthTag()),
    },
  };
}

function openSealed(sealed: Sealed, passphrase: string, label: string): Uint8Array {
  const key = scryptSync(passphrase, base64url.decode(sealed.kdf.salt), 32, {
    N: sealed.kdf.N,
    r: sealed.kdf.r,
    p: sealed.kdf.p,
    maxmem: SCRYPT.maxmem,
  });
  const decipher = createDecipheriv("aes-256-gcm", key, base64url.decode(sealed.cipher.iv));
  decipher.setAAD(Buffer.from(label));
  decipher.setAuthTag(base64url.decode(sealed.cipher.tag));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(base64url.decode(sealed.cipher.ciphertext)), decipher.final()]));
  } catch {
    throw new KeyFileError("wrong passphrase (or a damaged key file)");
  }
}

const SECRET_LABEL = "opengateway-secret";

/**
 * A 32-byte secret kept in a file readable by its owner only, created on first use. With a
 * passphrase it is kept encrypted (scrypt → AES-256-GCM), and a plaintext file from before is
 * rewritten encrypted (same secret); `onMigrated` hears of it.
 */
export async function loadOrCreateSecret(
  path: string,
  options: IdentityFileOptions & { onMigrated?: (path: string) => void } = {},
): Promise<Uint8Array> {
  let text: string | undefined;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (text !== undefined) {
    if (!text.startsWith("{")) {
      const secret = base64url.decode(text);
      if (options.passphrase !== undefined) {
        await writeSecretFile(`${path}.tmp`, secret, options.passphrase, "w");
        await rename(`${path}.tmp`, path);
        options.onMigrated?.(path);
      }
      return secret;
    }
    const sealed = JSON.parse(text) as Partial<Sealed> & { v?: number };
    if (sealed.v !== 2 || sealed.kdf?.name !== "scrypt" || sealed.cipher?.name !== "aes-256-gcm") {
      throw new KeyFileError(`${path} is not an OpenGateway secret file`);
    }
    if (options.passphrase === undefined) throw new KeyFileError(`${path} is encrypted: a passphrase is needed`);
    return openSealed(sealed as Sealed, options.passphrase, SECRET_LABEL);
  }
  const secret = globalThis.crypto.getRandomValues(new Uint8Array(32));
  await writeSecretFile(path, secret, options.passphrase, "wx");
  return secret;
}

/** Whether the secret file at `path` is encrypted. */
export async function isEncryptedSecretFile(path: string): Promise<boolean> {
  return (await readFile(path, "utf8")).trimStart().startsWith("{");
}

async function writeSecretFile(
  path: string,
  secret: Uint8Array,
  passphrase: string | undefined,
  flag: "w" | "wx",
): Promise<void> {
  const text =
    passphrase === undefined ? base64url.encode(secret) : JSON.stringify({ v: 2, ...seal(secret, passphrase, SECRET_LABEL) });
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${text}\n`, { mode: 0o600, flag });
  await chmod(path, 0o600);
}
