/**
 * Algorithm 1 (Rolling Diffusion: Training) as a pure loss function `(params, key, batch) → loss`,
 * to be wrapped in `valueAndGrad`, and the same for the standard-diffusion baseline. Each is also
 * offered in two halves: the step's random draws (`trainingDraws`, `standardTrainingDraws`) and the
 * loss given them (`lossFromDraws`), a function of tensors only, which `jit` compiles once for all
 * steps (a PRNG key is a static argument of `jit`: a key that changes every step would trace every
 * step).
 */
import { normal, split, uniformHost, type Key, type Tensor } from '../core/index.js';
import { boundaryLocalTimes, linearLocalTimes, standardLocalTimes, type BoundaryMapName, type WindowSpec } from './localTime.js';
import { weightsTensor, windowLoss, windowLossWeights } from './loss.js';
import type { LossWeightingName } from './lossWeighting.js';
import { diffuse, logSnrTensor, vFromXEps } from './process.js';
import type { Schedule } from './schedule.js';

/**
 * A model: given parameters, the noisy window z [B, W, H, W, C] and a logSNR per frame [B, W], predict v.
 * With its parameters bound it is a `Denoiser` (sampling.ts), the closure the samplers call.
 */
export type Model<P> = (params: P, z: Tensor, logSnr: Tensor) => Tensor;

export interface RollingConfig extends WindowSpec {
  /** n_cln: clean conditioning frames at the start of the window. */
  readonly cleanFrames: number;
  schedule: Schedule;
  /**
   * Probability that a training example uses the linear local times t^lin (Eq. 22) rather than the
   * boundary schedule. This is the paper's β as used in Section 3.3 ("we oversample the t^lin schedule
   * based on a Bernoulli rate β"), Section 5 and Table 10 ("β = 0.9 to account for the high number of
   * test-time steps"). Algorithm 1 literally draws y ~ B(β) and picks t^init when y = 1, i.e. its β is
   * 1 − linearProbability; the name here removes the ambiguity.
   *
   * Default 0.8. What Appendix H (Table 10, Kinetics-600 FVD) measured: at stride 8 / 24 rollout steps
   * the rescaled init (Eq. 37) was best at 0.1 (39.8; 0.2-0.9 gave 43.0-47.5) and the clipped init
   * (Eq. 23, our default boundary) at 0.5 and 0.7 (49.0, 48.9; 0.8 and 0.9 were not run with it); at
   * stride 1 / 64 steps the rescaled init was best at 0.9 (211; 0.7: 216, 0.8: 227). The text's
   * "slightly oversampling t^lin yields the best result" is that stride-1 row. Our 0.8 follows the
   * text, for rollouts many times the window; `rolling reproduce` uses 0.5 with the clipped init, the
   * table's best for it. Neither choice is measured on our data sets yet.
   */
  linearProbability?: number;
  /** The boundary schedule co-trained with t^lin: Eq. 23 ('init', default), Eq. 37 ('rescaled'), or any boundary map of `LOCAL_TIME_MAPS`. */
  initSchedule?: BoundaryMapName;
  /** a(t_k) of Eq. 26; 'v' (x-loss with SNR + 1 weighting, the paper's) by default. */
  weighting?: LossWeightingName;
}

function checkWindow(where: string, window: number, cleanFrames: number): void {
  if (!Number.isInteger(window) || window < 1) throw new Error(`${where}: window must be an integer ≥ 1, got ${window}`);
  if (!Number.isInteger(cleanFrames) || cleanFrames < 0 || cleanFrames >= window) {
    throw new Error(`${where}: cleanFrames must be an integer in [0, window − 1] = [0, ${window - 1}], got ${cleanFrames}`);
  }
}

/**
 * Validates a config for Algorithm 1: 1 ≤ W, 0 ≤ n_cln ≤ W − 1 (Section 3.3's window with n_cln clean
 * conditioning frames) and the Bernoulli rate of the t^lin / t^init choice in [0, 1]. Throws saying
 * which field is wrong.
 */
export function checkRollingConfig(c: RollingConfig): void {
  checkWindow('rolling config', c.window, c.cleanFrames);
  const p = c.linearProbability ?? 0.8;
  if (!(p >= 0 && p <= 1)) throw new Error(`rolling config: linearProbability must be in [0, 1], got ${p}`);
}

/** The standard-diffusion baseline's training config: the window, the schedule and the weighting of Eq. 26. */
export type StandardConfig = Pick<RollingConfig, 'window' | 'cleanFrames' | 'schedule' | 'weighting'>;

