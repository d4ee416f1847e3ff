import type { Libp2p } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import type {
  ChoiceEnd,
  Identity,
  InferencePayload,
  InferenceReceipt,
  InferenceRequest,
  ToolCallRequest,
  Usage,
} from "@opengateway/protocol";
import {
  CancelledError,
  createInferenceRequest,
  DEFAULT_PRICE_PER_TOKEN,
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
  /**
   * Countersigns a provider's receipt as a settle block on the payer's chain. The router passes
   * only receipts it verified against `request` (signer, request, usage bounds, price, credits).
   */
  settle(payer: Identity, receipt: InferenceReceipt, request: InferenceRequest): Promise<void>;
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
  /** The most credits per token this request accepts (with the router's own cap, the lower wins). */
  maxPricePerToken?: number;
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
   * The most one request may cost: a provider whose price makes the request's estimate exceed it
   * is skipped (others serve the request), never paid more.
   */
  maxCreditsPerRequest?: number;
  /** Requests that may wait for a slot at once when every provider is busy; more get `OverloadedError`. */
  maxQueuedRequests?: number;
  /** How long a new request waits for a slot before `OverloadedError` (a 429 with retry-after). */
  queueWaitMs?: number;
  /** How long a stream that already delivered text waits for a slot to resume on. */
  resumeWaitMs?: number;
  /** The most credits per token any request accepts; dearer providers are skipped. */
  maxPricePerToken?: number;
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
    const maxPrice = Math.min(
      route.maxPricePerToken ?? Number.POSITIVE_INFINITY,
      this.#options.maxPricePerToken ?? Number.POSITIVE_INFINITY,
    );
    /** Attempt request ids holding a reservation right now. */
    const reservations = new Set<string>();
    /** Settlements of partial work (a cancel, or text delivered before a failure), awaited before the end. */
    const settling: Promise<void>[] = [];
    const settle = (request: InferenceRequest, receipt: InferenceReceipt): Promise<void> => {
      receipts.push(receipt);
      if (!payments) return Promise.resolve();
      // The payer's countersignature; if it fails the provider can still claim with the receipt.
      return payments.settle(payer, receipt, request).catch((error: unknown) => this.#options.onPaymentError?.(error));
    };
    try {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        signal?.throwIfAborted();
        const attemptId = attempt === 0 ? requestId : `${requestId}-${attempt}`;
        // What earlier attempts produced is settled (and their holds freed) before anything new is held.
        await Promise.all(settling);
        for (const id of reservations) payments?.release(id);
        reservations.clear();
        const { provider, price, maxCredits } = await this.#acquireAffordable(route, payload, {
          tried,
          unreached,
          region,
          lastError,
          attempt,
          resume: servedBy.length > 0 || delivered.tokens > 0,
          signal,
          maxPrice,
          hold: payments && ((credits) => payments.reserve(payer, attemptId, credits, Date.now() + 10 * 60_000)),
        });
        if (payments) reservations.add(attemptId);
        let startedHere = false;
        try {
          const request = createInferenceRequest(
            {
              ...payload,
              id: attemptId,
              model: route.model,
              provider: provider.peerId,
              pricePerToken: price,
              maxCredits,
              region,
            },
            payer,
          );
          const frames = requestInference(this.#node, peerIdFromString(provider.peerId), request, {
            signal,
            idleTimeoutMs: this.#options.providerIdleTimeoutMs ?? DEFAULT_PROVIDER_IDLE_TIMEOUT_MS,
            // Partial work (the client cancelled, or the provider failed mid-stream) is paid for what was delivered.
            onPartialReceipt: (receipt) => void settling.push(settle(request, receipt)),
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
                await Promise.all(settling);
                await settle(request, frame.receipt);
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
      // A consumer that left early got its partial receipts settled before the holds go.
      await Promise.all(settling);
      for (const id of reservations) payments?.release(id);
    }
  }

  /** Requests waiting for a provider slot right now (for a status view). */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * A slot (see `#acquire`) on the best provider whose price the request accepts and whose estimate
   * the payer can hold: dearer ones are skipped (never a reason to refuse a request that cheaper
   * providers serve), and a hold refused for one provider's estimate frees that slot and moves on
   * to the next. Returns the price the request accepts and the credits held.
   */
  async #acquireAffordable(
    route: RouteRequest,
    payload: InferencePayload,
    state: Omit<AcquireState, "skipped"> & { hold: ((maxCredits: number) => void) | undefined },
  ): Promise<{ provider: ProviderEntry; price: number; maxCredits: number }> {
    const skipped = new Set<string>();
    const cap = this.#options.maxCreditsPerRequest ?? Number.POSITIVE_INFINITY;
    let tooDear = false;
    let refused: unknown;
    while (true) {
      let provider: ProviderEntry;
      try {
        provider = await this.#acquire(route, { ...state, skipped });
      } catch (error) {
        if (state.signal?.aborted) throw error;
        // Only providers the payer could not hold for, or dearer than the cap, were left: say so.
        if (refused !== undefined) throw refused;
        if (tooDear && NoProviderError.isInstance(error)) {
          throw new NoProviderError(
            `every provider of '${route.model}' left asks more than this request may cost (${cap} credits)`,
          );
        }
        throw error;
      }
      const price = priceOf(provider, route.model);
      const maxCredits = maxCreditsFor(payload, price);
      try {
        if (maxCredits > cap) tooDear = true;
        else {
          state.hold?.(maxCredits);
          return { provider, price, maxCredits };
        }
      } catch (error) {
        refused ??= error;
      }
      provider.inFlight--;
      this.#queue.notify();
      skipped.add(provider.peerId);
    }
  }

  /**
   * Takes a slot on the best provider for the next attempt (its `inFlight` counted), waiting in
   * the queue while every eligible provider's slots are taken, up to the queue's bounds; then
   * `OverloadedError`, a 429 that tells the truth. A provider whose dial failed is dialled again
   * after a pause when no other is left, so a slow or flaky dial is not reported as "no provider".
   */
  async #acquire(route: RouteRequest, state: AcquireState): Promise<ProviderEntry> {
    const { signal } = state;
    const filter = { kind: route.kind, region: state.region, maxPricePerToken: state.maxPrice };
    const waitMs = state.resume
      ? (this.#options.resumeWaitMs ?? DEFAULT_ROUTER_RESUME_WAIT_MS)
      : (this.#options.queueWaitMs ?? DEFAULT_ROUTER_QUEUE_WAIT_MS);
    const deadline = Date.now() + waitMs;
    const out = new Set([...state.tried, ...state.unreached, ...state.skipped]);
    const never = new Set([...state.tried, ...state.skipped]);
    let waiter: SlotWaiter | undefined;
    let paused = false;
    try {
      while (true) {
        signal?.throwIfAborted();
        const now = Date.now();
        const healthy = (entry: ProviderEntry): boolean => entry.failures === 0 || now - entry.lastFailureAt > ROUTER_SUSPECT_MS;
        const untried = this.#table.providersOf(route.model, { ...filter, exclude: out });
        const fresh = this.#table.candidatesFor(route.model, { ...filter, exclude: out });
        const again = this.#table.candidatesFor(route.model, { ...filter, exclude: never });
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
        if (!busy)
          throw this.#noProvider(route, { exclude: out, region: state.region, maxPrice: state.maxPrice }, state.lastError);
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
  #noProvider(route: RouteRequest, filter: WhyNoneFilter, lastError: unknown): Error {
    const error = this.#whyNone(route, filter);
    if (NoProviderError.isInstance(error) && WireError.isInstance(lastError) && !isTransient(lastError)) return lastError;
    return error;
  }

  /** The error that explains why no provider can take a request. */
  #whyNone(route: RouteRequest, filter: WhyNoneFilter): Error {
    if (filter.exclude.size > 0) return new NoProviderError(`no other provider of '${route.model}' is left to try`);
    if (this.#table.providersOf(route.model, { kind: route.kind, region: filter.region }).length > 0) {
      return new NoProviderError(`every provider of '${route.model}' asks more than ${filter.maxPrice} credits per token`);
    }
    if (this.#table.providersOf(route.model, { kind: route.kind }).length > 0) {
      return new NoProviderError(
        `no provider of '${route.model}' in region '${filter.region}'; allow other regions to use one elsewhere`,
      );
    }
    if (this.#table.size === 0) return new NoProviderError("no provider is reachable right now");
    return new ModelNotFoundError(`The model '${route.model}' does not exist or is not served by the network right now`);
  }
}

interface WhyNoneFilter {
  exclude: ReadonlySet<string>;
  region: string | null;
  maxPrice: number;
}

interface AcquireState {
  /** Providers never to try again for this request. */
  tried: ReadonlySet<string>;
  /** Providers tried that may be dialled again once no one else is left. */
  unreached: ReadonlySet<string>;
  /** Providers too dear for this attempt, or whose estimate the payer could not hold. */
  skipped: ReadonlySet<string>;
  /** The most credits per token the request accepts. */
  maxPrice: number;
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

function priceOf(provider: ProviderEntry, model: string): number {
  return provider.info.models.find((m) => m.id === model)?.pricePerToken ?? DEFAULT_PRICE_PER_TOKEN;
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
