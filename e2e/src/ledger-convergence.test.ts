import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Libp2p } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { DevnetNode } from "@opengateway/cli";
import type { ChainWriter, Ledger } from "@opengateway/ledger";
import {
  LOCAL_LEDGER_PARAMS,
  ledgerParams,
  machineFingerprintHash,
  registerAccount,
  registrationWork,
} from "@opengateway/ledger";
import type { LedgerReplica, LedgerSync, NetworkServices, NodeLedgerSummary } from "@opengateway/p2p";
import { createLibp2pNode, fetchNodeInfo, ledgerReplica, requestInference } from "@opengateway/p2p";
import type { InferenceReceipt } from "@opengateway/protocol";
import { createInferenceRequest, generateIdentity, OpenGatewayError } from "@opengateway/protocol";
import OpenAI from "openai";
import type { TestDevnet } from "./test-devnet.js";
import { startTestDevnet } from "./test-devnet.js";

const CLI_BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));
const API_KEY = "og-ledger-test";
const MODEL = "stories260K";
const story = [{ role: "user" as const, content: "Once upon a time" }];
const run = promisify(execFile);

interface LedgerView {
  merkleRoot: string;
  minted: number;
  balances: number;
  inFlight: number;
  burned: number;
}

const tcp = (addresses: readonly string[]): string[] => addresses.filter((address) => !address.includes("/ws"));

/**
 * The economy across real processes: three full nodes that require payment, a gateway whose API
 * key pays, a peer (this test) paying from its own account, and a CLI wallet that receives a
 * node's swept earnings. A node is killed mid-stream and restarted from its key and ledger file;
 * at the end every copy of the ledger must be the same.
 */
