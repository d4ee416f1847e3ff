import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AddResult, LedgerBlock } from "@opengateway/ledger";
import { ChainWriter, Ledger, machineFingerprintHash, registerAccount } from "@opengateway/ledger";
import { createInferenceReceipt, createInferenceRequest, generateIdentity, silentLogger } from "@opengateway/protocol";
import { LedgerWallet } from "@opengateway/sdk";
import { BackgroundSettlements } from "./background-settlements.js";

const params = { registrationDifficultyBits: 4, registrationMemoryKiB: 0 };

describe("BackgroundSettlements", () => {
  it("answers before the settle is written, holds the reservation until it is, and lets the wallet wait for it", async () => {
    const ledger = new Ledger({ params });
    const payer = generateIdentity();
    const provider = generateIdentity();
    for (const [identity, label] of [
      [payer, "payer"],
      [provider, "provider"],
    ] as const) {
      const open = await registerAccount(identity, {
        fingerprintHash: machineFingerprintHash({ test: label }),
        difficultyBits: params.registrationDifficultyBits,
      });
      assert.equal(ledger.add(open).status, "applied");
    }
    // Publishing is held open by the test, as a slow disk or a busy gossip layer would.
    let releasePublish: () => void = () => {};
    const publishing = new Promise<void>((resolve) => {
      releasePublish = resolve;
    });
    const writer = new ChainWriter(ledger, {
      publish: async (block: LedgerBlock): Promise<AddResult> => {
        await publishing;
        return ledger.submit(block);
      },
    });
    const errors: unknown[] = [];
    const settlements = new BackgroundSettlements(new LedgerWallet(writer), {
      logger: { ...silentLogger, warn: (fields) => errors.push(fields.err) },
    });
    const request = createInferenceRequest(
      {
        kind: "chat",
        model: "m",
        body: { messages: [{ role: "user", content: "hi" }], maxTokens: 4, temperature: 1, topP: 1, seed: 1, stop: [] },
        maxCredits: 2_000,
        provider: provider.id,
        pricePerToken: 1,
        region: null,
      },
      payer,
    );
    settlements.reserve(payer, request.id, 2_000, request.expiresAt);
    const receipt = createInferenceReceipt(
      { request, usage: { promptTokens: 10, completionTokens: 4 }, credits: 14, finishReason: "length" },
      provider,
    );
    // Resolves at once: the client's answer does not wait for the block.
    await settlements.settle(payer, receipt, request);
    settlements.release(request.id);
    assert.equal(ledger.account(payer.id).reserved, 2_000, "still held while the settle is being written");
    let walletAnswered = false;
    const wallet = settlements.settled(payer.id).then(() => {
      walletAnswered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(walletAnswered, false, "the wallet endpoint waits for the settle in flight");
    releasePublish();
    await wallet;
    await settlements.drain();
    const account = ledger.account(payer.id);
    assert.equal(account.balance, 100_000 - 14);
    assert.equal(account.reserved, 0);
    assert.deepEqual(errors, []);
  });
});
