import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, canonicalBytes, utf8Encode } from "@opengateway/protocol";

const FINGERPRINT_DOMAIN = utf8Encode("opengateway:machine-fingerprint:v1\n");

/**
 * base64url SHA-256 of the canonical JSON of a machine's stable facts. Only this hash travels
 * in an open block: the raw facts never leave the machine and are never stored.
 */
export function machineFingerprintHash(facts: Readonly<Record<string, string>>): string {
  const body = canonicalBytes(facts);
  const input = new Uint8Array(FINGERPRINT_DOMAIN.length + body.length);
  input.set(FINGERPRINT_DOMAIN, 0);
  input.set(body, FINGERPRINT_DOMAIN.length);
  return base64url.encode(sha256(input));
}
