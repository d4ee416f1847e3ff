/** Versioned protocol ids: a breaking wire change gets a new id, never a silent reinterpretation. */
export const INFERENCE_PROTOCOL = "/opengateway/infer/2.0.0";
export const NODE_INFO_PROTOCOL = "/opengateway/info/1.0.0";

export const ENVELOPE_VERSION = 1;
/**
 * Version of the signed `InferenceRequest`. 2 binds a request to one provider (`provider`) and to
 * the price the payer accepted (`pricePerToken`), so a request cannot be served or claimed by
 * another peer and a receipt's credits can be recomputed by anyone.
 */
export const REQUEST_VERSION = 2;

/** Largest frame either side accepts; a request with a long conversation fits comfortably. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** How far a signer's clock may run ahead of the verifier's. */
export const DEFAULT_CLOCK_SKEW_MS = 30_000;
/** Default validity of a freshly signed request. */
export const DEFAULT_REQUEST_TTL_MS = 60_000;
/** A request may not claim validity longer than this: it bounds the replay guard's memory. */
export const MAX_REQUEST_TTL_MS = 10 * 60_000;

export const MAX_MESSAGES = 256;
export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_SEQUENCE_CHARS = 256;
/** No served model has a context anywhere near this; larger values are input errors. */
export const MAX_COMPLETION_TOKENS = 131_072;
export const MAX_MODEL_ID_CHARS = 256;

/** The memory of signatures already verified (or made) in this process: entries and message bytes. */
export const VERIFIED_SIGNATURES_MAX_ENTRIES = 8192;
export const VERIFIED_SIGNATURES_MAX_BYTES = 16 * 1024 * 1024;
