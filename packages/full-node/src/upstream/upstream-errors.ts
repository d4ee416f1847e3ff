import type { WireError } from "@opengateway/protocol";
import {
  EngineFailedError,
  errorMessage,
  InvalidRequestError,
  ModelNotFoundError,
  OpenGatewayError,
  OverloadedError,
} from "@opengateway/protocol";

/**
 * The typed error for an upstream's HTTP error answer. Failures of the upstream itself (5xx, a
 * refused key) become `engine_failed` and busy answers `overloaded`, both of which the router
 * retries on another provider; only a 400 is the request's own fault.
 */
export function errorFromUpstreamStatus(status: number, body: string, upstream: string): WireError {
  const detail = `the upstream at ${upstream} answered ${status}: ${upstreamMessage(body)}`;
  if (status === 400 || status === 422) return new InvalidRequestError(detail);
  if (status === 404) return new ModelNotFoundError(detail);
  if (status === 429 || status === 503) return new OverloadedError(detail);
  return new EngineFailedError(detail);
}

/** The typed error for an upstream request that failed without an answer: refused, reset, timed out, cut off. */
export function errorFromUpstreamFailure(error: unknown, upstream: string): Error {
  if (OpenGatewayError.isInstance(error)) return error;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const reason = typeof cause?.code === "string" ? cause.code : errorMessage(cause ?? error);
  return new EngineFailedError(`the upstream at ${upstream} failed: ${reason}`, { cause: error });
}

/** OpenAI's `{ error: { message } }`, llama-server's and Ollama's variants, or the text itself. */
export function upstreamMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (typeof message === "string") return message.slice(0, 1024);
  } catch {}
  return body.slice(0, 1024) || "(no body)";
}
