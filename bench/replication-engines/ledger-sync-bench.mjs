// The OpenGateway ledger's own replication over a real libp2p connection, for comparison with
// hypercore-bench.mjs and orbitdb-bench.mjs: the same workload as bench/src/ledger-bench.ts
// (1,000 accounts, 100,000 blocks: opens, sends, settles with receipts, receives, earns), the
// production LedgerSync (packages/p2p/src/ledger-sync.ts) on two createLibp2pNode peers (TCP,
// Noise, Yamux, gossipsub, DHT), B dialling A through the byte-counting loopback proxy.
// Needs the workspace built (it imports packages/*/dist and bench/dist); no dependencies of its own:
//   OPENGATEWAY_ROOT=/path/to/repo node ledger-sync-bench.mjs [--blocks 100000] [--accounts 1000]
// (default root: the repository this file sits in, two levels up).
// (a) full copy: an empty ledger C reconciles with A until the roots match (exchanges of at most
//     LEDGER_SYNC_MAX_BLOCKS blocks), every block verified (Ed25519 on node:crypto) and applied;
// (b) A and B differ by 1% (0.5% each, on disjoint halves of the accounts): one reconcile();
// (c) B reconnects once more with nothing to exchange.
import { fileURLToPath, pathToFileURL } from "node:url";
import { argument, countingProxy, kib, rate } from "./common.mjs";

const root = process.env.OPENGATEWAY_ROOT ?? fileURLToPath(new URL("../..", import.meta.url));
const load = (path) => import(pathToFileURL(`${root}/packages/${path}`).href);
await load("p2p/dist/node-runtime.js"); // Node 20 polyfills, native Ed25519
const { identityFromSeed } = await load("protocol/dist/index.js");
const { Ledger } = await load("ledger/dist/index.js");
// The workload of bench/src/ledger-bench.ts itself (same seed, same blocks), from the built bench.
const { divergedHistories, params } = await import(pathToFileURL(`${root}/bench/dist/ledger-workload.js`).href);
const { createLibp2pNode, LedgerSync } = await load("p2p/dist/index.js");
const { multiaddr } = await import(
  pathToFileURL(`${root}/packages/p2p/node_modules/@multiformats/multiaddr/dist/src/index.js`).href
);

const TOTAL_BLOCKS = argument("blocks", 100_000);
const ACCOUNTS = argument("accounts", 1_000);

function feed(ledger, blocks, now) {
  for (const block of blocks) {
    const result = ledger.add(block, { now });
    if (result.status !== "applied") throw new Error(`benchmark block not applied: ${result.status}`);
  }
}

async function peer(name, ledger, now, listen) {
  const seed = new Uint8Array(32).fill(name.charCodeAt(0));
  const node = await createLibp2pNode({ identity: identityFromSeed(seed), listen: listen ? ["/ip4/127.0.0.1/tcp/0"] : [] });
  const sync = new LedgerSync(node, ledger, {
    reconcileOnConnect: false,
    intervalMs: 3_600_000,
    timeoutMs: 120_000,
    now: () => now,
  });
  await sync.start();
  return { node, sync, ledger };
}

async function main() {
  console.log(
    `ledger sync over libp2p: ${TOTAL_BLOCKS.toLocaleString("en-US")} blocks, ${ACCOUNTS} accounts, Node ${process.version}`,
  );
  const { common, onlyA, onlyB, tail, now } = await divergedHistories(TOTAL_BLOCKS, ACCOUNTS);
  const ledgerA = new Ledger({ params });
  feed(ledgerA, [...common, ...onlyA], now);
  const ledgerB = new Ledger({ params });
  feed(ledgerB, [...common, ...onlyB], now);
  const fullJson = new TextEncoder().encode(JSON.stringify([...common, ...onlyA])).length;

  const A = await peer("A", ledgerA, now, true);
  const B = await peer("B", ledgerB, now, false);
  const C = await peer("C", new Ledger({ params }), now, false);
  const port = Number(/\/tcp\/(\d+)/.exec(A.node.getMultiaddrs()[0].toString())[1]);
  const proxy = await countingProxy(port);
  const viaProxy = multiaddr(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${A.node.peerId}`);

  // (a) full copy A → C over the sync protocol.
  const started = performance.now();
  await C.node.dial(viaProxy);
  let exchanges = 0;
  let received = 0;
  while (C.ledger.merkleRoot() !== A.ledger.merkleRoot()) {
    const result = await C.sync.reconcile(A.node.peerId);
    if (result.error) throw new Error(result.error);
    received += result.blocksReceived;
    if (++exchanges > 50) throw new Error("full copy did not converge");
  }
  const fullMs = performance.now() - started;
  const fullBytes = proxy.total();
  console.log(
    `(a) full copy A→C: ${received.toLocaleString("en-US")} blocks verified + applied in ${(fullMs / 1000).toFixed(1)} s = ${rate(received, fullMs)} (${exchanges} exchanges); ${kib(fullBytes)} on the wire (${(fullBytes / received).toFixed(0)} B/block; the blocks as JSON: ${kib(fullJson)})`,
  );
  await C.node.hangUp(A.node.peerId);

  // B dials A through the proxy, counted afresh, and reconciles once, connection set-up included.
  const connectAndReconcile = async () => {
    proxy.reset();
    const connectedAt = performance.now();
    await B.node.dial(viaProxy);
    const outcome = await B.sync.reconcile(A.node.peerId);
    return { outcome, ms: performance.now() - connectedAt };
  };

  // (b) reconcile A and B.
  const { outcome: result, ms: reconcileMs } = await connectAndReconcile();
  const reconcileBytes = proxy.total();
  if (result.error) throw new Error(result.error);
  if (A.ledger.merkleRoot() !== B.ledger.merkleRoot()) throw new Error("roots differ after reconciliation");
  console.log(
    `(b) reconcile A↔B (${(2 * tail).toLocaleString("en-US")} blocks differ, 1%): ${reconcileMs.toFixed(0)} ms including the connection, ${result.blocksSent} sent + ${result.blocksReceived} received, ${kib(reconcileBytes)} on the wire (${((reconcileBytes / fullBytes) * 100).toFixed(2)}% of the full copy)`,
  );

  // (c) reconnect when nothing differs: the roots match, nothing else is sent.
  await B.node.hangUp(A.node.peerId);
  const { outcome: idle, ms: idleMs } = await connectAndReconcile();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_000 - idleMs)));
  console.log(
    `(c) reconnect, nothing differs: in sync ${idle.inSync}, ${idleMs.toFixed(0)} ms, ${kib(proxy.total())} on the wire in the first second (connection set-up, identify and gossipsub included)`,
  );

  for (const p of [A, B, C]) {
    await p.sync.stop();
    await p.node.stop();
  }
  await proxy.close();
}

await main();
process.exit(0);
