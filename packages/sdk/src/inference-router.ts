import type { Libp2p } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { requestInference } from "@opengateway/p2p";
import type { ChoiceEnd, Identity, InferencePayload, InferenceReceipt, ToolCallRequest, Usage } from "@opengateway/protocol";
import {
  CancelledError,
  createInferenceRequest,
  ModelNotFoundError,
  NoProviderError,
  OpenGatewayError,
  randomId,
} from "@opengateway/protocol";
import type { ProviderTable } from "./provider-table.js";

export type RouterEvent =
  | { type: "delta"; index: number; text: string; tokens: number; provider: string }
  | { type: "tool_calls"; index: number; calls: readonly ToolCallRequest[]; provider: string }
  | { type: "embedding"; index: number; embedding: readonly number[]; provider: string }
  | { type: "done"; choices: readonly ChoiceEnd[]; usage: Usage; receipt: InferenceReceipt; providers: string[] };

export type RouteRequest = InferencePayload & {
  model: string;
  /** One id across retries, so the receipt names the id the client saw. */
  requestId?: string;
};

export interface InferenceRouterOptions {
  /** Providers tried before the first token arrives. */
  maxAttempts?: number;
  region?: string | null;
}

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
]);

/**
 * Signs a chat request for the paying identity and streams it from the best provider. If a
 * provider fails before its first token, the next one is tried behind the same stream.
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

  async *route(
    payer: Identity,
    route: RouteRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<RouterEvent, void, undefined> {
    const { signal } = options;
    const requestId = route.requestId ?? randomId();
    const tried = new Set<string>();
    const maxAttempts = this.#options.maxAttempts ?? 3;
    let lastError: unknown;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      signal?.throwIfAborted();
      const provider = this.#table.candidatesFor(route.model, tried, route.kind)[0];
      if (provider === undefined) break;
      tried.add(provider.peerId);
      const price = provider.info.models.find((m) => m.id === route.model)?.pricePerToken ?? 1;
      const request = createInferenceRequest(
        {
          ...payloadOf(route),
          id: requestId,
          model: route.model,
          maxCredits: maxCreditsFor(route, price),
          region: this.#options.region ?? null,
        },
        payer,
      );
      let started = false;
      provider.inFlight++;
      try {
        for await (const frame of requestInference(this.#node, peerIdFromString(provider.peerId), request, { signal })) {
          switch (frame.t) {
            case "delta":
              started = true;
              yield { type: "delta", index: frame.index, text: frame.text, tokens: frame.tokens, provider: provider.peerId };
              break;
            case "tool_calls":
              started = true;
              yield { type: "tool_calls", index: frame.index, calls: frame.calls, provider: provider.peerId };
              break;
            case "embedding":
              started = true;
              yield { type: "embedding", index: frame.index, embedding: frame.embedding, provider: provider.peerId };
              break;
            case "done":
              provider.failures = 0;
              yield {
                type: "done",
                choices: frame.choices,
                usage: frame.usage,
                receipt: frame.receipt,
                providers: [provider.peerId],
              };
              break;
          }
        }
        return;
      } catch (error) {
        if (signal?.aborted) throw signal.reason ?? new CancelledError();
        provider.failures++;
        lastError = error;
        if (started || !isRetryable(error)) throw error;
      } finally {
        provider.inFlight--;
      }
    }
    if (lastError !== undefined) throw lastError;
    if (this.#table.models().some((model) => model.id === route.model)) {
      throw new NoProviderError(`no provider of '${route.model}' could serve the request`);
    }
    if (this.#table.size === 0) throw new NoProviderError("no provider is reachable right now");
    throw new ModelNotFoundError(`The model '${route.model}' does not exist or is not served by the network right now`);
  }
}

function isRetryable(error: unknown): boolean {
  if (error instanceof OpenGatewayError) return RETRYABLE_CODES.has(error.code);
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
 * The most the payer authorises for one request: the prompt cannot exceed one token per character
 * plus a per-message template allowance, and the completion is capped by maxTokens × n.
 */
export function maxCreditsFor(payload: InferencePayload, pricePerToken: number): number {
  let tokens: number;
  switch (payload.kind) {
    case "chat": {
      const body = payload.body;
      const tools = JSON.stringify(body.tools ?? []).length + JSON.stringify(body.responseFormat ?? {}).length;
      const prompt = body.messages.reduce(
        (sum, message) => sum + message.content.length + 32 + JSON.stringify(message.toolCalls ?? []).length,
        64 + tools,
      );
      tokens = prompt + body.maxTokens * (body.n ?? 1);
      break;
    }
    case "completion":
      tokens = payload.body.prompt.length + 8 + payload.body.maxTokens * (payload.body.n ?? 1);
      break;
    case "embedding":
      tokens = payload.body.input.reduce((sum, input) => sum + input.length + 2, 0);
      break;
  }
  return Math.ceil(tokens * pricePerToken);
}
