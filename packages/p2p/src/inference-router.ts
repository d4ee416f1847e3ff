import type { Libp2p } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import type { ChoiceEnd, Identity, InferencePayload, InferenceReceipt, ToolCallRequest, Usage } from "@opengateway/protocol";
import {
  CancelledError,
  createInferenceRequest,
  ModelNotFoundError,
  maxCreditsFor,
  NoProviderError,
  OverloadedError,
  ProtocolViolationError,
  randomId,
  WireError,
} from "@opengateway/protocol";
import {
  DEFAULT_ROUTER_MAX_QUEUED,
  DEFAULT_ROUTER_QUEUE_WAIT_MS,
  DEFAULT_ROUTER_RESUME_WAIT_MS,
  ROUTER_QUEUE_POLL_MS,
  ROUTER_REDIAL_DELAY_MS,
  ROUTER_SUSPECT_MS,
} from "./constants.js";
import { requestInference } from "./inference-client.js";
import type { ProviderEntry, ProviderTable } from "./provider-table.js";
import { SlotQueue, type SlotWaiter } from "./slot-queue.js";

/** How a router pays for requests: hold credits first, pay each provider's receipt, free the rest. */
export interface PaymentHooks {
  /** Holds credits before any provider starts; throws `InsufficientCreditsError` (a 402) when the payer can't cover it. */
  reserve(payer: Identity, requestId: string, maxCredits: number, expiresAt: number): void;
  /** Countersigns a provider's receipt as a settle block on the payer's chain. */
  settle(payer: Identity, receipt: InferenceReceipt): Promise<void>;
  release(requestId: string): void;
}

export type RouterEvent =
  | { type: "delta"; index: number; text: string; tokens: number; provider: string }
  | { type: "tool_calls"; index: number; calls: readonly ToolCallRequest[]; provider: string }
  | { type: "embedding"; index: number; embedding: readonly number[]; provider: string }
  | {
      type: "done";
      choices: readonly ChoiceEnd[];
      usage: Usage;
      /** One receipt per provider that finished its part (several after a mid-stream failover). */
      receipts: InferenceReceipt[];
      /** Every provider that served part of the answer, in order. */
      providers: string[];
    };

export type RouteRequest = InferencePayload & {
  model: string;
  /** One id across retries, so receipts name the id the client saw. */
  requestId?: string;
  /** Route only to providers in this region; `null` = any region. Defaults to the router's region. */
  region?: string | null;
};

export interface InferenceRouterOptions {
  /** Providers tried for one request, counting failovers. */
  maxAttempts?: number;
  /** The router's home region: requests stay in it unless they say otherwise. `null` = any. */
  region?: string | null;
  /** A provider that sends nothing for this long is treated as dead (hung), and the request moves on. */
  providerIdleTimeoutMs?: number;
  /** Credits: reserved before a request starts, settled per receipt, the rest released. Without it nothing is paid. */
  payments?: PaymentHooks;
  onPaymentError?: (error: unknown) => void;
  /**
   * The most one request may cost, whatever price a provider advertises: a provider asking an
   * absurd price stops at this reserve instead of draining the payer's account.
   */
  maxCreditsPerRequest?: number;
  /** Requests that may wait for a slot at once when every provider is busy; more get `OverloadedError`. */
  maxQueuedRequests?: number;
  /** How long a new request waits for a slot before `OverloadedError` (a 429 with retry-after). */
  queueWaitMs?: number;
  /** How long a stream that already delivered text waits for a slot to resume on. */
  resumeWaitMs?: number;
}

export const DEFAULT_PROVIDER_IDLE_TIMEOUT_MS = 30_000;

/** Failures that say nothing about the request itself: another provider may well succeed. */
const RETRYABLE_CODES = new Set([
  "overloaded",
  "engine_failed",
  "protocol_violation",
  "malformed_frame",
  "frame_too_large",
  "model_not_found",
  "request_expired",
  "invalid_signature",
  "cancelled",
]);

/**
 * Signs requests for the paying identity and streams them from the best provider. A provider that
 * fails before its first token is replaced transparently; one that dies mid-stream is replaced by
 * another that continues from the text delivered so far, behind the same stream, and each
 * provider is paid by its own receipt for its own part.
 */
