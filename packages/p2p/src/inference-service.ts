import type { Connection, Stream } from "@libp2p/interface";
import type {
  ChoiceEnd,
  FinishReason,
  Identity,
  InferenceEngine,
  InferenceReceipt,
  InferenceRequest,
  ProviderFrame,
  Usage,
} from "@opengateway/protocol";
import {
  CancelledError,
  createInferenceReceipt,
  creditsForUsage,
  DEFAULT_MAX_FRAME_BYTES,
  decodeClientFrame,
  deliveredOutputHash,
  EngineFailedError,
  errorFromCode,
  INFERENCE_PROTOCOL,
  InvalidRequestError,
  isErrorCode,
  ModelNotFoundError,
  maxTokensFor,
  ProtocolViolationError,
  ReplayGuard,
  RequestExpiredError,
  verifyInferenceRequest,
  WireError,
} from "@opengateway/protocol";
import {
  DEFAULT_DELTA_BATCH_MS,
  DEFAULT_DELTA_BATCH_TOKENS,
  DEFAULT_MAX_INBOUND_INFERENCE_STREAMS,
  DEFAULT_MAX_OUTBOUND_INFERENCE_STREAMS,
  DEFAULT_REQUEST_READ_TIMEOUT_MS,
} from "./constants.js";
import { FrameStream } from "./frame-stream.js";

