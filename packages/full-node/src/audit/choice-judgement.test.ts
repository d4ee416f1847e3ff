import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChoiceEvidence, ScoredToken } from "./choice-judgement.js";
import { bernsteinBound, judgeChoice } from "./choice-judgement.js";
import type { Candidate } from "./sampling-set.js";
import { fitToken } from "./sampling-set.js";

const EOS = 2;
/** A fixed, moderately uncertain distribution over tokens 100..109. */
const spread: Candidate[] = [0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01].map((p, i) => [100 + i, p]);
const endingLikely: Candidate[] = [
  [EOS, 0.6],
  [100, 0.4],
];
const endingUnlikely: Candidate[] = [
  [100, 0.9],
  [101, 0.09],
  [EOS, 0.01],
];
const sampling = { temperature: 1, topP: 0.95, topK: 40 };

/** Draws tokens from the serving distribution with a seeded generator, as an honest engine would. */
function honestTokens(count: number, seed: number): ScoredToken[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () => {
    const u = next();
    let cumulative = 0;
    for (const [token] of spread) {
      cumulative += fitToken(spread, token, sampling).q;
      if (u < cumulative) return { token, candidates: spread };
    }
    return { token: 100, candidates: spread };
  });
}

const evidence = (overrides: Partial<ChoiceEvidence>): ChoiceEvidence => ({
  index: 0,
  finishReason: "length",
  positions: honestTokens(64, 1),
  end: endingLikely,
  endStopTokens: new Set([EOS]),
  lastStopTokens: new Set(),
  resplits: 0,
  ...overrides,
});
const rules = { sampling, maxTokens: 64 };

describe("judgeChoice on fixed distributions", () => {
  it("passes honest samples over many seeds", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { reasons, figures } = judgeChoice(evidence({ positions: honestTokens(64, seed) }), rules);
      assert.deepEqual(reasons, [], `seed ${seed}: ${JSON.stringify(figures)}`);
    }
  });

  it("fails a token outside the sampling set", () => {
    const positions = [...honestTokens(20, 3), { token: 109, candidates: spread }];
    const { reasons, figures } = judgeChoice(evidence({ positions }), rules);
    assert.deepEqual(
      reasons.map((reason) => reason.code),
      ["token-outside-sampling-set"],
    );
    assert.equal(figures.firstMisfit, 20);
  });

  it("fails text that sits low in its distributions token after token", () => {
    const positions = Array.from({ length: 64 }, (_, i) => ({ token: 105 + (i % 3), candidates: spread }));
    const codes = judgeChoice(evidence({ positions }), rules).reasons.map((reason) => reason.code);
    assert.ok(codes.includes("log-prob-too-low"), codes.join());
    assert.ok(codes.includes("ranks-too-low"), codes.join());
    assert.ok(codes.includes("tail-too-heavy"), codes.join());
  });

  it("does not judge statistics on a handful of tokens", () => {
    const positions = Array.from({ length: 4 }, () => ({ token: 107, candidates: spread }));
    assert.deepEqual(judgeChoice(evidence({ positions }), rules).reasons, []);
  });

  it("at temperature 0 fails any token that is not the argmax", () => {
    const greedy = { sampling: { temperature: 0, topP: 1, topK: 40 }, maxTokens: 64 };
    const argmax = Array.from({ length: 10 }, () => ({ token: 100, candidates: spread }));
    assert.deepEqual(judgeChoice(evidence({ positions: argmax }), greedy).reasons, []);
    const swapped = [...argmax, { token: 101, candidates: spread }];
    assert.deepEqual(
      judgeChoice(evidence({ positions: swapped }), greedy).reasons.map((reason) => reason.code),
      ["token-outside-sampling-set"],
    );
  });

  it("accepts a stop only where ending the turn was possible", () => {
    const stop = { finishReason: "stop" as const };
    assert.deepEqual(judgeChoice(evidence({ ...stop, end: endingLikely }), rules).reasons, []);
    const cut = judgeChoice(evidence({ ...stop, end: endingUnlikely }), rules);
    assert.deepEqual(
      cut.reasons.map((reason) => reason.code),
      ["implausible-stop"],
    );
    // The stop string began inside the last token: a token finishing it and starting the stop fits there.
    const positions = [...honestTokens(10, 5), { token: 100, candidates: spread }];
    const inside = judgeChoice(evidence({ ...stop, positions, end: endingUnlikely, lastStopTokens: new Set([101]) }), rules);
    assert.deepEqual(inside.reasons, []);
  });

  it("fails more tokens than max_tokens, and a short length cut when the reserve was not spent", () => {
    assert.deepEqual(
      judgeChoice(evidence({}), { ...rules, maxTokens: 32 }).reasons.map((reason) => reason.code),
      ["exceeds-max-tokens"],
    );
    const short = evidence({ positions: honestTokens(20, 2) });
    assert.deepEqual(
      judgeChoice(short, { ...rules, reserveMayHaveCut: false }).reasons.map((reason) => reason.code),
      ["implausible-length"],
    );
    assert.deepEqual(judgeChoice(short, { ...rules, reserveMayHaveCut: true }).reasons, []);
  });
});

describe("bernsteinBound", () => {
  it("is 1 for no deviation and shrinks with the deviation", () => {
    assert.equal(bernsteinBound(0, 10, 1), 1);
    assert.equal(bernsteinBound(-3, 10, 1), 1);
    assert.ok(bernsteinBound(10, 10, 1) < bernsteinBound(5, 10, 1));
    assert.ok(bernsteinBound(60, 10, 1) < 1e-6);
  });
});
