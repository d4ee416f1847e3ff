import { z } from "zod";
import { ENVELOPE_VERSION } from "./constants.js";
import { InvalidSignatureError, ProtocolViolationError } from "./errors.js";
import type { Identity } from "./identity.js";
import { isIdentityId } from "./identity.js";
import type { InferenceRequest } from "./inference-request.js";
import type { Signed } from "./signed-envelope.js";
import { envelopeHash, signEnvelope, verifyEnvelope } from "./signed-envelope.js";
import type { FinishReason, Usage } from "./usage.js";
import { finishReasonSchema, usageSchema } from "./usage.js";

export const inferenceReceiptSchema = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  requestId: z.string().max(64),
  requestHash: z.string().max(64),
  payer: z.string().max(128).refine(isIdentityId),
  provider: z.string().max(128).refine(isIdentityId),
  model: z.string().max(256),
  usage: usageSchema,
  credits: z.int().min(0),
  /** How the first choice ended, or `cancelled` for a receipt of partial work. */
  finishReason: finishReasonSchema.or(z.literal("cancelled")),
  issuedAt: z.int().min(0),
  sig: z.string().max(128),
});

export type InferenceReceipt = z.infer<typeof inferenceReceiptSchema>;

export interface CreateReceiptParams {
  request: InferenceRequest;
  usage: Usage;
  credits: number;
  finishReason: FinishReason | "cancelled";
  now?: number;
}

/** The provider's signed statement of what it served for one request: the basis of payment. */
export function createInferenceReceipt(params: CreateReceiptParams, provider: Identity): InferenceReceipt {
  return signEnvelope(
    "inference-receipt",
    {
      v: ENVELOPE_VERSION,
      requestId: params.request.id,
      requestHash: envelopeHash(params.request),
      payer: params.request.payer,
      provider: provider.id,
      model: params.request.model,
      usage: params.usage,
      credits: params.credits,
      finishReason: params.finishReason,
      issuedAt: params.now ?? Date.now(),
    },
    provider,
  ) as Signed<Omit<InferenceReceipt, "sig">>;
}

/**
 * Checks that a receipt was signed by the expected provider, is about this exact request,
 * and charges no more than the request allowed.
 */
export function verifyInferenceReceipt(receipt: InferenceReceipt, request: InferenceRequest, expectedProvider: string): void {
  if (receipt.provider !== expectedProvider) {
    throw new ProtocolViolationError("receipt is signed by another identity than the provider that served it");
  }
  if (!verifyEnvelope("inference-receipt", receipt, receipt.provider)) {
    throw new InvalidSignatureError("the receipt's signature does not match its provider");
  }
  if (receipt.requestId !== request.id || receipt.requestHash !== envelopeHash(request) || receipt.payer !== request.payer) {
    throw new ProtocolViolationError("receipt does not refer to this request");
  }
  if (receipt.credits > request.maxCredits) {
    throw new ProtocolViolationError("receipt charges more than the request's maxCredits");
  }
}
