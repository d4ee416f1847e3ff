import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, utf8Encode } from "./bytes-encoding.js";
import { canonicalBytes } from "./canonical-json.js";
import type { Identity, IdentityId } from "./identity.js";
import { publicKeyFromIdentityId, verifySignature } from "./identity.js";

/** Each signed kind gets its own domain, so a signature over a receipt can never pass as one over a request. */
export type SignatureDomain = "inference-request" | "inference-receipt" | "capability-advert";

function signingBytes(domain: SignatureDomain, unsigned: object): Uint8Array {
  const prefix = utf8Encode(`opengateway:${domain}:v1\n`);
  const body = canonicalBytes(unsigned);
  const bytes = new Uint8Array(prefix.length + body.length);
  bytes.set(prefix, 0);
  bytes.set(body, prefix.length);
  return bytes;
}

export type Signed<T> = T & { readonly sig: string };

export function signEnvelope<T extends object>(domain: SignatureDomain, unsigned: T, signer: Identity): Signed<T> {
  const sig = base64url.encode(signer.sign(signingBytes(domain, unsigned)));
  return { ...unsigned, sig };
}

/** True when `sig` is the signer's signature over every other field of the envelope. */
export function verifyEnvelope(domain: SignatureDomain, envelope: Signed<object>, signer: IdentityId): boolean {
  const { sig, ...unsigned } = envelope;
  let signature: Uint8Array;
  let publicKey: Uint8Array;
  try {
    signature = base64url.decode(sig);
    publicKey = publicKeyFromIdentityId(signer);
  } catch {
    return false;
  }
  return verifySignature(publicKey, signingBytes(domain, unsigned), signature);
}

/** Content hash of a whole signed envelope, signature included: what receipts point at. */
export function envelopeHash(envelope: Signed<object>): string {
  return base64url.encode(sha256(canonicalBytes(envelope)));
}
