import type { Connection, Stream } from "@libp2p/interface";
import type { FinishReason, Identity, InferenceEngine, InferenceRequest, Usage } from "@opengateway/protocol";
import {
  CancelledError,
  createInferenceReceipt,
  creditsForUsage,
  DEFAULT_MAX_FRAME_BYTES,
  decodeClientFrame,
  EngineFailedError,
  INFERENCE_PROTOCOL,
  InvalidRequestError,
  isErrorCode,
  ModelNotFoundError,
  OpenGatewayError,
  ProtocolViolationError,
  ReplayGuard,
  RequestExpiredError,
  verifyInferenceRequest,
} from "@opengateway/protocol";
import {
  DEFAULT_DELTA_BATCH_MS,
  DEFAULT_DELTA_BATCH_TOKENS,
  DEFAULT_MAX_INBOUND_INFERENCE_STREAMS,
  DEFAULT_MAX_OUTBOUND_INFERENCE_STREAMS,
  DEFAULT_REQUEST_READ_TIMEOUT_MS,
} from "./constants.js";
import { FrameStream } from "./frame-stream.js";
import type { ProtocolServiceComponents } from "./service-components.js";

/** What a provider reports about each request it handled: for logs, metrics and dashboards. */
export interface InferenceServedEvent {
  requestId: string;
  payer: string;
  model: string;
  outcome: "done" | "error";
  finishReason?: FinishReason | "cancelled";
  errorCode?: string;
  usage?: Usage;
  credits?: number;
  durationMs: number;
}

export interface InferenceServiceInit {
  engine: InferenceEngine;
  /** Signs receipts; must be the identity behind this node's peer id. */
  identity: Identity;
  maxFrameBytes?: number;
  clockSkewMs?: number;
  requestReadTimeoutMs?: number;
  deltaBatchMs?: number;
  deltaBatchTokens?: number;
  maxInboundStreams?: number;
  replayGuard?: ReplayGuard;
  onServed?: (event: InferenceServedEvent) => void;
}

export type InferenceServiceComponents = ProtocolServiceComponents;

/**
 * The provider half of `/opengateway/infer/1.0.0`. Every failure, including garbage on the
 * wire, ends as an `error` frame on that one stream; nothing a peer sends can crash the node.
 */
export class InferenceService {
  readonly #components: InferenceServiceComponents;
  readonly #init: InferenceServiceInit;
  readonly #replayGuard: ReplayGuard;
  readonly #active = new Set<AbortController>();
  #started = false;

  constructor(components: InferenceServiceComponents, init: InferenceServiceInit) {
    this.#components = components;
    this.#init = init;
    this.#replayGuard = init.replayGuard ?? new ReplayGuard({ clockSkewMs: init.clockSkewMs });
  }

  readonly [Symbol.toStringTag] = "@opengateway/inference-service";

  get activeRequests(): number {
    return this.#active.size;
  }

