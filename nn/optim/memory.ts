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
 * `memoryStats().tensors` then stays flat across steps (a test checks it).
 */
import { dispose, treeLeaves } from '../../core';

/** Dispose every tensor of `previous` that `next` does not also hold. */
export function disposeStale(previous: unknown, next: unknown): void {
  const live = new Set(treeLeaves(next));
  dispose(treeLeaves(previous).filter((t) => !live.has(t)));
}
