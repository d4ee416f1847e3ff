import type { ControlledEvaluateInputItem, LlamaContextSequence, LlamaModel, LlamaText, Token } from "node-llama-cpp";
import type { ScoredToken } from "./choice-judgement.js";
import { AUDIT_CANDIDATES_PER_POSITION, MAX_RESPLIT_ATTEMPTS_PER_CHOICE, RESPLIT_LOOKBACK_TOKENS } from "./constants.js";
import type { AuditedSampling, Candidate } from "./sampling-set.js";
import { fitToken } from "./sampling-set.js";

/** The model's view of one delivered choice: its tokens, each with the distribution it was drawn from. */
export interface ScoredChoice {
  readonly positions: readonly ScoredToken[];
  readonly end: readonly Candidate[];
  readonly endStopTokens: ReadonlySet<number>;
  readonly lastStopTokens: ReadonlySet<number>;
  readonly resplits: number;
  /** Tokens evaluated for this choice, re-splits included. */
  readonly evaluatedTokens: number;
}

/** One choice being scored: its current split and the distribution after each token. */
interface ChoiceState {
  readonly text: string;
  readonly sampling: AuditedSampling;
  tokens: Token[];
  after: Candidate[][];
  evaluatedTokens: number;
  attempts: number;
}

/** What ends a turn, as the engine would have stopped on it. */
export interface StopConditions {
  /** Stop strings: the request's `stop` and the chat template's text triggers. */
  readonly strings: readonly string[];
  /** Tokens that end a turn by themselves (a template's special-token triggers). */
  readonly tokens: ReadonlySet<number>;
}

// Probabilities at temperature 1 over the widest candidate set the audit reads; the serving
// distribution is rebuilt from them in sampling-set.ts.
const DISTRIBUTION = {
  generateNext: {
    probabilities: true,
    options: { temperature: 1, topK: AUDIT_CANDIDATES_PER_POSITION, topP: 1, minP: 0 },
  },
} as const;

/**
 * Scores delivered text with the model in one forward pass per choice: the prompt once, then
 * each choice's tokens, reading after every token the distribution of the next. The text is
 * re-tokenized canonically; where that split is one the sampler could not have produced but
 * another split of the same text could (the sampler emits non-canonical splits now and then),
 * it re-splits there and evaluates the rest again.
 */
export class CompletionScorer {
  readonly #model: LlamaModel;
  readonly #sequence: LlamaContextSequence;
  #promptLength = 0;
  #afterPrompt: Candidate[] = [];

  constructor(model: LlamaModel, sequence: LlamaContextSequence) {
    this.#model = model;
    this.#sequence = sequence;
  }

  /** Evaluates the prompt; every choice is scored on top of it. */
  async scorePrompt(tokens: readonly Token[]): Promise<void> {
    await this.#sequence.clearHistory();
    const [afterPrompt] = await this.#evaluate(tokens, 1);
    this.#promptLength = tokens.length;
    this.#afterPrompt = afterPrompt ?? [];
  }

