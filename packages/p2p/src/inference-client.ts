import type { Libp2p, PeerId } from "@libp2p/interface";
import type { InferenceReceipt, InferenceRequest, ProviderFrame } from "@opengateway/protocol";
import {
  CancelledError,
  DEFAULT_MAX_FRAME_BYTES,
  decodeProviderFrame,
  errorFromCode,
  INFERENCE_PROTOCOL,
  ProtocolViolationError,
  verifyInferenceReceipt,
} from "@opengateway/protocol";
import { FrameStream } from "./frame-stream.js";

export interface RequestInferenceOptions {
  /** Aborting sends `cancel` to the provider and closes the stream; generation stops there. */
  signal?: AbortSignal;
  maxFrameBytes?: number;
  /** A provider that sends no frame for this long is treated as failed (a hung node). */
  idleTimeoutMs?: number;
  /**
   * A verified receipt of partial work: the text delivered before the provider failed, or before
   * the client cancelled (it then waits up to `partialReceiptWaitMs` for it). The payer settles it.
   */
  onPartialReceipt?: (receipt: InferenceReceipt) => void;
  partialReceiptWaitMs?: number;
}

/** How long a cancelling client waits for the provider's receipt of what it delivered. */
export const DEFAULT_PARTIAL_RECEIPT_WAIT_MS = 2_000;

/**
 * The client half of `/opengateway/infer/1.0.0`: sends one signed request and yields the
 * provider's `delta` frames, then its `done` frame (whose receipt is verified against the
 * peer that served it and what the request allows). An `error` frame is thrown as the matching
 * typed error. Leaving the loop early (or aborting) cancels the request on the provider, which
 * answers with a receipt for what it delivered; that one, and one sent before an error, go to
 * `onPartialReceipt` once verified against the completion tokens received here.
 */
export async function* requestInference(
  node: Pick<Libp2p, "dialProtocol">,
  provider: PeerId,
  request: InferenceRequest,
  options: RequestInferenceOptions = {},
): AsyncGenerator<ProviderFrame, void, undefined> {
  const { signal } = options;
  signal?.throwIfAborted();
  // Optimistic protocol selection: the protocol id travels with the request frame, saving a round trip.
  const stream = await node.dialProtocol(provider, INFERENCE_PROTOCOL, { signal, negotiateFully: false });
  const frames = new FrameStream(stream, { maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
  const providerId = provider.toString();
  let delivered = 0;
  let finished = false;
  /** Takes a receipt of partial work; a bad one is dropped (never settled) and reported as the failure. */
  const partial = (receipt: InferenceReceipt): void => {
    verifyInferenceReceipt(receipt, request, providerId, { deliveredCompletionTokens: delivered });
    options.onPartialReceipt?.(receipt);
  };
  try {
    await frames.write({ t: "request", request }, { signal });
    while (true) {
      const frame = decodeProviderFrame(await readFrame(frames, signal, options.idleTimeoutMs));
      if (frame.t === "error") {
        finished = true;
        throw errorFromCode(frame.code, frame.message);
      }
      if (frame.t === "receipt") {
        partial(frame.receipt);
        continue;
      }
      if (frame.t === "done") {
        verifyInferenceReceipt(frame.receipt, request, providerId, { deliveredCompletionTokens: delivered });
        finished = true;
        yield frame;
        return;
      }
      if (frame.t === "delta") delivered += frame.tokens;
      yield frame;
    }
  } finally {
    if (finished) {
      await stream.close().catch(() => {});
    } else if (stream.status === "open") {
      // The consumer left early, aborted, or the exchange failed: tell the provider to stop, and
      // take the receipt of what it delivered (a hung provider sends none: the wait is bounded).
      await frames.write({ t: "cancel" }).catch(() => {});
      await awaitPartialReceipt(frames, options.partialReceiptWaitMs ?? DEFAULT_PARTIAL_RECEIPT_WAIT_MS, (frame) => {
        if (frame.t === "delta") delivered += frame.tokens;
        else if (frame.t === "receipt" || frame.t === "done") partial(frame.receipt);
      }).catch(() => {});
      stream.abort(new CancelledError());
    }
  }
}

/** Reads frames until a receipt, a `done`, an `error` or the end of the wait. */
async function awaitPartialReceipt(frames: FrameStream, waitMs: number, onFrame: (frame: ProviderFrame) => void): Promise<void> {
  const deadline = AbortSignal.timeout(waitMs);
  while (true) {
    const frame = decodeProviderFrame(await frames.readBytes({ signal: deadline }));
    onFrame(frame);
    if (frame.t === "receipt" || frame.t === "done" || frame.t === "error") return;
  }
}

async function readFrame(
  frames: FrameStream,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number | undefined,
): Promise<Uint8Array> {
  if (idleTimeoutMs === undefined) return frames.readBytes({ signal });
  const idle = AbortSignal.timeout(idleTimeoutMs);
  try {
    return await frames.readBytes({ signal: signal ? AbortSignal.any([signal, idle]) : idle });
  } catch (error) {
    if (idle.aborted && !signal?.aborted) throw new ProtocolViolationError(`the provider sent nothing for ${idleTimeoutMs} ms`);
    throw error;
  }
}
