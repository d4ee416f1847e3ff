import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { Libp2p } from "@libp2p/interface";
import { createLibp2pNode } from "@opengateway/p2p";
import { generateIdentity } from "@opengateway/protocol";
import OpenAI from "openai";
import type { CliPart } from "./browser-network-parts.js";
import { CLI_BIN, startFullNodeProcess, startGatewayProcess } from "./browser-network-parts.js";
import { describeInNetworkNamespace, NETNS_HOST, NETNS_PEER, setUpTestNetwork } from "./netns-sandbox.js";
import { testModelPath } from "./test-model.js";
import { waitFor } from "./wait-for.js";

const API_KEY = "og-lan-e2e-key";
const run = promisify(execFile);

/** `opengateway wallet …` as a user runs it (mDNS on, as by default), its JSON output parsed. */
async function wallet(args: string[]): Promise<Record<string, unknown> & Array<Record<string, unknown>>> {
  const { stdout } = await run(process.execPath, [CLI_BIN, "wallet", ...args, "--json"], { timeout: 120_000 });
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] as string);
}

// mDNS multicasts to every interface: the suite runs where the only network is the one it made.
describeInNetworkNamespace(
  "LAN discovery (mDNS)",
  import.meta.url,
  { timeoutMs: 240_000, why: "mDNS multicasts, which must never reach a real network" },
  () => {
    describe("LAN discovery (mDNS), in the test's own network namespace", { timeout: 240_000 }, () => {
      const homes: string[] = [];
      const home = (name: string) => {
        const dir = mkdtempSync(join(tmpdir(), `og-lan-${name}-`));
        homes.push(dir);
        return dir;
      };
      const stops: Array<() => unknown> = [];

      before(() => {
        setUpTestNetwork();
        // The runner turns mDNS off for every process it starts; here nothing can leave the namespace.
        delete process.env.OPENGATEWAY_NO_MDNS;
      });
      after(async () => {
        for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
        for (const dir of homes) rmSync(dir, { recursive: true, force: true });
      });

      it("two peers that know nothing of each other connect; a peer with mDNS off is neither found nor finds", async () => {
        const start = (host: string, mdns: boolean) =>
          createLibp2pNode({
            identity: generateIdentity(),
            listen: [`/ip4/${host}/tcp/0`],
            localNetwork: true,
            mdns: mdns ? { intervalMs: 1_000 } : false,
          });
        const a = await start(NETNS_HOST, true);
        stops.push(() => a.stop());
        const b = await start(NETNS_PEER, true);
        stops.push(() => b.stop());
        const silent = await start(NETNS_HOST, false);
        stops.push(() => silent.stop());
        const connected = (x: Libp2p, y: Libp2p) => x.getConnections(y.peerId).length > 0;
        await waitFor(() => connected(a, b) && connected(b, a), "the two mDNS peers to connect", 30_000);
        // Several question intervals later, the peer that neither asks nor answers is still alone.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        assert.equal(silent.getConnections().length, 0, "a peer with mDNS off was found or found others");
      });

      it("a gateway serves from a full node it found on the LAN, and wallets register, with no --bootstrap or --peer (the CLI)", async () => {
        const nodeHome = home("node");
        const node = await startFullNodeProcess([
          ...["--model", testModelPath(), "--home", nodeHome, "--local", "--parallel", "2"],
          ...["--listen", `/ip4/${NETNS_HOST}/tcp/0`],
        ]);
        stops.push(node.stop);
        const gateway: CliPart<{ url: string }> = await startGatewayProcess([
          ...["--host", NETNS_HOST, "--port", "0", "--api-key", API_KEY, "--home", home("gateway"), "--local"],
        ]);
        stops.push(gateway.stop);
        await waitFor(
          async () => (await fetch(`${gateway.ready.url.replace(/\/v1$/, "")}/healthz`)).status === 200,
          "the gateway to find the full node over mDNS",
          60_000,
        );
        const client = new OpenAI({ baseURL: gateway.ready.url, apiKey: API_KEY, maxRetries: 0 });
        const { data, response } = await client.chat.completions
          .create({ model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 16 })
          .withResponse();
        assert.ok((data.choices[0]?.message.content ?? "").length > 0, "an empty answer");
        assert.equal(response.headers.get("x-opengateway-provider"), node.ready.peerId);

        // A wallet on another home finds the node over mDNS (--local: the devnet's rules, as the node runs).
        const lanWallet = home("wallet");
        const created = await wallet(["create", "--register", "--home", lanWallet, "--local"]);
        assert.equal(created.registered, true, JSON.stringify(created));
        const balance = await wallet(["balance", "--home", lanWallet, "--local"]);
        assert.ok(Number(balance.balance) > 0, JSON.stringify(balance));
        assert.ok(Number(balance.locked) > 0 && typeof balance.unlocksAt === "string", JSON.stringify(balance));
        assert.ok(Date.parse(balance.unlocksAt as string) > Date.now(), "the unlock date is not in the future");

        // A wallet in the node's own home, with mDNS off: it joins through the running node's status file
        // and takes its ledger rules, so it needs neither --bootstrap nor --local.
        const homeWallet = await wallet(["create", "--register", "--home", nodeHome, "--no-mdns"]);
        assert.equal(homeWallet.registered, true, JSON.stringify(homeWallet));
        const history = await wallet(["history", "--home", lanWallet, "--local"]);
        const open = history.find((entry) => entry.kind === "open");
        assert.ok(open !== undefined && Number(open.amount) > 0 && open.direction === "in", JSON.stringify(history));
      });
    });
  },
);
