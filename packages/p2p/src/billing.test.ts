import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import { Ledger, machineFingerprintHash, registerAccount } from "@opengateway/ledger";
import type { Identity, InferenceReceipt, InferenceRequest, NodeCapabilities } from "@opengateway/protocol";
import { createInferenceRequest, generateIdentity, InsufficientCreditsError } from "@opengateway/protocol";
import { TickingEngine } from "@opengateway/protocol/test-support/ticking-engine";
import { createLibp2pNode } from "./create-libp2p-node.js";
import { requestInference } from "./inference-client.js";
import type { PaymentHooks } from "./inference-router.js";
import { InferenceRouter } from "./inference-router.js";
import { inferenceService } from "./inference-service.js";
import { checkPayer } from "./payer-check.js";
import { ProviderTable } from "./provider-table.js";

/** How a test provider behaves: honest, or one of the ways a cheater bills for what it did not deliver. */
type Behaviour = "honest" | "inflate-usage" | "fail-mid-stream";

/** "w" tokens 10 ms apart, 3 prompt tokens; a cheater lies in its usage or breaks off. */
function testEngine(behaviour: Behaviour, price: number): TickingEngine {
  return new TickingEngine({
    name: "billing-test-engine",
    text: "w ",
    model: { pricePerToken: price },
    beforeToken: (index) => {
      if (behaviour === "fail-mid-stream" && index === 3) throw new Error("the GPU fell over");
    },
    reportedCompletionTokens: (produced) => (behaviour === "inflate-usage" ? 1_240 : produced),
  });
}

interface TestProvider {
  identity: Identity;
  node: Libp2p;
  engine: TickingEngine;
}

const body = (maxTokens: number) => ({
  messages: [{ role: "user" as const, content: "hi" }],
  maxTokens,
  temperature: 1,
  topP: 1,
  seed: 1,
  stop: [],
});

/** Records what the router holds, settles and releases; `limit` refuses holds above it, like a payer's balance. */
function recordingPayments(limit = Number.POSITIVE_INFINITY) {
  const settled: InferenceReceipt[] = [];
  const held = new Map<string, number>();
  const payments: PaymentHooks = {
    reserve: (_payer, requestId, maxCredits) => {
      if (maxCredits > limit) throw new InsufficientCreditsError(`cannot hold ${maxCredits}`);
      held.set(requestId, maxCredits);
    },
    settle: async (_payer, receipt) => {
      settled.push(receipt);
    },
    release: (requestId) => void held.delete(requestId),
  };
  return { payments, settled, held };
}

