import type { FinishReason } from "@opengateway/protocol";
import type { AuditReason, ChoiceFigures } from "./audit-verdict.js";
import { FALSE_ALARM_BOUND, MAX_TOKENS_OUTSIDE_SET, MIN_TOKENS_FOR_STATISTICS } from "./constants.js";
import type { AuditedSampling, Candidate } from "./sampling-set.js";
import { fitToken } from "./sampling-set.js";
import { completionTokenSlack } from "./usage-check.js";

/** One delivered token and the model's distribution it was drawn from. */
export interface ScoredToken {
  readonly token: number;
  readonly candidates: readonly Candidate[];
}

/** Everything the verdict on one choice rests on: the model's scores, no model needed to judge them. */
export interface ChoiceEvidence {
  readonly index: number;
  readonly finishReason: FinishReason;
  readonly positions: readonly ScoredToken[];
  /** The distribution after the last delivered token. */
  readonly end: readonly Candidate[];
  /** Tokens at `end` that end the turn: end-of-generation tokens, or ones starting a stop string. */
  readonly endStopTokens: ReadonlySet<number>;
  /** Tokens at the last position that finish its text and start a stop string (the stop began inside a token). */
  readonly lastStopTokens: ReadonlySet<number>;
  readonly resplits: number;
}

export interface ChoiceRules {
  readonly sampling: AuditedSampling;
  readonly maxTokens: number;
  /**
   * Whether the payer's reserve could have cut generation before max_tokens (finish `length`
   * with fewer tokens); undefined when the auditor cannot tell.
   */
  readonly reserveMayHaveCut?: boolean;
}

export interface ChoiceJudgement {
  readonly figures: ChoiceFigures;
  readonly reasons: readonly AuditReason[];
}

/**
 * Judges one delivered choice against the requested sampling: every token must be one the
 * engine could have drawn, the sequence as a whole must be as likely as honest sampling makes
 * it, and the claimed finish must be plausible where the text ends.
 */
export function judgeChoice(evidence: ChoiceEvidence, rules: ChoiceRules): ChoiceJudgement {
  const { sampling } = rules;
  const greedy = sampling.temperature <= 0;
  const reasons: AuditReason[] = [];
  const fail = (code: AuditReason["code"], message: string) => reasons.push({ code, choice: evidence.index, message });
  let misfits = 0;
  let firstMisfit: number | undefined;
  let maxArgmaxGap = 0;
  let clippedLogProb = 0;
  let expected = 0;
  let logProbVariance = 0;
  let logProbRange = 0;
  let rankSum = 0;
  let rankVariance = 0;
  let tailTokens = 0;
  let expectedTail = 0;
  let tailVariance = 0;
  for (const [position, scored] of evidence.positions.entries()) {
    const fit = fitToken(scored.candidates, scored.token, sampling);
    maxArgmaxGap = Math.max(maxArgmaxGap, fit.gap);
    if (!fit.fits) {
      misfits++;
      firstMisfit ??= position;
      continue;
    }
    clippedLogProb += fit.clippedLogQ;
    expected += fit.expectedLogQ;
    logProbVariance += fit.varianceLogQ;
    logProbRange = Math.max(logProbRange, fit.rangeLogQ);
    rankSum += fit.rankQuantile;
    rankVariance += fit.rankVariance;
    if (fit.inTail) tailTokens++;
    expectedTail += fit.tailMass;
    tailVariance += fit.tailMass * (1 - fit.tailMass);
  }
  const tokens = evidence.positions.length;
  const scored = tokens - misfits;
  // Each quantile lies within 1/2 of its mean of 1/2; each tail indicator within 1 of its mean.
  const logProbBound = bernsteinBound(expected - clippedLogProb, logProbVariance, logProbRange);
  const rankBound = bernsteinBound(scored / 2 - rankSum, rankVariance, 0.5);
  const tailBound = bernsteinBound(tailTokens - expectedTail, tailVariance, 1);
  if (misfits > MAX_TOKENS_OUTSIDE_SET) {
    fail(
      "token-outside-sampling-set",
      `${misfits} of ${tokens} tokens could not have been ${greedy ? "chosen greedily" : "sampled"} (first at token ${firstMisfit})`,
    );
  }
  if (!greedy && scored >= MIN_TOKENS_FOR_STATISTICS) {
    if (logProbBound < FALSE_ALARM_BOUND) {
      fail(
        "log-prob-too-low",
        `the text's log-probability is ${(clippedLogProb / scored).toFixed(2)} per token where honest sampling gives ${(expected / scored).toFixed(2)} (chance ≤ ${logProbBound.toExponential(1)})`,
      );
    }
    if (rankBound < FALSE_ALARM_BOUND) {
      fail(
        "ranks-too-low",
        `the tokens rank at ${(rankSum / scored).toFixed(3)} of their distributions on average, where honest sampling gives 0.5 (chance ≤ ${rankBound.toExponential(1)})`,
      );
    }
    if (tailBound < FALSE_ALARM_BOUND) {
      fail(
        "tail-too-heavy",
        `${tailTokens} unlikely tokens where ${expectedTail.toFixed(1)} were expected (chance ≤ ${tailBound.toExponential(1)})`,
      );
    }
  }
  let stopProbability = 0;
  if (evidence.finishReason === "stop") {
    const last = evidence.positions.at(-1);
    for (const token of evidence.endStopTokens) {
      const fit = fitToken(evidence.end, token, sampling);
      if (fit.fits) stopProbability += fit.q;
    }
    const stopInsideLastToken =
      last !== undefined && [...evidence.lastStopTokens].some((token) => fitToken(last.candidates, token, sampling).fits);
    if (stopProbability === 0 && !stopInsideLastToken) {
      fail("implausible-stop", "the model would not have ended the answer where the text ends");
    }
  }
  const slack = completionTokenSlack(rules.maxTokens);
  if (tokens > rules.maxTokens + slack)
    fail("exceeds-max-tokens", `${tokens} tokens delivered for max_tokens ${rules.maxTokens}`);
  if (evidence.finishReason === "length" && tokens < rules.maxTokens - slack) {
    if (rules.reserveMayHaveCut === false) {
      fail("implausible-length", `cut by length after ${tokens} of max_tokens ${rules.maxTokens}, with the reserve not spent`);
    }
  }
  return {
    figures: {
      index: evidence.index,
      finishReason: evidence.finishReason,
      tokens,
      resplits: evidence.resplits,
      misfits,
      firstMisfit,
      maxArgmaxGap,
      meanLogProb: scored > 0 ? clippedLogProb / scored : 0,
      expectedMeanLogProb: scored > 0 ? expected / scored : 0,
      logProbBound,
      meanRankQuantile: scored > 0 ? rankSum / scored : 0.5,
      rankBound,
      tailTokens,
      expectedTailTokens: expectedTail,
      tailBound,
      stopProbability,
    },
    reasons,
  };
}

/**
 * Bernstein's inequality: the chance that independent terms, each within `range` of its mean,
 * with summed variance `variance`, deviate by `deviation` or more in the tested direction.
 * It holds for any distribution, so it never overstates how unlikely honest text is.
 */
export function bernsteinBound(deviation: number, variance: number, range: number): number {
  if (deviation <= 0) return 1;
  return Math.exp(-(deviation * deviation) / (2 * variance + (2 * range * deviation) / 3));
}