export class InferenceRouter {
  readonly #node: Pick<Libp2p, "dialProtocol">;
  readonly #table: ProviderTable;
  readonly #options: InferenceRouterOptions;
  readonly #queue = new SlotQueue();

  constructor(node: Pick<Libp2p, "dialProtocol">, table: ProviderTable, options: InferenceRouterOptions = {}) {
    this.#node = node;
    this.#table = table;
    this.#options = options;
  }

  get table(): ProviderTable {
    return this.#table;
  }

  get region(): string | null {
    return this.#options.region ?? null;
  }

  async *route(
    payer: Identity,
    route: RouteRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<RouterEvent, void, undefined> {
    const { signal } = options;
    const requestId = route.requestId ?? randomId();
    const region = route.region === undefined ? this.region : route.region;
    /** Providers not to try again: they misbehaved, refused the request, or died after serving part of it. */
    const tried = new Set<string>();
    /** Providers that could not be reached or were full: dialled again only when no one else is left. */
    const unreached = new Set<string>();
    const servedBy: string[] = [];
    const receipts: InferenceReceipt[] = [];
    const maxAttempts = this.#options.maxAttempts ?? 3;
    /** Text and tokens already streamed to the client, for resuming after a mid-stream failure. */
    const delivered = { text: "", tokens: 0 };
    let resumedAfterTokens = 0;
    let payload: InferencePayload = payloadOf(route);
    let lastError: unknown;

    const payments = this.#options.payments;
    let reserved = false;
    try {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        signal?.throwIfAborted();
        const provider = await this.#acquire(route, {
          tried,
          unreached,
          region,
          lastError,
          attempt,
          resume: servedBy.length > 0 || delivered.tokens > 0,
          signal,
        });
        let startedHere = false;
        try {
          if (payments && !reserved) {
            // Held once, at the highest price any eligible provider asks; never overdrawn, released at the end.
            const price = Math.max(
              ...this.#table
                .providersOf(route.model, { kind: route.kind })
                .flatMap((entry) => entry.info.models.filter((m) => m.id === route.model).map((m) => m.pricePerToken)),
              0,
            );
            payments.reserve(payer, requestId, this.#maxCredits(payload, price), Date.now() + 10 * 60_000);
            reserved = true;
          }
          const price = provider.info.models.find((m) => m.id === route.model)?.pricePerToken ?? 1;
          const request = createInferenceRequest(
            {
              ...payload,
              id: attempt === 0 ? requestId : `${requestId}-${attempt}`,
              model: route.model,
              maxCredits: this.#maxCredits(payload, price),
              region,
            },
            payer,
          );
          const frames = requestInference(this.#node, peerIdFromString(provider.peerId), request, {
            signal,
            idleTimeoutMs: this.#options.providerIdleTimeoutMs ?? DEFAULT_PROVIDER_IDLE_TIMEOUT_MS,
          });
          for await (const frame of frames) {
            switch (frame.t) {
              case "delta":
                if (!startedHere) servedBy.push(provider.peerId);
                startedHere = true;
                if (frame.index === 0) {
                  delivered.text += frame.text;
                  delivered.tokens += frame.tokens;
                }
                yield { type: "delta", index: frame.index, text: frame.text, tokens: frame.tokens, provider: provider.peerId };
                break;
              case "tool_calls":
                if (!startedHere) servedBy.push(provider.peerId);
                startedHere = true;
                yield { type: "tool_calls", index: frame.index, calls: frame.calls, provider: provider.peerId };
                break;
              case "embedding":
                if (!startedHere) servedBy.push(provider.peerId);
                startedHere = true;
                yield { type: "embedding", index: frame.index, embedding: frame.embedding, provider: provider.peerId };
                break;
              case "done": {
                provider.failures = 0;
                if (!startedHere) servedBy.push(provider.peerId);
                receipts.push(frame.receipt);
                if (payments) {
                  // The payer's countersignature; if it fails the provider can still claim with the receipt.
                  await payments.settle(payer, frame.receipt).catch((error: unknown) => this.#options.onPaymentError?.(error));
                }
                // After a resume the last provider's prompt included the text already delivered.
                const usage: Usage = {
                  promptTokens: Math.max(0, frame.usage.promptTokens - resumedAfterTokens),
                  completionTokens: frame.usage.completionTokens + resumedAfterTokens,
                };
                yield { type: "done", choices: frame.choices, usage, receipts, providers: servedBy };
                return;
              }
            }
          }
          throw new ProtocolViolationError("the provider ended the stream without a result");
        } catch (error) {
          if (signal?.aborted) throw signal.reason ?? new CancelledError();
          if (!reserved && payments) throw error; // the payer could not cover the request: nothing was sent
          provider.failures++;
          provider.lastFailureAt = Date.now();
          lastError = error;
          if (!isRetryable(error)) throw error;
          // Unreachable or full before any output: worth another dial once the others are out.
          if (!startedHere && isTransient(error)) unreached.add(provider.peerId);
          else tried.add(provider.peerId);
          if (delivered.tokens > 0 || startedHere) {
            const resumed = resumePayload(payloadOf(route), delivered);
            if (resumed === undefined) throw error;
            payload = resumed;
            resumedAfterTokens = delivered.tokens;
          }
        } finally {
          provider.inFlight--;
          this.#queue.notify();
        }
      }
      // A provider that misbehaved (a 502) or was full (a 429) explains the outcome; one that could not be reached does not.
      throw WireError.isInstance(lastError) ? lastError : new NoProviderError("no provider could serve the request");
    } finally {
      if (reserved) payments?.release(requestId);
    }
  }

  /** Requests waiting for a provider slot right now (for a status view). */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Takes a slot on the best provider for the next attempt (its `inFlight` counted), waiting in
   * the queue while every eligible provider's slots are taken, up to the queue's bounds; then
   * `OverloadedError`, a 429 that tells the truth. A provider whose dial failed is dialled again
   * after a pause when no other is left, so a slow or flaky dial is not reported as "no provider".
   */
  async #acquire(route: RouteRequest, state: AcquireState): Promise<ProviderEntry> {
    const { signal } = state;
    const filter = { kind: route.kind, region: state.region };
    const waitMs = state.resume
      ? (this.#options.resumeWaitMs ?? DEFAULT_ROUTER_RESUME_WAIT_MS)
      : (this.#options.queueWaitMs ?? DEFAULT_ROUTER_QUEUE_WAIT_MS);
    const deadline = Date.now() + waitMs;
    const out = new Set([...state.tried, ...state.unreached]);
    let waiter: SlotWaiter | undefined;
    let paused = false;
    try {
      while (true) {
        signal?.throwIfAborted();
        const now = Date.now();
        const healthy = (entry: ProviderEntry): boolean => entry.failures === 0 || now - entry.lastFailureAt > ROUTER_SUSPECT_MS;
        const untried = this.#table.providersOf(route.model, { ...filter, exclude: out });
        const fresh = this.#table.candidatesFor(route.model, { ...filter, exclude: out });
        const again = this.#table.candidatesFor(route.model, { ...filter, exclude: state.tried });
        // Healthy first, then a suspect, then one already dialled without success; a busy provider
        // of a better kind is waited for rather than settling for a worse one.
        let take: ProviderEntry | undefined = fresh.find(healthy);
        if (take === undefined && !untried.some(healthy)) {
          take = fresh[0];
          if (take === undefined && untried.length === 0 && again[0] !== undefined) {
            if (!paused) {
              paused = true;
              await delay(ROUTER_REDIAL_DELAY_MS * Math.max(1, state.attempt), signal);
              continue;
            }
            take = again[0];
          }
        }
        if (take !== undefined) {
          take.inFlight++;
          return take;
        }
        const busy = untried.length > 0 || [...state.unreached].some((peerId) => this.#table.get(peerId) !== undefined);
        if (!busy) throw this.#noProvider(route, { exclude: out, region: state.region }, state.lastError);
        if (waiter === undefined) {
          const max = this.#options.maxQueuedRequests ?? DEFAULT_ROUTER_MAX_QUEUED;
          if (this.#queue.size >= max) {
            throw new OverloadedError(`every provider of '${route.model}' is busy and ${max} requests are waiting`);
          }
          waiter = this.#queue.add(state.resume);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new OverloadedError(
            `every provider of '${route.model}' is busy; waited ${Math.round(waitMs / 1000)} s for a slot`,
          );
        }
        await this.#queue.wait(waiter, Math.min(left, ROUTER_QUEUE_POLL_MS), signal);
      }
    } finally {
      if (waiter !== undefined) this.#queue.remove(waiter);
    }
  }

  /**
   * Why no provider is left. When the last one misbehaved, the client is told what went wrong with
   * it (a 502), not that no provider exists (a 503).
   */
  #noProvider(route: RouteRequest, filter: { exclude: ReadonlySet<string>; region: string | null }, lastError: unknown): Error {
    const error = this.#whyNone(route, filter);
    if (NoProviderError.isInstance(error) && WireError.isInstance(lastError) && !isTransient(lastError)) return lastError;
    return error;
  }

  #maxCredits(payload: InferencePayload, pricePerToken: number): number {
    return Math.min(maxCreditsFor(payload, pricePerToken), this.#options.maxCreditsPerRequest ?? Number.POSITIVE_INFINITY);
  }

  /** The error that explains why no provider can take a request. */
  #whyNone(route: RouteRequest, filter: { exclude: ReadonlySet<string>; region: string | null }): Error {
    if (filter.exclude.size > 0) return new NoProviderError(`no other provider of '${route.model}' is left to try`);
    if (this.#table.providersOf(route.model, { kind: route.kind }).length > 0) {
      return new NoProviderError(
        `no provider of '${route.model}' in region '${filter.region}'; allow other regions to use one elsewhere`,
      );
    }
    if (this.#table.size === 0) return new NoProviderError("no provider is reachable right now");
    return new ModelNotFoundError(`The model '${route.model}' does not exist or is not served by the network right now`);
  }
}

