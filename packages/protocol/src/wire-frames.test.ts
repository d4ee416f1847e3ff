import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MalformedFrameError } from "./errors.js";
import { decodeClientFrame, decodeProviderFrame, encodeFrame } from "./wire-frames.js";

describe("wire frames", () => {
  it("round-trips provider frames", () => {
    const frame = { t: "delta", index: 0, text: "Once", tokens: 1 } as const;
    assert.deepEqual(decodeProviderFrame(encodeFrame(frame)), frame);
  });

  it("refuses malformed input with a MalformedFrameError, never another exception", () => {
    const inputs = [
      new TextEncoder().encode("{not json"),
      Uint8Array.of(0xff, 0xfe, 0x00),
      new TextEncoder().encode('{"t":"request"}'),
      new TextEncoder().encode('{"t":"delta","text":1,"tokens":1}'),
      new TextEncoder().encode('{"t":"cancel","extra":true}'),
      new TextEncoder().encode("null"),
      new TextEncoder().encode("[]"),
    ];
    for (const input of inputs) {
      assert.throws(() => decodeClientFrame(input), MalformedFrameError);
      assert.throws(() => decodeProviderFrame(input), MalformedFrameError);
    }
  });
});