describe("the ledger across processes: paid requests, a crash and restart, claims, sweeps, convergence", {
  timeout: 600_000,
}, () => {
  let devnet: TestDevnet;
  let client: OpenAI;
  let peer: Libp2p<NetworkServices & { ledger: LedgerReplica }>;
  let ledger: Ledger;
  let sync: LedgerSync;
  let writer: ChainWriter;
  let walletId: string;
  const payer = generateIdentity();
  const walletEnv = { ...process.env, OPENGATEWAY_PASSPHRASE: "ledger e2e passphrase" };
  const walletArgs = () => [
    "--key-file",
    join(devnet.home, "owner-wallet.json"),
    "--local",
    "--json",
    "--bootstrap",
    ...tcp(devnet.relay.addresses),
  ];

  const waitFor = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const value = await probe();
        if (value !== undefined) return value;
      } catch (error) {
        last = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return assert.fail(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
  };
  const nodeLedger = async (node: DevnetNode): Promise<NodeLedgerSummary> => {
    const address = tcp(node.addresses)[0];
    assert.ok(address, `a TCP address for ${node.peerId}`);
    const info = await fetchNodeInfo(peer, multiaddr(address), { signal: AbortSignal.timeout(5_000) });
    assert.ok(info.ledger, "a node that keeps a ledger reports it");
    return info.ledger;
  };
  const gatewayLedger = async (): Promise<LedgerView> => {
    const response = await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const body = (await response.json()) as { ledger: LedgerView | null; peers: unknown[] };
    assert.ok(body.ledger, "the gateway keeps a ledger");
    return body.ledger;
  };
  /** Asks one node directly, as this peer, paying from this peer's account; returns the receipt (settled or not). */
  const askNode = async (node: DevnetNode, options: { ttlMs?: number; maxTokens?: number } = {}): Promise<InferenceReceipt> => {
    const request = createInferenceRequest(
      {
        kind: "chat",
        model: MODEL,
        body: { messages: story, maxTokens: options.maxTokens ?? 8, temperature: 1, topP: 1, seed: 1, stop: [] },
        maxCredits: 1_000,
        provider: node.peerId,
        pricePerToken: 1,
        region: null,
        ttlMs: options.ttlMs,
      },
      payer,
    );
    const address = tcp(node.addresses)[0];
    assert.ok(address);
    await peer.dial(multiaddr(address), { signal: AbortSignal.timeout(5_000) });
    for await (const frame of requestInference(peer, peerIdFromString(node.peerId), request, {
      signal: AbortSignal.timeout(30_000),
    })) {
      if (frame.t === "done") return frame.receipt;
    }
    return assert.fail("the node ended the stream without a receipt");
  };
  const settle = (receipt: InferenceReceipt) => writer.append(payer, { kind: "settle", receipt });

  before(async () => {
    devnet = await startTestDevnet({
      nodes: 2,
      apiKey: API_KEY,
      regions: ["europe"],
      nodeArgs: ["--require-payment", "--claim-after-ms", "500", "--ledger-sync-interval-ms", "3000"],
      gatewayArgs: ["--provider-idle-timeout-ms", "2000", "--ledger-sync-interval-ms", "3000"],
    });
    // The owner's wallet, made and registered with the CLI; the third node sweeps its earnings there.
    const created = await run(process.execPath, [CLI_BIN, "wallet", "create", "--register", ...walletArgs()], {
      env: walletEnv,
      timeout: 60_000,
    });
    walletId = (JSON.parse(created.stdout.split("\n")[0] ?? "{}") as { identity: string }).identity;
    await devnet.addNode("europe", ["--sweep-to", walletId, "--sweep-above", "0"]);

    // This test is a peer of its own that pays from its own account (registered like a devnet client).
    peer = await createLibp2pNode({
      identity: payer,
      bootstrap: tcp(devnet.relay.addresses),
      localNetwork: true,
      services: {
        ledger: ledgerReplica({
          // The devnet's rules (`--local`), which every peer of the network must apply alike.
          params: LOCAL_LEDGER_PARAMS,
          syncIntervalMs: 3_000,
        }),
      },
    });
    ({ ledger, sync, writer } = peer.services.ledger);
    const open = await registerAccount(payer, {
      fingerprintHash: machineFingerprintHash({ test: "ledger-convergence", account: payer.id }),
      ...registrationWork(ledgerParams(LOCAL_LEDGER_PARAMS)),
    });
    await writer.append(payer, { kind: "open", fingerprint: open.fingerprint, powNonce: open.powNonce });

    client = new OpenAI({ baseURL: devnet.url, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
    await waitFor(async () => {
      const response = await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } });
      return ((await response.json()) as { peers: unknown[] }).peers.length === 3 ? true : undefined;
    }, "the gateway to learn all three full nodes");
  });

  after(async () => {
    await peer?.stop();
    await devnet?.stop();
  });

  it("serves and pays requests on all three nodes: each node earns what the gateway's key paid it", async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const { data, response } = await client.chat.completions
          .create({ model: MODEL, messages: story, max_tokens: 150 })
          .withResponse();
        return { provider: response.headers.get("x-opengateway-provider") ?? "", usage: data.usage };
      }),
    );
    const providers = new Set(results.map((result) => result.provider));
    assert.equal(providers.size, 3, `6 concurrent requests used ${[...providers].join(" ")}`);
    const paidTo = new Map<string, number>();
    for (const { provider, usage } of results) {
      paidTo.set(provider, (paidTo.get(provider) ?? 0) + (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
    }
    // Every node collects its settlements into its own chain (earn blocks), whatever it sweeps afterwards.
    for (const node of devnet.nodes) {
      await waitFor(
        async () => ((await nodeLedger(node)).self.earned === paidTo.get(node.peerId) ? true : undefined),
        `node ${node.peerId} to earn ${paidTo.get(node.peerId)}`,
      );
    }
  });

  it("a node killed mid-stream loses nothing: the client's stream completes elsewhere, and the node restarts with its ledger", async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: MODEL, messages: story, max_tokens: 200, stream: true })
      .withResponse();
    const victim = devnet.nodes.find((node) => node.peerId === response.headers.get("x-opengateway-provider"));
    assert.ok(victim, "the stream runs on one of the devnet's nodes");
    const before = await nodeLedger(victim);
    let text = "";
    let killed = false;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (!killed && text.length > 0) {
        killed = true;
        await victim.process.kill();
      }
    }
    assert.ok(killed);
    // Ran to its end on another node: cut by max_tokens, or the model's own end of text.
    assert.ok(finish === "length" || finish === "stop", `finish_reason ${finish}`);

    await devnet.restartNode(victim);
    const after = await nodeLedger(victim);
    assert.ok(after.self.opened, "the same identity, already registered: its chain came back from the SQLite file");
    assert.ok(after.self.height >= before.self.height, `height ${after.self.height} ≥ ${before.self.height} before the crash`);
    assert.ok(after.self.balance >= before.self.balance);

    // The network goes on paying it after the restart, and its chain goes on where it was: no fork.
    for (let i = 0; i < 3; i++) {
      const answer = await client.chat.completions.create({ model: MODEL, messages: story, max_tokens: 5 });
      assert.equal(answer.usage?.completion_tokens, 5);
    }
    const heightBefore = (await nodeLedger(victim)).self.height;
    await settle(await askNode(victim));
    const resumed = await waitFor(async () => {
      const { self } = await nodeLedger(victim);
      return self.height > heightBefore ? self : undefined;
    }, "the restarted node to earn a settlement after its restart");
    assert.equal(resumed.frozenAt, null, "no block signed twice at one height");
  });

  it("claims a receipt its payer never settled; the payer is refused by every node until it settles", async () => {
    const [node, other] = devnet.nodes;
    assert.ok(node && other);
    // A short-lived request: the node may claim 500 ms after it expires.
    const balanceBefore = ledger.account(payer.id).balance;
    const unpaid = await askNode(node, { ttlMs: 2_000 });
    const debt = await waitFor(async () => {
      await sync.reconcileAll({ signal: AbortSignal.timeout(5_000) });
      const account = ledger.account(payer.id);
      return account.debt > 0 ? account.debt : undefined;
    }, "the node's claim to reach this peer");
    assert.equal(debt, unpaid.credits);
    assert.equal(ledger.account(payer.id).balance, balanceBefore, "a claim moves no credits");
    const claim = ledger.history(node.peerId).find((block) => block.kind === "claim");
    assert.equal(claim?.kind === "claim" ? claim.receipt.requestId : null, unpaid.requestId);
    // Another node has the claim too (gossip, reconciliation) and refuses the debtor.
    await waitFor(async () => {
      try {
        // Served before the claim reached it: pay, so that this receipt is not claimed as well.
        await settle(await askNode(other));
        return undefined;
      } catch (error) {
        return error instanceof OpenGatewayError && error.code === "insufficient_credits" ? error : undefined;
      }
    }, "the other node to refuse the debtor");

    await settle(unpaid);
    assert.equal(ledger.account(payer.id).debt, 0);
    const paid = await waitFor(async () => {
      try {
        return await askNode(other);
      } catch {
        return undefined;
      }
    }, "the other node to serve the payer again once it settled");
    await settle(paid);
    await waitFor(
      async () => ((await nodeLedger(node)).self.claimed >= unpaid.credits ? true : undefined),
      "the node to report its claim",
    );
  });

  it("sweeps a node's earnings to its owner's wallet, which collects them with `opengateway wallet receive`", async () => {
    const sweeper = devnet.nodes[2];
    assert.ok(sweeper);
    // The settlement that cleared the debt may not have reached this node yet.
    await settle(await waitFor(() => askNode(sweeper), "the sweeping node to serve the payer"));
    // Everything it earned (before and after any restart) leaves: only its time-locked grant stays.
    const swept = await waitFor(async () => {
      await sync.reconcileAll({ signal: AbortSignal.timeout(5_000) });
      const account = ledger.account(sweeper.peerId);
      if (account.balance !== 100_000 || ledger.uncollected(sweeper.peerId).length > 0) return undefined;
      const sends = ledger.history(sweeper.peerId).filter((block) => block.kind === "send");
      assert.ok(sends.every((block) => block.to === walletId));
      const total = sends.reduce((sum, block) => sum + block.amount, 0);
      return total > 0 ? total : undefined;
    }, "the node to sweep everything it earned");
    assert.ok((await nodeLedger(sweeper)).self.swept > 0);
    let received = 0;
    await waitFor(
      async () => {
        const { stdout } = await run(process.execPath, [CLI_BIN, "wallet", "receive", ...walletArgs()], {
          env: walletEnv,
          timeout: 60_000,
        });
        received += (JSON.parse(stdout) as { credits: number }).credits;
        return received >= swept ? true : undefined;
      },
      "the wallet to receive every sweep",
      60_000,
    );
    assert.equal(received, swept);
    const balance = JSON.parse(
      (await run(process.execPath, [CLI_BIN, "wallet", "balance", ...walletArgs()], { env: walletEnv, timeout: 60_000 })).stdout,
    ) as { balance: number; locked: number; transferable: number };
    assert.equal(balance.balance, 100_000 + swept);
    assert.equal(balance.transferable, swept, "received transfers are not time-locked; the grant still is");
  });

  it("ends with one ledger: the three nodes, the gateway and this peer report the same Merkle root and totals", async () => {
    const views = await waitFor(
      async () => {
        await sync.reconcileAll({ signal: AbortSignal.timeout(5_000) });
        const all: Array<LedgerView & { who: string }> = [
          ...(await Promise.all(devnet.nodes.map(async (node) => ({ who: node.peerId, ...(await nodeLedger(node)) })))),
          { who: "gateway", ...(await gatewayLedger()) },
          { who: "this peer", merkleRoot: ledger.merkleRoot(), ...ledger.totals() },
        ];
        return new Set(all.map((view) => view.merkleRoot)).size === 1 ? all : undefined;
      },
      "every copy of the ledger to converge",
      90_000,
    );
    const [first] = views;
    assert.ok(first);
    for (const view of views) {
      assert.deepEqual(
        [view.minted, view.balances, view.inFlight, view.burned],
        [first.minted, first.balances, first.inFlight, first.burned],
        `${view.who} agrees on every total`,
      );
    }
    // Six registrations (three nodes, the API key's account, this peer, the wallet), nothing created or lost.
    assert.equal(first.minted, 6 * 100_000);
    assert.equal(first.minted, first.balances + first.inFlight + first.burned);
    // Nobody equivocated (a restarted node re-signing a height would show here), so nothing was burned.
    assert.deepEqual(ledger.equivocations(), []);
    assert.equal(first.burned, 0);
    for (const node of devnet.nodes) assert.equal((await nodeLedger(node)).self.frozenAt, null);
  });
});
