import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { multiaddr } from "@multiformats/multiaddr";
import type { FullNode } from "@opengateway/full-node";
import { startFullNode } from "@opengateway/full-node";
import type { LedgerTotals } from "@opengateway/ledger";
import { machineFingerprintHash, REPUTATION_PAID_WORK_THRESHOLD } from "@opengateway/ledger";
import { fetchNodeInfo } from "@opengateway/p2p";
import OpenAI from "openai";
import type { Cheat } from "./cheating-engine.js";
import { cheatingEngine } from "./cheating-engine.js";
import { tcpAddresses } from "./faulty-provider.js";
import type { TestDevnet } from "./test-devnet.js";
import { startTestDevnet } from "./test-devnet.js";
import { testModelPath } from "./test-model.js";
import { waitFor } from "./wait-for.js";

const API_KEY = "og-audits-test";
const MODEL = "stories260K";
const LOCAL_DIFFICULTY_BITS = 12;
/** The mean probe interval at reputation 500: fast enough for CI, slow enough that the gateway routes to the cheaters first. */
const AUDIT_INTERVAL_MS = 2_000;
/** The most gateway requests a cheater may serve in this test before routing drops it (see the docs' bound). */
const MAX_REQUESTS_TO_A_CHEATER = 100;

interface ProviderView {
  peerId: string;
  reputation: number | null;
  reputationFacts: { slashed: boolean; eligible: boolean; fraud: boolean; falseReports: number } | null;
  audits: { passed: number; failed: number } | null;
}

type LedgerView = Pick<LedgerTotals, "minted" | "balances" | "inFlight" | "burned"> & { merkleRoot: string };

/**
 * The proof system across real processes: two honest full nodes (CLI processes) audit every
 * provider of their model; two cheating full nodes (in this process, built from a test-only
 * engine wrapper) serve random text and inflated usage. Both cheaters are caught, lose their
 * reputation and stop getting paid work, fraud is marked on every peer's copy of the ledger, and
 * the honest nodes are never marked nor pushed below the threshold.
 */