/** How long a provider tries to hand a receipt of partial work to a client that cancelled. */
const PARTIAL_RECEIPT_WRITE_MS = 2_000;

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
  /** The receipt this provider signed, for collecting the payment once the payer settles. */
  receipt?: InferenceReceipt;
  /** The payer-signed request (prompt included: never log it); with the receipt, what a claim needs. */
  request?: InferenceRequest;
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
  /**
   * Decides whether this payer may be served (e.g. it can cover `maxCredits` on the ledger, with
   * its requests already in flight here). Runs after the schema, model, expiry and signature checks
   * and before the replay guard takes a slot (a refused payer never holds one), before any work;
   * throw a typed error to refuse. What it returns is called once the request has ended (to free
   * what it held for the request).
   */
  authorize?: (
    request: InferenceRequest,
    fromPeer: string,
    options: { signal: AbortSignal },
  ) => Promise<undefined | (() => void)> | Promise<void>;
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

  async #handle(stream: Stream, connection: Connection): Promise<void> {
    const frames = new FrameStream(stream, { maxFrameBytes: this.#init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    const controller = new AbortController();
    const onClose = (): void => controller.abort(new CancelledError("the client closed the stream"));
    stream.addEventListener("close", onClose, { once: true });
    this.#active.add(controller);
    const startedAt = Date.now();
    let request: InferenceRequest | undefined;
    let release: (() => void) | undefined;
    /** Tokens of the completion written to the client so far: what a receipt of partial work charges. */
    const progress = { deliveredTokens: 0, cancelled: false };
    try {
      // Admission, cheap first: schema, model served, expiry, signature (in #readRequest), then the
      // payer, and only then a replay-guard slot, under the payer's and the peer's quotas.
      request = await this.#readRequest(frames);
      const peer = connection.remotePeer.toString();
      release = (await this.#init.authorize?.(request, peer, { signal: controller.signal })) ?? undefined;
      this.#replayGuard.check(request.payer, request.nonce, request.expiresAt, Date.now(), peer);
      this.#watchForCancel(frames, controller, progress);
      const result = await this.#serve(frames, request, controller.signal, progress);
      this.#init.onServed?.({
        requestId: request.id,
        payer: request.payer,
        model: request.model,
        outcome: "done",
        durationMs: Date.now() - startedAt,
        request,
        ...result,
      });
      await stream.close().catch(() => {});
    } catch (error) {
      // Once the client has gone, whatever broke afterwards is a consequence of the cancel.
      const reason: unknown = controller.signal.reason;
      const failure = controller.signal.aborted && WireError.isInstance(reason) ? reason : toOpenGatewayError(error);
      // Partial work is paid: text already delivered gets a receipt, on a cancel or before an error.
      const partial =
        request !== undefined &&
        progress.deliveredTokens > 0 &&
        stream.status === "open" &&
        (progress.cancelled || !controller.signal.aborted)
          ? this.#partialReceipt(request, progress.deliveredTokens)
          : undefined;
      if (partial !== undefined) {
        await frames
          .write({ t: "receipt", receipt: partial }, { signal: AbortSignal.timeout(PARTIAL_RECEIPT_WRITE_MS) })
          .catch(() => {});
        this.#init.onServed?.({
          requestId: partial.requestId,
          payer: partial.payer,
          model: partial.model,
          outcome: "error",
          errorCode: failure.code,
          usage: partial.usage,
          credits: partial.credits,
          finishReason: "cancelled",
          durationMs: Date.now() - startedAt,
          receipt: partial,
          request,
        });
      } else {
        this.#init.onServed?.({
          requestId: request?.id ?? "",
          payer: request?.payer ?? "",
          model: request?.model ?? "",
          outcome: "error",
          errorCode: failure.code,
          durationMs: Date.now() - startedAt,
        });
      }
      if (stream.status === "open" && !controller.signal.aborted) {
        await frames.write({ t: "error", code: failure.code, message: failure.message.slice(0, 4096) }).catch(() => {});
        await stream.close().catch(() => {});
      } else if (partial !== undefined) {
        await stream.close().catch(() => {});
      } else {
        stream.abort(failure);
      }
    } finally {
      release?.();
      stream.removeEventListener("close", onClose);
      this.#active.delete(controller);
    }
  }

  /** The receipt for the completion tokens already delivered (the prompt is not charged: its count is only known at the end). */
  #partialReceipt(request: InferenceRequest, deliveredTokens: number): InferenceReceipt {
    const usage = { promptTokens: 0, completionTokens: deliveredTokens };
    const credits = Math.min(creditsForUsage(usage, request.pricePerToken), request.maxCredits);
    return createInferenceReceipt({ request, usage, credits, finishReason: "cancelled" }, this.#init.identity);
  }

  async #readRequest(frames: FrameStream): Promise<InferenceRequest> {
    const bytes = await frames.readBytes({
      signal: AbortSignal.timeout(this.#init.requestReadTimeoutMs ?? DEFAULT_REQUEST_READ_TIMEOUT_MS),
    });
    const frame = decodeClientFrame(bytes);
    if (frame.t !== "request") throw new ProtocolViolationError("the first frame must be a request");
    const request = frame.request;
    // Bound to one provider: a request signed for another peer is not this node's to serve (or claim).
    if (request.provider !== this.#init.identity.id) {
      throw new ProtocolViolationError("the request is addressed to another provider");
    }
    const model = this.#init.engine.listModels().find((candidate) => candidate.id === request.model);
    if (model === undefined) throw new ModelNotFoundError(`model '${request.model}' is not served here`);
    if (request.pricePerToken < model.pricePerToken) {
      // A stale advert: the payer accepted less than this provider asks now. Another provider may do.
      throw new ProtocolViolationError(
        `the request accepts ${request.pricePerToken} credits per token; '${request.model}' costs ${model.pricePerToken} here`,
      );
    }
    if (!model.kinds.includes(request.kind)) {
      throw new InvalidRequestError(`model '${request.model}' does not serve ${request.kind} requests here`);
    }
    if (request.kind !== "embedding" && request.body.maxTokens > model.contextSize) {
      throw new InvalidRequestError(`maxTokens ${request.body.maxTokens} exceeds the model's context of ${model.contextSize}`);
    }
    verifyInferenceRequest(request, { clockSkewMs: this.#init.clockSkewMs });
    return request;
  }

  /** A `cancel` frame, or the client closing or resetting its side, stops generation. */
  #watchForCancel(frames: FrameStream, controller: AbortController, progress: { cancelled: boolean }): void {
    frames
      .readBytes({ signal: controller.signal })
      .then(() => {
        // A `cancel` frame: the client still listens for the receipt of what it was sent.
        progress.cancelled = true;
        controller.abort(new CancelledError("the client cancelled the request"));
      })
      .catch(() => controller.abort(new CancelledError("the client went away")));
  }

  async #serve(
    frames: FrameStream,
    request: InferenceRequest,
    signal: AbortSignal,
    progress: { deliveredTokens: number },
  ): Promise<ServedResult> {
    const batchMs = this.#init.deltaBatchMs ?? DEFAULT_DELTA_BATCH_MS;
    const writer = new FrameWriter(frames, signal, {
      // Alone, the answer streams token by token; beside others, frames are coalesced (see the constant).
      batchMs: () => (this.#active.size > 1 ? batchMs : 0),
      batchTokens: this.#init.deltaBatchTokens ?? DEFAULT_DELTA_BATCH_TOKENS,
      onDelivered: (tokens) => {
        progress.deliveredTokens += tokens;
      },
    });
    let choices: readonly ChoiceEnd[] | undefined;
    let usage: Usage | undefined;
    // The text of each choice as it went out: the receipt commits to it (deliveredOutputHash).
    const texts = new Map<number, string>();
    try {
      if (request.kind === "embedding") {
        for await (const event of this.#init.engine.embed({ model: request.model, ...request.body }, { signal })) {
          writer.throwIfFailed();
          if (event.type === "embedding") writer.send({ t: "embedding", index: event.index, embedding: [...event.embedding] });
          else {
            choices = [{ index: 0, finishReason: "stop" }];
            usage = event.usage;
          }
        }
      } else {
        // Stop at the payer's reserve: never generate more than maxCredits pays for at the accepted price.
        const generateOptions = { signal, maxTotalTokens: maxTokensFor(request.maxCredits, request.pricePerToken) };
        const events =
          request.kind === "chat"
            ? this.#init.engine.generateChat({ model: request.model, ...request.body }, generateOptions)
            : this.#init.engine.generateCompletion({ model: request.model, ...request.body }, generateOptions);
        for await (const event of events) {
          writer.throwIfFailed();
          if (event.type === "text") {
            writer.text(event.index, event.text, event.tokens);
            texts.set(event.index, (texts.get(event.index) ?? "") + event.text);
          } else if (event.type === "tool_calls") writer.send({ t: "tool_calls", index: event.index, calls: [...event.calls] });
          else {
            choices = event.choices;
            usage = event.usage;
          }
        }
      }
      await writer.drain();
    } catch (error) {
      // The engine failed: what it produced still goes out (and is paid by the partial receipt).
      if (!signal.aborted) await writer.drain().catch(() => {});
      throw error;
    } finally {
      writer.dispose();
    }
    if (signal.aborted) throw signal.reason;
    if (choices === undefined || choices.length === 0 || usage === undefined) {
      throw new EngineFailedError("the engine ended without a result");
    }
    // Exactly what the payer checks: the usage at the price it accepted, never past what it signed for.
    const credits = Math.min(creditsForUsage(usage, request.pricePerToken), request.maxCredits);
    const finishReason = choices[0]?.finishReason ?? "stop";
    const output =
      request.kind === "embedding"
        ? undefined
        : deliveredOutputHash(
            choices.map((choice) => ({
              index: choice.index,
              text: texts.get(choice.index) ?? "",
              finishReason: choice.finishReason,
            })),
          );
    const receipt = createInferenceReceipt({ request, usage, credits, finishReason, output }, this.#init.identity);
    await frames.write({ t: "done", choices: [...choices], usage, receipt }, { signal });
    return { finishReason, usage, credits, receipt };
  }
}

interface ServedResult {
  finishReason: FinishReason;
  usage: Usage;
  credits: number;
  receipt: InferenceReceipt;
}

/**
 * Writes provider frames in order without blocking the engine. Text goes out at the end of the
 * event-loop turn it arrived in, at most one delta frame per `batchMs()` (0: each token as it
 * comes); text that arrives while an earlier frame is still being written joins the next frame,
 * so a link that falls behind gets fewer, larger frames instead of a queue. `batchTokens` caps
 * one frame's text.
 */
class FrameWriter {
  readonly #frames: FrameStream;
  readonly #signal: AbortSignal;
  readonly #batchMs: () => number;
  readonly #batchTokens: number;
  readonly #onDelivered: (tokens: number) => void;
  #pending: { index: number; text: string; tokens: number } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #cancelSoon: (() => void) | undefined;
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Frames handed to the stream whose write has not finished. */
  #writing = 0;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;
  #failed = false;
  #disposed = false;

  constructor(
    frames: FrameStream,
    signal: AbortSignal,
    options: { batchMs: () => number; batchTokens: number; onDelivered: (tokens: number) => void },
  ) {
    this.#frames = frames;
    this.#signal = signal;
    this.#batchMs = options.batchMs;
    this.#batchTokens = options.batchTokens;
    this.#onDelivered = options.onDelivered;
  }

  text(index: number, text: string, tokens: number): void {
    if (this.#pending !== undefined && this.#pending.index !== index) this.flush();
    this.#pending ??= { index, text: "", tokens: 0 };
    this.#pending.text += text;
    this.#pending.tokens += tokens;
    if (this.#pending.tokens >= this.#batchTokens) this.flush();
    // While a frame is being written the text waits for it (see #written).
    else if (this.#writing === 0) this.#flushWhenDue();
  }

  /** Sends a frame after any pending text. */
  send(frame: ProviderFrame): void {
    this.flush();
    this.#enqueue(frame);
  }

  flush(): void {
    this.#cancelTimers();
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return;
    this.#lastFlushAt = performance.now();
    this.#enqueue({ t: "delta", index: pending.index, text: pending.text, tokens: pending.tokens });
  }

  #flushWhenDue(): void {
    const batchMs = this.#batchMs();
    const sinceFlush = performance.now() - this.#lastFlushAt;
    // At the end of this turn of the event loop: tokens that are already waiting (a busy process)
    // share the frame, while an idle one sends each token at once.
    if (sinceFlush >= batchMs) this.#cancelSoon ??= soon(() => this.flush());
    else this.#timer ??= setTimeout(() => this.flush(), batchMs - sinceFlush);
  }

  #cancelTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#cancelSoon?.();
    this.#timer = undefined;
    this.#cancelSoon = undefined;
  }

  #enqueue(frame: ProviderFrame): void {
    this.#writing++;
    // Failures are recorded, not left as a floating rejection; the engine loop stops on them.
    this.#chain = this.#chain
      .then(async () => {
        if (this.#failed) return;
        await this.#frames.write(frame, { signal: this.#signal });
        // Counted once written: a partial receipt charges only text that left this node.
        if (frame.t === "delta") this.#onDelivered(frame.tokens);
      })
      .catch((error: unknown) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#error = error;
        }
      })
      .finally(() => this.#written());
  }

  /** A frame is out: text that gathered meanwhile follows in one frame. */
  #written(): void {
    this.#writing--;
    if (this.#writing === 0 && this.#pending !== undefined && !this.#failed && !this.#disposed) this.#flushWhenDue();
  }

  throwIfFailed(): void {
    if (this.#failed) throw this.#error;
  }

  async drain(): Promise<void> {
    this.flush();
    await this.#chain;
    this.throwIfFailed();
  }

  dispose(): void {
    this.#disposed = true;
    this.#cancelTimers();
  }
}

/** Runs `task` once the current turn of the event loop is over (setImmediate where there is one: Node, not browsers); returns its cancel. */
function soon(task: () => void): () => void {
  if (typeof setImmediate === "function") {
    const handle = setImmediate(task);
    return () => clearImmediate(handle);
  }
  const handle = setTimeout(task, 0);
  return () => clearTimeout(handle);
}

function toOpenGatewayError(error: unknown): WireError {
  if (WireError.isInstance(error)) return error;
  const name = (error as { name?: string } | null)?.name;
  if (name === "TimeoutError") return new RequestExpiredError("no request frame arrived in time");
  const code = (error as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return errorFromCode(code, String((error as Error).message));
  return new EngineFailedError(error instanceof Error ? error.message : "the engine failed", { cause: error });
}

export function inferenceService(init: InferenceServiceInit): (components: InferenceServiceComponents) => InferenceService {
  return (components) => new InferenceService(components, init);
}