  async start(): Promise<void> {
    await this.#components.registrar.handle(INFERENCE_PROTOCOL, (stream, connection) => this.#handle(stream, connection), {
      maxInboundStreams: this.#init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_INFERENCE_STREAMS,
      maxOutboundStreams: DEFAULT_MAX_OUTBOUND_INFERENCE_STREAMS,
    });
    this.#started = true;
  }

  async stop(): Promise<void> {
    await this.#components.registrar.unhandle(INFERENCE_PROTOCOL);
    for (const controller of this.#active) controller.abort(new CancelledError("the provider is shutting down"));
    this.#started = false;
  }

  isStarted(): boolean {
    return this.#started;
  }

  async #handle(stream: Stream, _connection: Connection): Promise<void> {
    const frames = new FrameStream(stream, { maxFrameBytes: this.#init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    const controller = new AbortController();
    const onClose = (): void => controller.abort(new CancelledError("the client closed the stream"));
    stream.addEventListener("close", onClose, { once: true });
    this.#active.add(controller);
    const startedAt = Date.now();
    let request: InferenceRequest | undefined;
    try {
      request = await this.#readRequest(frames);
      this.#watchForCancel(frames, controller);
      const result = await this.#serve(frames, request, controller.signal);
      this.#init.onServed?.({
        requestId: request.id,
        payer: request.payer,
        model: request.model,
        outcome: "done",
        durationMs: Date.now() - startedAt,
        ...result,
      });
      await stream.close().catch(() => {});
    } catch (error) {
      // Once the client has gone, whatever broke afterwards is a consequence of the cancel.
      const reason: unknown = controller.signal.reason;
      const failure = controller.signal.aborted && reason instanceof OpenGatewayError ? reason : toOpenGatewayError(error);
      this.#init.onServed?.({
        requestId: request?.id ?? "",
        payer: request?.payer ?? "",
        model: request?.model ?? "",
        outcome: "error",
        errorCode: failure.code,
        durationMs: Date.now() - startedAt,
      });
      if (stream.status === "open" && !controller.signal.aborted) {
        await frames.write({ t: "error", code: failure.code, message: failure.message.slice(0, 4096) }).catch(() => {});
        await stream.close().catch(() => {});
      } else {
        stream.abort(failure);
      }
    } finally {
      stream.removeEventListener("close", onClose);
      this.#active.delete(controller);
    }
  }

  async #readRequest(frames: FrameStream): Promise<InferenceRequest> {
    const bytes = await frames.readBytes({
      signal: AbortSignal.timeout(this.#init.requestReadTimeoutMs ?? DEFAULT_REQUEST_READ_TIMEOUT_MS),
    });
    const frame = decodeClientFrame(bytes);
    if (frame.t !== "request") throw new ProtocolViolationError("the first frame must be a request");
    const request = frame.request;
    verifyInferenceRequest(request, { clockSkewMs: this.#init.clockSkewMs });
    this.#replayGuard.check(request.payer, request.nonce, request.expiresAt);
    const model = this.#init.engine.listModels().find((candidate) => candidate.id === request.model);
    if (model === undefined) throw new ModelNotFoundError(`model '${request.model}' is not served here`);
    if (request.body.maxTokens > model.contextSize) {
      throw new InvalidRequestError(`maxTokens ${request.body.maxTokens} exceeds the model's context of ${model.contextSize}`);
    }
    return request;
  }

  /** A `cancel` frame, or the client closing or resetting its side, stops generation. */
  #watchForCancel(frames: FrameStream, controller: AbortController): void {
    frames
      .readBytes({ signal: controller.signal })
      .then(() => controller.abort(new CancelledError("the client cancelled the request")))
      .catch(() => controller.abort(new CancelledError("the client went away")));
  }

  async #serve(
    frames: FrameStream,
    request: InferenceRequest,
    signal: AbortSignal,
  ): Promise<{ finishReason: FinishReason; usage: Usage; credits: number }> {
    const batchMs = this.#init.deltaBatchMs ?? DEFAULT_DELTA_BATCH_MS;
    const batchTokens = this.#init.deltaBatchTokens ?? DEFAULT_DELTA_BATCH_TOKENS;
    const model = this.#init.engine.listModels().find((candidate) => candidate.id === request.model);
    let pendingText = "";
    let pendingTokens = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let writeChain: Promise<void> = Promise.resolve();
    let writeError: unknown;

    // At most one delta frame per batch interval: text that arrives after a quiet spell goes
    // out at once (so the first token and slow engines add no delay), while a fast engine's
    // tokens are coalesced instead of paying one encrypted frame, and one SSE chunk, per token.
    let lastFlushAt = Number.NEGATIVE_INFINITY;
    const flush = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (pendingText === "" && pendingTokens === 0) return;
      lastFlushAt = performance.now();
      const frame = { t: "delta", text: pendingText, tokens: pendingTokens } as const;
      pendingText = "";
      pendingTokens = 0;
      // Failures are recorded, not left as a floating rejection; the loop below stops on them.
      writeChain = writeChain
        .then(() => frames.write(frame, { signal }))
        .catch((error: unknown) => {
          writeError ??= error;
        });
    };

    let finishReason: FinishReason | undefined;
    let usage: Usage | undefined;
    try {
      for await (const event of this.#init.engine.generateChat({ model: request.model, ...request.body }, { signal })) {
        if (writeError !== undefined) throw writeError;
        if (event.type === "text") {
          pendingText += event.text;
          pendingTokens += event.tokens;
          const sinceFlush = performance.now() - lastFlushAt;
          if (sinceFlush >= batchMs || pendingTokens >= batchTokens) flush();
          else if (timer === undefined) timer = setTimeout(flush, batchMs - sinceFlush);
        } else {
          finishReason = event.finishReason;
          usage = event.usage;
        }
      }
      flush();
      await writeChain;
      if (writeError !== undefined) throw writeError;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (signal.aborted) throw signal.reason;
    if (finishReason === undefined || usage === undefined) throw new EngineFailedError("the engine ended without a result");
    // A provider may never charge past what the payer signed for (issue #5 makes it stop there).
    const credits = Math.min(creditsForUsage(usage, model?.pricePerToken), request.maxCredits);
    const receipt = createInferenceReceipt({ request, usage, credits, finishReason }, this.#init.identity);
    await frames.write({ t: "done", finishReason, usage, receipt }, { signal });
    return { finishReason, usage, credits };
  }
}

function toOpenGatewayError(error: unknown): OpenGatewayError {
  if (error instanceof OpenGatewayError) return error;
  const name = (error as { name?: string } | null)?.name;
  if (name === "TimeoutError") return new RequestExpiredError("no request frame arrived in time");
  const code = (error as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return new OpenGatewayError(code, String((error as Error).message));
  return new EngineFailedError(error instanceof Error ? error.message : "the engine failed", { cause: error });
}

export function inferenceService(init: InferenceServiceInit): (components: InferenceServiceComponents) => InferenceService {
  return (components) => new InferenceService(components, init);
}
