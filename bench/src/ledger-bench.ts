// Ledger benchmark (not a test): node bench/dist/ledger-bench.js [--blocks 100000] [--accounts 1000]
// (a) blocks verified + applied per second, with the portable and the native Ed25519 backend;
// (b) reconciling two ledgers of N blocks that differ by 1%: time and bytes on the wire.
import type { AccountHead } from "@opengateway/ledger";
import {
  DEFAULT_REGISTRATION_DIFFICULTY_BITS,
  DEFAULT_REGISTRATION_MEMORY_KIB,
  Ledger,
  machineFingerprintHash,
  solveRegistrationPow,
} from "@opengateway/ledger";
import { identityFromSeed, nobleEd25519Backend, useEd25519Backend } from "@opengateway/protocol";
import { createNodeEd25519Backend } from "@opengateway/protocol/node-ed25519-backend";
import { divergedHistories, params } from "./ledger-workload.js";

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

const TOTAL_BLOCKS = argument("blocks", 100_000);
const ACCOUNTS = argument("accounts", 1_000);

function feed(ledger: Ledger, blocks: readonly unknown[], now: number): number {
  const started = performance.now();
  for (const block of blocks) {
    const result = ledger.add(block, { now });
    if (result.status !== "applied") throw new Error(`benchmark block not applied: ${result.status} ${result.error?.message}`);
  }
  return performance.now() - started;
}

const bytes = (value: unknown): number => new TextEncoder().encode(JSON.stringify(value)).length;
const compactHeads = (heads: readonly AccountHead[]) =>
  heads.map((head) => [head.account, head.height, head.hash, head.frozenAt]);
const expandHeads = (rows: unknown): AccountHead[] =>
  (rows as [string, number, string | null, number | null][]).map(([account, height, hash, frozenAt]) => ({
    account,
    height,
    hash,
    frozenAt,
  }));
const rate = (count: number, ms: number): string => `${Math.round(count / (ms / 1000)).toLocaleString("en-US")}/s`;

