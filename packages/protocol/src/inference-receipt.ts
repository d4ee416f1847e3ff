import { z } from "zod";
import { ENVELOPE_VERSION } from "./constants.js";
import { InvalidSignatureError, ProtocolViolationError } from "./errors.js";
import type { Identity } from "./identity.js";
import { isIdentityId } from "./identity.js";
import type { InferenceRequest } from "./inference-request.js";
import { creditsForUsage, maxCompletionTokensFor, maxPromptTokensFor } from "./pricing.js";
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
  /**
   * deliveredOutputHash of the choices as delivered (chat and completion): the provider signs the
   * text it sent, so an audit's evidence cannot be made up. Optional: older receipts lack it.
   */
  output: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/)
    .optional(),
  sig: z.string().max(128),
});

export type InferenceReceipt = z.infer<typeof inferenceReceiptSchema>;

export interface CreateReceiptParams {
  request: InferenceRequest;
  usage: Usage;
  credits: number;
  finishReason: FinishReason | "cancelled";
  /** deliveredOutputHash of what was delivered (absent for embeddings and partial receipts). */
  output?: string;
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
      ...(params.output === undefined ? {} : { output: params.output }),
    },
    provider,
  ) as Signed<Omit<InferenceReceipt, "sig">>;
}

export interface VerifyReceiptOptions {
  /**
   * Completion tokens the payer received from this provider. A receipt of partial work
   * (`cancelled`) may charge no more than that; a finished one is bounded by the request alone.
   */
  deliveredCompletionTokens?: number;
}

/**
 * Checks what a payer countersigns: a receipt signed by the provider the request was addressed
 * to, about this exact request, and charging exactly what the request allows for usage the
 * request could have produced. Throws `ProtocolViolationError` (with the reason) otherwise.
 */
export function verifyInferenceReceipt(
  receipt: InferenceReceipt,
  request: InferenceRequest,
  expectedProvider: string,
  options: VerifyReceiptOptions = {},
): void {
  if (receipt.provider !== expectedProvider) {
    throw new ProtocolViolationError("receipt is signed by another identity than the provider that served it");
  }
  if (request.provider !== expectedProvider) {
    throw new ProtocolViolationError("the request was addressed to another provider");
  }
  if (!verifyEnvelope("inference-receipt", receipt, receipt.provider)) {
    throw new InvalidSignatureError("the receipt's signature does not match its provider");
  }
  if (
    receipt.requestId !== request.id ||
    receipt.requestHash !== envelopeHash(request) ||
    receipt.payer !== request.payer ||
    receipt.model !== request.model
  ) {
    throw new ProtocolViolationError("receipt does not refer to this request");
  }
  const overcharge = receiptOvercharge(receipt, request, options);
  if (overcharge !== undefined) throw new ProtocolViolationError(`receipt refused: ${overcharge}`);
}

/**
 * Why a receipt charges more than its request allows, or `undefined` when it does not: usage
 * beyond what the request can produce (completion above n × maxTokens, prompt above its byte
 * bound, partial work above what was delivered) or credits other than ceil(tokens × the accepted
 * price) capped at maxCredits. Pure: the ledger applies the same rule to claims.
 */
export function receiptOvercharge(
  receipt: InferenceReceipt,
  request: InferenceRequest,
  options: VerifyReceiptOptions = {},
): string | undefined {
  const { promptTokens, completionTokens } = receipt.usage;
  const maxCompletion = maxCompletionTokensFor(request);
  if (completionTokens > maxCompletion) {
    return `${completionTokens} completion tokens charged; the request allows at most ${maxCompletion} (n × max_tokens)`;
  }
  const maxPrompt = maxPromptTokensFor(request);
  if (promptTokens > maxPrompt) {
    return `${promptTokens} prompt tokens charged; the prompt can hold at most ${maxPrompt}`;
  }
  const delivered = options.deliveredCompletionTokens;
  if (receipt.finishReason === "cancelled" && delivered !== undefined && completionTokens > delivered) {
    return `${completionTokens} completion tokens charged for a cancelled request that delivered ${delivered}`;
  }
  const expected = Math.min(creditsForUsage(receipt.usage, request.pricePerToken), request.maxCredits);
  if (receipt.credits !== expected) {
    return `${receipt.credits} credits charged; the usage at the accepted price of ${request.pricePerToken} per token costs ${expected}`;
  }
  return undefined;
}
