import { argon2id, argon2idAsync } from "@noble/hashes/argon2.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, utf8Encode } from "@opengateway/protocol";

/** Exactly 32 bytes, so the public key starts on a fresh half of the first SHA-256 block. */
const POW_DOMAIN = utf8Encode("opengateway:registration-pow:v1\n");
/** Argon2id's salt: 16 bytes, the size libsodium's crypto_pwhash takes, so native solvers can be measured. */
const POW_V2_SALT = utf8Encode("opengateway:pow2");
/** Argon2id needs at least 8 KiB per lane; more than 4 GiB is no registration puzzle. */
const MIN_MEMORY_KIB = 8;
const MAX_MEMORY_KIB = 4 * 1024 * 1024;

export interface RegistrationPowInput {
  /** The registering identity's 32-byte Ed25519 public key: the work cannot be reused for another key. */
  readonly publicKey: Uint8Array;
  /** base64url SHA-256 machine fingerprint hash (see machineFingerprintHash). */
  readonly fingerprintHash: string;
  readonly difficultyBits: number;
  /**
   * The network's `registrationMemoryKiB`: 0 (or absent) for the SHA-256 puzzle (v1), else each
   * try is one Argon2id (t = 1, p = 1) over this much memory (v2, memory-hard; see README).
   */
  readonly memoryKiB?: number;
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

function powInput(publicKey: Uint8Array, fingerprintHash: string, nonce: number): Uint8Array {
  const prefix = powPrefix(publicKey, fingerprintHash);
  const input = new Uint8Array(prefix.length + 8);
  input.set(prefix, 0);
  writeNonce(input, prefix.length, nonce);
  return input;
}

const argonOptions = (memoryKiB: number) => ({ t: 1, m: memoryKiB, p: 1, dkLen: 32 });

/**
 * x = domain ‖ publicKey ‖ fingerprintHash ‖ nonce as u64 big-endian; the digest is SHA-256(x)
 * (memoryKiB 0) or Argon2id v1.3 (x, salt "opengateway:pow2", t 1, m memoryKiB, p 1, 32 bytes).
 */
export function registrationPowDigest(publicKey: Uint8Array, fingerprintHash: string, nonce: number, memoryKiB = 0): Uint8Array {
  const input = powInput(publicKey, fingerprintHash, nonce);
  return memoryKiB === 0 ? sha256(input) : argon2id(input, POW_V2_SALT, argonOptions(memoryKiB));
}

function assertValid(input: RegistrationPowInput): void {
  if (!Number.isInteger(input.difficultyBits) || input.difficultyBits < 0 || input.difficultyBits > 64) {
    throw new RangeError("difficultyBits must be an integer from 0 to 64");
  }
  const memory = input.memoryKiB ?? 0;
  if (!Number.isInteger(memory) || (memory !== 0 && (memory < MIN_MEMORY_KIB || memory > MAX_MEMORY_KIB))) {
    throw new RangeError(`memoryKiB must be 0 or an integer from ${MIN_MEMORY_KIB} to ${MAX_MEMORY_KIB}`);
  }
}

export function verifyRegistrationPow(input: RegistrationPowInput & { readonly nonce: number }): boolean {
  assertValid(input);
  return registrationPowBits(input) >= input.difficultyBits;
}

/** The leading zero bits this nonce's digest reaches (what a busier epoch may ask more of), or −1 for bad input. */
export function registrationPowBits(input: Omit<RegistrationPowInput, "difficultyBits"> & { readonly nonce: number }): number {
  if (!Number.isSafeInteger(input.nonce) || input.nonce < 0) return -1;
  try {
    return leadingZeroBits(registrationPowDigest(input.publicKey, input.fingerprintHash, input.nonce, input.memoryKiB ?? 0));
  } catch {
    return -1;
  }
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
  if ((input.memoryKiB ?? 0) > 0) return solveMemoryHard(input, options);
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

/** Above this, one Argon2id try takes long enough (≈30 ms in JS) to yield inside it rather than between tries. */
const ASYNC_MEMORY_KIB = 4096;

/** The Argon2id puzzle: one memory-hard try per nonce, smallest solution first, yielding as the SHA-256 one does. */
async function solveMemoryHard(
  input: RegistrationPowInput,
  options: { signal?: AbortSignal; onProgress?: (hashes: number) => void },
): Promise<number> {
  const memoryKiB = input.memoryKiB as number;
  const opts = argonOptions(memoryKiB);
  for (let nonce = 0; nonce < Number.MAX_SAFE_INTEGER; ) {
    options.signal?.throwIfAborted();
    const sliceEnd = Date.now() + SLICE_MS;
    do {
      const bytes = powInput(input.publicKey, input.fingerprintHash, nonce);
      const digest =
        memoryKiB >= ASYNC_MEMORY_KIB
          ? await argon2idAsync(bytes, POW_V2_SALT, { ...opts, asyncTick: SLICE_MS })
          : argon2id(bytes, POW_V2_SALT, opts);
      if (leadingZeroBits(digest) >= input.difficultyBits) return nonce;
      nonce++;
    } while (Date.now() < sliceEnd);
    options.onProgress?.(nonce);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
  throw new RangeError("nonce space exhausted");
}
