/**
 * Two of optax's small gradient transformations, the pieces `adam` and `adamw` are chained from:
 * `addDecayedWeights` (updates + λ θ) and `scaleByLearningRate` (updates × −η(step)).
 */
import { add, mul, neg, treeMap, treeZipMap, type Tensor, type TensorTree } from '../../core/index.js';
import { asSchedule } from './schedule.js';
import { nextStep, zeroStep } from './stepCount.js';
import type { GradientTransformation, LearningRateSchedule } from './transform.js';

/** The state of a transformation that only counts updates. */
export interface StepState {
  readonly [k: string]: TensorTree;
  readonly step: Tensor;
}

/** updates + λ θ (optax `add_decayed_weights`): decoupled weight decay, which needs the parameters. */
export function addDecayedWeights(weightDecay: number): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update<T>(updates: T, state: Record<string, never>, params?: T): { updates: T; state: Record<string, never> } {
      if (params === undefined) throw new Error(`addDecayedWeights: weight decay needs the parameters: update(updates, state, params)`);
      return { updates: treeZipMap([updates, params], ([u, p]) => add(u!, mul(p!, weightDecay))), state };
    },
  };
}

/** updates × −η (optax `scale_by_learning_rate`): a descent step of the learning rate, or of a schedule at the update's step (0 first). */
export function scaleByLearningRate(learningRate: number | LearningRateSchedule): GradientTransformation<StepState> {
  const lr = asSchedule(learningRate);
  return {
    init: () => ({ step: zeroStep() }),
    update<T>(updates: T, state: StepState): { updates: T; state: StepState } {
      const scale = neg(lr(state.step));
      return { updates: treeMap(updates, (u) => mul(u, scale)), state: { step: nextStep(state.step) } };
    },
  };
}
