import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { ResponseObject, ResponseStore, ResponseStoreLimits, StoredResponse } from "@opengateway/sdk";
import { MemoryResponseStore } from "@opengateway/sdk";
import { SqliteResponseStore } from "./sqlite-response-store.js";

function stored(id: string, text = "hello"): StoredResponse {
  const response = {
    id,
    object: "response",
    created_at: 1,
    status: "completed",
    output: [
      {
        id: `msg_${id}`,
        type: "message",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text, annotations: [] }],
      },
      { id: `fc_${id}`, type: "function_call", call_id: `call_${id}`, name: "f", arguments: "{}", status: "completed" },
    ],
  } as unknown as ResponseObject;
  return {
    response,
    context: [
      { role: "user", content: "hi" },
      { role: "assistant", content: text },
    ],
  };
}

const dir = mkdtempSync(join(tmpdir(), "opengateway-responses-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// The SDK's in-memory store and the gateway's SQLite one keep the same promises.
for (const [name, open] of [
  ["MemoryResponseStore", (limits: ResponseStoreLimits) => new MemoryResponseStore(limits)],
  ["SqliteResponseStore", (limits: ResponseStoreLimits) => new SqliteResponseStore(":memory:", limits)],
] as Array<[string, (limits: ResponseStoreLimits) => ResponseStore]>) {
  describe(name, () => {
    it("keeps responses and their output items per owner, and deletes them together", async () => {
      const store = open({ maxPerOwner: 10 });
      await store.put("alice", stored("r1"));
      assert.deepEqual(await store.get("alice", "r1"), stored("r1"));
      assert.equal(await store.get("bob", "r1"), undefined, "an owner sees only its own");
      assert.deepEqual(await store.item("alice", "fc_r1"), stored("r1").response.output[1]);
      assert.equal(await store.item("bob", "fc_r1"), undefined);
      assert.equal(await store.delete("bob", "r1"), false);
      assert.equal(await store.delete("alice", "r1"), true);
      assert.equal(await store.get("alice", "r1"), undefined);
      assert.equal(await store.item("alice", "msg_r1"), undefined, "items go with their response");
      assert.equal(await store.delete("alice", "r1"), false);
    });

    it("forgets an owner's oldest responses beyond its bound, and no one else's", async () => {
      const store = open({ maxPerOwner: 3 });
      await store.put("bob", stored("b1"));
      for (const id of ["a1", "a2", "a3", "a4", "a5"]) await store.put("alice", stored(id));
      assert.equal(await store.get("alice", "a1"), undefined);
      assert.equal(await store.get("alice", "a2"), undefined);
      assert.equal(await store.item("alice", "msg_a2"), undefined);
      for (const id of ["a3", "a4", "a5"]) assert.ok(await store.get("alice", id), id);
      assert.ok(await store.get("bob", "b1"));
    });

    it("forgets an owner's oldest responses beyond its byte budget; one alone over it is not kept", async () => {
      const size = JSON.stringify(stored("a1", "x".repeat(1000))).length;
      const store = open({ maxBytesPerOwner: size * 2 + 10 });
      for (const id of ["a1", "a2", "a3"]) await store.put("alice", stored(id, "x".repeat(1000)));
      assert.equal(await store.get("alice", "a1"), undefined);
      assert.ok(await store.get("alice", "a2"));
      assert.ok(await store.get("alice", "a3"));
      await store.put("alice", stored("big", "x".repeat(size * 3)));
      assert.equal(await store.get("alice", "a3"), undefined);
      assert.equal(await store.get("alice", "big"), undefined, "one over the whole budget is not kept either");
    });
  });
}

describe("SqliteResponseStore on disk", () => {
  it("keeps what it stored across a reopen", async () => {
    const path = join(dir, "nested", "responses.sqlite");
    const first = new SqliteResponseStore(path);
    await first.put("alice", stored("r1", "persisted"));
    first.close();
    const second = new SqliteResponseStore(path);
    assert.deepEqual(await second.get("alice", "r1"), stored("r1", "persisted"));
    assert.deepEqual(await second.item("alice", "msg_r1"), stored("r1", "persisted").response.output[0]);
    second.close();
  });
});
