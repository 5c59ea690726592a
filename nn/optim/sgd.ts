/**
 * Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum (optax `sgd`):
 * m ← g + μ m, update = −η m (or −η (g + μ m) with Nesterov). As in optax, a chain: `trace` (the
 * momentum), then `scaleByLearningRate` (× −η).
 */
import { add, mul, tidy, treeMap, treeZipMap, zerosLike, type Tensor, type TensorTree } from '../../core/index.js';
import { scaleByLearningRate } from './scale.js';
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

export interface TraceState {
  readonly [k: string]: TensorTree;
  readonly momentum: TensorTree;
}

/** Momentum (optax `trace`): m ← g + μ m; the update is m, or g + μ m with Nesterov. */
export function trace(config: { decay: number; nesterov?: boolean }): GradientTransformation<TraceState> {
  const { decay, nesterov = false } = config;
  return {
    init(params: unknown): TraceState {
      return tidy(() => ({ momentum: treeMap(params, zerosLike) as TensorTree }));
    },
    update<T>(updates: T, state: TraceState): { updates: T; state: TraceState } {
      const momentum = treeZipMap([updates, state.momentum as T], ([g, m]) => add(g!, mul(m!, decay)));
      const direction = nesterov ? treeZipMap([updates, momentum], ([g, m]) => add(g!, mul(m!, decay))) : momentum;
      return { updates: direction, state: { momentum: momentum as TensorTree } };
    },
  };
}

/** optax's `chain(trace, scale_by_learning_rate)`, its state kept as one { step, momentum? }. */
export function sgd(config: SgdConfig): GradientTransformation<SgdState> {
  const rate = scaleByLearningRate(config.learningRate);
  const momentum = config.momentum ? trace({ decay: config.momentum, nesterov: config.nesterov ?? false }) : null;
  return {
    init(params: unknown): SgdState {
      return tidy(() => (momentum ? { ...rate.init(params), ...momentum.init(params) } : rate.init(params)));
    },
    update<T>(grads: T, state: SgdState): { updates: T; state: SgdState } {
      if (!momentum) return rate.update(grads, { step: state.step });
      const traced = momentum.update(grads, { momentum: state.momentum as TensorTree });
      const scaled = rate.update(traced.updates, { step: state.step });
      return { updates: scaled.updates, state: { ...scaled.state, ...traced.state } };
    },
  };
}
