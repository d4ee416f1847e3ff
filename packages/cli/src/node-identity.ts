import { join } from "node:path";
import type { Identity } from "@opengateway/protocol";
import { base64url } from "@opengateway/protocol";
import { isEncryptedKeyFile, loadOrCreateIdentity, loadOrCreateSecret } from "@opengateway/sdk";
import type { Logger } from "pino";

/** Where a node keeps its identity unless `--key-file` says otherwise. */
export const NODE_KEY_FILE = "node-key.json";
/**
 * The passphrase of unattended nodes: a random secret beside the key, used when neither
 * OPENGATEWAY_PASSPHRASE nor OPENGATEWAY_PASSPHRASE_FILE is set. It protects a key file copied
 * on its own (a backup, a support bundle, a synced folder without the secret); it does not
 * protect against someone who can read the whole data directory as this user.
 */
export const NODE_KEY_PASSPHRASE_FILE = "node-key.passphrase";

export interface NodeIdentityOptions {
  home: string;
  keyFile?: string;
  /** From the environment or a file the CLI entry read; never a flag. */
  passphrase?: string;
}

/**
 * The node's identity, the same on every run: its key file in the data directory, encrypted at
 * rest (scrypt → AES-256-GCM). An explicit `--key-file` without a passphrase stays as it was
 * (plaintext files still load), with a warning.
 */
export async function loadNodeIdentity(options: NodeIdentityOptions, logger: Logger): Promise<Identity> {
  const keyFile = options.keyFile ?? join(options.home, NODE_KEY_FILE);
  const passphrase = await nodeKeyPassphrase(options);
  const identity = await loadOrCreateIdentity(keyFile, {
    passphrase,
    onMigrated: (path) => logger.warn({ keyFile: path }, "the plaintext key file was rewritten encrypted"),
  });
  if (!(await isEncryptedKeyFile(keyFile))) {
    logger.warn({ keyFile }, "the node's key file is not encrypted: set OPENGATEWAY_PASSPHRASE or OPENGATEWAY_PASSPHRASE_FILE");
  }
  return identity;
}

/** The passphrase the node's key file is encrypted with: the given one, or for the default key file the secret beside it. */
export async function nodeKeyPassphrase(options: NodeIdentityOptions): Promise<string | undefined> {
  if (options.passphrase !== undefined || options.keyFile !== undefined) return options.passphrase;
  return base64url.encode(await loadOrCreateSecret(join(options.home, NODE_KEY_PASSPHRASE_FILE)));
}
