import { base58, base64, base64urlnopad } from "@scure/base";

/** Unpadded base64url (RFC 4648 §5): ids, nonces and signatures travel in JSON and URLs. */
export const base64url = base64urlnopad;

export { base58, base64 };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Throws on invalid UTF-8 rather than substituting U+FFFD: network input must not be silently altered. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
