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

/**
 * `transform` run on whole trees as vectors when they are flattenable: the gradients, the state's
 * entries named in `state` (those shaped like the parameters, e.g. Adam's moments) and, when `params`
 * is true, the parameters each become one vector, and the updates and those entries are cut back
 * into trees after. Otherwise (few leaves, other dtypes) `transform` runs leaf by leaf.
 */
export function flatTransform<S extends { readonly [k: string]: TensorTree }>(transform: GradientTransformation<S>, o: { state: readonly (keyof S & string)[]; params: boolean }): GradientTransformation<S> {
  return {
    init: (params) => transform.init(params),
    update<T>(grads: T, state: S, params?: T): { updates: T; state: S } {
      if (!flattenable(grads, ...o.state.map((k) => state[k]))) return transform.update(grads, state, params);
      // In a scope, so the whole-tree vectors are freed as soon as the leaves are cut back out of them.
      return tidy(() => {
        const flatState = { ...state, ...Object.fromEntries(o.state.map((k) => [k, flatten(state[k])])) } as S;
        const out = transform.update(flatten(grads), flatState, o.params && params !== undefined ? flatten(params) : undefined);
        const treeState = Object.fromEntries(o.state.map((k) => [k, unflatten(state[k], out.state[k] as Tensor)]));
        return { updates: unflatten(grads, out.updates), state: { ...out.state, ...treeState } as S };
      });
    },
  };
}
