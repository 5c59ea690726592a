/**
 * Losses at tensor level. All three prediction errors measure the same thing (MATH.md):
 * ‖v − v̂‖² = (1 + SNR) ‖x − x̂‖² and ‖ε − ε̂‖² = SNR ‖x − x̂‖², so "ε-loss (x-loss with SNR + 1
 * weighting)" in the paper's Tables 4-6 is the v-MSE. The window loss (Eqs. 18 and 26) weights each
 * frame by a(t_k) and gives clean conditioning frames and pure-noise frames no weight at all.
 */
import { mean, mul, square, sub, sum, tensor, Tensor } from '../core/index.js';
import { lossWeighting, type LossWeightingName } from './lossWeighting.js';
import type { Schedule } from './schedule.js';

/** Mean squared error per frame: [B, F, …] → [B, F]. */
export function perFrameMse(target: Tensor, prediction: Tensor): Tensor {
  if (target.rank < 2) throw new Error(`perFrameMse: expected [batch, frames, …], got [${target.shape}]`);
  const axes = target.shape.map((_, i) => i).slice(2);
  return axes.length ? mean(square(sub(target, prediction)), axes) : square(sub(target, prediction));
}

/** x-MSE per frame. */
export const xMse = perFrameMse;
/** ε-MSE per frame. */
export const epsMse = perFrameMse;
/** v-MSE per frame. */
export const vMse = perFrameMse;

/**
 * Frames that carry loss under Eqs. 18/26: window frames with 0 < t_k < 1. Clean frames (t_k = 0,
 * Eq. 8) are given to the model, and frames at t_k = 1 are pure noise (Eq. 9) whose reverse step is
 * fresh noise whatever the model says, so neither contributes.
 */
export function lossFrameMask(localTimes: readonly number[]): number[] {
  return localTimes.map((t) => (t > 0 && t < 1 ? 1 : 0));
}

export interface WindowLossOptions {
  schedule: Schedule;
  /** The weighting a(t_k); 'v' (a = 1 + SNR, the paper's choice) by default. */
  weighting?: LossWeightingName;
  /** Min-SNR γ when weighting = 'minSnr'. */
  gamma?: number;
}

/**
 * Per-(example, frame) weights of the v-MSE that realise a(t_k) of Eq. 26, with zero for frames
 * outside the window. The weights are host numbers: local times are known before the step.
 */
export function windowLossWeights(localTimes: readonly (readonly number[])[], options: WindowLossOptions): number[][] {
  const w = lossWeighting(options.weighting ?? 'v', { gamma: options.gamma });
  return localTimes.map((row) => row.map((t) => (t > 0 && t < 1 ? w.vWeight(options.schedule.logSnr(t)) : 0)));
}

/**
 * Eq. 26 averaged over the batch: Σ_k a(t_k) ‖v_k − v̂_k‖² (pixel-averaged), divided by the number
 * of frames the window generates (W − n_cln) so that the scale does not depend on n_cln.
 * Decision: the paper leaves the normalisation open; per-pixel means and a per-generated-frame
 * average keep the loss near 1 at initialisation for any image size and window.
 * `weights`: `windowLossWeights`' host numbers, or the same as a [B, W] tensor (`weightsTensor`), which
 * a jitted loss takes as an argument (host numbers would be baked into its trace).
 */
export function windowLoss(v: Tensor, vHat: Tensor, weights: readonly (readonly number[])[] | Tensor, generatedFrames: number): Tensor {
  const perFrame = vMse(v, vHat);
  const [b, f] = perFrame.shape as [number, number];
  const fits = weights instanceof Tensor ? weights.rank === 2 && weights.shape[0] === b && weights.shape[1] === f : weights.length === b && weights.every((r) => r.length === f);
  if (!fits) throw new Error(`windowLoss: weights must be [${b}][${f}] to match the prediction [${v.shape}]`);
  const w = weights instanceof Tensor ? weights : weightsTensor(weights);
  return mul(sum(mul(perFrame, w)), 1 / (b * Math.max(generatedFrames, 1)));
}

/** `windowLossWeights`' host numbers as the [B, W] float32 tensor `windowLoss` multiplies by. */
export function weightsTensor(weights: readonly (readonly number[])[]): Tensor {
  return tensor(Float32Array.from(weights.flat()), [weights.length, weights[0]?.length ?? 0]);
}
