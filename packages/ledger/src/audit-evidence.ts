import type { DeliveredChoice, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { deliveredOutputHash, envelopeHash, verifyEnvelope } from "@opengateway/protocol";
import { z } from "zod";

/** Most reason codes one verdict lists. */
export const MAX_AUDIT_REASONS = 16;

/** An audit's reason code (the auditor's vocabulary, full-node's audit-verdict.ts): kebab-case, short. */
export const auditReasonCodeSchema = z.string().regex(/^[a-z][a-z-]{0,47}$/, "not an audit reason code");

/**
 * Reasons that prove fraud from the evidence alone, for anyone re-running the same model: a token
 * the requested sampling could not produce, usage the delivered text does not hold, or more than
 * max_tokens. The statistical reasons (log-probability, ranks, tail, stop, length) lower
 * reputation but never mark fraud: a bound of 1e-6 is not proof.
 */
export const PROVABLE_AUDIT_REASONS: ReadonlySet<string> = new Set([
  "token-outside-sampling-set",
  "exceeds-max-tokens",
  "prompt-usage-mismatch",
  "completion-usage-mismatch",
]);

/** The fields of an audit block its evidence check reads. */
export interface AuditEvidence {
  readonly account: string;
  readonly outcome: "pass" | "fail";
  readonly reasons: readonly string[];
  readonly request: InferenceRequest;
  readonly receipt: InferenceReceipt;
  readonly delivered: readonly DeliveredChoice[];
}

/**
 * Why an audit block's evidence does not hold together, or null. Stateless: the auditor paid for
 * the request (challenge probes only: nobody reports on someone else's traffic), the receipt is the
 * provider's signature over that very request, and, where the receipt commits to its output, the
 * delivered text is the one it signed.
 */
export function auditEvidenceProblem(audit: AuditEvidence): string | null {
  const { request, receipt } = audit;
  if (request.payer !== audit.account) return "an auditor reports only on requests it paid for";
  if (request.provider === audit.account) return "an account cannot audit itself";
  if (request.kind === "embedding") return "embeddings are not audited";
  if (!verifyEnvelope("inference-request", request, request.payer)) return "the request's signature does not match its payer";
  if (receipt.provider !== request.provider) return "the receipt is not by the provider the request was addressed to";
  if (!verifyEnvelope("inference-receipt", receipt, receipt.provider))
    return "the receipt's signature does not match its provider";
  if (receipt.requestId !== request.id || receipt.requestHash !== envelopeHash(request) || receipt.payer !== request.payer) {
    return "the receipt does not refer to this request";
  }
  if (receipt.output !== undefined && receipt.output !== deliveredOutputHash(audit.delivered)) {
    return "the delivered output is not the one the receipt commits to";
  }
  const indexes = new Set(audit.delivered.map((choice) => choice.index));
  if (indexes.size !== audit.delivered.length) return "a choice is delivered twice";
  if ((audit.outcome === "pass") !== (audit.reasons.length === 0)) return "a pass lists no reasons and a fail lists some";
  return null;
}
