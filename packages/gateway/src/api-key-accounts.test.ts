import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OpenAIHttpError } from "@opengateway/sdk";
import { ApiKeyAccounts } from "./api-key-accounts.js";

describe("ApiKeyAccounts", () => {
  const secret = new Uint8Array(32).fill(1);

  it("gives each key its own account, stable for one secret", () => {
    const accounts = new ApiKeyAccounts({ keys: ["alice", "bob"], accountSecret: secret });
    const alice = accounts.authenticate("Bearer alice");
    assert.notEqual(alice.id, accounts.authenticate("Bearer bob").id);
    const again = new ApiKeyAccounts({ keys: ["alice"], accountSecret: secret });
    assert.equal(again.authenticate("bearer alice").id, alice.id);
    const otherGateway = new ApiKeyAccounts({ keys: ["alice"], accountSecret: new Uint8Array(32).fill(2) });
    assert.notEqual(otherGateway.authenticate("Bearer alice").id, alice.id);
  });

  it("refuses missing, malformed and unknown keys with 401", () => {
    const accounts = new ApiKeyAccounts({ keys: ["alice"], accountSecret: secret });
    for (const header of [undefined, "", "alice", "Basic alice", "Bearer", "Bearer alicee", "Bearer alice extra"]) {
      assert.throws(
        () => accounts.authenticate(header),
        (error: unknown) => error instanceof OpenAIHttpError && error.status === 401,
      );
    }
  });

  it("needs at least one key", () => {
    assert.throws(() => new ApiKeyAccounts({ keys: [], accountSecret: secret }));
  });
});
