import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LedgerBlock } from "@opengateway/ledger";
import { ChainWriter, Ledger, machineFingerprintHash, registerAccount } from "@opengateway/ledger";
import { ProviderTable } from "@opengateway/p2p";
import type { Identity } from "@opengateway/protocol";
import { createInferenceReceipt, createInferenceRequest, generateIdentity } from "@opengateway/protocol";
import { LedgerWallet } from "./ledger-wallet.js";

const params = { registrationDifficultyBits: 4, registrationMemoryKiB: 0 };
const body = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 4, temperature: 1, topP: 1, seed: 1, stop: [] };

async function setup() {
  const ledger = new Ledger({ params });
  const payer = generateIdentity();
  const provider = generateIdentity();
  for (const [identity, label] of [
    [payer, "payer"],
    [provider, "provider"],
  ] as const) {
    const open = await registerAccount(identity, { fingerprintHash: machineFingerprintHash({ test: label }), difficultyBits: 4 });
    assert.equal(ledger.add(open).status, "applied");
  }
  const writer = new ChainWriter(ledger, { publish: async (block: LedgerBlock) => ledger.submit(block) });
  return { ledger, payer, provider, writer, wallet: new LedgerWallet(writer) };
}

/** An expired request to `provider` and its honest receipt: what a claim carries. */
function served(payer: Identity, provider: Identity) {
  const request = createInferenceRequest(
    { kind: "chat", model: "m", body, maxCredits: 2_000, provider: provider.id, pricePerToken: 1, now: Date.now() - 120_000 },
    payer,
  );
  const receipt = createInferenceReceipt(
    { request, usage: { promptTokens: 10, completionTokens: 4 }, credits: 14, finishReason: "length" },
    provider,
  );
  return { request, receipt };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("LedgerWallet", () => {
  it("never countersigns a receipt that charges more than its request allows", async () => {
    const { ledger, payer, provider, wallet } = await setup();
    const { request } = served(payer, provider);
    const inflated = createInferenceReceipt(
      { request, usage: { promptTokens: 10, completionTokens: 1_240 }, credits: 1_250, finishReason: "length" },
      provider,
    );
    await assert.rejects(wallet.settle(payer, inflated, request), /1240 completion tokens charged/);
    assert.equal(ledger.account(payer.id).height, 0, "no settle block was written");
  });

  it("disputes a claim for work it never received, so the claim cannot lock the account out", async () => {
    const { ledger, payer, provider, wallet } = await setup();
    const stop = wallet.answerClaims((account) => (account === payer.id ? payer : undefined));
    const providerWriter = new ChainWriter(ledger, { publish: async (block: LedgerBlock) => ledger.submit(block) });
    // The provider answered with an error (the payer was served elsewhere), then claims the request.
    const { request, receipt } = served(payer, provider);
    await providerWriter.append(provider, { kind: "claim", request, receipt });
    await until(() => ledger.account(payer.id).disputes === 1);
    const account = ledger.account(payer.id);
    assert.equal(account.debt, 0);
    assert.equal(account.balance, 100_000, "nothing was paid");
    assert.equal(ledger.account(provider.id).disputedClaims, 1);
    stop();
  });

  it("disputes each claim of a provider that keeps claiming work it never did, until routers give it no paid work", async () => {
    const { ledger, payer, provider, wallet } = await setup();
    const stop = wallet.answerClaims((account) => (account === payer.id ? payer : undefined));
    const providerWriter = new ChainWriter(ledger, { publish: async (block: LedgerBlock) => ledger.submit(block) });
    const table = new ProviderTable({ reputationOf: (id) => ledger.reputation(id).score });
    const model = { id: "m", contextSize: 2048, pricePerToken: 1, kinds: ["chat" as const] };
    table.upsert(
      provider.id,
      {
        v: 1,
        agent: "t",
        engine: "t",
        region: null,
        clusters: ["A"],
        models: [model],
        activeRequests: 0,
        maxConcurrentRequests: 4,
        queuedRequests: 0,
        tokensPerSecond: null,
      },
      { expiresAt: Date.now() + 60_000 },
    );
    assert.equal(table.candidatesFor("m").length, 1, "a new provider gets work");
    let claims = 0;
    while (ledger.reputation(provider.id).eligible) {
      const { request, receipt } = served(payer, provider);
      await providerWriter.append(provider, { kind: "claim", request, receipt });
      claims++;
      await until(() => ledger.account(payer.id).disputes === claims);
      assert.ok(claims <= 6, "bounded");
    }
    assert.equal(claims, 6);
    assert.equal(ledger.account(payer.id).debt, 0, "every claim was disputed");
    assert.equal(ledger.reputation(provider.id).disputedClaims, 6);
    assert.deepEqual(table.candidatesFor("m"), [], "no paid work any more");
    stop();
  });

  it("settles a claim for a receipt it checked (its settlement had not landed), paying once", async () => {
    const { ledger, payer, provider } = await setup();
    // The payer's first attempt to publish its settle fails (a network error); the provider then claims.
    let failNext = true;
    const writer = new ChainWriter(ledger, {
      publish: async (block: LedgerBlock) => {
        if (failNext && block.kind === "settle") {
          failNext = false;
          throw new Error("the network is down");
        }
        return ledger.submit(block);
      },
    });
    const wallet = new LedgerWallet(writer);
    const stop = wallet.answerClaims((account) => (account === payer.id ? payer : undefined));
    const { request, receipt } = served(payer, provider);
    await assert.rejects(wallet.settle(payer, receipt, request), /network is down/);
    const providerWriter = new ChainWriter(ledger, { publish: async (block: LedgerBlock) => ledger.submit(block) });
    await providerWriter.append(provider, { kind: "claim", request, receipt });
    await until(() => ledger.settlement(payer.id, request.id, provider.id) !== undefined);
    const account = ledger.account(payer.id);
    assert.equal(account.debt, 0);
    assert.equal(account.disputes, 0);
    assert.equal(account.balance, 100_000 - 14);
    stop();
  });
});
