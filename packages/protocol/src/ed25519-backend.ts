import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";

// noble/ed25519 v3 needs a synchronous SHA-512 for its sync API.
ed.hashes.sha512 = sha512;

/**
 * The Ed25519 primitives identities use. The portable default is @noble/ed25519 (audited,
 * runs everywhere); a runtime with native Ed25519 may install a faster backend with the same
 * acceptance rules (strict RFC 8032: canonical encodings only, s < L).
 */
export interface Ed25519Backend {
  readonly name: string;
  publicKey(seed: Uint8Array): Uint8Array;
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** Never throws: malformed input is simply not a valid signature. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export const nobleEd25519Backend: Ed25519Backend = {
  name: "@noble/ed25519",
  publicKey: (seed) => ed.getPublicKey(seed),
  sign: (seed, message) => ed.sign(message, seed),
  verify: (publicKey, message, signature) => {
    try {
      return ed.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};

let activeBackend: Ed25519Backend = nobleEd25519Backend;

/** Installs a process-wide backend (done once by a runtime's entry point). */
export function useEd25519Backend(backend: Ed25519Backend): void {
  activeBackend = backend;
}

export function ed25519Backend(): Ed25519Backend {
  return activeBackend;
}

/** 2^255 - 19, little-endian: an encoded point's y coordinate must be below it to be canonical. */
const FIELD_PRIME_LE = Uint8Array.from([
  0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
]);

/** True when a 32-byte point encoding has y < p (the sign bit is ignored), as RFC 8032 requires. */
export function isCanonicalPointEncoding(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  for (let i = 31; i >= 0; i--) {
    const byte = i === 31 ? (bytes[i] ?? 0) & 0x7f : (bytes[i] ?? 0);
    const prime = FIELD_PRIME_LE[i] ?? 0;
    if (byte < prime) return true;
    if (byte > prime) return false;
  }
  return false; // equal to p
}
