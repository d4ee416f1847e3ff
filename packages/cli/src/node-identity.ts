import { join } from "node:path";
import type { Identity } from "@opengateway/protocol";
import { isEncryptedKeyFile, loadOrCreateIdentity } from "@opengateway/sdk";
import type { Logger } from "pino";
import { atRestPassphrase } from "./at-rest-passphrase.js";

/** Where a node keeps its identity unless `--key-file` says otherwise. */
export const NODE_KEY_FILE = "node-key.json";
/** The passphrase of unattended nodes (see `atRestPassphrase`). */
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
  if (options.keyFile !== undefined) return options.passphrase;
  return await atRestPassphrase(options.home, NODE_KEY_PASSPHRASE_FILE, options.passphrase);
}
