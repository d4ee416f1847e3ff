import type { Libp2p, PeerId } from "@libp2p/interface";
import type { InferenceRequest, ProviderFrame } from "@opengateway/protocol";
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
}

/**
 * The client half of `/opengateway/infer/1.0.0`: sends one signed request and yields the
 * provider's `delta` frames, then its `done` frame (whose receipt is verified against the
 * peer that served it). An `error` frame is thrown as the matching typed error. Leaving the
 * loop early cancels the request on the provider.
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
  let finished = false;
  const onAbort = (): void => {
    void frames
      .write({ t: "cancel" })
      .catch(() => {})
      .finally(() => stream.abort(new CancelledError()));
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await frames.write({ t: "request", request }, { signal });
    while (true) {
      const frame = decodeProviderFrame(await readFrame(frames, signal, options.idleTimeoutMs));
      if (frame.t === "error") {
        finished = true;
        throw errorFromCode(frame.code, frame.message);
      }
      if (frame.t === "done") {
        verifyInferenceReceipt(frame.receipt, request, provider.toString());
        finished = true;
        yield frame;
        return;
      }
      yield frame;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (finished) {
      await stream.close().catch(() => {});
    } else if (stream.status === "open") {
      // The consumer left early or the exchange failed: tell the provider to stop.
      await frames.write({ t: "cancel" }).catch(() => {});
      stream.abort(new CancelledError());
    }
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