interface AcquireState {
  /** Providers never to try again for this request. */
  tried: ReadonlySet<string>;
  /** Providers tried that may be dialled again once no one else is left. */
  unreached: ReadonlySet<string>;
  region: string | null;
  lastError: unknown;
  attempt: number;
  /** The stream already delivered text: it waits ahead of new requests, and longer. */
  resume: boolean;
  signal: AbortSignal | undefined;
}

/** A failure that says the provider was unreachable or full, not that it misbehaved. */
function isTransient(error: unknown): boolean {
  return WireError.isInstance(error) ? error.code === "overloaded" : true;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function isRetryable(error: unknown): boolean {
  if (WireError.isInstance(error)) return RETRYABLE_CODES.has(error.code);
  // Dial and transport failures (connection refused, reset, timeouts) are worth another provider.
  return true;
}

function payloadOf(route: RouteRequest): InferencePayload {
  switch (route.kind) {
    case "chat":
      return { kind: "chat", body: route.body };
    case "completion":
      return { kind: "completion", body: route.body };
    case "embedding":
      return { kind: "embedding", body: route.body };
  }
}

/**
 * The request that continues a stream from where it broke: the text delivered so far becomes the
 * start of the answer, and only the tokens left are asked for. Only plain single-choice text can
 * be resumed: a grammar (JSON, tools) or several choices cannot be picked up mid-way.
 */
export function resumePayload(
  original: InferencePayload,
  delivered: { text: string; tokens: number },
): InferencePayload | undefined {
  switch (original.kind) {
    case "embedding":
      return undefined;
    case "completion": {
      const body = original.body;
      const remaining = body.maxTokens - delivered.tokens;
      if ((body.n ?? 1) !== 1 || remaining < 1) return undefined;
      return { kind: "completion", body: { ...body, prompt: body.prompt + delivered.text, maxTokens: remaining } };
    }
    case "chat": {
      const body = original.body;
      const remaining = body.maxTokens - delivered.tokens;
      if ((body.n ?? 1) !== 1 || remaining < 1 || body.responseFormat !== undefined || (body.tools?.length ?? 0) > 0)
        return undefined;
      return {
        kind: "chat",
        body: {
          ...body,
          messages: [...body.messages, { role: "assistant", content: delivered.text }],
          continueFinal: true,
          maxTokens: remaining,
        },
      };
    }
  }
}
