import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Libp2p, Stream } from "@libp2p/interface";
import type { LedgerBlock } from "@opengateway/ledger";
import {
  BlockAuthor,
  Ledger,
  ledgerBlockHash,
  ledgerParams,
  machineFingerprintHash,
  verifyRegistrationPow,
} from "@opengateway/ledger";
import type { Identity } from "@opengateway/protocol";
import { generateIdentity, silentLogger, utf8Decode, utf8Encode } from "@opengateway/protocol";
import { LEDGER_SYNC_PROTOCOL, LEDGER_TOPIC } from "./constants.js";
import type { NetworkServices } from "./create-libp2p-node.js";
import { createLibp2pNode } from "./create-libp2p-node.js";
import { FrameStream } from "./frame-stream.js";
import { LedgerSync } from "./ledger-sync.js";

const params = ledgerParams({ registrationDifficultyBits: 4, registrationMemoryKiB: 0, grantLockMs: 0 });
const T = Date.now() - 60_000;

/** One account's wallet: signs its chain in order. */
class Wallet {
  readonly identity: Identity = generateIdentity();
  readonly author = new BlockAuthor(this.identity);
  get id(): string {
    return this.identity.id;
  }
  open(): LedgerBlock {
    const fingerprint = machineFingerprintHash({ machine: this.id });
    let powNonce = 0;
    while (
      !verifyRegistrationPow({
        publicKey: this.identity.publicKey,
        fingerprintHash: fingerprint,
        difficultyBits: params.registrationDifficultyBits,
        nonce: powNonce,
      })
    )
      powNonce++;
    return this.author.append({ kind: "open", fingerprint, powNonce }, T);
  }
  send(to: string, amount: number): LedgerBlock {
    return this.author.append({ kind: "send", to, amount }, T + 1);
  }
  receive(send: LedgerBlock): LedgerBlock {
    return this.author.append({ kind: "receive", source: ledgerBlockHash(send) }, T + 2);
  }
}

function feed(ledger: Ledger, blocks: readonly LedgerBlock[]): void {
  for (const block of blocks) assert.equal(ledger.add(block).status, "applied");
}

const jsonBytes = (value: unknown): number => utf8Encode(JSON.stringify(value)).length;

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const nodes: Libp2p<NetworkServices>[] = [];
const syncs: LedgerSync[] = [];
const errors: unknown[] = [];

async function peer(options: { reconcileOnConnect?: boolean; banAfter?: number } = {}) {
  const node = await createLibp2pNode({ identity: generateIdentity() });
  const ledger = new Ledger({ params });
  const sync = new LedgerSync(node, ledger, {
    intervalMs: 60 * 60 * 1000,
    timeoutMs: 5_000,
    reconcileOnConnect: options.reconcileOnConnect ?? false,
    ...(options.banAfter === undefined ? {} : { penalties: { banAfter: options.banAfter } }),
    logger: { ...silentLogger, debug: (fields) => errors.push(fields.err), warn: (fields) => errors.push(fields.err) },
  });
  await sync.start();
  nodes.push(node);
  syncs.push(sync);
  return { node, ledger, sync };
}

