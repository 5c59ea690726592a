/**
 * The statistics the sampler laws judge samples with: a frame's sample moments and the five-standard-
 * error checks against expected ones. Internal to the kit (not exported from its index); tested in
 * test/diffusion/laws/statistics.test.ts.
 */
import type { Moments } from '../oracle.js';
import { fail } from './reference.js';

/** Mean and unbiased variance of frame `f` of a [B, F, …] array. */
export function frameMoments(data: ArrayLike<number>, batch: number, frames: number, f: number): { mean: number; variance: number; n: number } {
  const per = data.length / (batch * frames);
  let sum = 0;
  let n = 0;
  for (let b = 0; b < batch; b++) for (let p = 0; p < per; p++, n++) sum += data[(b * frames + f) * per + p]!;
  const mean = sum / n;
  let ss = 0;
  for (let b = 0; b < batch; b++) for (let p = 0; p < per; p++) ss += (data[(b * frames + f) * per + p]! - mean) ** 2;
  return { mean, variance: ss / (n - 1), n };
}

/**
 * Five standard errors for n samples of N(mean, variance), plus `varianceAllowance` · variance on the
 * variance and `meanAllowance` standard deviations on the mean (both 0 when the expected moments come
 * from the exact recursion).
 */
export function expectMoments(what: string, got: { mean: number; variance: number; n: number }, mean: number, variance: number, varianceAllowance = 0, meanAllowance = 0): void {
  const meanTol = 5 * Math.sqrt(variance / got.n) + meanAllowance * Math.sqrt(variance);
  const varTol = 5 * variance * Math.sqrt(2 / (got.n - 1)) + varianceAllowance * variance;
  if (!(Math.abs(got.mean - mean) <= meanTol)) fail(`${what}: mean ${got.mean}, expected ${mean} ± ${meanTol}`);
  if (!(Math.abs(got.variance - variance) <= varTol)) fail(`${what}: variance ${got.variance}, expected ${variance} ± ${varTol}`);
}

/**
 * Frames `firstFrame` … frames − 1 of a [B, frames, …] array, with different expected moments
 * (`expected[f]` for frame f), pooled: every pixel standardised by its frame's expected mean and
 * standard deviation, the lot checked to be N(0, 1) (per-frame checks alone have few pixels). The
 * allowances are `expectMoments`', in standardised units.
 */
export function expectPooled(
  what: string,
  data: ArrayLike<number>,
  batch: number,
  frames: number,
  expected: readonly Moments[],
  { firstFrame = 0, varianceAllowance = 0, meanAllowance = 0 }: { firstFrame?: number; varianceAllowance?: number; meanAllowance?: number } = {},
): void {
  const per = data.length / (batch * frames);
  let sum = 0;
  let sq = 0;
  for (let b = 0; b < batch; b++) {
    for (let f = firstFrame; f < frames; f++) {
      const { mean, variance } = expected[f]!;
      for (let p = 0; p < per; p++) {
        const z = (data[(b * frames + f) * per + p]! - mean) / Math.sqrt(variance);
        sum += z;
        sq += z * z;
      }
    }
  }
  const n = batch * (frames - firstFrame) * per;
  const m = sum / n;
  expectMoments(`${what} (standardised, pooled)`, { mean: m, variance: (sq - n * m * m) / (n - 1), n }, 0, 1, varianceAllowance, meanAllowance);
}
