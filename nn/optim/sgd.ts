/**
 * Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum (optax `sgd`):
 * m ← g + μ m, update = −η m (or −η (g + μ m) with Nesterov).
 */
import { add, mul, neg, tidy, treeMap, treeZipMap, zerosLike, type Tensor, type TensorTree } from '../../core/index.js';
import { asSchedule } from './schedule.js';
import { nextStep, zeroStep } from './stepCount.js';
import type { GradientTransformation, LearningRateSchedule } from './transform.js';

export interface SgdConfig {
  learningRate: number | LearningRateSchedule;
  momentum?: number;
  nesterov?: boolean;
}

export interface SgdState {
  readonly [k: string]: TensorTree;
  readonly step: Tensor;
  /** Present only with momentum. */
  readonly momentum?: TensorTree;
}

export function sgd(config: SgdConfig): GradientTransformation<SgdState> {
  const lr = asSchedule(config.learningRate);
  const mu = config.momentum ?? 0;
  const nesterov = config.nesterov ?? false;
  return {
    init(params: unknown): SgdState {
      return tidy(() => (mu ? { step: zeroStep(), momentum: treeMap(params, zerosLike) as TensorTree } : { step: zeroStep() }));
    },
    update<T>(grads: T, state: SgdState): { updates: T; state: SgdState } {
      const scale = neg(lr(state.step));
      if (!mu) return { updates: treeMap(grads, (g) => mul(g, scale)), state: { step: nextStep(state.step) } };
      const momentum = treeZipMap([grads, state.momentum as T], ([g, m]) => add(g!, mul(m!, mu)));
      const direction = nesterov ? treeZipMap([grads, momentum], ([g, m]) => add(g!, mul(m!, mu))) : momentum;
      return {
        updates: treeMap(direction, (d) => mul(d, scale)),
        state: { step: nextStep(state.step), momentum: momentum as TensorTree },
      };
    },
  };
}
