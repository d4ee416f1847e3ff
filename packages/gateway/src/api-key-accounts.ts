import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Identity } from "@opengateway/protocol";
import { equalBytes, identityFromSeed, utf8Encode } from "@opengateway/protocol";
import { OpenAIHttpError } from "@opengateway/sdk";

export interface ApiKeyAccountsOptions {
  /** The keys this gateway accepts. */
  keys: readonly string[];
  /** Secret the accounts' signing keys are derived from; keep it to keep the same accounts across restarts. */
  accountSecret: Uint8Array;
}

/**
 * Maps API keys to the account that pays for their requests. Each key's Ed25519 identity is
 * derived from the gateway's secret, so accounts are stable without storing a key per user,
 * and no API key's text is ever kept in memory beyond its hash.
 */
export class ApiKeyAccounts {
  readonly #accounts: Array<{ keyHash: Uint8Array; identity: Identity }>;

  constructor(options: ApiKeyAccountsOptions) {
    if (options.keys.length === 0) throw new Error("at least one API key is required");
    this.#accounts = options.keys.map((key) => ({
      keyHash: sha256(utf8Encode(key)),
      identity: identityFromSeed(hmac(sha256, options.accountSecret, utf8Encode(`opengateway/account/v1/${key}`))),
    }));
  }

  /** Every account behind the configured keys. */
  identities(): Identity[] {
    return this.#accounts.map((account) => account.identity);
  }

  /** Resolves an `Authorization` header to its account, or throws OpenAI's 401. */
  authenticate(authorization: string | undefined): Identity {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (match?.[1] === undefined) {
      throw new OpenAIHttpError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        { code: "missing_api_key" },
      );
    }
    const keyHash = sha256(utf8Encode(match[1]));
    // Compare every entry, so timing does not reveal how many keys precede a match.
    let found: Identity | undefined;
    for (const account of this.#accounts) if (equalBytes(account.keyHash, keyHash)) found = account.identity;
    if (found === undefined) throw new OpenAIHttpError(401, "Incorrect API key provided.", { code: "invalid_api_key" });
    return found;
  }
}
