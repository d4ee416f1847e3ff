import { PROVABLE_AUDIT_REASONS } from "./audit-evidence.js";
import type { AuditBlock, ReviewBlock } from "./ledger-block.js";
import { settlementKey } from "./ledger-block.js";
import type { BlockRejectedError } from "./ledger-errors.js";
import { DuplicateAuditError, MissingDependencyError, ReviewRefusedError } from "./ledger-errors.js";
import { PersistentMap } from "./persistent-map.js";

/** What the state keeps of an audit block: enough to weigh it (the block itself stays in the chain). */
export interface AuditEntry {
  readonly auditor: string;
  readonly provider: string;
  readonly outcome: "pass" | "fail";
  /** A fail with a reason that proves fraud by itself (PROVABLE_AUDIT_REASONS) and a receipt committing to the output. */
  readonly provable: boolean;
}

export interface ReviewEntry {
  readonly audit: string;
  readonly reviewer: string;
  readonly agrees: boolean;
}

export interface AuditRecords {
  /** Audit block hash → verdict. */
  readonly verdicts: PersistentMap<AuditEntry>;
  /** settlementKey(auditor, request id, provider) → the audit block: one verdict per probe. */
  readonly keys: PersistentMap<string>;
  /** `audit hash \n reviewer` → review. */
  readonly reviews: PersistentMap<ReviewEntry>;
}

export function emptyAuditRecords(): AuditRecords {
  return { verdicts: PersistentMap.empty(), keys: PersistentMap.empty(), reviews: PersistentMap.empty() };
}

export function recordAudit(records: AuditRecords, block: AuditBlock, hash: string): AuditRecords | BlockRejectedError {
  const provider = block.request.provider;
  const key = settlementKey(block.account, block.request.id, provider);
  if (records.keys.has(key)) return new DuplicateAuditError(block.request.id);
  // Without the receipt's commitment the delivered text is only the auditor's word: never proof.
  const provable =
    block.outcome === "fail" &&
    block.receipt.output !== undefined &&
    block.reasons.some((reason) => PROVABLE_AUDIT_REASONS.has(reason));
  return {
    ...records,
    verdicts: records.verdicts.set(hash, { auditor: block.account, provider, outcome: block.outcome, provable }),
    keys: records.keys.set(key, hash),
  };
}

/** `isBlock`: whether a hash names an applied block (a review of a non-audit is refused, not kept waiting). */
export function recordReview(
  records: AuditRecords,
  block: ReviewBlock,
  isBlock: (hash: string) => boolean,
): AuditRecords | BlockRejectedError {
  const audit = records.verdicts.get(block.audit);
  if (audit === undefined) {
    return isBlock(block.audit)
      ? new ReviewRefusedError("a review answers an audit block")
      : new MissingDependencyError({ type: "block", hash: block.audit });
  }
  if (audit.auditor === block.account) return new ReviewRefusedError("an auditor cannot review its own verdict");
  if (audit.provider === block.account) return new ReviewRefusedError("a provider cannot review a verdict on its own work");
  const key = `${block.audit}\n${block.account}`;
  if (records.reviews.has(key)) return new ReviewRefusedError("this account already reviewed that audit");
  return { ...records, reviews: records.reviews.set(key, { audit: block.audit, reviewer: block.account, agrees: block.agrees }) };
}
