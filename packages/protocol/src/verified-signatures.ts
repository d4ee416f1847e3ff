import { equalBytes } from "./bytes-encoding.js";

/**
 * A bounded memory of signatures already known to be valid: the same signed bytes reach a peer
 * several times (a receipt on arrival and again inside the settlement block that carries it; a
 * block this peer signed when it is checked and again when it is added; a gossiped block twice),
 * and an Ed25519 verification costs about 60–150 µs where a byte comparison costs nothing.
 * Verification is a pure function of (public key, message, signature), so a hit on all three,
 * compared byte for byte, is exactly as good as verifying again. Only valid signatures are kept,
 * so an attacker filling it with junk only evicts entries, never creates a false "valid".
 */
export class VerifiedSignatures {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, { readonly publicKey: Uint8Array; readonly message: Uint8Array }>();
  #bytes = 0;

  /** Bounded by entries and by the bytes of the messages kept; the oldest go first. */
  constructor(options: { maxEntries: number; maxBytes: number }) {
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes;
  }

  has(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const entry = this.#entries.get(keyOf(signature));
    return entry !== undefined && equalBytes(entry.publicKey, publicKey) && equalBytes(entry.message, message);
  }

  /** Records a signature that verified (or that this process made itself). */
  add(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
    if (message.length > this.#maxBytes / 16) return;
    const key = keyOf(signature);
    this.#forget(key);
    // Copies: the caller's buffers may be reused.
    this.#entries.set(key, { publicKey: publicKey.slice(), message: message.slice() });
    this.#bytes += message.length;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#forget(oldest.value);
    }
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.message.length;
  }

  get size(): number {
    return this.#entries.size;
  }
}

function keyOf(signature: Uint8Array): string {
  return String.fromCharCode(...signature);
}
