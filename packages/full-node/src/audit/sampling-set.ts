import { GREEDY_LOG_MARGIN, LOG_PROB_FLOOR, SET_EDGE_LOG_MARGIN, TAIL_PROBABILITY, TOP_P_MARGIN } from "./constants.js";

/** A next-token candidate and its probability at temperature 1, most likely first. */
export type Candidate = readonly [token: number, probability: number];

/** The sampling settings a served token was drawn with. */
export interface AuditedSampling {
  temperature: number;
  topP: number;
  /** 0 = no top-k. */
  topK: number;
}

/** How one delivered token sits in the distribution it was supposedly drawn from. */
export interface TokenFit {
  /** Among the candidates, 0 = most likely; -1 = not among them (far outside any sampling set). */
  rank: number;
  /** ln p(argmax) − ln p(token), at temperature 1; Infinity when not a candidate. */
  gap: number;
  /** Could the engine have produced it: the argmax within a margin at temperature 0, else inside the sampling set within tolerances. */
  fits: boolean;
  /** Its probability under the serving distribution (top-k, then top-p, then temperature); a tolerated edge token counts as the least likely kept one. */
  q: number;
  /**
   * ln q clipped at LOG_PROB_FLOOR (so one rare token weighs a bounded amount), with its
   * expectation, variance and largest possible deviation for a token drawn honestly here.
   */
  clippedLogQ: number;
  expectedLogQ: number;
  varianceLogQ: number;
  rangeLogQ: number;
  /**
   * The token's rank as a mid-distribution quantile: the serving mass on less likely tokens
   * plus half its own. Drawn honestly it averages exactly 1/2 with variance `rankVariance`.
   */
  rankQuantile: number;
  rankVariance: number;
  /** The serving distribution's mass on tokens less likely than TAIL_PROBABILITY, and whether this token is one. */
  tailMass: number;
  inTail: boolean;
}

/**
 * Rebuilds the engine's sampler chain (llama.cpp's top-k → top-p → temperature → draw, as
 * node-llama-cpp chains it) over the candidates and places `token` in it. Probabilities are
 * renormalised over the top-k, as llama.cpp's top-p does.
 */
export function fitToken(candidates: readonly Candidate[], token: number, sampling: AuditedSampling): TokenFit {
  const rank = candidates.findIndex(([candidate]) => candidate === token);
  const first = candidates[0];
  if (first === undefined) return misfit(-1);
  const gap = rank < 0 ? Number.POSITIVE_INFINITY : Math.log(first[1]) - Math.log(candidateAt(candidates, rank)[1]);
  if (sampling.temperature <= 0) {
    const fits = gap <= GREEDY_LOG_MARGIN;
    return { ...misfit(rank), gap, fits, q: fits ? 1 : 0, rankQuantile: 0.5 };
  }
  const topK = sampling.topK > 0 ? Math.min(sampling.topK, candidates.length) : candidates.length;
  let topKMass = 0;
  for (let i = 0; i < topK; i++) topKMass += candidateAt(candidates, i)[1];
  // top-p keeps the shortest prefix whose mass reaches topP, at least one token.
  let kept = topK;
  let massBeforeToken = Number.POSITIVE_INFINITY;
  let cumulative = 0;
  for (let i = 0; i < topK; i++) {
    if (i === rank) massBeforeToken = cumulative;
    cumulative += candidateAt(candidates, i)[1] / topKMass;
    if (sampling.topP < 1 && cumulative >= sampling.topP && kept === topK) kept = i + 1;
  }
  // Temperature: q ∝ p^(1/T) over the kept tokens.
  const logWeights: number[] = [];
  for (let i = 0; i < kept; i++) logWeights.push(Math.log(candidateAt(candidates, i)[1]) / sampling.temperature);
  const maxLogWeight = logWeights[0] ?? 0;
  let normaliser = 0;
  for (const logWeight of logWeights) normaliser += Math.exp(logWeight - maxLogWeight);
  const logQ = logWeights.map((logWeight) => logWeight - maxLogWeight - Math.log(normaliser));
  let expectedLogQ = 0;
  let secondMoment = 0;
  let cubes = 0;
  let tailMass = 0;
  for (const value of logQ) {
    const q = Math.exp(value);
    const clipped = Math.max(value, LOG_PROB_FLOOR);
    expectedLogQ += q * clipped;
    secondMoment += q * clipped * clipped;
    cubes += q * q * q;
    if (q < TAIL_PROBABILITY) tailMass += q;
  }
  const lowest = Math.max(logQ[kept - 1] ?? 0, LOG_PROB_FLOOR);
  const inside = rank >= 0 && rank < kept;
  const lastKept = candidateAt(candidates, kept - 1)[1];
  const nearEdge =
    rank >= 0 &&
    (Math.log(lastKept) - Math.log(candidateAt(candidates, rank)[1]) <= SET_EDGE_LOG_MARGIN ||
      (sampling.topP < 1 && rank < topK && massBeforeToken < sampling.topP + TOP_P_MARGIN));
  const fits = inside || nearEdge;
  const tokenLogQ = inside ? (logQ[rank] ?? 0) : (logQ[kept - 1] ?? 0);
  const q = fits ? Math.exp(tokenLogQ) : 0;
  // Kept candidates are sorted, most likely first: the mass below the token is what follows it.
  let massBelow = 0;
  for (let i = Math.max(inside ? rank : kept - 1, 0) + 1; i < kept; i++)
    massBelow += Math.exp(logQ[i] ?? Number.NEGATIVE_INFINITY);
  return {
    rank,
    gap,
    fits,
    q,
    clippedLogQ: Math.max(tokenLogQ, LOG_PROB_FLOOR),
    expectedLogQ,
    varianceLogQ: Math.max(0, secondMoment - expectedLogQ * expectedLogQ),
    rangeLogQ: Math.max(expectedLogQ - lowest, (logQ[0] ?? 0) - expectedLogQ),
    rankQuantile: massBelow + q / 2,
    rankVariance: Math.max(0, (1 - cubes) / 12),
    tailMass,
    inTail: q < TAIL_PROBABILITY,
  };
}

function candidateAt(candidates: readonly Candidate[], index: number): Candidate {
  const candidate = candidates[index];
  if (candidate === undefined) throw new RangeError(`no candidate at rank ${index}`);
  return candidate;
}

function misfit(rank: number): TokenFit {
  return {
    rank,
    gap: Number.POSITIVE_INFINITY,
    fits: false,
    q: 0,
    clippedLogQ: 0,
    expectedLogQ: 0,
    varianceLogQ: 0,
    rangeLogQ: 0,
    rankQuantile: 0,
    rankVariance: 0,
    tailMass: 0,
    inTail: false,
  };
}
