import { sha256 } from "@noble/hashes/sha2.js";
import type { Identity } from "@opengateway/protocol";
import {
  base64url,
  canonicalBytes,
  deliveredOutputSchema,
  inferenceReceiptSchema,
  inferenceRequestSchema,
  isIdentityId,
  publicKeyFromIdentityId,
  utf8Encode,
  verifyEnvelope,
  verifyInferenceReceipt,
  verifySignature,
} from "@opengateway/protocol";
import { z } from "zod";
import { auditEvidenceProblem, auditReasonCodeSchema, MAX_AUDIT_REASONS } from "./audit-evidence.js";
import type { BlockRejectedError } from "./ledger-errors.js";
import {
  BlockTooLargeError,
  ClaimTooEarlyError,
  InvalidBlockSignatureError,
  InvalidEvidenceError,
  InvalidProofOfWorkError,
  InvalidReceiptError,
  InvalidWitnessError,
  MalformedBlockError,
  SelfDealingError,
  WitnessNotAllowedError,
} from "./ledger-errors.js";
import type { LedgerParams } from "./ledger-params.js";
import { registrationPowBits } from "./registration-pow.js";

export const LEDGER_BLOCK_VERSION = 1;

/** A signature over a ledger block can never pass as one over a request or a receipt. */
const BLOCK_SIGNATURE_DOMAIN = utf8Encode("opengateway:ledger-block:v1\n");

const safeInt = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
/** base64url (unpadded) SHA-256. */
export const blockHashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "not a base64url SHA-256 hash");
const identityIdSchema = z.string().max(128).refine(isIdentityId, "not an Ed25519 identity id");
/** An Ed25519 signature: 64 bytes, 86 base64url characters. */
const signatureSchema = z.string().regex(/^[A-Za-z0-9_-]{86}$/, "not a base64url Ed25519 signature");

const header = {
  v: z.literal(LEDGER_BLOCK_VERSION),
  account: identityIdSchema,
  timestamp: safeInt,
  sig: signatureSchema,
};
const linked = { ...header, height: safeInt.min(1), previous: blockHashSchema };

/** Registration: the first block of every chain; mints the grant. */
export const openBlockSchema = z.strictObject({
  ...header,
  kind: z.literal("open"),
  height: z.literal(0),
  previous: z.null(),
  fingerprint: blockHashSchema,
  powNonce: safeInt,
});

export const sendBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("send"),
  to: identityIdSchema,
  amount: safeInt.min(1),
});

/** Claims one send addressed to this account: credits arrive only when received. */
export const receiveBlockSchema = z.strictObject({ ...linked, kind: z.literal("receive"), source: blockHashSchema });

/**
 * Payment for inference on the payer's chain: the block's own signature is the payer's
 * countersignature of the provider-signed receipt. The request itself stays off the ledger
 * (it holds the prompt); the receipt commits to it by hash.
 */
export const settleBlockSchema = z.strictObject({ ...linked, kind: z.literal("settle"), receipt: inferenceReceiptSchema });

/** The provider collects a settlement addressed to it. */
export const earnBlockSchema = z.strictObject({ ...linked, kind: z.literal("earn"), source: blockHashSchema });

/** The provider's proof of an unpaid receipt: records a debt, moves no credits (see README). */
export const claimBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("claim"),
  request: inferenceRequestSchema,
  receipt: inferenceReceiptSchema,
});

/**
 * The payer's answer to a claim it will not pay (it never received the work: an error, a
 * cancelled or misaddressed request, a receipt that overcharges): clears the claim's debt and
 * records the dispute publicly against both accounts. Names the claim by hash.
 */
export const disputeBlockSchema = z.strictObject({ ...linked, kind: z.literal("dispute"), claim: blockHashSchema });

/** Most opens one witness block may name. */
export const MAX_WITNESSED_OPENS = 32;

/**
 * A time witness's statement that it saw these open blocks arrive, each at `seenAt` by its clock
 * (README, "Agreed time"). Entries are sorted by open hash, once each, so one statement has one form.
 */
export const witnessBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("witness"),
  opens: z
    .array(z.strictObject({ open: blockHashSchema, seenAt: safeInt }))
    .min(1)
    .max(MAX_WITNESSED_OPENS)
    .refine(
      (entries) => entries.every((entry, index) => index === 0 || (entries[index - 1] as { open: string }).open < entry.open),
      "witnessed opens must be sorted by hash, each once",
    ),
});

/**
 * An auditor's signed verdict on one request it paid for (a challenge probe), with the whole
 * evidence: its signed request, the provider's signed receipt, and the output as delivered, which
 * the receipt's `output` commits to. Anyone holding the model can re-check it (a `review`).
 * Reputation counts it (audit-standings.ts); a verified fail with proof marks fraud.
 */