async function main(): Promise<void> {
  const native = createNodeEd25519Backend();
  useEd25519Backend(native);
  console.log(`ledger benchmark: ${TOTAL_BLOCKS.toLocaleString("en-US")} blocks, ${ACCOUNTS} accounts, Node ${process.version}`);

  // Registration proof-of-work speed (Argon2id tries over the default memory, as every registrant
  // solves it), and what the default difficulty costs at that speed.
  const powStart = performance.now();
  let tries = 0;
  for (let i = 0; performance.now() - powStart < 5_000; i++) {
    const nonce = await solveRegistrationPow({
      publicKey: identityFromSeed(new Uint8Array(32).fill(i + 1)).publicKey,
      fingerprintHash: machineFingerprintHash({ run: String(i) }),
      difficultyBits: 4,
      memoryKiB: DEFAULT_REGISTRATION_MEMORY_KIB,
    });
    tries += nonce + 1;
  }
  const tryRate = tries / ((performance.now() - powStart) / 1000);
  console.log(
    `registration PoW: ${tryRate.toFixed(1)} Argon2id tries/s (${DEFAULT_REGISTRATION_MEMORY_KIB} KiB); default ${DEFAULT_REGISTRATION_DIFFICULTY_BITS} bits ≈ ${Math.round(2 ** DEFAULT_REGISTRATION_DIFFICULTY_BITS / tryRate)} s expected`,
  );

  // Generate: common history, then 0.5% more on each side, on disjoint halves of the accounts.
  const genStart = performance.now();
  const { common, onlyA, onlyB, tail, now } = await divergedHistories(TOTAL_BLOCKS, ACCOUNTS);
  const kinds = new Map<string, number>();
  for (const block of common) kinds.set(block.kind, (kinds.get(block.kind) ?? 0) + 1);
  console.log(
    `generated ${(common.length + 2 * tail).toLocaleString("en-US")} signed blocks in ${((performance.now() - genStart) / 1000).toFixed(1)} s (native signing); mix: ${[...kinds].map(([kind, n]) => `${kind} ${n}`).join(", ")}`,
  );

  // (a) verified + applied per second.
  const sample = common.slice(0, Math.min(common.length, 4_000));
  useEd25519Backend(nobleEd25519Backend);
  const nobleMs = feed(new Ledger({ params }), sample, now);
  useEd25519Backend(native);
  const nativeSampleMs = feed(new Ledger({ params }), sample, now);
  console.log(
    `(a) verify+apply, first ${sample.length} blocks: @noble/ed25519 ${rate(sample.length, nobleMs)}, node:crypto ${rate(sample.length, nativeSampleMs)}`,
  );

  const a = new Ledger({ params });
  const aMs = feed(a, [...common, ...onlyA], now);
  const b = new Ledger({ params });
  const bMs = feed(b, [...common, ...onlyB], now);
  console.log(
    `(a) verify+apply at scale (node:crypto): ledger A ${(common.length + tail).toLocaleString("en-US")} blocks in ${(aMs / 1000).toFixed(1)} s (${rate(common.length + tail, aMs)}), ledger B ${rate(common.length + tail, bMs)}`,
  );
  const fullBytes = bytes(common) + bytes(onlyA);
  const memory = process.memoryUsage();
  console.log(
    `    heap ${Math.round(memory.heapUsed / 2 ** 20)} MiB for both ledgers; the whole of A as JSON is ${(fullBytes / 2 ** 20).toFixed(1)} MiB`,
  );

  // (b) reconciliation, simulated in-process: every message is serialised and parsed as on the wire.
  const rootStart = performance.now();
  a.merkleRoot();
  const rootMs = performance.now() - rootStart;
  const started = performance.now();
  const wire: { from: string; kind: string; bytes: number; blocks: number }[] = [];
  const send = (from: string, kind: string, message: object, blocks = 0): unknown => {
    const text = JSON.stringify(message);
    wire.push({ from, kind, bytes: new TextEncoder().encode(text).length, blocks });
    return JSON.parse(text);
  };
  let rounds = 0;
  for (;;) {
    rounds++;
    const hello = send("A", "root", { root: a.merkleRoot(), accounts: a.heads().length }) as { root: string };
    if (send("B", "root", { root: b.merkleRoot(), same: hello.root === b.merkleRoot() }) && hello.root === b.merkleRoot()) break;
    const headsOfA = expandHeads((send("A", "heads", { heads: compactHeads(a.heads()) }) as { heads: unknown }).heads);
    const forA = b.blocksMissingFrom(headsOfA);
    const reply = send("B", "blocks+heads", { blocks: forA, heads: compactHeads(b.headsToRequest(headsOfA)) }, forA.length) as {
      blocks: unknown[];
      heads: unknown;
    };
    for (const block of reply.blocks) a.add(block, { now });
    const forB = a.blocksMissingFrom(expandHeads(reply.heads), { complete: false });
    const last = send("A", "blocks", { blocks: forB }, forB.length) as { blocks: unknown[] };
    for (const block of last.blocks) b.add(block, { now });
    if (rounds > 5) throw new Error("did not converge");
  }
  const reconcileMs = performance.now() - started;
  const total = wire.reduce((sum, message) => sum + message.bytes, 0);
  const transferred = wire.reduce((sum, message) => sum + message.blocks, 0);
  console.log(
    `(b) reconcile A and B (${(2 * tail).toLocaleString("en-US")} blocks differ, ${(((2 * tail) / TOTAL_BLOCKS) * 100).toFixed(1)}%): ` +
      `${reconcileMs.toFixed(0)} ms, ${rounds} round(s), ${transferred} blocks moved, ${(total / 1024).toFixed(1)} KiB on the wire ` +
      `(${((total / fullBytes) * 100).toFixed(2)}% of a full copy); Merkle root over ${a.heads().length} heads: ${rootMs.toFixed(1)} ms`,
  );
  for (const message of wire) console.log(`    ${message.from} → ${message.kind}: ${(message.bytes / 1024).toFixed(1)} KiB`);
  if (a.merkleRoot() !== b.merkleRoot()) throw new Error("roots differ after reconciliation");
}

await main();