describe("audits across processes: cheaters are caught and lose paid work, the honest keep theirs", { timeout: 600_000 }, () => {
  let devnet: TestDevnet;
  let client: OpenAI;
  const cheaters = new Map<Cheat, FullNode>();
  /** Which provider served each gateway request, in order, with the cheaters' standing at the gateway just before. */
  const served: Array<{ provider: string; cheatersEligible: Set<string> }> = [];
  let traffic: Promise<void> = Promise.resolve();
  /** Gateway requests served before the first cheater joined. */
  let joinedAt: number | undefined;
  const stopTraffic = new AbortController();

  const network = async (): Promise<{ peers: ProviderView[]; ledger: LedgerView | null }> => {
    const response = await fetch(`${devnet.url}/opengateway/network`, { headers: { authorization: `Bearer ${API_KEY}` } });
    return (await response.json()) as { peers: ProviderView[]; ledger: LedgerView | null };
  };
  const viewOf = async (peerId: string): Promise<ProviderView | undefined> =>
    (await network()).peers.find((peer) => peer.peerId === peerId);
  const cheaterIds = () => [...cheaters.values()].map((node) => node.identity.id);

  before(async () => {
    devnet = await startTestDevnet({
      nodes: 2,
      apiKey: API_KEY,
      regions: ["europe"],
      audits: true,
      nodeArgs: ["--audit-interval-ms", String(AUDIT_INTERVAL_MS), "--ledger-sync-interval-ms", "3000"],
      gatewayArgs: ["--ledger-sync-interval-ms", "3000"],
    });
    client = new OpenAI({ baseURL: devnet.url, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
    await waitFor(async () => (await network()).peers.length === 2, "the gateway to learn the honest nodes", 60_000);
    // Ordinary paid traffic through the gateway from before the cheaters join: what they want a share of.
    traffic = (async () => {
      while (!stopTraffic.signal.aborted) {
        try {
          const peers = (await network()).peers;
          const cheatersEligible = new Set(
            peers
              .filter((peer) => cheaterIds().includes(peer.peerId) && peer.reputationFacts?.eligible)
              .map((peer) => peer.peerId),
          );
          const { response } = await client.chat.completions
            .create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 24 })
            .withResponse();
          served.push({ provider: response.headers.get("x-opengateway-provider") ?? "", cheatersEligible });
        } catch {
          // A refused or failed request is no one's paid work.
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    for (const cheat of ["random-text", "inflated-usage"] as const) {
      const node = await startFullNode({
        model: testModelPath(),
        cacheDir: join(devnet.home, "models"),
        bootstrap: tcpAddresses(devnet.relay.addresses),
        localNetwork: true,
        region: "europe",
        threads: 1,
        parallelRequests: 2,
        gpu: false,
        advertIntervalMs: 1_000,
        ledger: {
          path: join(devnet.home, `cheater-${cheat}.sqlite`),
          fingerprintHash: machineFingerprintHash({ test: "audits", cheat }),
          params: { registrationDifficultyBits: LOCAL_DIFFICULTY_BITS },
          syncIntervalMs: 3_000,
        },
        engineWrapper: (engine) => cheatingEngine(engine, cheat),
      });
      cheaters.set(cheat, node);
      joinedAt ??= served.length;
    }
    await waitFor(async () => (await network()).peers.length === 4, "the gateway to learn the four full nodes", 60_000);
  });

  after(async () => {
    stopTraffic.abort();
    await traffic;
    for (const node of cheaters.values()) await node.stop();
    await devnet?.stop();
  });

  it("catches both cheaters: failed audits take them below the threshold, and provable fraud is marked", async () => {
    for (const [cheat, node] of cheaters) {
      await waitFor(
        async () => {
          const view = await viewOf(node.identity.id);
          return view?.reputationFacts?.fraud === true && (view.reputation ?? 1000) < REPUTATION_PAID_WORK_THRESHOLD;
        },
        `the ${cheat} cheater to be caught`,
        300_000,
      );
      const view = await viewOf(node.identity.id);
      assert.ok((view?.audits?.failed ?? 0) > 0, `${cheat}: failed audits on the ledger`);
      assert.equal(view?.reputation, 0, `${cheat}: proven fraud puts the reputation at 0`);
    }
  });

  it("stops giving the cheaters paid work once they fall below the threshold, within a bounded number of requests", async (t) => {
    const before = served.length;
    await waitFor(() => served.length >= before + 10, "ten more requests through the gateway", 120_000);
    const ids = new Set(cheaterIds());
    for (const [index, request] of served.entries()) {
      if (!ids.has(request.provider)) continue;
      // Served by a cheater: only while the gateway still counted it eligible.
      assert.ok(request.cheatersEligible.has(request.provider), `request ${index} went to a cheater the gateway had dropped`);
    }
    const toCheaters = served.filter((request) => ids.has(request.provider)).length;
    for (const [cheat, node] of cheaters) {
      const count = served.filter((request) => request.provider === node.identity.id).length;
      t.diagnostic(`${cheat}: served ${count} of the gateway's first ${before} requests (it joined after the first ${joinedAt})`);
    }
    assert.ok(toCheaters <= MAX_REQUESTS_TO_A_CHEATER * ids.size, `${toCheaters} of ${served.length} requests went to cheaters`);
    assert.ok(
      served.slice(before).every((request) => !ids.has(request.provider)),
      "no request after the catch went to a cheater",
    );
    assert.ok(served.slice(before).length >= 10, "the honest nodes serve the traffic");
  });

  it("never marks an honest node nor pushes it below the threshold", async () => {
    const { peers } = await network();
    for (const node of devnet.nodes) {
      const view = peers.find((peer) => peer.peerId === node.peerId);
      assert.ok(view, `the gateway sees ${node.peerId}`);
      assert.ok((view.reputation ?? 0) >= REPUTATION_PAID_WORK_THRESHOLD, `honest node at ${view.reputation}`);
      assert.deepEqual(
        {
          fraud: view.reputationFacts?.fraud,
          slashed: view.reputationFacts?.slashed,
          falseReports: view.reputationFacts?.falseReports,
        },
        { fraud: false, slashed: false, falseReports: 0 },
      );
      assert.equal(view.audits?.failed, 0, "no audit of an honest node failed");
      assert.ok((view.audits?.passed ?? 0) > 0, "honest nodes were audited too");
    }
  });

  it("ends with every peer on one Merkle root, with conservation", async () => {
    stopTraffic.abort();
    await traffic;
    const prober = [...cheaters.values()][0] as FullNode;
    const roots = async (): Promise<string[]> => {
      const fromNodes = await Promise.all(
        devnet.nodes.map(async (node) => {
          const address = tcpAddresses(node.addresses)[0] as string;
          const info = await fetchNodeInfo(prober.libp2p, multiaddr(address), { signal: AbortSignal.timeout(5_000) });
          return info.ledger?.merkleRoot ?? "none";
        }),
      );
      const gateway = (await network()).ledger?.merkleRoot ?? "none";
      return [gateway, ...fromNodes, ...[...cheaters.values()].map((node) => node.ledger?.merkleRoot() ?? "none")];
    };
    // Probes go on while the nodes run: wait for a moment when every copy agrees.
    await waitFor(async () => new Set(await roots()).size === 1, "one Merkle root on every peer", 120_000);
    const ledger = (await network()).ledger as LedgerView;
    assert.equal(ledger.minted, ledger.balances + ledger.inFlight + ledger.burned);
  });
});
