/**
 * The statistics behind the sampler laws (diffusion/laws/statistics.ts): a frame's sample moments and
 * the five-standard-error checks, at known answers and on both sides of each tolerance. The sampler
 * laws alone cannot pin these: the sampler bugs they catch miss by far more than any tolerance, so a
 * wrong tolerance (5 / √(v/n) for 5 √(v/n), an allowance subtracted) passed every law unseen.
 */
import { describe, expect, it } from 'vitest';
import { expectMoments, expectPooled, frameMoments } from '../../../diffusion/laws/statistics.js';

describe('frameMoments', () => {
  it('takes frame f of every example of a [B, F, …] array, with the unbiased variance', () => {
    // [B = 2, F = 2, 2 values]: frame 0 holds 1, 3 (example 0) and 5, 7 (example 1); frame 1 holds 10, 10, 0, 0.
    const data = [1, 3, 10, 10, 5, 7, 0, 0];
    expect(frameMoments(data, 2, 2, 0)).toEqual({ mean: 4, variance: 20 / 3, n: 4 });
    expect(frameMoments(data, 2, 2, 1)).toEqual({ mean: 5, variance: 100 / 3, n: 4 });
  });
});

describe('expectMoments: five standard errors plus the allowances', () => {
  // n = 9 samples of variance 4: the mean's tolerance is 5 √(4/9) = 10/3, the variance's 5 · 4 · √(2/8) = 10.
  const sample = (mean: number, variance: number) => ({ mean, variance, n: 9 });
  const check = (got: { mean: number; variance: number; n: number }, allowances: [number, number] = [0, 0]) => () =>
    expectMoments('frame 3', got, 0, 4, ...allowances);

  it('holds inside and fails outside the statistical tolerance alone, on both sides of the mean', () => {
    for (const m of [3.33, -3.33]) expect(check(sample(m, 4))).not.toThrow();
    for (const m of [3.34, -3.34]) expect(check(sample(m, 4))).toThrow(/^frame 3: mean /);
    expect(check(sample(0, 13.99))).not.toThrow();
    expect(check(sample(0, 14.01))).toThrow(/^frame 3: variance 14.01, expected 4 ± 10$/);
  });

  it('adds the mean allowance in standard deviations and the variance allowance as a fraction of it', () => {
    // meanAllowance 0.5 adds 0.5 · √4 = 1 (4.333 in all); varianceAllowance 0.25 adds 0.25 · 4 = 1 (11).
    expect(check(sample(4.33, 4), [0.25, 0.5])).not.toThrow();
    expect(check(sample(-4.33, 4), [0.25, 0.5])).not.toThrow();
    expect(check(sample(4.34, 4), [0.25, 0.5])).toThrow(/mean 4.34, expected 0 ± 4.33/);
    expect(check(sample(0, 14.99), [0.25, 0.5])).not.toThrow();
    expect(check(sample(0, 15.01), [0.25, 0.5])).toThrow(/variance 15.01, expected 4 ± 11$/);
  });
});

describe('expectPooled: standardise each frame by its own expected moments, then one N(0, 1) check', () => {
  /** [1, 3 frames, 100 values]: frame f's values are mean_f + sd_f · z for the standardised values z. */
  const video = (z: (p: number) => number, moments: readonly { mean: number; variance: number }[]) =>
    moments.flatMap(({ mean, variance }) => Array.from({ length: 100 }, (_, p) => mean + Math.sqrt(variance) * z(p)));
  const expected = [
    { mean: 100, variance: 1 },
    { mean: 1, variance: 4 },
    { mean: -2, variance: 9 },
  ];
  const plusMinusOne = (p: number) => (p % 2 === 0 ? 1 : -1);

  it('holds for frames with different moments, each at its own, and skips the frames before firstFrame', () => {
    const data = video(plusMinusOne, expected);
    data.fill(0, 0, 100); // frame 0 (a conditioning frame, say) is not what it is expected to be
    expect(() => expectPooled('window', data, 1, 3, expected, { firstFrame: 1 })).not.toThrow();
    expect(() => expectPooled('window', data, 1, 3, expected)).toThrow(/^window \(standardised, pooled\): mean /);
  });

  it('fails when the pooled variance is off, though every value is at its frame\'s mean ± 3 sd', () => {
    const data = video((p) => 3 * plusMinusOne(p), expected);
    expect(() => expectPooled('window', data, 1, 3, expected, { firstFrame: 1 })).toThrow(/^window \(standardised, pooled\): variance /);
  });

  it('takes the pooled variance about the pooled mean (a shifted mean within its allowance is not a wider spread)', () => {
    // Standardised values 3 ± 1: mean 3 (allowed by meanAllowance 3: 3 sd), variance 1.005 about that mean.
    const data = video((p) => 3 + plusMinusOne(p), expected);
    expect(() => expectPooled('window', data, 1, 3, expected, { firstFrame: 1, meanAllowance: 3 })).not.toThrow();
    expect(() => expectPooled('window', data, 1, 3, expected, { firstFrame: 1 })).toThrow(/pooled\): mean 3/);
  });
});
