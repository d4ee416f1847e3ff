import type { Stream } from "@libp2p/interface";
import type { LengthPrefixedStream } from "@libp2p/utils";
import { lpStream } from "@libp2p/utils";
import type { ClientFrame, ProviderFrame } from "@opengateway/protocol";
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameTooLargeError,
  MalformedFrameError,
  ProtocolViolationError,
} from "@opengateway/protocol";

export interface FrameStreamOptions {
  maxFrameBytes?: number;
}

/**
 * Length-prefixed JSON frames over a libp2p stream. Read errors from the framing layer are
 * turned into the protocol's typed errors so callers handle one family of failures.
 */
export class FrameStream {
  readonly stream: Stream;
  readonly #lp: LengthPrefixedStream<Stream>;

  constructor(stream: Stream, options: FrameStreamOptions = {}) {
    this.stream = stream;
    this.#lp = lpStream(stream, { maxDataLength: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
  }

  async readBytes(options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    try {
      const list = await this.#lp.read(options);
      return list.subarray();
    } catch (error) {
      throw translateReadError(error, options.signal);
    }
  }

  async write(frame: ClientFrame | ProviderFrame, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#lp.write(encodeFrame(frame), options);
  }

  async writeBytes(bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#lp.write(bytes, options);
  }
}

function translateReadError(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  const name = (error as { name?: string } | null)?.name;
  if (name === "InvalidDataLengthError" || name === "InvalidDataLengthLengthError") {
    return new FrameTooLargeError();
  }
  if (name === "InvalidMessageLengthError") return new MalformedFrameError("invalid frame length prefix");
  if (name === "UnexpectedEOFError") return new ProtocolViolationError("the stream ended before the exchange was complete");
  if (name === "StreamResetError" || name === "StreamAbortedError" || name === "StreamClosedError") {
    return new ProtocolViolationError(`the stream was closed by the remote peer (${name})`);
  }
  return error;
}
