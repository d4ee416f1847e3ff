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
import { requestInference } from "./inference-client.js";
import type { ProviderEntry, ProviderTable } from "./provider-table.js";

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
    const tried = new Set<string>();
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
        const { provider, price, maxCredits } = this.#pickAffordable(route, payload, {
          exclude: tried,
          region,
          maxPrice,
          lastError,
          hold: payments && ((credits) => payments.reserve(payer, attemptId, credits, Date.now() + 10 * 60_000)),
        });
        if (payments) reservations.add(attemptId);
        tried.add(provider.peerId);
        const request = createInferenceRequest(
          { ...payload, id: attemptId, model: route.model, provider: provider.peerId, pricePerToken: price, maxCredits, region },
          payer,
        );
        let startedHere = false;
        provider.inFlight++;
        try {
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
          lastError = error;
          if (!isRetryable(error)) throw error;
          if (delivered.tokens > 0 || startedHere) {
            const resumed = resumePayload(payloadOf(route), delivered);
            if (resumed === undefined) throw error;
            payload = resumed;
            resumedAfterTokens = delivered.tokens;
          }
        } finally {
          provider.inFlight--;
        }
      }
      // A provider that misbehaved explains the outcome (a 502); one that could not be reached does not.
      throw WireError.isInstance(lastError) ? lastError : new NoProviderError("no provider could serve the request");
    } finally {
      // A consumer that left early got its partial receipts settled before the holds go.
      await Promise.all(settling);
      for (const id of reservations) payments?.release(id);
    }
  }

  /**
   * The best provider whose price the request accepts and whose estimate the payer can hold:
   * dearer ones are skipped (never a reason to refuse a request that cheaper providers serve),
   * and a hold refused for one provider's estimate moves on to the next. Returns the price the
   * request accepts and the credits held.
   */
  #pickAffordable(
    route: RouteRequest,
    payload: InferencePayload,
    filter: {
      exclude: ReadonlySet<string>;
      region: string | null;
      maxPrice: number;
      lastError: unknown;
      hold: ((maxCredits: number) => void) | undefined;
    },
  ): { provider: ProviderEntry; price: number; maxCredits: number } {
    const skipped = new Set(filter.exclude);
    const cap = this.#options.maxCreditsPerRequest ?? Number.POSITIVE_INFINITY;
    let tooDear = false;
    let refused: unknown;
    while (true) {
      let provider: ProviderEntry;
      try {
        provider = this.#pick(route, { exclude: skipped, region: filter.region, maxPricePerToken: filter.maxPrice });
      } catch (error) {
        // Only providers the payer could not hold for, or dearer than the cap, were left: say so.
        if (refused !== undefined) throw refused;
        // None left after one misbehaved: the client is told what went wrong with it (a 502), not
        // that no provider exists (a 503).
        if (NoProviderError.isInstance(error) && WireError.isInstance(filter.lastError)) throw filter.lastError;
        if (tooDear && NoProviderError.isInstance(error)) {
          throw new NoProviderError(
            `every provider of '${route.model}' left asks more than this request may cost (${cap} credits)`,
          );
        }
        throw error;
      }
      const price = priceOf(provider, route.model);
      const maxCredits = maxCreditsFor(payload, price);
      if (maxCredits > cap) {
        tooDear = true;
        skipped.add(provider.peerId);
        continue;
      }
      try {
        filter.hold?.(maxCredits);
        return { provider, price, maxCredits };
      } catch (error) {
        refused ??= error;
        skipped.add(provider.peerId);
      }
    }
  }

  /** The best provider for a request right now, or the error that explains why there is none. */
  #pick(
    route: RouteRequest,
    filter: { exclude: ReadonlySet<string>; region: string | null; maxPricePerToken: number },
  ): ProviderEntry {
    const candidates = this.#table.candidatesFor(route.model, { ...filter, kind: route.kind });
    const best = candidates[0];
    if (best) return best;
    const eligible = this.#table.providersOf(route.model, { ...filter, kind: route.kind });
    if (eligible.length > 0) {
      throw new OverloadedError(`every provider of '${route.model}'${filter.region ? ` in ${filter.region}` : ""} is busy`);
    }
    if (filter.exclude.size > 0) throw new NoProviderError(`no other provider of '${route.model}' is left to try`);
    if (this.#table.providersOf(route.model, { kind: route.kind, region: filter.region }).length > 0) {
      throw new NoProviderError(`every provider of '${route.model}' asks more than ${filter.maxPricePerToken} credits per token`);
    }
    if (this.#table.providersOf(route.model, { kind: route.kind }).length > 0) {
      throw new NoProviderError(
        `no provider of '${route.model}' in region '${filter.region}'; allow other regions to use one elsewhere`,
      );
    }
    if (this.#table.size === 0) throw new NoProviderError("no provider is reachable right now");
    throw new ModelNotFoundError(`The model '${route.model}' does not exist or is not served by the network right now`);
  }
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
