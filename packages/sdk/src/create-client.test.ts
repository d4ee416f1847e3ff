import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateIdentity, OpenGatewayError } from "@opengateway/protocol";
import { createClient, RegistrationTimeoutError } from "./create-client.js";

/** No peers at all: each client registers alone, after its first reconciliation found nobody (about 5 s). */
describe("createClient pays from its own account by default", { timeout: 120_000 }, () => {
  it("registers a new identity (proof-of-work, then the grant) before it resolves: balance() is its account", async () => {
    const identity = generateIdentity();
    const client = await createClient({ identity, localNetwork: true, waitForProvidersMs: 0 });
    try {
      const account = client.wallet.balance();
      assert.ok(account, "the client keeps a ledger by default");
      assert.equal(account.identity, identity.id);
      assert.equal(account.registered, true);
      assert.equal(account.balance, 100_000);
    } finally {
      await client.close();
    }
  });

  it("pays nothing with ledger: false (a private network's providers check no payers)", async () => {
    const client = await createClient({ ledger: false, waitForProvidersMs: 0 });
    try {
      assert.equal(client.wallet.balance(), null);
    } finally {
      await client.close();
    }
  });

  it("gives up registering after registrationTimeoutMs, with a typed error, and stops its node", async () => {
    const started = Date.now();
    await assert.rejects(
      // 2^40 hashes: days of work, so only the bound can end it.
      createClient({
        ledger: { params: { registrationDifficultyBits: 40 }, registrationTimeoutMs: 7_000 },
        waitForProvidersMs: 0,
      }),
      (error: unknown) =>
        error instanceof RegistrationTimeoutError &&
        OpenGatewayError.isInstance(error) &&
        error.code === "registration_timeout" &&
        /7000 ms/.test(error.message),
    );
    assert.ok(Date.now() - started < 60_000, "bounded");
  });

  it("stops registering when the caller's signal aborts, rejecting with its reason", async () => {
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    setTimeout(() => controller.abort(reason), 6_000);
    await assert.rejects(
      createClient({ ledger: { params: { registrationDifficultyBits: 40 } }, signal: controller.signal, waitForProvidersMs: 0 }),
      (error: unknown) => error === reason,
    );
  });
});
