import { randomBytes } from "@noble/hashes/utils.js";
import { z } from "zod";
import { base64url } from "./bytes-encoding.js";
import type { ChatBody } from "./chat-body.js";
import { chatBodySchema } from "./chat-body.js";
import type { CompletionBody } from "./completion-body.js";
import { completionBodySchema } from "./completion-body.js";
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_REQUEST_TTL_MS,
  MAX_MODEL_ID_CHARS,
  MAX_REQUEST_TTL_MS,
  REQUEST_VERSION,
} from "./constants.js";
import type { EmbeddingBody } from "./embedding-body.js";
import { embeddingBodySchema } from "./embedding-body.js";
import { InvalidSignatureError, RequestExpiredError } from "./errors.js";
import type { Identity, IdentityId } from "./identity.js";
import { isIdentityId } from "./identity.js";
import type { Signed } from "./signed-envelope.js";
import { signEnvelope, verifyEnvelope } from "./signed-envelope.js";

const identityIdSchema = z.string().max(128).refine(isIdentityId, "not an Ed25519 identity id");
const base64urlIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);

const envelopeShape = {
  v: z.literal(REQUEST_VERSION),
  id: base64urlIdSchema,
  model: z.string().min(1).max(MAX_MODEL_ID_CHARS),
  payer: identityIdSchema,
  /** The one provider this request is addressed to: it alone may serve it, and claim it. */
  provider: identityIdSchema,
  /** The price per token the payer accepted (the provider's advert): receipts must charge exactly this. */
  pricePerToken: z.number().min(0).max(1_000_000),
  maxCredits: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  nonce: base64urlIdSchema,
  issuedAt: z.int().min(0),
  expiresAt: z.int().min(0),
  region: z.string().max(64).nullable(),
  sig: z.string().max(128),
};

export const inferenceRequestSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...envelopeShape, kind: z.literal("chat"), body: chatBodySchema }),
  z.strictObject({ ...envelopeShape, kind: z.literal("completion"), body: completionBodySchema }),
  z.strictObject({ ...envelopeShape, kind: z.literal("embedding"), body: embeddingBodySchema }),
]);

export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;
export type InferenceKind = InferenceRequest["kind"];
/** What each kind of request asks an engine to do. */
export type InferencePayload =
  | { kind: "chat"; body: ChatBody }
  | { kind: "completion"; body: CompletionBody }
  | { kind: "embedding"; body: EmbeddingBody };
export type UnsignedInferenceRequest = InferenceRequest extends unknown ? Omit<InferenceRequest, "sig"> : never;

export type CreateInferenceRequestParams = InferencePayload & {
  model: string;
  /** The provider the request is sent to. */
  provider: string;
  /** The price per token the payer accepts from that provider. */
  pricePerToken: number;
  maxCredits: number;
  region?: string | null;
  /** Defaults to a random id; the router reuses one id across retries so receipts point at what the client saw. */
  id?: string;
  now?: number;
  ttlMs?: number;
};

export function randomId(bytes = 16): string {
  return base64url.encode(randomBytes(bytes));
}

export function createInferenceRequest(params: CreateInferenceRequestParams, payer: Identity): InferenceRequest {
  const issuedAt = params.now ?? Date.now();
  const unsigned = {
    v: REQUEST_VERSION,
    id: params.id ?? randomId(),
    kind: params.kind,
    model: params.model,
    body: params.body,
    payer: payer.id,
    provider: params.provider,
    pricePerToken: params.pricePerToken,
    maxCredits: params.maxCredits,
    nonce: randomId(),
    issuedAt,
    expiresAt: issuedAt + Math.min(params.ttlMs ?? DEFAULT_REQUEST_TTL_MS, MAX_REQUEST_TTL_MS),
    region: params.region ?? null,
  };
  return signEnvelope("inference-request", unsigned, payer) as Signed<typeof unsigned> as InferenceRequest;
}

export interface VerifyInferenceRequestOptions {
  now?: number;
  clockSkewMs?: number;
}

/**
 * Checks what a provider must check before doing any work: the payer's signature and
 * the validity window. Replay is checked separately (it needs the provider's memory).
 */
export function verifyInferenceRequest(request: InferenceRequest, options: VerifyInferenceRequestOptions = {}): void {
  // The clock checks cost nothing; the signature is checked last.
  const now = options.now ?? Date.now();
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (request.issuedAt > now + skew) throw new RequestExpiredError("the request is issued in the future");
  if (request.expiresAt <= now) throw new RequestExpiredError("the request has expired");
  if (request.expiresAt - request.issuedAt > MAX_REQUEST_TTL_MS) {
    throw new RequestExpiredError("the request claims a validity longer than allowed");
  }
  if (!verifyEnvelope("inference-request", request, request.payer)) {
    throw new InvalidSignatureError("the request's signature does not match its payer");
  }
}

export type { IdentityId };
