import { randomBytes } from "@noble/hashes/utils.js";
import { z } from "zod";
import { base64url } from "./bytes-encoding.js";
import type { ChatBody } from "./chat-body.js";
import { chatBodySchema } from "./chat-body.js";
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_REQUEST_TTL_MS,
  ENVELOPE_VERSION,
  MAX_MODEL_ID_CHARS,
  MAX_REQUEST_TTL_MS,
} from "./constants.js";
import { InvalidSignatureError, RequestExpiredError } from "./errors.js";
import type { Identity, IdentityId } from "./identity.js";
import { isIdentityId } from "./identity.js";
import type { Signed } from "./signed-envelope.js";
import { signEnvelope, verifyEnvelope } from "./signed-envelope.js";

const identityIdSchema = z.string().max(128).refine(isIdentityId, "not an Ed25519 identity id");
const base64urlIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);

export const inferenceRequestSchema = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  id: base64urlIdSchema,
  kind: z.literal("chat"),
  model: z.string().min(1).max(MAX_MODEL_ID_CHARS),
  body: chatBodySchema,
  payer: identityIdSchema,
  maxCredits: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  nonce: base64urlIdSchema,
  issuedAt: z.int().min(0),
  expiresAt: z.int().min(0),
  region: z.string().max(64).nullable(),
  sig: z.string().max(128),
});

export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;
export type UnsignedInferenceRequest = Omit<InferenceRequest, "sig">;

export interface CreateInferenceRequestParams {
  model: string;
  body: ChatBody;
  maxCredits: number;
  region?: string | null;
  /** Defaults to a random id; the router reuses one id across retries so receipts point at what the client saw. */
  id?: string;
  now?: number;
  ttlMs?: number;
}

export function randomId(bytes = 16): string {
  return base64url.encode(randomBytes(bytes));
}

export function createInferenceRequest(params: CreateInferenceRequestParams, payer: Identity): InferenceRequest {
  const issuedAt = params.now ?? Date.now();
  const unsigned: UnsignedInferenceRequest = {
    v: ENVELOPE_VERSION,
    id: params.id ?? randomId(),
    kind: "chat",
    model: params.model,
    body: params.body,
    payer: payer.id,
    maxCredits: params.maxCredits,
    nonce: randomId(),
    issuedAt,
    expiresAt: issuedAt + Math.min(params.ttlMs ?? DEFAULT_REQUEST_TTL_MS, MAX_REQUEST_TTL_MS),
    region: params.region ?? null,
  };
  return signEnvelope("inference-request", unsigned, payer) as Signed<UnsignedInferenceRequest>;
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
  if (!verifyEnvelope("inference-request", request, request.payer)) {
    throw new InvalidSignatureError("the request's signature does not match its payer");
  }
  const now = options.now ?? Date.now();
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (request.issuedAt > now + skew) throw new RequestExpiredError("the request is issued in the future");
  if (request.expiresAt <= now) throw new RequestExpiredError("the request has expired");
  if (request.expiresAt - request.issuedAt > MAX_REQUEST_TTL_MS) {
    throw new RequestExpiredError("the request claims a validity longer than allowed");
  }
}

export type { IdentityId };
