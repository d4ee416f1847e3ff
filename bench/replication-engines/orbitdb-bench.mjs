// OrbitDB 4 (Merkle-CRDT oplog on Helia 7 / libp2p 3) replication benchmark.
// node orbitdb-bench.mjs [--entries 10000] [--diff 100]   (--diff: entries only one side has, default 1%)
// Two OrbitDB instances, each on its own Helia node (in-memory blockstore, TCP + Noise + Yamux,
// gossipsub, Bitswap), in one process; B reaches A only through a byte-counting loopback proxy.
// (a) A appends N signed entries to an `events` db; B opens the db and replicates all of them
//     (heads exchange, then Bitswap fetches of every entry block, each verified): full copy.
// (b) B disconnects; A appends DIFF/2 more and B appends DIFF/2 more (write access '*');
//     B reconnects; time until both hold all entries, and bytes through the proxy.
// (c) B reconnects once more with nothing to exchange: bytes in the first second.
import "./node20.mjs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withBitswap } from "@helia/bitswap";
import { withLibp2pLight } from "@helia/libp2p";
import * as dagCbor from "@ipld/dag-cbor";
import { gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import { noise } from "@libp2p/noise";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { multiaddr } from "@multiformats/multiaddr";
import { createOrbitDB, IPFSAccessController, MemoryStorage } from "@orbitdb/core";
import { createHeliaLight } from "helia";
import { argument, countingProxy, kib, payload, rate, waitFor } from "./common.mjs";

const N = argument("entries", 10_000);
const DIFF = argument("diff", Math.round(N * 0.01));
const TAIL = Math.round(DIFF / 2);
const dir = join(tmpdir(), `orbitdb-bench-${process.pid}`);

async function node(name, listen) {
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ codecs: [dagCbor] }), {
      addresses: { listen: listen ? ["/ip4/127.0.0.1/tcp/0"] : [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      services: {
        identify: identify(),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
      },
    }),
  );
  await helia.start();
  const orbitdb = await createOrbitDB({ ipfs: helia, id: name, directory: join(dir, name) });
  return { helia, orbitdb };
}

const memoryStores = async () => ({ headsStorage: await MemoryStorage(), indexStorage: await MemoryStorage() });

async function main() {
  console.log(`OrbitDB benchmark: ${N.toLocaleString("en-US")} entries, ${2 * TAIL} differ, Node ${process.version}`);
  const A = await node("A", true);
  const B = await node("B", false);
  const dbA = await A.orbitdb.open("ledger-bench", {
    type: "events",
    AccessController: IPFSAccessController({ write: ["*"] }),
    ...(await memoryStores()),
  });

  // Writer side: create and sign N entries.
  let started = performance.now();
  let lastA;
  for (let i = 0; i < N; i++) lastA = await dbA.add(payload(i, "A"));
  const appendMs = performance.now() - started;
  console.log(`append (sign + store) on A: ${N} entries in ${(appendMs / 1000).toFixed(1)} s = ${rate(N, appendMs)}`);

  // (a) full copy to B through the proxy.
  const tcpPort = Number(/\/tcp\/(\d+)/.exec(A.helia.libp2p.getMultiaddrs()[0].toString())[1]);
  const proxy = await countingProxy(tcpPort);
  const viaProxy = multiaddr(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${A.helia.libp2p.peerId}`);
  started = performance.now();
  await B.helia.libp2p.dial(viaProxy);
  const dbB = await B.orbitdb.open(dbA.address, { ...(await memoryStores()) });
  // Sync errors are emitted as 'error' events: an unhandled one would end the process.
  const syncErrors = [];
  for (const db of [dbA, dbB]) db.events.on("error", (error) => syncErrors.push(`${db === dbA ? "A" : "B"}: ${error.message}`));
  await waitFor(async () => await dbB.log.has(lastA), { everyMs: 50 });
  const fullMs = performance.now() - started;
  const fullBytes = proxy.total();
  console.log(
    `(a) full copy A→B: ${N} entries replicated + verified in ${(fullMs / 1000).toFixed(1)} s = ${rate(N, fullMs)}; ${kib(fullBytes)} through the proxy (${(fullBytes / N).toFixed(0)} B/entry)`,
  );

  // (b) diverge by 1%: disconnect, both append, reconnect.
  await B.helia.libp2p.hangUp(A.helia.libp2p.peerId);
  await waitFor(() => B.helia.libp2p.getConnections().length === 0 && A.helia.libp2p.getConnections().length === 0);
  let lastB;
  for (let i = 0; i < TAIL; i++) lastA = await dbA.add(payload(N + i, "A"));
  for (let i = 0; i < TAIL; i++) lastB = await dbB.add(payload(N + TAIL + i, "B"));
  proxy.reset();
  started = performance.now();
  await B.helia.libp2p.dial(viaProxy);
  await waitFor(async () => (await dbB.log.has(lastA)) && (await dbA.log.has(lastB)), { everyMs: 20 });
  const reconcileMs = performance.now() - started;
  const reconcileBytes = proxy.total();
  const headsA = (await dbA.log.heads()).map((e) => e.hash).sort();
  const headsB = (await dbB.log.heads()).map((e) => e.hash).sort();
  console.log(
    `(b) reconcile (${2 * TAIL} entries differ, ${(((2 * TAIL) / N) * 100).toFixed(1)}%): ${reconcileMs.toFixed(0)} ms, ${kib(reconcileBytes)} through the proxy (${((reconcileBytes / fullBytes) * 100).toFixed(2)}% of the full copy); heads equal: ${JSON.stringify(headsA) === JSON.stringify(headsB)}`,
  );

  // (c) reconnect when nothing differs (heads exchange only): bytes in the first second.
  await B.helia.libp2p.hangUp(A.helia.libp2p.peerId);
  await waitFor(() => B.helia.libp2p.getConnections().length === 0 && A.helia.libp2p.getConnections().length === 0);
  proxy.reset();
  await B.helia.libp2p.dial(viaProxy);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  console.log(`(c) reconnect, nothing differs: ${kib(proxy.total())} through the proxy in the first second`);
  console.log(`sync errors during the run: ${syncErrors.length === 0 ? "none" : syncErrors.join("; ")}`);

  await dbB.close();
  await dbA.close();
  await B.orbitdb.stop();
  await A.orbitdb.stop();
  await B.helia.stop();
  await A.helia.stop();
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
}

await main();
process.exit(0);
