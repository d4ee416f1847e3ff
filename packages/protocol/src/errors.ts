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

/** Marks the prototypes of OpenGatewayError classes with their names; `Symbol.for` so every copy of this package agrees. */
const ERROR_NAME = Symbol.for("opengateway.error-name");

/**
 * Names an error class on its prototype, as the built-in errors are named: the name survives
 * minifying, and `isInstance` recognises the class by it.
 */
export function nameErrorClass(Class: abstract new (...args: never) => OpenGatewayError, name: string): void {
  Object.defineProperty(Class.prototype, "name", { value: name, writable: true, configurable: true });
  Object.defineProperty(Class.prototype, ERROR_NAME, { value: name });
}

/** The root of every error OpenGateway throws. `code` is stable: peers, logs and tests match on it. */
export class OpenGatewayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /**
   * Whether `value` is an error of this class or of a subclass, also one built by another copy of
   * the package or in another realm, where `instanceof` says no.
   */
  static isInstance<T>(this: { readonly prototype: T }, value: unknown): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class whose instances are asked for
    const prototype = this.prototype as object;
    if (Object.prototype.isPrototypeOf.call(prototype, value as object)) return true;
    const name = (prototype as { [ERROR_NAME]?: string })[ERROR_NAME];
    for (let link = value; typeof link === "object" && link !== null; link = Object.getPrototypeOf(link)) {
      if (Object.hasOwn(link, ERROR_NAME) && (link as { [ERROR_NAME]: string })[ERROR_NAME] === name) return true;
    }
    return false;
  }
}
nameErrorClass(OpenGatewayError, "OpenGatewayError");

/** What the error-class factories return: a class to extend, so each failure keeps its own class. */
export interface ErrorClass<Instance extends OpenGatewayError, Args extends unknown[]> {
  new (...args: Args): Instance;
  readonly prototype: Instance;
  isInstance: typeof OpenGatewayError.isInstance;
}

/**
 * Declares an error class under the root: its stable `name` and `code`, and how its constructor's
 * arguments make the message.
 */
export function errorClass<Code extends string, Args extends unknown[]>(
  name: string,
  code: Code,
  message: (...args: Args) => string,
): ErrorClass<OpenGatewayError & { readonly code: Code }, Args> {
  const Declared = class extends OpenGatewayError {
    declare readonly code: Code;
    constructor(...args: Args) {
      super(code, message(...args));
    }
  };
  nameErrorClass(Declared, name);
  return Declared;
}

/** A failure a peer can report in an `error` frame: its code is one of `ERROR_CODES`. */
export class WireError extends OpenGatewayError {
  declare readonly code: ErrorCode;
  /** Narrows `code` to the codes a peer can name. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
nameErrorClass(WireError, "WireError");

/** Declares the wire error class of one code; `fallback` is its message when none is given. */
function wireError(
  name: string,
  code: ErrorCode,
  fallback: string,
): ErrorClass<WireError, [message?: string, options?: ErrorOptions]> {
  const Declared = class extends WireError {
    constructor(message = fallback, options?: ErrorOptions) {
      super(code, message, options);
    }
  };
  nameErrorClass(Declared, name);
  return Declared;
}

export class InvalidSignatureError extends wireError("InvalidSignatureError", "invalid_signature", "signature does not verify") {}
export class RequestExpiredError extends wireError(
  "RequestExpiredError",
  "request_expired",
  "request has expired or is not yet valid",
) {}
export class ReplayedNonceError extends wireError("ReplayedNonceError", "replayed_nonce", "nonce was already used") {}
export class FrameTooLargeError extends wireError("FrameTooLargeError", "frame_too_large", "frame exceeds the size limit") {}
export class MalformedFrameError extends wireError("MalformedFrameError", "malformed_frame", "frame is not valid") {}
export class InvalidRequestError extends wireError("InvalidRequestError", "invalid_request", "the request is not valid") {}
export class ModelNotFoundError extends wireError("ModelNotFoundError", "model_not_found", "the model is not served") {}
export class OverloadedError extends wireError("OverloadedError", "overloaded", "all slots and the queue are full") {}
export class CancelledError extends wireError("CancelledError", "cancelled", "request was cancelled") {}
export class EngineFailedError extends wireError("EngineFailedError", "engine_failed", "the engine failed") {}
export class ProtocolViolationError extends wireError(
  "ProtocolViolationError",
  "protocol_violation",
  "the peer broke the protocol",
) {}
export class NoProviderError extends wireError("NoProviderError", "no_provider", "no provider can serve the request") {}
/** A reservation the payer cannot cover: the gateway answers 402, a provider refuses the request. */
export class InsufficientCreditsError extends wireError(
  "InsufficientCreditsError",
  "insufficient_credits",
  "the payer cannot cover the request",
) {}

const CLASS_BY_CODE: Record<ErrorCode, new (message: string) => WireError> = {
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
  insufficient_credits: InsufficientCreditsError,
};

/** Rebuilds the typed error a remote peer reported in an `error` frame. */
export function errorFromCode(code: ErrorCode, message: string): WireError {
  return new CLASS_BY_CODE[code](message);
}

/** The message of anything thrown: an error's own, or the value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