/** The host-side draws of Algorithm 1 for a batch: t ~ U(0, 1), the schedule choice, local times. */
export function sampleTrainingTimes(k: Key, batch: number, c: RollingConfig): { t: number[]; linear: boolean[]; localTimes: number[][] } {
  checkRollingConfig(c);
  const [kt, ky] = split(k, 2) as [Key, Key];
  const t = uniformHost(kt, batch);
  const p = c.linearProbability ?? 0.8;
  const linear = uniformHost(ky, batch).map((u) => u < p);
  const lin = linearLocalTimes({ window: c.window, cleanFrames: c.cleanFrames });
  const init = boundaryLocalTimes(c);
  return { t, linear, localTimes: t.map((ti, i) => (linear[i] ? lin(ti) : init(ti))) };
}

/**
 * One step's draws of Algorithm 1 as tensors: ε ~ N(0, I) of the batch's shape, the logSNR of every
 * frame's local time [B, W], and the loss weights a(t_k) of Eq. 26 [B, W] (0 outside the window).
 */
export interface TrainingDraws {
  readonly eps: Tensor;
  readonly logSnr: Tensor;
  readonly weights: Tensor;
}

function checkBatch(x: Tensor, window: number): void {
  if (x.rank < 2 || x.shape[1] !== window) throw new Error(`training loss: the batch must be [batch, ${window} frames, …], got [${x.shape}]`);
}

function drawsFromLocalTimes(k: Key, x: Tensor, localTimes: number[][], c: StandardConfig): TrainingDraws {
  checkBatch(x, c.window);
  const logSnr = logSnrTensor(localTimes.map((row) => row.map((t) => c.schedule.logSnr(t))));
  const eps = normal(k, x.shape);
  return { eps, logSnr, weights: weightsTensor(windowLossWeights(localTimes, { schedule: c.schedule, weighting: c.weighting })) };
}

/** Algorithm 1's draws for batch `x`: t ~ U(0, 1), the t^lin / t^init choice, their local times, and ε; the same as `trainStep` draws from the same key. */
export function trainingDraws(k: Key, x: Tensor, config: RollingConfig): TrainingDraws {
  checkRollingConfig(config);
  const [kt, keps] = split(k, 2) as [Key, Key];
  return drawsFromLocalTimes(keps, x, sampleTrainingTimes(kt, x.shape[0]!, config).localTimes, config);
}

/** The standard baseline's draws for batch `x` (`standardTrainStep`'s, from the same key). */
export function standardTrainingDraws(k: Key, x: Tensor, config: StandardConfig): TrainingDraws {
  checkRollingConfig({ ...config });
  const local = standardLocalTimes(config);
  const [kt, keps] = split(k, 2) as [Key, Key];
  return drawsFromLocalTimes(keps, x, uniformHost(kt, x.shape[0]!).map((t) => local(t)), config);
}

/** The loss of Algorithm 1 given its draws: z_t from Eq. 24, the model's v̂, and Eq. 26's window loss of v-prediction. */
export function lossFromDraws<P>(model: Model<P>, params: P, x: Tensor, draws: TrainingDraws, c: WindowSpec & { readonly cleanFrames: number }): Tensor {
  checkBatch(x, c.window);
  const { eps, logSnr, weights } = draws;
  const z = diffuse(x, logSnr, eps); // Eq. 24
  const vHat = model(params, z, logSnr);
  const v = vFromXEps(x, eps, logSnr);
  return windowLoss(v, vHat, weights, c.window - c.cleanFrames); // Eq. 26
}

/**
 * Algorithm 1: t ~ U(0, 1); with probability `linearProbability` the linear local times (Eq. 22),
 * else the boundary ones (Eq. 23 or 37); z_t from Eq. 24; the loss of Eq. 26 with v-prediction.
 * Pure: the same (params, key, batch) gives the same loss.
 */
export function trainStep<P>(model: Model<P>, config: RollingConfig): (params: P, key: Key, batch: Tensor) => Tensor {
  checkRollingConfig(config);
  return (params, k, x) => lossFromDraws(model, params, x, trainingDraws(k, x, config), config);
}

/**
 * The standard-diffusion baseline's loss: Algorithm 1 with `standardLocalTimes` in place of the
 * t^lin / t^init choice (n_cln clean frames, the rest all at one t ~ U(0, 1)), z_t from Eq. 24 and
 * the window loss of Eq. 26, which then is Eq. 5's loss (a = 1 + SNR for the default 'v' weighting)
 * on the generated frames.
 */
export function standardTrainStep<P>(model: Model<P>, config: StandardConfig): (params: P, key: Key, batch: Tensor) => Tensor {
  checkRollingConfig({ ...config });
  return (params, k, x) => lossFromDraws(model, params, x, standardTrainingDraws(k, x, config), config);
}
