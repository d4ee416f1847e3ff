/**
 * Every failure the protocol can name. The code travels in `error` frames, so a
 * client on another machine can map it back to the same class.
 */
export const ERROR_CODES = [
  "invalid_signature",
  "request_expired",
  "replayed_nonce",
  "frame_too_large",
  "malformed_frame",
  "invalid_request",
  "model_not_found",
  "overloaded",
  "cancelled",
  "engine_failed",
  "protocol_violation",
  "no_provider",
  "insufficient_credits",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export class OpenGatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "OpenGatewayError";
  }
}

export class InvalidSignatureError extends OpenGatewayError {
  constructor(message = "signature does not verify") {
    super("invalid_signature", message);
    this.name = "InvalidSignatureError";
  }
}

export class RequestExpiredError extends OpenGatewayError {
  constructor(message = "request has expired or is not yet valid") {
    super("request_expired", message);
    this.name = "RequestExpiredError";
  }
}

export class ReplayedNonceError extends OpenGatewayError {
  constructor(message = "nonce was already used") {
    super("replayed_nonce", message);
    this.name = "ReplayedNonceError";
  }
}

export class FrameTooLargeError extends OpenGatewayError {
  constructor(message = "frame exceeds the size limit") {
    super("frame_too_large", message);
    this.name = "FrameTooLargeError";
  }
}

export class MalformedFrameError extends OpenGatewayError {
  constructor(message = "frame is not valid", options?: { cause?: unknown }) {
    super("malformed_frame", message, options);
    this.name = "MalformedFrameError";
  }
}

export class InvalidRequestError extends OpenGatewayError {
  constructor(message: string) {
    super("invalid_request", message);
    this.name = "InvalidRequestError";
  }
}

export class ModelNotFoundError extends OpenGatewayError {
  constructor(message: string) {
    super("model_not_found", message);
    this.name = "ModelNotFoundError";
  }
}

export class OverloadedError extends OpenGatewayError {
  constructor(message = "all slots and the queue are full") {
    super("overloaded", message);
    this.name = "OverloadedError";
  }
}

export class CancelledError extends OpenGatewayError {
  constructor(message = "request was cancelled") {
    super("cancelled", message);
    this.name = "CancelledError";
  }
}

export class EngineFailedError extends OpenGatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("engine_failed", message, options);
    this.name = "EngineFailedError";
  }
}

export class ProtocolViolationError extends OpenGatewayError {
  constructor(message: string) {
    super("protocol_violation", message);
    this.name = "ProtocolViolationError";
  }
}

export class NoProviderError extends OpenGatewayError {
  constructor(message: string) {
    super("no_provider", message);
    this.name = "NoProviderError";
  }
}

const CLASS_BY_CODE: Partial<Record<ErrorCode, new (message: string) => OpenGatewayError>> = {
  invalid_signature: InvalidSignatureError,
  request_expired: RequestExpiredError,
  replayed_nonce: ReplayedNonceError,
  frame_too_large: FrameTooLargeError,
  malformed_frame: MalformedFrameError,
  invalid_request: InvalidRequestError,
  model_not_found: ModelNotFoundError,
  overloaded: OverloadedError,
  cancelled: CancelledError,
  engine_failed: EngineFailedError,
  protocol_violation: ProtocolViolationError,
  no_provider: NoProviderError,
};

/** Rebuilds the typed error a remote peer reported in an `error` frame. */
export function errorFromCode(code: ErrorCode, message: string): OpenGatewayError {
  const ErrorClass = CLASS_BY_CODE[code];
  if (ErrorClass !== undefined) return new ErrorClass(message);
  return new OpenGatewayError(code, message);
}
