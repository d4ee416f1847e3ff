import type { FinishReason, Usage } from "@opengateway/protocol";
import type { AuditReason, UsageFigures } from "./audit-verdict.js";
import { COMPLETION_TOKEN_SLACK_MIN, COMPLETION_TOKEN_SLACK_SHARE, PROMPT_TOKEN_SLACK } from "./constants.js";

/**
 * How far a count of re-tokenized text may be from the tokens the sampler produced: each
 * non-canonical split the sampler made and the re-split did not need to undo moves it by one.
 */
export function completionTokenSlack(tokens: number): number {
  return Math.max(COMPLETION_TOKEN_SLACK_MIN, Math.ceil(tokens * COMPLETION_TOKEN_SLACK_SHARE));
}

/** A delivered choice as the usage check counts it. */
export interface CountedChoice {
  /** Its tokens (the auditor's split of the delivered text). */
  readonly tokens: number;
  readonly finishReason: FinishReason;
}

/**
 * Checks a receipt's usage against the auditor's own count of the prompt and the delivered
 * tokens, counted as the engine's token meter counts them: the last prompt token is metered as
 * output (its logits are read), so a receipt shows one prompt token less and, for each choice,
 * one completion token more (the end-of-turn token drawn, or the max_tokens-th token, never
 * evaluated) up to max_tokens; a choice the payer's reserve left empty counts nothing.
 */
export function checkUsage(
  claimed: Usage,
  counted: { promptTokens: number; choices: readonly CountedChoice[] },
  maxTokens: number,
): { figures: UsageFigures; reasons: AuditReason[] } {
  const reasons: AuditReason[] = [];
  const expectedPrompt = Math.max(0, counted.promptTokens - 1);
  let expectedCompletion = 0;
  for (const choice of counted.choices) {
    if (choice.tokens > 0 || choice.finishReason !== "length") expectedCompletion += Math.min(choice.tokens + 1, maxTokens);
  }
  if (Math.abs(claimed.promptTokens - expectedPrompt) > PROMPT_TOKEN_SLACK) {
    reasons.push({
      code: "prompt-usage-mismatch",
      message: `the receipt claims ${claimed.promptTokens} prompt tokens; the prompt meters as ${expectedPrompt}`,
    });
  }
  const cap = maxTokens * counted.choices.length;
  if (claimed.completionTokens > cap) {
    reasons.push({
      code: "completion-usage-mismatch",
      message: `the receipt claims ${claimed.completionTokens} completion tokens; ${counted.choices.length} choice(s) of max_tokens ${maxTokens} allow ${cap}`,
    });
  } else if (Math.abs(claimed.completionTokens - expectedCompletion) > completionTokenSlack(expectedCompletion)) {
    reasons.push({
      code: "completion-usage-mismatch",
      message: `the receipt claims ${claimed.completionTokens} completion tokens; the delivered text meters as ${expectedCompletion}`,
    });
  }
  return {
    figures: {
      claimedPromptTokens: claimed.promptTokens,
      expectedPromptTokens: expectedPrompt,
      claimedCompletionTokens: claimed.completionTokens,
      expectedCompletionTokens: expectedCompletion,
    },
    reasons,
  };
}
