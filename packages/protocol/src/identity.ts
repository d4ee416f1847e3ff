import { randomBytes } from "@noble/hashes/utils.js";
import { base58, equalBytes } from "./bytes-encoding.js";
import { VERIFIED_SIGNATURES_MAX_BYTES, VERIFIED_SIGNATURES_MAX_ENTRIES } from "./constants.js";
import { ed25519Backend } from "./ed25519-backend.js";
import { InvalidRequestError } from "./errors.js";
import { VerifiedSignatures } from "./verified-signatures.js";

/**
 * The identity string is the libp2p peer id of the same Ed25519 key (base58btc of an
 * identity multihash over the protobuf-encoded public key), so a provider's identity
 * and the peer id a client dialled are one and the same string.
 */
const PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20);

export type IdentityId = string;

export interface PublicIdentity {
  readonly id: IdentityId;
  readonly publicKey: Uint8Array;
}

export interface Identity extends PublicIdentity {
  /** The 32-byte RFC 8032 secret seed. */
  readonly seed: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** Signatures this process already verified or made (see VerifiedSignatures); process-wide like the backend. */
const verifiedSignatures = new VerifiedSignatures({
  maxEntries: VERIFIED_SIGNATURES_MAX_ENTRIES,
  maxBytes: VERIFIED_SIGNATURES_MAX_BYTES,
});

export function identityIdFromPublicKey(publicKey: Uint8Array): IdentityId {
  if (publicKey.length !== 32) throw new InvalidRequestError("an Ed25519 public key has 32 bytes");
  const bytes = new Uint8Array(PEER_ID_PREFIX.length + 32);
  bytes.set(PEER_ID_PREFIX, 0);
  bytes.set(publicKey, PEER_ID_PREFIX.length);
  return base58.encode(bytes);
}

export function publicKeyFromIdentityId(id: IdentityId): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(id);
  } catch {
    throw new InvalidRequestError(`'${id.slice(0, 64)}' is not an identity id`);
  }
  if (bytes.length !== PEER_ID_PREFIX.length + 32 || !equalBytes(bytes.subarray(0, PEER_ID_PREFIX.length), PEER_ID_PREFIX)) {
    throw new InvalidRequestError(`'${id.slice(0, 64)}' is not an Ed25519 identity id`);
  }
  return bytes.slice(PEER_ID_PREFIX.length);
}

export function isIdentityId(value: string): boolean {
  try {
    publicKeyFromIdentityId(value);
    return true;
  } catch {
    return false;
  }
}

export function identityFromSeed(seed: Uint8Array): Identity {
  if (seed.length !== 32) throw new InvalidRequestError("an Ed25519 seed has 32 bytes");
  const secret = Uint8Array.from(seed);
  const publicKey = ed25519Backend().publicKey(secret);
  return {
    id: identityIdFromPublicKey(publicKey),
    publicKey,
    seed: secret,
    sign: (message) => {
      const signature = ed25519Backend().sign(secret, message);
      // What this process signs, it need not verify again (its own blocks, its receipts coming back).
      verifiedSignatures.add(publicKey, message, signature);
      return signature;
    },
  };
}

export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(32));
}

/**
 * Strict RFC 8032 verification (not ZIP-215): non-canonical encodings are refused,
 * so one message cannot carry two different valid signatures.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (verifiedSignatures.has(publicKey, message, signature)) return true;
  const valid = ed25519Backend().verify(publicKey, message, signature);
  if (valid) verifiedSignatures.add(publicKey, message, signature);
  return valid;
}
