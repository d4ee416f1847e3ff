import canonicalizeModule from "canonicalize";
import { utf8Encode } from "./bytes-encoding.js";
import { InvalidRequestError } from "./errors.js";

// canonicalize ships CommonJS with an ESM-style declaration; normalise the import once here.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a value: the same bytes on every
 * platform, so a signature made in a browser verifies on a full node.
 */
export function canonicalJson(value: unknown): string {
  assertCanonicalizable(value, 0);
  const text = canonicalize(value);
  if (text === undefined) throw new InvalidRequestError("value cannot be canonicalised");
  return text;
}

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}

const MAX_DEPTH = 64;

/** JCS has no encoding for these; refusing them beats signing something that re-parses differently. */
function assertCanonicalizable(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new InvalidRequestError("value nests too deeply");
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new InvalidRequestError("non-finite number cannot be signed");
      return;
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        for (const item of value) assertCanonicalizable(item, depth + 1);
        return;
      }
      for (const item of Object.values(value as Record<string, unknown>)) {
        if (item !== undefined) assertCanonicalizable(item, depth + 1);
      }
      return;
    default:
      throw new InvalidRequestError(`a ${typeof value} cannot be signed`);
  }
}
