import type { FinishReason } from "@opengateway/protocol";

/** `unauditable`: the request uses something the audit cannot re-check yet; no judgement either way. */
export type AuditOutcome = "pass" | "fail" | "unauditable";

export type AuditReasonCode =
  /** Tools, response formats, penalties or logit bias: not auditable yet. */
  | "unsupported-request"
  /** Prompt and completion do not fit the auditor's context. */
  | "context-overflow"
  /** The auditor holds another model than the request names. */
  | "model-mismatch"
  /** The delivered choices are not the ones the request asked for. */
  | "choice-mismatch"
  | "token-outside-sampling-set"
  | "log-prob-too-low"
  | "ranks-too-low"
  | "tail-too-heavy"
  | "implausible-stop"
  | "implausible-length"
  | "exceeds-max-tokens"
  | "prompt-usage-mismatch"
  | "completion-usage-mismatch";

export interface AuditReason {
  readonly code: AuditReasonCode;
  /** The choice it is about, when it is about one. */
  readonly choice?: number;
  readonly message: string;
}

/** What the audit measured on one delivered choice. */
export interface ChoiceFigures {
  readonly index: number;
  readonly finishReason: FinishReason;
  /** Tokens scored (the delivered text re-tokenized, after re-splits). */
  readonly tokens: number;
  /** Places where the text was re-split into the sampler's non-canonical tokens. */
  readonly resplits: number;
  /** Tokens the engine could not have produced; `firstMisfit` is the first one's position. */
  readonly misfits: number;
  readonly firstMisfit?: number;
  /** Largest ln p(argmax) − ln p(token) over the choice (temperature 1 probabilities). */
  readonly maxArgmaxGap: number;
  /**
   * Mean ln q of the delivered tokens under the serving distribution (clipped at
   * LOG_PROB_FLOOR), its honest expectation, and a bound on the chance of honest sampling
   * falling this far below it.
   */
  readonly meanLogProb: number;
  readonly expectedMeanLogProb: number;
  readonly logProbBound: number;
  /**
   * Where the tokens sit in their distributions, as mid-quantiles (the mass on less likely
   * tokens plus half their own): 1/2 on average for honest sampling, lower for text from
   * another distribution. `rankBound` bounds the chance of a mean this low under honest sampling.
   */
  readonly meanRankQuantile: number;
  readonly rankBound: number;
  readonly tailTokens: number;
  readonly expectedTailTokens: number;
  /** Bounds the chance of this many tail tokens under honest sampling. */
  readonly tailBound: number;
  /** For `stop`: the serving distribution's mass, after the text, on ending the turn. */
  readonly stopProbability: number;
}

/** The receipt's token counts against what the engine's meter would show for the delivered text (usage-check.ts). */
export interface UsageFigures {
  readonly claimedPromptTokens: number;
  readonly expectedPromptTokens: number;
  readonly claimedCompletionTokens: number;
  readonly expectedCompletionTokens: number;
}

export interface AuditVerdict {
  readonly outcome: AuditOutcome;
  /** Empty on a pass. */
  readonly reasons: readonly AuditReason[];
  readonly choices: readonly ChoiceFigures[];
  /** Present when a receipt was given. */
  readonly usage?: UsageFigures;
  readonly cost: {
    /** Tokens the auditor evaluated (prompt once, each choice, re-splits). */
    readonly evaluatedTokens: number;
    readonly ms: number;
  };
}

/** A verdict is a fail as soon as one reason is a fail; `unauditable` reasons only stand alone. */
export function outcomeOf(reasons: readonly AuditReason[]): AuditOutcome {
  if (reasons.length === 0) return "pass";
  return reasons.every((reason) => UNAUDITABLE.has(reason.code)) ? "unauditable" : "fail";
}

const UNAUDITABLE: ReadonlySet<AuditReasonCode> = new Set(["unsupported-request", "context-overflow", "model-mismatch"]);
