/**
 * An exponential moving average of the parameters (Polyak averaging, as the paper's EMA decay of
 * 0.9999): average ← d · average + (1 − d) · params after every step, so after n steps
 * average = dⁿ θ₀ + (1 − d) Σₖ dⁿ⁻ᵏ θₖ. With `warmup` the decay is min(d, (1 + t)/(10 + t))
 * (TensorFlow's `num_updates` rule), so a short run is not dominated by the initial parameters.
 */
import { add, cast, div, minimum, mul, scalar, stopGradient, sub, tidy, treeMap, treeZipMap, type Tensor } from '../../core/index.js';
import { flatten, flattenable, unflatten } from './flat.js';
import { nextStep, zeroStep } from './stepCount.js';

export interface EmaConfig {
  decay?: number;
  warmup?: boolean;
}

export interface EmaState<T> {
  readonly step: Tensor;
  readonly average: T;
}

export interface Ema {
  init<T>(params: T): EmaState<T>;
  update<T>(params: T, state: EmaState<T>): EmaState<T>;
}

export function ema(config: EmaConfig = {}): Ema {
  const decay = config.decay ?? 0.9999;
  if (!(decay >= 0 && decay <= 1)) throw new Error(`ema: decay must be in [0, 1], got ${decay}`);
  const warmup = config.warmup ?? false;
  return {
    init<T>(params: T): EmaState<T> {
      // New handles on the same immutable buffers: the average outlives the parameters it
      // started from when the training loop disposes them.
      return { step: zeroStep(), average: treeMap(params, (p) => stopGradient(p)) };
    },
    update<T>(params: T, state: EmaState<T>): EmaState<T> {
      const d: Tensor | number = warmup ? minimum(div(add(cast(state.step, 'float32'), 1), add(cast(state.step, 'float32'), 10)), decay) : decay;
      const oneMinus = typeof d === 'number' ? 1 - d : sub(scalar(1), d);
      const blend = (a: Tensor, p: Tensor) => add(mul(a, d), mul(p, oneMinus));
      // One vector for the whole tree when it has many leaves (flat.ts): the same bits, fewer ops.
      const average = flattenable(state.average, params) ? tidy(() => unflatten(state.average, blend(flatten(state.average), flatten(params)))) : treeZipMap([state.average, params], ([a, p]) => blend(a!, p!));
      return { step: nextStep(state.step), average };
    },
  };
}