  async scoreChoice(text: string, sampling: AuditedSampling, stops: StopConditions): Promise<ScoredChoice> {
    const state: ChoiceState = {
      text,
      sampling,
      tokens: text === "" ? [] : this.#model.tokenize(text, false, "trimLeadingSpace"),
      after: [],
      evaluatedTokens: 0,
      attempts: 0,
    };
    await this.#eraseFrom(0);
    state.after = await this.#evaluate(state.tokens, state.tokens.length);
    state.evaluatedTokens = state.tokens.length;
    let resplits = 0;
    let position = 0;
    while (state.attempts < MAX_RESPLIT_ATTEMPTS_PER_CHOICE) {
      while (position < state.tokens.length && this.#fits(state, position)) position++;
      if (position >= state.tokens.length) break;
      if (await this.#resplit(state, position)) resplits++;
      position++;
    }
    const { tokens } = state;
    const positions = tokens.map((token, index) => ({ token, candidates: this.#distributionAt(state, index) }));
    const end = this.#distributionAt(state, tokens.length);
    return {
      positions,
      end,
      endStopTokens: this.#stopTokens(tokens, end, "", stops),
      lastStopTokens:
        tokens.length === 0
          ? new Set()
          : this.#stopTokens(
              tokens.slice(0, -1),
              this.#distributionAt(state, tokens.length - 1),
              this.#textOf(tokens.slice(-1), tokens.slice(0, -1)),
              stops,
            ),
      resplits,
      evaluatedTokens: state.evaluatedTokens,
    };
  }

  #distributionAt(state: ChoiceState, position: number): Candidate[] {
    return (position === 0 ? this.#afterPrompt : state.after[position - 1]) ?? [];
  }

  #fits(state: ChoiceState, position: number): boolean {
    return fitToken(this.#distributionAt(state, position), state.tokens[position] as number, state.sampling).fits;
  }

  /**
   * The token at `misfit` could not have been sampled. The sampler's own split of the text may
   * have diverged from the canonical one there or a few tokens before: tries other splits that
   * start with a token the sampler could have drawn, keeping the first whose tokens all fit up to
   * past the misfit; otherwise restores the canonical tokens.
   */
  async #resplit(state: ChoiceState, misfit: number): Promise<boolean> {
    const original = state.tokens;
    let dirtyFrom: number | undefined;
    for (let start = misfit; start >= Math.max(0, misfit - RESPLIT_LOOKBACK_TOKENS); start--) {
      for (const split of this.#alternativeSplits(state, start)) {
        if (state.attempts >= MAX_RESPLIT_ATTEMPTS_PER_CHOICE) break;
        state.attempts++;
        await this.#eraseFrom(start);
        dirtyFrom = Math.min(dirtyFrom ?? start, start);
        const probe = split.slice(0, misfit - start + 2);
        const probed = await this.#evaluate(probe, probe.length);
        state.evaluatedTokens += probe.length;
        const trial: ChoiceState = {
          ...state,
          tokens: [...original.slice(0, start), ...probe],
          after: [...state.after.slice(0, start), ...probed],
        };
        if (!probe.every((_, index) => this.#fits(trial, start + index))) continue;
        const rest = split.slice(probe.length);
        const restScored = await this.#evaluate(rest, rest.length);
        state.evaluatedTokens += rest.length;
        state.tokens = [...original.slice(0, start), ...split];
        state.after = [...trial.after, ...restScored];
        return true;
      }
    }
    if (dirtyFrom !== undefined) {
      await this.#eraseFrom(dirtyFrom);
      const restored = await this.#evaluate(original.slice(dirtyFrom), original.length - dirtyFrom);
      state.evaluatedTokens += original.length - dirtyFrom;
      state.after = [...state.after.slice(0, dirtyFrom), ...restored];
    }
    return false;
  }

  /** Other splits of the text from `position` on: a token the sampler could have drawn there, then the rest canonically. */
  *#alternativeSplits(state: ChoiceState, position: number): Generator<Token[]> {
    const { text, tokens, sampling } = state;
    const before = tokens.slice(0, position);
    const prefix = this.#model.detokenize(before);
    if (!text.startsWith(prefix)) return;
    const rest = text.slice(prefix.length);
    const candidates = this.#distributionAt(state, position);
    for (const [candidate] of candidates) {
      if (candidate === tokens[position] || !fitToken(candidates, candidate, sampling).fits) continue;
      const piece = this.#textOf([candidate as Token], before);
      if (piece === "" || !rest.startsWith(piece)) continue;
      const remainder = rest.slice(piece.length);
      const split = [candidate as Token, ...(remainder === "" ? [] : this.#model.tokenize(remainder, false, "trimLeadingSpace"))];
      if (this.#model.detokenize([...before, ...split]) === text) yield split;
    }
  }

  /**
   * Candidates that end the turn after `context`: end-of-generation tokens, a template's stop
   * tokens, and tokens whose text (after `lead`, text the token must start with) begins a stop string.
   */
  #stopTokens(context: readonly Token[], candidates: readonly Candidate[], lead: string, stops: StopConditions): Set<number> {
    const found = new Set<number>();
    for (const [candidate] of candidates) {
      const token = candidate as Token;
      if (lead === "" && (this.#model.isEogToken(token) || stops.tokens.has(token))) {
        found.add(token);
        continue;
      }
      const piece = this.#textOf([token], context);
      if (!piece.startsWith(lead)) continue;
      const tail = piece.slice(lead.length);
      if (tail !== "" && stops.strings.some((stop) => stop.startsWith(tail) || tail.startsWith(stop))) found.add(token);
    }
    return found;
  }

  /** The text `tokens` add after `context` (detokenizing alone would get leading spaces wrong). */
  #textOf(tokens: readonly Token[], context: readonly Token[]): string {
    return this.#model.detokenize([...context, ...tokens]).slice(this.#model.detokenize(context).length);
  }

  /** Erases everything after the prompt plus `position` completion tokens. */
  async #eraseFrom(position: number): Promise<void> {
    const start = this.#promptLength + position;
    if (this.#sequence.nextTokenIndex > start)
      await this.#sequence.eraseContextTokenRanges([{ start, end: this.#sequence.nextTokenIndex }]);
  }

  /** Evaluates tokens, returning the next-token distribution after each of the last `distributions` of them. */
  async #evaluate(tokens: readonly Token[], distributions: number): Promise<Candidate[][]> {
    if (tokens.length === 0) return [];
    const first = tokens.length - distributions;
    const input: ControlledEvaluateInputItem[] = tokens.map((token, index) => (index >= first ? [token, DISTRIBUTION] : token));
    const output = await this.#sequence.controlledEvaluate(input);
    const result: Candidate[][] = [];
    for (let index = first; index < tokens.length; index++) {
      const probabilities = output[index]?.next.probabilities;
      result.push(probabilities === undefined ? [] : [...probabilities.entries()]);
    }
    return result;
  }
}

/** Splits a template's stop triggers into plain stop strings and stop tokens. */
export function stopConditionsOf(model: LlamaModel, triggers: readonly LlamaText[], stop: readonly string[]): StopConditions {
  const strings = [...stop];
  const tokens = new Set<number>();
  for (const trigger of triggers) {
    if (trigger.values.every((value) => typeof value === "string")) strings.push(trigger.values.join(""));
    else {
      const [first] = trigger.tokenize(model.tokenizer, "trimLeadingSpace");
      if (first !== undefined) tokens.add(first);
    }
  }
  return { strings: strings.filter((value) => value !== ""), tokens };
}