export const auditBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("audit"),
  outcome: z.enum(["pass", "fail"]),
  /** Why it failed (the audit's reason codes); empty on a pass. */
  reasons: z.array(auditReasonCodeSchema).max(MAX_AUDIT_REASONS),
  request: inferenceRequestSchema,
  receipt: inferenceReceiptSchema,
  delivered: deliveredOutputSchema,
});

/** Another auditor's answer to an audit it re-checked on its own copy of the model: it agrees with the verdict or not. */
export const reviewBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("review"),
  audit: blockHashSchema,
  agrees: z.boolean(),
});

const evidenceBlockSchema = z.discriminatedUnion("kind", [
  openBlockSchema,
  sendBlockSchema,
  receiveBlockSchema,
  settleBlockSchema,
  earnBlockSchema,
  claimBlockSchema,
  disputeBlockSchema,
  witnessBlockSchema,
  auditBlockSchema,
  reviewBlockSchema,
]);

/** Two signed blocks of one account at one height: burns the offender's balance. */
export const slashBlockSchema = z.strictObject({
  ...linked,
  kind: z.literal("slash"),
  evidence: z.tuple([evidenceBlockSchema, evidenceBlockSchema]),
});

/** Every block kind: the ones a slash may cite as evidence, and the slash itself. */
export const ledgerBlockSchema = z.discriminatedUnion("kind", [...evidenceBlockSchema.options, slashBlockSchema]);

export type OpenBlock = z.infer<typeof openBlockSchema>;
export type SendBlock = z.infer<typeof sendBlockSchema>;
export type ReceiveBlock = z.infer<typeof receiveBlockSchema>;
export type SettleBlock = z.infer<typeof settleBlockSchema>;
export type EarnBlock = z.infer<typeof earnBlockSchema>;
export type ClaimBlock = z.infer<typeof claimBlockSchema>;
export type DisputeBlock = z.infer<typeof disputeBlockSchema>;
export type WitnessBlock = z.infer<typeof witnessBlockSchema>;
export type SlashBlock = z.infer<typeof slashBlockSchema>;
export type AuditBlock = z.infer<typeof auditBlockSchema>;
export type ReviewBlock = z.infer<typeof reviewBlockSchema>;
export type LedgerBlock = z.infer<typeof ledgerBlockSchema>;
export type EvidenceBlock = Exclude<LedgerBlock, SlashBlock>;
export type BlockKind = LedgerBlock["kind"];

type Unsigned<T> = T extends unknown ? Omit<T, "sig"> : never;
export type UnsignedLedgerBlock = Unsigned<LedgerBlock>;

function signingBytes(unsigned: object): Uint8Array {
  const body = canonicalBytes(unsigned);
  const bytes = new Uint8Array(BLOCK_SIGNATURE_DOMAIN.length + body.length);
  bytes.set(BLOCK_SIGNATURE_DOMAIN, 0);
  bytes.set(body, BLOCK_SIGNATURE_DOMAIN.length);
  return bytes;
}

export function signLedgerBlock<T extends UnsignedLedgerBlock>(unsigned: T, signer: Identity): T & { readonly sig: string } {
  if (unsigned.account !== signer.id) throw new RangeError("a block is signed by its own account");
  return { ...unsigned, sig: base64url.encode(signer.sign(signingBytes(unsigned))) };
}

export function verifyLedgerBlockSignature(block: LedgerBlock): boolean {
  const { sig, ...unsigned } = block;
  try {
    return verifySignature(publicKeyFromIdentityId(block.account), signingBytes(unsigned), base64url.decode(sig));
  } catch {
    return false;
  }
}

/** base64url SHA-256 of the canonical bytes of the signed block: what chains and receives point at. */
export function ledgerBlockHash(block: LedgerBlock): string {
  return base64url.encode(sha256(canonicalBytes(block)));
}

/** Sort key for settlements and claims: a request id is paid at most once per provider. */
export function settlementKey(payer: string, requestId: string, provider: string): string {
  return `${payer}\n${requestId}\n${provider}`;
}

export type VerifiedBlock =
  | {
      readonly ok: true;
      readonly block: LedgerBlock;
      readonly hash: string;
      /** An open's proof-of-work: the leading zero bits it reached (absent when the check was skipped). */
      readonly powBits?: number;
    }
  | { readonly ok: false; readonly error: BlockRejectedError };

function reject(error: BlockRejectedError): VerifiedBlock {
  return { ok: false, error };
}

