import "./node-runtime.js";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import { Ledger, ledgerParams } from "@opengateway/ledger";
import {
  createInferenceRequest,
  decodeProviderFrame,
  generateIdentity,
  INFERENCE_PROTOCOL,
  silentLogger,
  utf8Encode,
} from "@opengateway/protocol";
import { TickingEngine } from "@opengateway/protocol/test-support/ticking-engine";
import fc from "fast-check";
import { LEDGER_SYNC_PROTOCOL } from "./constants.js";
import type { NetworkServices } from "./create-libp2p-node.js";
import { createLibp2pNode } from "./create-libp2p-node.js";
import { requestInference } from "./inference-client.js";
import { inferenceService } from "./inference-service.js";
import { LedgerSync } from "./ledger-sync.js";

/** Inputs per protocol: 10,000 in CI with a fixed seed; OPENGATEWAY_FUZZ_RUNS / _SEED for long runs. */
const RUNS = Number(process.env.OPENGATEWAY_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.OPENGATEWAY_FUZZ_SEED ?? 14);
/** Far above anything a peer needs to answer one bad stream: past it the fuzzer reports a hang. */
const ANSWER_BOUND_MS = 15_000;
const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "prototype"];

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return bytes;
}

const framed = (payload: Uint8Array): Uint8Array => new Uint8Array([...varint(payload.length), ...payload]);
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(parts.flatMap((part) => [...part]));

/** JSON values with the keys that broke lookups before (prototype members) among the ordinary ones. */
const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...PROTOTYPE_KEYS));
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, ""),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 40 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
})).value;

/** Replaces one field, at any depth, of a valid frame with a generated value (or deletes it). */
function mutate(frame: unknown, path: number[], replacement: unknown, remove: boolean): unknown {
  if (typeof frame !== "object" || frame === null) return replacement;
  const copy: Record<string, unknown> = Array.isArray(frame) ? ([...frame] as unknown as Record<string, unknown>) : { ...frame };
  const keys = Object.keys(copy);
  if (keys.length === 0 || path.length === 0) return replacement;
  const chosen = keys[(path[0] ?? 0) % keys.length] as string;
  if (path.length === 1) {
    if (remove) delete copy[chosen];
    else copy[chosen] = replacement;
  } else copy[chosen] = mutate(copy[chosen], path.slice(1), replacement, remove);
  return copy;
}

/** What a peer may be sent on one stream: raw bytes, broken length prefixes, or frames of valid shape with one field wrong. */
function streamBytes(validFrames: readonly unknown[]): fc.Arbitrary<Uint8Array> {
  const oneFrame = fc.oneof(
    fc.uint8Array({ maxLength: 256 }).map(framed),
    fc.uint8Array({ maxLength: 64 }),
    // A prefix promising more than will ever come, or more than any frame may hold.
    fc
      .tuple(fc.integer({ min: 1, max: 2 ** 31 }), fc.uint8Array({ maxLength: 16 }))
      .map(([length, rest]) => concat([new Uint8Array(varint(length)), rest])),
    json.map((value) => framed(utf8Encode(JSON.stringify(value) ?? "null"))),
    fc
      .tuple(
        fc.constantFrom(...validFrames),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        json,
        fc.boolean(),
        fc.constantFrom(...PROTOTYPE_KEYS),
        fc.boolean(),
      )
      .map(([frame, path, replacement, remove, protoKey, addProtoKey]) => {
        const changed = mutate(frame, path, replacement, remove);
        let text = JSON.stringify(changed) ?? "null";
        // JSON.stringify drops a real __proto__ own key; put it on the wire by hand.
        if (addProtoKey && text.startsWith("{") && text.length > 2) text = `{"${protoKey}":{"a":1},${text.slice(1)}`;
        return framed(utf8Encode(text));
      }),
    fc.constantFrom(...validFrames).map((frame) => framed(utf8Encode(JSON.stringify(frame)))),
  );
  return fc.array(oneFrame, { minLength: 1, maxLength: 4 }).map(concat);
}

/**
 * Sends bytes on a fresh stream, closes our side, and collects what comes back until the peer
 * closes or resets; a peer that neither answers nor closes within the bound is a hang.
 */
async function exchange(client: Libp2p, peer: Libp2p, protocol: string, bytes: Uint8Array): Promise<Uint8Array> {
  const stream = await client.dialProtocol(peer.peerId, protocol);
  const received: Uint8Array[] = [];
  const reading = (async () => {
    for await (const chunk of stream) received.push(chunk.subarray());
  })().catch(() => {});
  if (!stream.send(bytes)) await stream.onDrain().catch(() => {});
  await stream.close({ signal: AbortSignal.timeout(ANSWER_BOUND_MS) }).catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), ANSWER_BOUND_MS);
  });
  const outcome = await Promise.race([reading, hung]);
  clearTimeout(timer);
  if (outcome === "hung") {
    stream.abort(new Error("fuzzer gave up"));
    assert.fail(`the peer neither answered nor closed within ${ANSWER_BOUND_MS} ms`);
  }
  return concat(received);
}

