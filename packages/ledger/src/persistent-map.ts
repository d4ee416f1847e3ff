/**
 * An immutable string-keyed map (a hash array mapped trie): `set` returns a new map that
 * shares all untouched nodes with the old one, so the ledger's state machine can return a new
 * state per block in O(log n) instead of copying every table.
 */
const LEAF = 0;
const BRANCH = 1;
const COLLISION = 2;

interface Leaf<V> {
  readonly kind: typeof LEAF;
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}

interface Branch<V> {
  readonly kind: typeof BRANCH;
  readonly bitmap: number;
  readonly children: readonly TrieNode<V>[];
}

/** Keys whose 32-bit hashes are equal: rare, but handled rather than assumed away. */
interface Collision<V> {
  readonly kind: typeof COLLISION;
  readonly hash: number;
  readonly leaves: readonly Leaf<V>[];
}

type TrieNode<V> = Leaf<V> | Branch<V> | Collision<V>;

const BITS = 5;
const MASK = 31;

/** FNV-1a over UTF-16 code units: fast and the same on every platform. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function popcount(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function lookup<V>(node: TrieNode<V>, hash: number, key: string): V | undefined {
  let current: TrieNode<V> = node;
  let shift = 0;
  for (;;) {
    if (current.kind === LEAF) return current.key === key ? current.value : undefined;
    if (current.kind === COLLISION) {
      if (current.hash !== hash) return undefined;
      for (const leaf of current.leaves) if (leaf.key === key) return leaf.value;
      return undefined;
    }
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((current.bitmap & bit) === 0) return undefined;
    const child = current.children[popcount(current.bitmap & (bit - 1))];
    if (child === undefined) return undefined;
    current = child;
    shift += BITS;
  }
}

/** Two nodes with different hashes under one slot: branch until their hash bits differ. */
function merge<V>(a: Leaf<V> | Collision<V>, b: Leaf<V>, shift: number): Branch<V> {
  const ia = (a.hash >>> shift) & MASK;
  const ib = (b.hash >>> shift) & MASK;
  if (ia === ib) return { kind: BRANCH, bitmap: 1 << ia, children: [merge(a, b, shift + BITS)] };
  return { kind: BRANCH, bitmap: (1 << ia) | (1 << ib), children: ia < ib ? [a, b] : [b, a] };
}

function insert<V>(node: TrieNode<V>, leaf: Leaf<V>, shift: number, added: { value: boolean }): TrieNode<V> {
  switch (node.kind) {
    case LEAF:
      if (node.key === leaf.key) return Object.is(node.value, leaf.value) ? node : leaf;
      added.value = true;
      // Same 32-bit hash means every level's slot agrees: only a collision node can hold both.
      if (node.hash === leaf.hash) return { kind: COLLISION, hash: leaf.hash, leaves: [node, leaf] };
      return merge(node, leaf, shift);
    case COLLISION: {
      if (node.hash !== leaf.hash) {
        added.value = true;
        return merge(node, leaf, shift);
      }
      const index = node.leaves.findIndex((existing) => existing.key === leaf.key);
      if (index === -1) {
        added.value = true;
        return { kind: COLLISION, hash: node.hash, leaves: [...node.leaves, leaf] };
      }
      const leaves = node.leaves.slice();
      leaves[index] = leaf;
      return { kind: COLLISION, hash: node.hash, leaves };
    }
    case BRANCH: {
      const bit = 1 << ((leaf.hash >>> shift) & MASK);
      const index = popcount(node.bitmap & (bit - 1));
      const children = node.children.slice();
      const child = node.children[index];
      if ((node.bitmap & bit) === 0 || child === undefined) {
        added.value = true;
        children.splice(index, 0, leaf);
        return { kind: BRANCH, bitmap: node.bitmap | bit, children };
      }
      const updated = insert(child, leaf, shift + BITS, added);
      if (updated === child) return node;
      children[index] = updated;
      return { kind: BRANCH, bitmap: node.bitmap, children };
    }
  }
}

function* walk<V>(node: TrieNode<V>): Generator<Leaf<V>> {
  if (node.kind === LEAF) yield node;
  else if (node.kind === COLLISION) yield* node.leaves;
  else for (const child of node.children) yield* walk(child);
}

export class PersistentMap<V> {
  static readonly #empty = new PersistentMap<never>(undefined, 0);

  readonly #root: TrieNode<V> | undefined;
  readonly size: number;

  private constructor(root: TrieNode<V> | undefined, size: number) {
    this.#root = root;
    this.size = size;
  }

  static empty<V>(): PersistentMap<V> {
    return PersistentMap.#empty;
  }

  get(key: string): V | undefined {
    return this.#root === undefined ? undefined : lookup(this.#root, hashKey(key), key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** A new map with `key` set; `this` is unchanged. Values are never undefined (that means absent). */
  set(key: string, value: V): PersistentMap<V> {
    const leaf: Leaf<V> = { kind: LEAF, hash: hashKey(key), key, value };
    if (this.#root === undefined) return new PersistentMap(leaf, 1);
    const added = { value: false };
    const root = insert(this.#root, leaf, 0, added);
    if (root === this.#root) return this;
    return new PersistentMap(root, added.value ? this.size + 1 : this.size);
  }

  /** Entries in trie order (stable for equal contents, but not sorted). */
  *entries(): Generator<[string, V]> {
    if (this.#root === undefined) return;
    for (const leaf of walk(this.#root)) yield [leaf.key, leaf.value];
  }

  *keys(): Generator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): Generator<V> {
    for (const [, value] of this.entries()) yield value;
  }
}