after(async () => {
  for (const sync of syncs) await sync.stop();
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("LedgerSync", () => {
  it("gossips a published block to a connected peer and drops invalid gossip without changing state", async () => {
    const a = await peer();
    const b = await peer();
    await a.node.dial(b.node.getMultiaddrs());
    await waitFor(
      () => a.node.services.pubsub.getSubscribers(LEDGER_TOPIC).some((id) => id.equals(b.node.peerId)),
      "the topic subscription",
    );
    const alice = new Wallet();
    const bob = new Wallet();
    assert.equal((await a.sync.publish(alice.open())).status, "applied");
    assert.equal((await a.sync.publish(bob.open())).status, "applied");
    await waitFor(() => b.sync.stats().gossipReceived === 2, "two gossiped blocks");
    assert.equal(b.ledger.merkleRoot(), a.ledger.merkleRoot());
    assert.equal(b.ledger.account(alice.id).balance, params.grantCredits);

    const root = b.ledger.merkleRoot();
    const send = alice.send(bob.id, 1_000);
    const forged = { ...send, amount: 99_000 };
    await a.node.services.pubsub.publish(LEDGER_TOPIC, utf8Encode(JSON.stringify(forged)));
    await a.node.services.pubsub.publish(LEDGER_TOPIC, utf8Encode("{not json"));
    await a.node.services.pubsub.publish(LEDGER_TOPIC, utf8Encode(JSON.stringify({ kind: "send", amount: -1 })));
    await waitFor(() => b.sync.stats().rejected === 3, "three rejections");
    assert.equal(b.ledger.merkleRoot(), root);
    assert.equal(b.ledger.pendingCount, 0);

    // The genuine block still gets through afterwards.
    assert.equal((await a.sync.publish(send)).status, "applied");
    await waitFor(() => b.ledger.merkleRoot() === a.ledger.merkleRoot(), "the genuine send");
    assert.equal(b.sync.stats().gossipReceived, 3);
  });

  it("converges two partitioned ledgers, transferring only the missing blocks", async () => {
    const shared = Array.from({ length: 30 }, () => new Wallet());
    const sharedBlocks = shared.map((wallet) => wallet.open());
    const a = await peer();
    const b = await peer();
    feed(a.ledger, sharedBlocks);
    feed(b.ledger, sharedBlocks);
    const [alice, bob, carol, dave] = shared as [Wallet, Wallet, Wallet, Wallet];
    // While partitioned, each side learns different blocks.
    const x = new Wallet();
    const y = new Wallet();
    const sendAB = alice.send(bob.id, 1_000);
    const onlyA = [sendAB, bob.receive(sendAB), x.open()];
    const sendCD = carol.send(dave.id, 2_500);
    const onlyB = [sendCD, dave.receive(sendCD), y.open(), y.send(carol.id, 10)];
    feed(a.ledger, onlyA);
    feed(b.ledger, onlyB);
    assert.notEqual(a.ledger.merkleRoot(), b.ledger.merkleRoot());
    const headsBytes = jsonBytes(a.ledger.heads());

    await a.node.dial(b.node.getMultiaddrs());
    const result = await a.sync.reconcile(b.node.peerId);
    assert.equal(result.error, undefined);
    assert.equal(result.inSync, false);
    assert.equal(a.ledger.merkleRoot(), b.ledger.merkleRoot());
    assert.deepEqual(a.ledger.totals(), b.ledger.totals());
    assert.deepEqual(a.ledger.heads(), b.ledger.heads());
    assert.equal(a.ledger.account(carol.id).balance, b.ledger.account(carol.id).balance);
    assert.equal(a.ledger.pendingCount + b.ledger.pendingCount, 0);

    // Exactly the missing blocks crossed, and the bytes are theirs plus one list of heads.
    assert.equal(result.blocksSent, onlyA.length);
    assert.equal(result.blocksReceived, onlyB.length);
    const missingBytes = jsonBytes([...onlyA, ...onlyB]);
    const transferred = result.bytesSent + result.bytesReceived;
    assert.ok(transferred > missingBytes, `${transferred} ≤ ${missingBytes}`);
    // Heads of A, B's request (3 heads), roots, frame envelopes.
    const bound = missingBytes + headsBytes + 3 * 200 + 1_024;
    assert.ok(transferred < bound, `${transferred} bytes transferred; bound ${bound}`);
    assert.ok(transferred < jsonBytes([...sharedBlocks, ...onlyA, ...onlyB]), "less than the whole ledger");
    await waitFor(() => b.sync.stats().reconciliations === 1, "the responder's bookkeeping");
    assert.equal(b.sync.stats().syncReceived, onlyA.length);
    assert.equal(a.sync.stats().syncReceived, onlyB.length);

    // In sync now: only the roots cross.
    const again = await a.sync.reconcile(b.node.peerId);
    assert.equal(again.inSync, true);
    assert.ok(again.bytesSent + again.bytesReceived < 200);
  });

  it("refuses garbage on the sync protocol without crashing or changing state", async () => {
    const a = await peer();
    const b = await peer();
    const alice = new Wallet();
    const bob = new Wallet();
    feed(b.ledger, [alice.open(), bob.open()]);
    await a.node.dial(b.node.getMultiaddrs());
    const root = b.ledger.merkleRoot();
    const failuresBefore = b.sync.stats().failedReconciliations;

    // Not JSON, a huge length prefix, a frame out of order.
    const raw: Array<(frames: FrameStream, stream: Stream) => Promise<unknown>> = [
      (frames) => frames.writeBytes(utf8Encode("garbage")),
      async (_frames, stream) => stream.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])),
      (frames) => frames.writeBytes(utf8Encode(JSON.stringify({ type: "blocks", blocks: [], more: false }))),
    ];
    for (const send of raw) {
      const stream = await a.node.dialProtocol(b.node.peerId, LEDGER_SYNC_PROTOCOL);
      const frames = new FrameStream(stream);
      await send(frames, stream);
      await assert.rejects(frames.readBytes({ signal: AbortSignal.timeout(3_000) }));
      stream.abort(new Error("done"));
    }
    await waitFor(() => b.sync.stats().failedReconciliations === failuresBefore + 3, "three failed exchanges");

    // A well-formed exchange that carries a forged block: the block is dropped, the exchange completes.
    const forged = { ...alice.send(bob.id, 5), amount: 50_000 };
    const stream = await a.node.dialProtocol(b.node.peerId, LEDGER_SYNC_PROTOCOL);
    const frames = new FrameStream(stream, { maxFrameBytes: 4 * 1024 * 1024 });
    const write = (frame: unknown) => frames.writeBytes(utf8Encode(JSON.stringify(frame)));
    const read = async () => JSON.parse(utf8Decode(await frames.readBytes({ signal: AbortSignal.timeout(3_000) })));
    await write({ type: "root", root: "not-the-same" });
    assert.equal((await read()).type, "root");
    await write({ type: "heads", heads: [], more: false });
    while ((await read()).more);
    while ((await read()).more);
    await write({ type: "blocks", blocks: [forged, { nonsense: true }], more: false });
    assert.deepEqual(await read(), { type: "done" });
    await stream.close();
    await waitFor(() => b.sync.stats().rejected === 2, "two rejected blocks");
    assert.equal(b.ledger.merkleRoot(), root);

    // Still serving: a real reconciliation brings A up to date.
    const result = await a.sync.reconcile(b.node.peerId);
    assert.equal(result.blocksReceived, 2);
    assert.equal(a.ledger.merkleRoot(), root);
  });

  it("reconciles on its own when a peer that speaks the protocol connects", async () => {
    const a = await peer({ reconcileOnConnect: true });
    const b = await peer({ reconcileOnConnect: true });
    feed(a.ledger, [new Wallet().open()]);
    feed(b.ledger, [new Wallet().open(), new Wallet().open()]);
    await a.node.dial(b.node.getMultiaddrs());
    await waitFor(() => a.ledger.merkleRoot() === b.ledger.merkleRoot(), "convergence after connecting");
    assert.equal(a.ledger.heads().length, 3);
    // Let the automatic exchange finish on both sides (a reconcile() during it would join it).
    await waitFor(() => a.sync.stats().reconciliations === 1 && b.sync.stats().reconciliations === 1, "one exchange");
    const results = await a.sync.reconcileAll();
    assert.equal(results.length, 1);
    assert.equal(results[0]?.inSync, true);
  });

  /** A key that never registered: its open is signed but never sent, so its later blocks have no open anywhere. */
  const unregisteredChain = (length: number): LedgerBlock[] => {
    const junk = new Wallet();
    junk.open();
    return Array.from({ length }, () => junk.send(generateIdentity().id, 1));
  };

  it("drops gossiped blocks of an unregistered key before they are stored, and bans the peer that keeps sending them", async () => {
    const a = await peer();
    const b = await peer({ banAfter: 20 });
    const alice = new Wallet();
    feed(b.ledger, [alice.open()]);
    await a.node.dial(b.node.getMultiaddrs());
    await waitFor(
      () => a.node.services.pubsub.getSubscribers(LEDGER_TOPIC).some((id) => id.equals(b.node.peerId)),
      "the topic subscription",
    );
    const root = b.ledger.merkleRoot();
    for (const block of unregisteredChain(30)) {
      await a.node.services.pubsub.publish(LEDGER_TOPIC, utf8Encode(JSON.stringify(block)));
    }
    await waitFor(() => b.sync.isBanned(a.node.peerId), "the ban");
    assert.equal(b.sync.stats().unregistered, 20, "dropped as unregistered until the ban");
    assert.ok(b.sync.isBanned(a.node.peerId), "the sender is banned");
    assert.equal(b.sync.stats().bannedPeers, 1);
    assert.equal(b.ledger.pendingCount, 0, "nothing stored");
    assert.equal(b.ledger.merkleRoot(), root, "no Merkle entry");
    // A banned peer's sync exchanges are refused too.
    await assert.rejects(b.sync.reconcile(a.node.peerId), /banned/);
  });

  it("drops synced blocks of an unregistered key, keeps blocks that came before their own open, and bans a persistent sender", async () => {
    const a = await peer();
    const b = await peer({ banAfter: 20 });
    const alice = new Wallet();
    const bob = new Wallet();
    feed(b.ledger, [alice.open()]);
    await a.node.dial(b.node.getMultiaddrs());
    const exchange = async (blocks: readonly LedgerBlock[]) => {
      const stream = await a.node.dialProtocol(b.node.peerId, LEDGER_SYNC_PROTOCOL);
      const frames = new FrameStream(stream, { maxFrameBytes: 4 * 1024 * 1024 });
      const write = (frame: unknown) => frames.writeBytes(utf8Encode(JSON.stringify(frame)));
      const read = async () => JSON.parse(utf8Decode(await frames.readBytes({ signal: AbortSignal.timeout(3_000) })));
      await write({ type: "root", root: "not-the-same" });
      await read();
      await write({ type: "heads", heads: [], more: false });
      while ((await read()).more);
      while ((await read()).more);
      await write({ type: "blocks", blocks, more: false });
      const reply = await read().catch((error: unknown) => ({ error }));
      await stream.close().catch(() => {});
      return reply;
    };
    // Honest, out of order: bob's send before bob's open, in one exchange. Both count.
    const bobOpen = bob.open();
    assert.deepEqual(await exchange([bob.send(alice.id, 10), bobOpen]), { type: "done" });
    assert.equal(b.ledger.account(bob.id).height, 1);
    const root = b.ledger.merkleRoot();

    const reply = await exchange(unregisteredChain(30));
    assert.ok("error" in reply, "the exchange is cut once the peer is banned");
    assert.ok(b.sync.isBanned(a.node.peerId));
    assert.equal(b.sync.stats().unregistered, 20);
    assert.equal(b.ledger.pendingCount, 0);
    assert.equal(b.ledger.merkleRoot(), root);
    const refused = await a.node.dialProtocol(b.node.peerId, LEDGER_SYNC_PROTOCOL);
    await assert.rejects(new FrameStream(refused).readBytes({ signal: AbortSignal.timeout(3_000) }));
  });
});