/** Splits length-prefixed frames (what the provider wrote back). */
function frames(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    let length = 0;
    let shift = 1;
    let byte: number;
    do {
      byte = bytes[offset++] ?? assert.fail("truncated length prefix from the peer");
      length += (byte & 0x7f) * shift;
      shift *= 0x80;
    } while (byte & 0x80);
    out.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

describe("wire-frame fuzzing over real libp2p streams", { timeout: 1_800_000 }, () => {
  // One "ok" token at once: the fuzzer measures the wire, not the engine.
  const engine = new TickingEngine({ tickMs: 0, text: "ok", promptTokens: 1, model: { kinds: ["chat", "completion"] } });
  const providerIdentity = generateIdentity();
  const payer = generateIdentity();
  const ledgerErrors: unknown[] = [];
  let provider: Libp2p<NetworkServices>;
  let client: Libp2p;
  let sync: LedgerSync;

  before(async () => {
    provider = await createLibp2pNode({
      identity: providerIdentity,
      services: { inference: inferenceService({ engine, identity: providerIdentity, requestReadTimeoutMs: 5_000 }) },
    });
    sync = new LedgerSync(provider, new Ledger({ params: ledgerParams({ registrationDifficultyBits: 4 }) }), {
      intervalMs: 60 * 60 * 1000,
      timeoutMs: 5_000,
      reconcileOnConnect: false,
      // The fuzzer sends invalid blocks on purpose; a ban would end the run early.
      penalties: { banAfter: Number.MAX_SAFE_INTEGER },
      logger: { ...silentLogger, warn: (fields) => ledgerErrors.push(fields.err) },
    });
    await sync.start();
    client = await createLibp2pNode({ identity: generateIdentity() });
    await client.dial(provider.getMultiaddrs()[0] ?? assert.fail("provider has no address"));
  });

  after(async () => {
    await sync?.stop();
    await client?.stop();
    await provider?.stop();
  });

  const request = () =>
    createInferenceRequest(
      {
        kind: "chat",
        model: "m",
        body: { messages: [{ role: "user", content: "hi" }], maxTokens: 1, temperature: 1, topP: 1, seed: 1, stop: [] },
        provider: provider.peerId.toString(),
        pricePerToken: 1,
        maxCredits: 100,
      },
      payer,
    );

  it(`inference: ${RUNS} generated streams each end in an error frame or a close, and the provider keeps serving`, async () => {
    const valid = [{ t: "request", request: request() }, { t: "cancel" }, { t: "delta", index: 0, text: "x", tokens: 1 }];
    await fc.assert(
      fc.asyncProperty(streamBytes(valid), async (bytes) => {
        for (const frame of frames(await exchange(client, provider, INFERENCE_PROTOCOL, bytes))) {
          const decoded = decodeProviderFrame(frame); // a provider never writes a frame its own schema refuses
          assert.ok(["delta", "done", "error"].includes(decoded.t), decoded.t);
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    let text = "";
    for await (const frame of requestInference(client, provider.peerId, request())) if (frame.t === "delta") text += frame.text;
    assert.equal(text, "ok", "an honest request is still served after the fuzzing");
  });

  it(`ledger sync: ${RUNS} generated exchanges each end in a close, and the responder keeps reconciling`, async () => {
    const valid = [
      { type: "root", root: "00".repeat(32) },
      { type: "heads", heads: [{ account: payer.id, height: 0, hash: null, frozenAt: null }], more: false },
      { type: "blocks", blocks: [{ v: 1 }], more: false },
      { type: "done" },
    ];
    await fc.assert(
      fc.asyncProperty(streamBytes(valid), async (bytes) => {
        await exchange(client, provider, LEDGER_SYNC_PROTOCOL, bytes);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // An honest peer still reconciles with it.
    const honest = await createLibp2pNode({ identity: generateIdentity() });
    const honestSync = new LedgerSync(honest, new Ledger({ params: ledgerParams({ registrationDifficultyBits: 4 }) }), {
      intervalMs: 60 * 60 * 1000,
      timeoutMs: 5_000,
      reconcileOnConnect: false,
      logger: silentLogger,
    });
    try {
      await honestSync.start();
      await honest.dial(provider.getMultiaddrs()[0] ?? assert.fail("no address"));
      const result = await honestSync.reconcile(provider.peerId);
      assert.equal(result.error, undefined, String(result.error));
      assert.equal(result.inSync, true, "two empty ledgers agree");
    } finally {
      await honestSync.stop();
      await honest.stop();
    }
  });
});
