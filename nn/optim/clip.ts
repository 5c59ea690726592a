/**
 * Gradient clipping by the global norm (Pascanu et al. 2013; optax `clip_by_global_norm`): if
 * ‖g‖ = √(Σ over every leaf of Σ g²) exceeds `maxNorm`, every leaf is scaled by maxNorm/‖g‖.
 */
import { add, maximum, mul, scalar, sqrt, square, sum, div, tidy, treeLeaves, treeMap, type Tensor } from '../../core/index.js';
import { flatten, flattenable, unflatten } from './flat.js';
import type { GradientTransformation } from './transform.js';

export type ClipState = Record<string, never>;

/** ‖g‖ over every tensor of a pytree, as a scalar tensor. */
export function globalNorm(tree: unknown): Tensor {
  return sqrt(treeLeaves(tree).reduce<Tensor>((acc, g) => add(acc, sum(square(g))), scalar(0)));
}

export function clipByGlobalNorm(maxNorm: number): GradientTransformation<ClipState> {
  if (!(maxNorm > 0)) throw new Error(`clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`);
  return {
    init(): ClipState {
      return {};
    },
    update<T>(grads: T, state: ClipState): { updates: T; state: ClipState } {
      if (flattenable(grads)) {
        // One vector for the whole tree (flat.ts); its norm is one sum, not one per leaf.
        return {
          updates: tidy(() => {
            const g = flatten(grads);
            const factor = div(maxNorm, maximum(sqrt(sum(square(g))), maxNorm));
            return unflatten(grads, mul(g, factor));
          }),
          state,
        };
      }
      const factor = div(maxNorm, maximum(globalNorm(grads), maxNorm));
      return { updates: treeMap(grads, (g) => mul(g, factor)), state };
    },
  };
}
