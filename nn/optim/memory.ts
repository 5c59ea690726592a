/**
 * The training-loop memory pattern. Tensors are immutable, so a step makes new parameters and a
 * new optimizer state; the old ones must be freed, except any tensor the new state still holds (a
 * transformation may pass a leaf through unchanged). A step that leaks nothing:
 *
 * ```ts
 * let state = { params, opt: optimizer.init(params) };
 * for (let i = 0; i < steps; i++) {
 *   const next = tidy(() => {                       // frees every intermediate of the step
 *     const [loss, grads] = valueAndGrad(lossFn)(state.params, batch);
 *     const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
 *     return { params: applyUpdates(state.params, updates), opt, loss };
 *   });
 *   disposeStale(state, next);                      // frees the previous params, state and loss
 *   state = next;
 * }
 * ```
 * `memoryStats().tensors` then stays flat across steps (a test checks it). `minimizeStep` below is
 * this loop body as a function.
 */
import { dispose, tidy, treeLeaves, valueAndGrad, type Tensor, type TensorTree } from '../../core/index.js';
import { applyUpdates, type GradientTransformation } from './transform.js';

/** Dispose every tensor of `previous` that `next` does not also hold. */
export function disposeStale(previous: unknown, next: unknown): void {
  const live = new Set(treeLeaves(next));
  dispose(treeLeaves(previous).filter((t) => !live.has(t)));
}

/** What `minimizeStep` carries from step to step: parameters, optimizer state, the last loss. */
export interface MinimizeState<P, S extends TensorTree> {
  readonly params: P;
  readonly opt: S;
  /** The loss at the parameters before the step that made this state (absent before the first). */
  readonly loss?: Tensor;
}

/**
 * The loop body above as one function: the loss and gradients of `lossFn` at `state.params`, the
 * optimizer's update, new parameters; every intermediate is freed, and so is every tensor of
 * `state` that the new state does not hold. The returned `loss` is the loss before this update.
 * A caller that keeps an old state must not pass it here: its tensors are freed.
 */
export function minimizeStep<P, S extends TensorTree>(
  lossFn: (params: P) => Tensor,
  optimizer: GradientTransformation<S>,
  state: MinimizeState<P, S>,
): MinimizeState<P, S> & { readonly loss: Tensor } {
  const next = tidy(() => {
    const [loss, grads] = valueAndGrad(lossFn)(state.params);
    const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
    return { params: applyUpdates(state.params, updates), opt, loss };
  });
  disposeStale(state, next);
  return next;
}
