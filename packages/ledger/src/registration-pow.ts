import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, utf8Encode } from "@opengateway/protocol";

/** Exactly 32 bytes, so the public key starts on a fresh half of the first SHA-256 block. */
const POW_DOMAIN = utf8Encode("opengateway:registration-pow:v1\n");

export interface RegistrationPowInput {
  /** The registering identity's 32-byte Ed25519 public key: the work cannot be reused for another key. */
  readonly publicKey: Uint8Array;
  /** base64url SHA-256 machine fingerprint hash (see machineFingerprintHash). */
  readonly fingerprintHash: string;
  readonly difficultyBits: number;
}

function powPrefix(publicKey: Uint8Array, fingerprintHash: string): Uint8Array {
  if (publicKey.length !== 32) throw new RangeError("an Ed25519 public key has 32 bytes");
  const fingerprint = base64url.decode(fingerprintHash);
  if (fingerprint.length !== 32) throw new RangeError("a fingerprint hash has 32 bytes");
  const prefix = new Uint8Array(POW_DOMAIN.length + 64);
  prefix.set(POW_DOMAIN, 0);
  prefix.set(publicKey, POW_DOMAIN.length);
  prefix.set(fingerprint, POW_DOMAIN.length + 32);
  return prefix;
}

/** The nonce as 8 big-endian bytes (nonces are safe integers). */
function writeNonce(target: Uint8Array, offset: number, nonce: number): void {
  const high = Math.floor(nonce / 0x1_0000_0000);
  const low = nonce >>> 0;
  target[offset] = high >>> 24;
  target[offset + 1] = (high >>> 16) & 0xff;
  target[offset + 2] = (high >>> 8) & 0xff;
  target[offset + 3] = high & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = (low >>> 16) & 0xff;
  target[offset + 6] = (low >>> 8) & 0xff;
  target[offset + 7] = low & 0xff;
}

export function leadingZeroBits(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** SHA-256(domain ‖ publicKey ‖ fingerprintHash ‖ nonce as u64 big-endian). */
export function registrationPowDigest(publicKey: Uint8Array, fingerprintHash: string, nonce: number): Uint8Array {
  const prefix = powPrefix(publicKey, fingerprintHash);
  const input = new Uint8Array(prefix.length + 8);
  input.set(prefix, 0);
  writeNonce(input, prefix.length, nonce);
  return sha256(input);
}

function assertValid(input: RegistrationPowInput): void {
  if (!Number.isInteger(input.difficultyBits) || input.difficultyBits < 0 || input.difficultyBits > 64) {
    throw new RangeError("difficultyBits must be an integer from 0 to 64");
  }
}

export function verifyRegistrationPow(input: RegistrationPowInput & { readonly nonce: number }): boolean {
  assertValid(input);
  if (!Number.isSafeInteger(input.nonce) || input.nonce < 0) return false;
  let digest: Uint8Array;
  try {
    digest = registrationPowDigest(input.publicKey, input.fingerprintHash, input.nonce);
  } catch {
    return false;
  }
  return leadingZeroBits(digest) >= input.difficultyBits;
}

/** How long one slice of work runs before yielding: keeps a browser tab and a node's event loop responsive. */
const SLICE_MS = 15;

/**
 * Finds the smallest nonce whose digest has at least `difficultyBits` leading zero bits.
 * Expected work is 2^difficultyBits hashes; the search yields to the event loop every few
 * milliseconds and stops with the signal's reason when it aborts.
 */
export async function solveRegistrationPow(
  input: RegistrationPowInput,
  options: { signal?: AbortSignal; onProgress?: (hashes: number) => void } = {},
): Promise<number> {
  assertValid(input);
  const { signal, onProgress } = options;
  const base = sha256.create().update(powPrefix(input.publicKey, input.fingerprintHash));
  const nonceBytes = new Uint8Array(8);
  let nonce = 0;
  for (;;) {
    signal?.throwIfAborted();
    const sliceEnd = Date.now() + SLICE_MS;
    do {
      // 1,024 hashes between clock reads: reading the clock per hash would cost more than hashing.
      for (let i = 0; i < 1024; i++, nonce++) {
        writeNonce(nonceBytes, 0, nonce);
        if (leadingZeroBits(base.clone().update(nonceBytes).digest()) >= input.difficultyBits) return nonce;
      }
      if (nonce >= Number.MAX_SAFE_INTEGER - 1024) throw new RangeError("nonce space exhausted");
    } while (Date.now() < sliceEnd);
    onProgress?.(nonce);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
}
