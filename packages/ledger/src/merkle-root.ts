import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, canonicalBytes } from "@opengateway/protocol";
import type { AccountHead } from "./ledger-state.js";

/**
 * RFC 6962 (Certificate Transparency) Merkle Tree Hash, SHA-256:
 *   MTH({})      = SHA-256()
 *   MTH({d})     = SHA-256(0x00 ‖ d)
 *   MTH(D[0:n])  = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])), k = largest power of two < n
 * The 0x00/0x01 prefixes keep a leaf from ever passing as an inner node.
 */
export function merkleTreeHash(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  return subtreeHash(leaves, 0, leaves.length);
}

function subtreeHash(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const count = end - start;
  if (count === 1) {
    const leaf = leaves[start] ?? new Uint8Array(0);
    const input = new Uint8Array(1 + leaf.length);
    input[0] = 0x00;
    input.set(leaf, 1);
    return sha256(input);
  }
  let split = 1;
  while (split * 2 < count) split *= 2;
  const input = new Uint8Array(65);
  input[0] = 0x01;
  input.set(subtreeHash(leaves, start, start + split), 1);
  input.set(subtreeHash(leaves, start + split, end), 33);
  return sha256(input);
}

/** A leaf's data: the canonical JSON array [account, height, headHash, frozenAt]. */
export function accountHeadLeaf(head: AccountHead): Uint8Array {
  return canonicalBytes([head.account, head.height, head.hash, head.frozenAt]);
}

/**
 * The reconciliation root: MTH over the account heads sorted by account id. Two peers with
 * the same root hold the same chains (each head commits to its whole chain by hash) and know
 * the same equivocations, hence derive the same balances.
 */
export function accountHeadsRoot(heads: readonly AccountHead[]): string {
  const sorted = [...heads].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
  return base64url.encode(merkleTreeHash(sorted.map(accountHeadLeaf)));
}
