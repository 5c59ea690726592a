/**
 * Learning-rate schedules as in optax, as functions of the step count (a tensor, so that they run
 * on device from the optimizer state, or a number). The first update uses `schedule(0)`.
 */
import { add, cast, cos, div, minimum, mul, scalar, sub, where, less, Tensor } from '../../core/index.js';
import type { LearningRateSchedule } from './transform.js';

function stepAsFloat(step: Tensor | number): Tensor {
  return step instanceof Tensor ? cast(step, 'float32') : scalar(step);
}

export function constantSchedule(value: number): LearningRateSchedule {
  return () => scalar(value);
}

/** Linear from `init` to `peak` over `warmupSteps`, then `peak` (optax `linear_schedule`). */
export function warmupSchedule(options: { init?: number; peak: number; warmupSteps: number }): LearningRateSchedule {
  const { init = 0, peak, warmupSteps } = options;
  if (!(warmupSteps > 0)) throw new Error(`warmupSchedule: warmupSteps must be positive, got ${warmupSteps}`);
  return (step) => add(mul(div(minimum(stepAsFloat(step), warmupSteps), warmupSteps), peak - init), init);
}

/**
 * Half a cosine from `init` down to `alpha · init` over `decaySteps`, then flat (optax
 * `cosine_decay_schedule`; Loshchilov & Hutter 2017 without restarts).
 */
export function cosineDecaySchedule(options: { init: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
  const { init, decaySteps, alpha = 0 } = options;
  if (!(decaySteps > 0)) throw new Error(`cosineDecaySchedule: decaySteps must be positive, got ${decaySteps}`);
  return (step) => {
    const progress = div(minimum(stepAsFloat(step), decaySteps), decaySteps);
    const cosine = mul(add(cos(mul(progress, Math.PI)), 1), 0.5);
    return mul(add(mul(cosine, 1 - alpha), alpha), init);
  };
}

/**
 * Linear warmup from `init` to `peak` over `warmupSteps`, then cosine decay to `end` at `decaySteps`
 * (counted from step 0, warmup included, as optax's `warmup_cosine_decay_schedule`).
 */
export function warmupCosineDecaySchedule(options: { init?: number; peak: number; warmupSteps: number; decaySteps: number; end?: number }): LearningRateSchedule {
  const { init = 0, peak, warmupSteps, decaySteps, end = 0 } = options;
  if (!(decaySteps > warmupSteps)) throw new Error(`warmupCosineDecaySchedule: decaySteps (${decaySteps}) must exceed warmupSteps (${warmupSteps})`);
  const warm = warmupSchedule({ init, peak, warmupSteps: Math.max(warmupSteps, 1) });
  const decay = cosineDecaySchedule({ init: peak, decaySteps: decaySteps - warmupSteps, alpha: peak === 0 ? 0 : end / peak });
  return (step) => {
    const s = stepAsFloat(step);
    return where(less(s, warmupSteps), warm(s), decay(sub(s, warmupSteps)));
  };
}

/** A number or a schedule, as a schedule. */
export function asSchedule(learningRate: number | LearningRateSchedule): LearningRateSchedule {
  return typeof learningRate === 'number' ? constantSchedule(learningRate) : learningRate;
}