/**
 * Everything about a block that needs no ledger state: schema, size, signatures, proof-of-work,
 * receipts and evidence. Done once on arrival; the state machine then only checks positions and
 * amounts, so rebuilding state from verified blocks costs no signature checks.
 */
export function verifyLedgerBlock(
  input: unknown,
  params: LedgerParams,
  options: {
    /** The block comes from this peer's own store, verified when it was kept: skip the (memory-hard) proof-of-work. */
    readonly trustedPow?: boolean;
  } = {},
): VerifiedBlock {
  const parsed = ledgerBlockSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return reject(new MalformedBlockError(issue ? `${issue.path.join(".") || "block"}: ${issue.message}` : "not a ledger block"));
  }
  const block = parsed.data;
  const bytes = canonicalBytes(block);
  const limit = block.kind === "slash" ? 2 * params.maxBlockBytes + 4096 : params.maxBlockBytes;
  if (bytes.length > limit) return reject(new BlockTooLargeError(bytes.length, limit));
  if (!verifyLedgerBlockSignature(block)) return reject(new InvalidBlockSignatureError());
  let powBits: number | undefined;
  if (block.kind === "open" && options.trustedPow !== true) {
    powBits = registrationPowBits({
      publicKey: publicKeyFromIdentityId(block.account),
      fingerprintHash: block.fingerprint,
      memoryKiB: params.registrationMemoryKiB,
      nonce: block.powNonce,
    });
    if (powBits < params.registrationDifficultyBits)
      return reject(new InvalidProofOfWorkError(params.registrationDifficultyBits));
  }
  const contentError = verifyContent(block, params);
  if (contentError !== null) return reject(contentError);
  const hash = base64url.encode(sha256(bytes));
  return powBits === undefined ? { ok: true, block, hash } : { ok: true, block, hash, powBits };
}

function verifyContent(block: LedgerBlock, params: LedgerParams): BlockRejectedError | null {
  switch (block.kind) {
    case "send":
      return block.to === block.account ? new SelfDealingError("an account cannot send to itself") : null;
    case "settle":
      if (block.receipt.payer !== block.account) return new InvalidReceiptError("the receipt names another payer");
      if (block.receipt.provider === block.account) return new SelfDealingError("an account cannot pay itself for inference");
      if (!verifyEnvelope("inference-receipt", block.receipt, block.receipt.provider)) {
        return new InvalidReceiptError("the receipt's signature does not match its provider");
      }
      return null;
    case "claim":
      if (block.receipt.provider !== block.account) return new InvalidReceiptError("only the receipt's provider may claim it");
      if (block.request.payer === block.account) return new SelfDealingError("an account cannot claim from itself");
      if (!verifyEnvelope("inference-request", block.request, block.request.payer)) {
        return new InvalidReceiptError("the request's signature does not match its payer");
      }
      // A claim stands only for completed work the payer could have received: a receipt by the
      // provider the request was addressed to, charging what the request allows, not partial work.
      try {
        verifyInferenceReceipt(block.receipt, block.request, block.account);
      } catch (error) {
        return new InvalidReceiptError(error instanceof Error ? error.message : "the receipt does not match the request");
      }
      if (block.receipt.finishReason === "cancelled") {
        return new InvalidReceiptError("a receipt of partial (cancelled) work cannot be claimed; only the payer may settle it");
      }
      if (block.timestamp < block.request.expiresAt) return new ClaimTooEarlyError(block.request.expiresAt);
      return null;
    case "slash":
      return verifyEvidence(block, params);
    case "witness":
      if (!params.timeWitnesses.includes(block.account)) return new WitnessNotAllowedError(block.account);
      // A witness's clock cannot have seen an open after the block that says so.
      if (block.opens.some((entry) => entry.seenAt > block.timestamp))
        return new InvalidWitnessError("a witness block cannot say it saw an open after its own timestamp");
      return null;
    case "audit": {
      const problem = auditEvidenceProblem(block);
      return problem === null ? null : new InvalidEvidenceError(problem);
    }
    default:
      return null;
  }
}

function verifyEvidence(block: SlashBlock, params: LedgerParams): BlockRejectedError | null {
  const [first, second] = block.evidence;
  if (first.account !== second.account || first.height !== second.height) {
    return new InvalidEvidenceError("evidence blocks must share account and height");
  }
  if (first.account === block.account) return new InvalidEvidenceError("an account cannot slash itself");
  const a = verifyLedgerBlock(first, params);
  const b = verifyLedgerBlock(second, params);
  if (!a.ok || !b.ok) return new InvalidEvidenceError("an evidence block is not validly signed");
  if (a.hash === b.hash) return new InvalidEvidenceError("evidence blocks are the same block");
  return null;
}
