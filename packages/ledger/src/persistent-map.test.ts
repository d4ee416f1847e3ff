import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PersistentMap } from "./persistent-map.js";

/** The map's own key hash (FNV-1a), to build keys that collide on purpose. */
function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function collidingPair(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const key = `k${i}`;
    const hash = fnv1a(key);
    const other = seen.get(hash);
    if (other !== undefined) return [other, key];
    seen.set(hash, key);
  }
}

describe("PersistentMap", () => {
  it("behaves like a Map, and never changes an earlier version", () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("a", "b", "c"));
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.integer()), { maxLength: 400 }), (writes) => {
        let map = PersistentMap.empty<number>();
        const model = new Map<string, number>();
        const versions: [PersistentMap<number>, Map<string, number>][] = [];
        for (const [k, v] of writes) {
          map = map.set(k, v);
          model.set(k, v);
          versions.push([map, new Map(model)]);
        }
        for (const [version, expected] of versions) {
          assert.equal(version.size, expected.size);
          for (const [k, v] of expected) assert.equal(version.get(k), v);
          assert.deepEqual(new Map(version.entries()), expected);
        }
        assert.equal(map.get("never written ✗"), undefined);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps keys whose hashes collide apart", () => {
    const [first, second] = collidingPair();
    assert.equal(fnv1a(first), fnv1a(second));
    const one = PersistentMap.empty<string>().set(first, "1");
    const both = one.set(second, "2").set("other", "3");
    assert.deepEqual([both.get(first), both.get(second), both.get("other"), both.size], ["1", "2", "3", 3]);
    const replaced = both.set(first, "1'");
    assert.deepEqual([replaced.get(first), replaced.get(second), replaced.size, both.get(first)], ["1'", "2", 3, "1"]);
    assert.equal(one.get(second), undefined);
  });

  it("returns the same map when a write changes nothing", () => {
    const map = PersistentMap.empty<number>().set("a", 1);
    assert.equal(map.set("a", 1), map);
  });
});
