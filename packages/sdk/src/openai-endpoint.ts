import type { InferenceRouter } from "@opengateway/p2p";
import type { Identity, InferenceReceipt, Usage } from "@opengateway/protocol";
import type { CompletionUsage } from "openai/resources";
import type { ResponseStore } from "./response-store.js";

/** Who a request is for: the gateway fills it in from the API key, the SDK from its own identity. */
export interface OpenAICallContext {
  payer: Identity;
  /** Told about every receipt a request produced (the gateway's and the SDK's wallet histories keep them). */
  onReceipt?: (receipt: InferenceReceipt, clientId: string) => void;
  /** Region to route in (`null` = any); absent = the router's home region. */
  region?: string | null;
  /**
   * The most credits per token this call accepts (the body's `max_price_per_token` extension);
   * dearer providers are skipped. With the router's own cap, the lower wins.
   */
  maxPricePerToken?: number;
}

/** One call to an endpoint: the caller's context, the router behind it, and when it arrived. */
export interface OpenAICall extends OpenAICallContext {
  router: InferenceRouter;
  /** Aborted when the client goes away: the work on the provider is cancelled. */
  signal: AbortSignal;
  /** Unix seconds: every object and chunk of one answer carries the same `created`. */
  created: number;
  /** Where `POST /v1/responses` keeps what it stores, per payer. */
  responses: ResponseStore;
}

/** An endpoint's answer, whatever the transport: the handler writes it as JSON or as server-sent events. */
export type OpenAIResult =
  | { kind: "json"; body: object; headers: Record<string, string> }
  | {
      kind: "event-stream";
      events: AsyncIterable<object>;
      headers: Record<string, string>;
      /** Each event names itself in an `event:` line (its `type`) and no `[DONE]` ends them: the Responses API's framing. */
      named?: boolean;
    };

export function jsonResult(body: object, headers: Record<string, string> = {}): OpenAIResult {
  return { kind: "json", body, headers };
}

export function openAIUsage(usage: Usage): CompletionUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}
