import { join } from "node:path";
import { base64url } from "@opengateway/protocol";
import { loadOrCreateSecret } from "@opengateway/sdk";

/**
 * The passphrase a secret in the data directory is encrypted with: the operator's
 * (OPENGATEWAY_PASSPHRASE or OPENGATEWAY_PASSPHRASE_FILE), else a random one kept in `fallbackFile`
 * beside it. The fallback protects a secret file copied on its own (a backup, a support bundle, a
 * synced folder without the passphrase file); it does not protect against someone who can read
 * the whole data directory as this user.
 */
export async function atRestPassphrase(home: string, fallbackFile: string, passphrase: string | undefined): Promise<string> {
  return passphrase ?? base64url.encode(await loadOrCreateSecret(join(home, fallbackFile)));
}
