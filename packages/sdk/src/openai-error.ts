import type { ErrorCode } from "@opengateway/protocol";
import { nameErrorClass, OpenGatewayError, WireError } from "@opengateway/protocol";
import type { ErrorObject } from "openai/resources";

/** The body every OpenAI error has: `{"error":{"message","type","param","code"}}`. */
export interface OpenAIErrorBody {
  error: ErrorObject;
}

/**
 * A failure with the HTTP status and OpenAI error shape a client of the OpenAI API expects. Its
 * `code` is OpenAI's, or its `type` where OpenAI's body has none (`code: null`).
 */
export class OpenAIHttpError extends OpenGatewayError {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  readonly #bodyCode: string | null;

  constructor(
    status: number,
    message: string,
    options: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    const type = options.type ?? (status >= 500 ? "server_error" : "invalid_request_error");
    super(options.code ?? type, message);
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.#bodyCode = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  toJSON(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.#bodyCode } };
  }
}
nameErrorClass(OpenAIHttpError, "OpenAIHttpError");

/** A provider misbehaving or a failure between us and it: an upstream error. */
const UPSTREAM_ERROR = { status: 502, type: "server_error" } as const;

const STATUS_BY_CODE: Record<ErrorCode, { status: number; type: string }> = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  insufficient_credits: { status: 402, type: "insufficient_quota" },
  overloaded: { status: 429, type: "rate_limit_error" },
  no_provider: { status: 503, type: "server_error" },
  cancelled: { status: 499, type: "server_error" },
  invalid_signature: UPSTREAM_ERROR,
  request_expired: UPSTREAM_ERROR,
  replayed_nonce: UPSTREAM_ERROR,
  frame_too_large: UPSTREAM_ERROR,
  malformed_frame: UPSTREAM_ERROR,
  engine_failed: UPSTREAM_ERROR,
  protocol_violation: UPSTREAM_ERROR,
};

/** Maps any failure to the OpenAI error a client sees; unknown failures become a 500 without internals. */
export function toOpenAIHttpError(error: unknown): OpenAIHttpError {
  if (error instanceof OpenAIHttpError) return error;
  if (WireError.isInstance(error)) {
    const { status, type } = STATUS_BY_CODE[error.code];
    return new OpenAIHttpError(status, error.message, {
      type,
      code: error.code,
      headers: status === 503 || status === 429 ? { "retry-after": "1" } : {},
    });
  }
  return new OpenAIHttpError(500, "internal error", { code: "internal_error" });
}