describe("the bill follows what was delivered (real libp2p nodes)", () => {
  const providers = new Map<string, TestProvider>();
  let client: Libp2p;

  async function startProvider(name: string, behaviour: Behaviour, price = 1, authorize?: typeof checkPayer): Promise<void> {
    const identity = generateIdentity();
    const engine = testEngine(behaviour, price);
    let ledgerCheck: ((request: InferenceRequest, fromPeer: string) => Promise<() => void>) | undefined;
    if (authorize)
      ledgerCheck = (request, fromPeer) => authorize(payerLedger, { reconcile: async () => ({}) as never }, request, fromPeer);
    const node = await createLibp2pNode({
      identity,
      services: {
        inference: inferenceService({ engine, identity, authorize: ledgerCheck && ((r, from) => ledgerCheck(r, from)) }),
      },
    });
    await client.dial(node.getMultiaddrs()[0] ?? assert.fail("no address"));
    providers.set(name, { identity, node, engine });
  }

  function tableOf(...names: string[]): ProviderTable {
    const table = new ProviderTable();
    for (const name of names) {
      const provider = providers.get(name) ?? assert.fail(name);
      const info: NodeCapabilities = {
        v: 1,
        agent: "test",
        engine: provider.engine.name,
        region: null,
        clusters: ["A"],
        models: provider.engine.listModels().map((model) => ({ ...model, kinds: [...model.kinds] })),
        activeRequests: 0,
        maxConcurrentRequests: 4,
        queuedRequests: 0,
        tokensPerSecond: 100,
      };
      table.upsert(provider.identity.id, info, { expiresAt: Date.now() + 60_000 });
    }
    return table;
  }

  const id = (name: string): string => providers.get(name)?.identity.id ?? assert.fail(name);
  const payer = generateIdentity();
  let payerLedger: Ledger;

  before(async () => {
    client = await createLibp2pNode({ identity: generateIdentity() });
    // A payer holding exactly 1,000 credits on the providers' copy of the ledger.
    payerLedger = new Ledger({ params: { registrationDifficultyBits: 4, registrationMemoryKiB: 0, grantCredits: 1_000 } });
    const open = await registerAccount(payer, {
      fingerprintHash: machineFingerprintHash({ test: "billing-payer" }),
      difficultyBits: 4,
    });
    assert.equal(payerLedger.add(open).status, "applied");
    await startProvider("honest", "honest");
    await startProvider("inflater", "inflate-usage");
    await startProvider("breaker", "fail-mid-stream");
    await startProvider("absurd", "honest", 1_000_000);
    await startProvider("checked", "honest", 1, checkPayer);
  });

  after(async () => {
    await client?.stop();
    for (const provider of providers.values()) await provider.node.stop();
  });

  it("refuses a receipt that inflates usage: never settled, the provider counted as failing, the client served elsewhere", async () => {
    const table = tableOf("inflater", "honest");
    const honest = table.get(id("honest"));
    assert.ok(honest);
    honest.failures = 1; // the inflater is tried first
    const { payments, settled } = recordingPayments();
    const router = new InferenceRouter(client, table, { payments });
    // It streamed the whole answer, then billed 1,240 tokens for max_tokens 6: nothing is left to
    // resume elsewhere, so the client gets a clear error, and nothing is settled.
    await assert.rejects(async () => {
      for await (const _ of router.route(payer, { kind: "chat", model: "m", body: body(6) })) {
        /* drain */
      }
    }, /receipt refused: 1240 completion tokens charged; the request allows at most 6/);
    assert.equal(settled.length, 0);
    assert.equal(table.get(id("inflater"))?.failures, 1, "counted as failing");
    // Counted as failing, it is tried after the honest provider (back to its own record) from now on.
    honest.failures = 0;
    let text = "";
    for await (const event of router.route(payer, { kind: "chat", model: "m", body: body(6) })) {
      if (event.type === "delta") text += event.text;
    }
    assert.equal(text, "w w w w w w ");
    assert.deepEqual(
      settled.map((receipt) => receipt.provider),
      [id("honest")],
      "only the honest provider's receipt is countersigned",
    );
  });

  it("skips a provider whose price the payer cannot hold, instead of refusing a request others can serve", async () => {
    const table = tableOf("absurd", "honest");
    const honest = table.get(id("honest"));
    assert.ok(honest);
    honest.failures = 1; // the absurd price would otherwise be asked first
    const { payments, settled, held } = recordingPayments(100_000);
    const router = new InferenceRouter(client, table, { payments });
    for await (const _ of router.route(payer, { kind: "chat", model: "m", body: body(4) })) {
      /* drain */
    }
    assert.deepEqual(
      settled.map((receipt) => receipt.provider),
      [id("honest")],
    );
    assert.equal(held.size, 0, "every hold is released");
    // The user's cap alone also keeps it out, before any hold is tried.
    const capped = new InferenceRouter(client, tableOf("absurd"), { payments });
    await assert.rejects(
      capped.route(payer, { kind: "chat", model: "m", body: body(4), maxPricePerToken: 10 }).next(),
      /asks more than 10 credits per token/,
    );
  });

  it("pays a cancelled stream for what it delivered: the provider's final receipt, checked against the tokens received", async () => {
    const { payments, settled, held } = recordingPayments();
    const router = new InferenceRouter(client, tableOf("honest"), { payments });
    let received = 0;
    for await (const event of router.route(payer, { kind: "chat", model: "m", body: body(200) })) {
      if (event.type === "delta") received += event.tokens;
      if (received >= 3) break;
    }
    assert.equal(settled.length, 1, "the partial receipt is settled before the route ends");
    const [receipt] = settled;
    assert.equal(receipt?.finishReason, "cancelled");
    // What reached the payer's peer: at least what the consumer saw, never the 200 asked for.
    assert.ok(receipt && receipt.usage.completionTokens >= received && receipt.usage.completionTokens < 200);
    assert.equal(receipt?.usage.promptTokens, 0);
    assert.equal(receipt?.credits, receipt?.usage.completionTokens);
    assert.equal(held.size, 0);
  });

  it("a resumed stream pays each provider for what it produced", async () => {
    const table = tableOf("breaker", "honest");
    const honest = table.get(id("honest"));
    assert.ok(honest);
    honest.failures = 1; // the breaker is tried first, fails after 3 tokens, the honest one continues
    const { payments, settled } = recordingPayments();
    const router = new InferenceRouter(client, table, { payments });
    let text = "";
    for await (const event of router.route(payer, { kind: "chat", model: "m", body: body(8) })) {
      if (event.type === "delta") text += event.text;
    }
    assert.equal(text, "w w w w w w w w ");
    assert.deepEqual(
      settled.map((receipt) => [receipt.provider, receipt.finishReason, receipt.usage.completionTokens]),
      [
        [id("breaker"), "cancelled", 3],
        [id("honest"), "length", 5],
      ],
    );
  });

  it("a provider refuses a request addressed to another provider", async () => {
    const request = createInferenceRequest(
      { kind: "chat", model: "m", body: body(2), maxCredits: 1_000, provider: id("inflater"), pricePerToken: 1 },
      payer,
    );
    const honest = providers.get("honest")?.node.peerId ?? assert.fail();
    await assert.rejects(async () => {
      for await (const _ of requestInference(client, honest, request)) {
        /* drain */
      }
    }, /addressed to another provider/);
  });

  it("counts the payer's requests in flight: 8 concurrent requests of 1,000 credits from a payer holding 1,000, one is served", async () => {
    const checked = providers.get("checked")?.node.peerId ?? assert.fail();
    const ask = async (): Promise<string> => {
      const request = createInferenceRequest(
        { kind: "chat", model: "m", body: body(10), maxCredits: 1_000, provider: id("checked"), pricePerToken: 1 },
        payer,
      );
      try {
        for await (const frame of requestInference(client, checked, request)) if (frame.t === "done") return "served";
        return "no result";
      } catch (error) {
        return (error as { code?: string }).code ?? String(error);
      }
    };
    const outcomes = await Promise.all(Array.from({ length: 8 }, ask));
    assert.deepEqual(outcomes.sort(), ["insufficient_credits", ...Array(6).fill("insufficient_credits"), "served"].sort());
    assert.equal(payerLedger.account(payer.id).reserved, 0, "the hold is freed when the request ends");
    assert.equal(await ask(), "served", "and the payer is served again once nothing is in flight");
  });
});
