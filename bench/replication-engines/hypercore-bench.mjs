// Hypercore 11 (+ Corestore 7) replication benchmark.
// node hypercore-bench.mjs [--entries 100000] [--accounts 1000]
// Three Corestores on disk (RocksDB, in the OS temp dir), one process, replicating over loopback
// TCP through a byte-counting proxy (Noise secret-stream + protomux, as Hyperswarm would):
//   W: the writers: owns every core, appends every entry (one append, i.e. one signed Merkle
//      root, per entry);
//   A, B: replicas. A and B first download the common 99% from W (the full-copy figure), then
//      W's last 1% reaches only A (single core) or half to A and half to B (one core per account,
//      on disjoint halves of the accounts, as in the ledger bench); finally A and B reconcile,
//      and (c) reconnect once more with nothing to exchange.
// Entries are 350-byte JSON payloads (see common.mjs).
import { rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Corestore from "corestore";
import { argument, countingProxy, kib, payload, rate, waitFor } from "./common.mjs";

const N = argument("entries", 100_000);
const DIFF = Math.round(N * 0.01);
const dir = join(tmpdir(), `hypercore-bench-${process.pid}`);

/** Serves `store` on a loopback port; returns it with a byte-counting proxy in front. */
async function serve(store) {
  const streams = new Set();
  const server = net.createServer((socket) => {
    const stream = store.replicate(false);
    streams.add(stream);
    socket.on("error", () => {});
    stream.on("error", () => {});
    socket.pipe(stream).pipe(socket);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = await countingProxy(server.address().port);
  return {
    proxy,
    close: async () => {
      for (const s of streams) s.destroy();
      await proxy.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Connects `store` (initiator) to a served store through its proxy. */
function connect(store, served) {
  const socket = net.connect(served.proxy.port, "127.0.0.1");
  const stream = store.replicate(true);
  socket.on("error", () => {});
  stream.on("error", () => {});
  socket.pipe(stream).pipe(socket);
  return {
    close: async () => {
      stream.destroy();
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}

async function replicaOf(name, keys) {
  const store = new Corestore(join(dir, name));
  await store.ready();
  const cores = keys.map((key) => store.get({ key }));
  await Promise.all(cores.map((core) => core.ready()));
  for (const core of cores) core.download({ start: 0, end: -1 }); // keep every block, not sparse
  return { store, cores };
}

const complete = (cores, lengths) => () => cores.every((core, i) => core.contiguousLength >= lengths[i]);

async function scenario(accounts) {
  const label = accounts === 1 ? "one core (single writer)" : `${accounts} cores (one per account)`;
  console.log(`\n== ${label}: ${N.toLocaleString("en-US")} entries, ${DIFF.toLocaleString("en-US")} differ`);
  await rm(dir, { recursive: true, force: true });
  const W = new Corestore(join(dir, "W"));
  await W.ready();
  const writers = Array.from({ length: accounts }, (_, i) => W.get({ name: `acct-${i}` }));
  await Promise.all(writers.map((core) => core.ready()));
  const keys = writers.map((core) => core.key);
  const lengths = () => writers.map((core) => core.length);

  // The common 99%, one signed append per entry, round-robin over the accounts.
  const common = N - DIFF;
  let started = performance.now();
  for (let i = 0; i < common; i++)
    await writers[i % accounts].append(Buffer.from(JSON.stringify(payload(i, `acct-${i % accounts}`))));
  const appendMs = performance.now() - started;
  console.log(
    `append (sign + store) on W: ${common.toLocaleString("en-US")} entries in ${(appendMs / 1000).toFixed(1)} s = ${rate(common, appendMs)}`,
  );

  // (a) full copy W → A: download + verify, bytes on the wire.
  const servedW = await serve(W);
  const A = await replicaOf("A", keys);
  const B = await replicaOf("B", keys);
  started = performance.now();
  let link = connect(A.store, servedW);
  await waitFor(complete(A.cores, lengths()), { everyMs: 10 });
  const fullMs = performance.now() - started;
  const fullBytes = servedW.proxy.total();
  console.log(
    `(a) full copy W→A: ${common.toLocaleString("en-US")} entries downloaded + verified in ${(fullMs / 1000).toFixed(1)} s = ${rate(common, fullMs)}; ${kib(fullBytes)} on the wire (${(fullBytes / common).toFixed(0)} B/entry)`,
  );
  await link.close();
  link = connect(B.store, servedW);
  await waitFor(complete(B.cores, lengths()), { everyMs: 10 });
  await link.close();

  // The last 1%: on one core all of it reaches A only; with one core per account, the first half
  // of the accounts' new entries reaches only A and the second half's only B.
  const half = Math.max(1, Math.floor(accounts / 2));
  const tail = (from, count, pool) => {
    const appends = [];
    for (let i = 0; i < count; i++) appends.push(i);
    return appends.reduce(async (previous, i) => {
      await previous;
      const account = pool[(from + i) % pool.length];
      await writers[account].append(Buffer.from(JSON.stringify(payload(N + from + i, `acct-${account}`))));
    }, Promise.resolve());
  };
  const poolA = accounts === 1 ? [0] : Array.from({ length: half }, (_, i) => i);
  const poolB = Array.from({ length: accounts - half }, (_, i) => half + i);
  await tail(0, accounts === 1 ? DIFF : DIFF / 2, poolA);
  link = connect(A.store, servedW);
  await waitFor(complete(A.cores, lengths()), { everyMs: 10 });
  await link.close();
  if (accounts > 1) {
    await tail(DIFF / 2, DIFF / 2, poolB);
    link = connect(B.store, servedW);
    await waitFor(complete(B.cores, lengths()), { everyMs: 10 });
    await link.close();
  }
  await servedW.close();

  // (b) reconcile A ↔ B.
  const final = lengths();
  const servedA = await serve(A.store);
  started = performance.now();
  link = connect(B.store, servedA);
  await waitFor(() => complete(A.cores, final)() && complete(B.cores, final)(), { everyMs: 5 });
  const reconcileMs = performance.now() - started;
  const reconcileBytes = servedA.proxy.total();
  console.log(
    `(b) reconcile A↔B (${DIFF.toLocaleString("en-US")} entries differ, 1%): ${reconcileMs.toFixed(0)} ms, ${kib(reconcileBytes)} on the wire (${((reconcileBytes / ((fullBytes / common) * N)) * 100).toFixed(2)}% of a full copy of ${N.toLocaleString("en-US")})`,
  );
  await link.close();

  // (c) reconnect when nothing differs: what one periodic check costs (bytes in the first second).
  servedA.proxy.reset();
  link = connect(B.store, servedA);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  console.log(`(c) reconnect, nothing differs: ${kib(servedA.proxy.total())} on the wire in the first second`);
  await link.close();
  await servedA.close();
  await Promise.all([W.close(), A.store.close(), B.store.close()]);
  await rm(dir, { recursive: true, force: true });
}

console.log(`Hypercore benchmark, Node ${process.version}`);
for (const accounts of [1, argument("accounts", 1_000)]) await scenario(accounts);
process.exit(0);
