import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import type { OpenAIHandler } from "./openai-handler.js";

export interface P2PFetchOptions {
  /** The same handler the gateway serves (`createOpenAIHandler`). */
  handler: OpenAIHandler;
  payer: Identity;
  onReceipt?: (receipt: InferenceReceipt, clientId: string) => void;
}

/**
 * A `fetch` for the official openai client that never touches HTTP: it hands the request to the
 * OpenAI handler the gateway serves (validation, routing over libp2p, signing with the payer's
 * identity) and returns its Response, server-sent events included. Cancelling the body (the
 * client's loop breaking) or aborting the request cancels the request upstream.
 */
export function createP2PFetch(
  options: P2PFetchOptions,
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const context = { payer: options.payer, onReceipt: options.onReceipt };
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await options.handler(request, context);
    // As fetch does: once aborted, the call rejects with the signal's reason, not an error response.
    if (request.signal.aborted) {
      await response.body?.cancel();
      throw request.signal.reason;
    }
    return response;
  };
}
