import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Candidate } from "./sampling-set.js";
import { fitToken } from "./sampling-set.js";

const candidates: Candidate[] = [
  [10, 0.5],
  [11, 0.3],
  [12, 0.15],
  [13, 0.05],
];

describe("fitToken", () => {
  it("at temperature 0 takes the argmax, or a token within the greedy margin of it", () => {
    const greedy = { temperature: 0, topP: 1, topK: 40 };
    assert.equal(fitToken(candidates, 10, greedy).fits, true);
    assert.equal(fitToken(candidates, 11, greedy).fits, false);
    const nearTie: Candidate[] = [
      [1, 0.41],
      [2, 0.4],
    ];
    assert.equal(fitToken(nearTie, 2, greedy).fits, true);
    assert.equal(fitToken(candidates, 99, greedy).fits, false);
  });

  it("keeps top-k, tolerating a near-tie just past its edge", () => {
    const sampling = { temperature: 1, topP: 1, topK: 2 };
    assert.equal(fitToken(candidates, 11, sampling).fits, true);
    assert.equal(fitToken(candidates, 12, sampling).fits, false);
    const tie: Candidate[] = [
      [1, 0.5],
      [2, 0.26],
      [3, 0.24],
    ];
    assert.equal(fitToken(tie, 3, sampling).fits, true);
  });

  it("keeps the shortest prefix reaching top-p, with a small margin", () => {
    assert.equal(fitToken(candidates, 11, { temperature: 1, topP: 0.7, topK: 40 }).fits, true);
    assert.equal(fitToken(candidates, 12, { temperature: 1, topP: 0.7, topK: 40 }).fits, false);
    // 0.8 of the mass ranks above token 12: inside 0.79 + the 0.02 margin.
    assert.equal(fitToken(candidates, 12, { temperature: 1, topP: 0.79, topK: 40 }).fits, true);
  });

  it("applies the temperature over the kept tokens", () => {
    const fit = fitToken(
      [
        [1, 0.6],
        [2, 0.4],
      ],
      2,
      { temperature: 0.5, topP: 1, topK: 40 },
    );
    assert.ok(Math.abs(fit.q - 0.16 / 0.52) < 1e-9);
  });

  it("places a token by mid-quantile, 1/2 on average under honest sampling", () => {
    const sampling = { temperature: 0.8, topP: 0.9, topK: 40 };
    let mean = 0;
    for (const [token] of candidates) {
      const fit = fitToken(candidates, token, sampling);
      if (fit.fits) mean += fit.q * fit.rankQuantile;
    }
    assert.ok(Math.abs(mean - 0.5) < 1e-9, `mean quantile ${mean}`);
  });
});
