import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Identity } from "@opengateway/protocol";
import { base64url, generateIdentity, identityFromSeed } from "@opengateway/protocol";

/**
 * Loads a node's identity from its key file, creating one (readable by its owner only) on
 * first use. Passphrase encryption of key files arrives with the wallet (issue #5).
 */
export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { v?: unknown; seed?: unknown };
    if (parsed.v !== 1 || typeof parsed.seed !== "string") throw new Error(`${path} is not an OpenGateway key file`);
    return identityFromSeed(base64url.decode(parsed.seed));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const identity = generateIdentity();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify({ v: 1, id: identity.id, seed: base64url.encode(identity.seed) })}\n`, {
    mode: 0o600,
    flag: "wx",
  });
  await chmod(path, 0o600);
  return identity;
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
