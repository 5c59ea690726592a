/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with optax's conventions:
 *   m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²,  t ← t + 1,
 *   update = −η(t−1) · ( m/(1 − β₁ᵗ) / (√(v/(1 − β₂ᵗ)) + ε)  [+ λ θ for AdamW] ).
 * AdamW's decay is decoupled: it is added after the Adam scaling and multiplied by the learning
 * rate, never mixed into the moments.
 */
import { add, div, mul, neg, pow, scalar, sqrt, square, sub, tidy, treeMap, treeZipMap, zerosLike, type Tensor, type TensorTree } from '../../core/index.js';
import { flatten, flattenable, unflatten } from './flat.js';
import { asSchedule } from './schedule.js';
import { nextStep, stepAsFloat, zeroStep } from './stepCount.js';
import type { GradientTransformation, LearningRateSchedule } from './transform.js';

export interface AdamConfig {
  learningRate: number | LearningRateSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
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

export function adam(config: AdamConfig): GradientTransformation<AdamState> {
  return adamCore(config, 0);
}

export function adamw(config: AdamWConfig): GradientTransformation<AdamState> {
  return adamCore(config, config.weightDecay ?? 1e-4);
}

function adamCore(config: AdamConfig, weightDecay: number): GradientTransformation<AdamState> {
  const lr = asSchedule(config.learningRate);
  const b1 = config.b1 ?? 0.9;
  const b2 = config.b2 ?? 0.999;
  const eps = config.eps ?? 1e-8;
  return {
    init(params: unknown): AdamState {
      // Scoped: the scalar each zero tensor broadcasts from is freed here.
      return tidy(() => ({ step: zeroStep(), mu: treeMap(params, zerosLike) as TensorTree, nu: treeMap(params, zerosLike) as TensorTree }));
    },
    update<T>(grads: T, state: AdamState, params?: T): { updates: T; state: AdamState } {
      if (weightDecay && params === undefined) throw new Error(`adamw: weight decay needs the parameters: update(grads, state, params)`);
      const step = nextStep(state.step);
      const t = stepAsFloat(step);
      // Bias corrections and the learning rate are scalars, computed once for every leaf.
      const c1 = div(1, sub(1, pow(scalar(b1), t)));
      const c2 = div(1, sub(1, pow(scalar(b2), t)));
      const scale = neg(lr(state.step));
      const update = (m: Tensor, v: Tensor, p: Tensor | undefined) => {
        const direction = div(mul(m, c1), add(sqrt(mul(v, c2)), eps));
        return mul(weightDecay ? add(direction, mul(p!, weightDecay)) : direction, scale);
      };
      if (flattenable(grads, state.mu, state.nu)) {
        // One vector for the whole tree (see flat.ts): the same arithmetic per element. In a scope,
        // so the whole-tree vectors are freed as soon as the leaves are cut back out of them.
        const out = tidy(() => {
          const g = flatten(grads);
          const mu = add(mul(flatten(state.mu), b1), mul(g, 1 - b1));
          const nu = add(mul(flatten(state.nu), b2), mul(square(g), 1 - b2));
          const updates = update(mu, nu, weightDecay ? flatten(params) : undefined);
          return { updates: unflatten(grads, updates), mu: unflatten(state.mu, mu), nu: unflatten(state.nu, nu) };
        });
        return { updates: out.updates, state: { step, mu: out.mu as TensorTree, nu: out.nu as TensorTree } };
      }
      const mu = treeZipMap([grads, state.mu as T], ([g, m]) => add(mul(m!, b1), mul(g!, 1 - b1)));
      const nu = treeZipMap([grads, state.nu as T], ([g, v]) => add(mul(v!, b2), mul(square(g!), 1 - b2)));
      const updates = weightDecay ? treeZipMap([mu, nu, params as T], ([m, v, p]) => update(m!, v!, p)) : treeZipMap([mu, nu], ([m, v]) => update(m!, v!, undefined));
      return { updates, state: { step, mu: mu as TensorTree, nu: nu as TensorTree } };
    },
  };
}
