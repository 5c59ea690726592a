/**
 * Optimizers as gradient transformations (optax): a pair of pure functions. `init(params)` makes a
 * state; `update(grads, state, params)` turns gradients into updates (what to add to the
 * parameters) and a new state. States are pytrees of tensors, so they checkpoint like parameters
 * (the step count is an int32 scalar tensor, not a host number, for the same reason), and
 * transformations compose with `chain`.
 */
import { add, tidy, treeZipMap, type Tensor, type TensorTree } from '../../core/index.js';
import { flatten, flattenable, unflatten } from './flat.js';

export interface GradientTransformation<S extends TensorTree = TensorTree> {
  init(params: unknown): S;
  update<T>(updates: T, state: S, params?: T): { updates: T; state: S };
}

/** A learning rate as a function of the step (0 for the first update), computed on device. */
export type LearningRateSchedule = (step: Tensor | number) => Tensor;

/** Apply `transforms` one after the other; the state is the array of their states. */
export function chain(...transforms: readonly GradientTransformation[]): GradientTransformation<TensorTree[]> {
  return {
    init(params: unknown): TensorTree[] {
      return transforms.map((t) => t.init(params));
    },
    update<T>(updates: T, state: TensorTree[], params?: T): { updates: T; state: TensorTree[] } {
      if (!Array.isArray(state) || state.length !== transforms.length) {
        throw new Error(`chain: expected a state array of ${transforms.length} entries, got ${Array.isArray(state) ? state.length : typeof state}`);
      }
      let u = updates;
      const next: TensorTree[] = [];
      transforms.forEach((t, i) => {
        const r = t.update(u, state[i]!, params);
        u = r.updates;
        next.push(r.state);
      });
      return { updates: u, state: next };
    },
  };
}

/** `params + updates`, leaf by leaf. */
export function applyUpdates<T>(params: T, updates: T): T {
  if (flattenable(params, updates)) return tidy(() => unflatten(params, add(flatten(params), flatten(updates))));
  return treeZipMap([params, updates], ([p, u]) => add(p!, u!));
}
