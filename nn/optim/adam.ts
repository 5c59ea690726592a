/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with optax's conventions:
 *   m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²,  t ← t + 1,
 *   update = −η(t−1) · ( m/(1 − β₁ᵗ) / (√(v/(1 − β₂ᵗ)) + ε)  [+ λ θ for AdamW] ).
 * As in optax, they are chains of small transforms: `scaleByAdam` (the moments and the scaling),
 * `addDecayedWeights` (AdamW's + λ θ, decoupled: added after the Adam scaling and multiplied by the
 * learning rate, never mixed into the moments), `scaleByLearningRate` (× −η).
 */
import { add, div, mul, pow, scalar, sqrt, square, sub, tidy, treeMap, treeZipMap, zerosLike, type Tensor, type TensorTree } from '../../core/index.js';
import { addDecayedWeights, scaleByLearningRate } from './scale.js';
import { nextStep, stepAsFloat, zeroStep } from './stepCount.js';
import { flatTransform, type GradientTransformation, type LearningRateSchedule } from './transform.js';

export interface ScaleByAdamConfig {
  b1?: number;
  b2?: number;
  eps?: number;
}

export interface AdamConfig extends ScaleByAdamConfig {
  learningRate: number | LearningRateSchedule;
}

export interface AdamWConfig extends AdamConfig {
  /** λ, default 1e-4 (optax's default). */
  weightDecay?: number;
}

export interface AdamState {
  readonly [k: string]: TensorTree;
  readonly step: Tensor;
  readonly mu: TensorTree;
  readonly nu: TensorTree;
}

/** Adam's moments and scaling (optax `scale_by_adam`): the update m̂/(√v̂ + ε), before any learning rate. */
export function scaleByAdam(config: ScaleByAdamConfig = {}): GradientTransformation<AdamState> {
  const b1 = config.b1 ?? 0.9;
  const b2 = config.b2 ?? 0.999;
  const eps = config.eps ?? 1e-8;
  return {
    init(params: unknown): AdamState {
      // Scoped: the scalar each zero tensor broadcasts from is freed here.
      return tidy(() => ({ step: zeroStep(), mu: treeMap(params, zerosLike) as TensorTree, nu: treeMap(params, zerosLike) as TensorTree }));
    },
    update<T>(grads: T, state: AdamState): { updates: T; state: AdamState } {
      const step = nextStep(state.step);
      const t = stepAsFloat(step);
      // Bias corrections are scalars, computed once for every leaf.
      const c1 = div(1, sub(1, pow(scalar(b1), t)));
      const c2 = div(1, sub(1, pow(scalar(b2), t)));
      const mu = treeZipMap([grads, state.mu as T], ([g, m]) => add(mul(m!, b1), mul(g!, 1 - b1)));
      const nu = treeZipMap([grads, state.nu as T], ([g, v]) => add(mul(v!, b2), mul(square(g!), 1 - b2)));
      const updates = treeZipMap([mu, nu], ([m, v]) => div(mul(m!, c1), add(sqrt(mul(v!, c2)), eps)));
      return { updates, state: { step, mu: mu as TensorTree, nu: nu as TensorTree } };
    },
  };
}

export function adam(config: AdamConfig): GradientTransformation<AdamState> {
  return adamChain(config, 0);
}

export function adamw(config: AdamWConfig): GradientTransformation<AdamState> {
  return adamChain(config, config.weightDecay ?? 1e-4);
}

/**
 * optax's `chain(scale_by_adam, add_decayed_weights, scale_by_learning_rate)` with one step count:
 * the learning rate's schedule reads Adam's (both count the updates), so the state stays
 * { step, mu, nu } (checkpoints and `AdamState` as before). Run on the whole tree as one vector
 * (flat.ts), which gives each leaf the bits it gets on its own.
 */
function adamChain(config: AdamConfig, weightDecay: number): GradientTransformation<AdamState> {
  const scale = scaleByAdam(config);
  const decay = weightDecay ? addDecayedWeights(weightDecay) : null;
  const rate = scaleByLearningRate(config.learningRate);
  const chained: GradientTransformation<AdamState> = {
    init: (params) => scale.init(params),
    update<T>(grads: T, state: AdamState, params?: T): { updates: T; state: AdamState } {
      // Scoped: the learning rate's own next step count, unused, is freed here.
      return tidy(() => {
        const adamStep = scale.update(grads, state);
        const decayed = decay ? decay.update(adamStep.updates, {}, params).updates : adamStep.updates;
        return { updates: rate.update(decayed, { step: state.step }).updates, state: adamStep.state };
      });
    },
  };
  const flat = flatTransform(chained, { state: ['mu', 'nu'], params: decay !== null });
  return {
    init: flat.init,
    update<T>(grads: T, state: AdamState, params?: T): { updates: T; state: AdamState } {
      if (decay && params === undefined) throw new Error(`adamw: weight decay needs the parameters: update(grads, state, params)`);
      return flat.update(grads, state, params);
    },
  };
}
