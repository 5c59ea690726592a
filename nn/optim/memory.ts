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
import { dispose, jit, tidy, treeLeaves, valueAndGrad, type JitStats, type Tensor, type TensorTree } from '../../core/index.js';
import type { Ema, EmaState } from './ema.js';
import { applyUpdates, type GradientTransformation } from './transform.js';

/** Dispose every tensor of `previous` that `next` does not also hold. */
export function disposeStale(previous: unknown, next: unknown): void {
  const live = new Set(treeLeaves(next));
  dispose(treeLeaves(previous).filter((t) => !live.has(t)));
}

/** What a training step carries from step to step: parameters, optimizer state, the EMA of the parameters (with an averager), the last loss. */
export interface MinimizeState<P, S extends TensorTree> {
  readonly params: P;
  readonly opt: S;
  /** The moving average of the parameters; present when the step has an `ema` averager (start it with `averager.init(params)`). */
  readonly ema?: EmaState<P>;
  /** The loss at the parameters before the step that made this state (absent before the first). */
  readonly loss?: Tensor;
}

export interface MinimizerOptions {
  /** Update an EMA of the parameters after each step (`state.ema`, the average of the new parameters). */
  ema?: Ema;
  /** Compile the step with `jit` (default false): traced once per shapes of its arguments, replayed after; the same values bit for bit. */
  jit?: boolean;
}

/** One training step as a pure function of `(state, ...data)`; `clear` and `stats` are the compiled program's (null stats when eager). */
export interface Minimizer<P, S extends TensorTree, D extends unknown[]> {
  (state: MinimizeState<P, S>, ...data: D): MinimizeState<P, S> & { readonly loss: Tensor };
  /** Free the compiled program's constants (the next call traces again); nothing when eager. */
  clear(): void;
  stats(): JitStats | null;
}

/**
 * The one training step of the project (the CLI's trainer, the web page, the benchmarks and
 * `minimizeStep` all run it): the loss and gradients of `lossFn` at `state.params`, the optimizer's
 * update, the new parameters and, with `options.ema`, the EMA of them. Pure: it frees nothing and
 * opens no scope (the caller's `tidy` holds the intermediates of an eager step; `disposeStale` frees
 * the previous state once the caller no longer needs it). With `options.jit` it is compiled: numbers
 * and PRNG keys among `data` are static arguments (a new value traces again), so draw per-step noise
 * outside and pass the tensors.
 */
export function minimizer<P, S extends TensorTree, D extends unknown[]>(
  lossFn: (params: P, ...data: D) => Tensor,
  optimizer: GradientTransformation<S>,
  options: MinimizerOptions = {},
): Minimizer<P, S, D> {
  const averager = options.ema;
  type Carry = Pick<MinimizeState<P, S>, 'params' | 'opt' | 'ema'>;
  const update = (carry: Carry, ...data: D): MinimizeState<P, S> & { readonly loss: Tensor } => {
    const [loss, grads] = valueAndGrad(lossFn)(carry.params, ...data);
    const { updates, state: opt } = optimizer.update(grads, carry.opt, carry.params);
    const params = applyUpdates(carry.params, updates);
    return averager ? { params, opt, ema: averager.update(params, carry.ema!), loss } : { params, opt, loss };
  };
  const compiled = options.jit ? jit(update) : null;
  const step = (state: MinimizeState<P, S>, ...data: D): MinimizeState<P, S> & { readonly loss: Tensor } => {
    if (averager && state.ema === undefined) throw new Error('minimizer: the step updates an EMA, so the state needs one: { params, opt, ema: averager.init(params) }');
    // Only what the step reads goes in (not the last loss): a compiled step's inputs are its arguments.
    const carry: Carry = averager ? { params: state.params, opt: state.opt, ema: state.ema } : { params: state.params, opt: state.opt };
    return compiled ? compiled(carry, ...data) : update(carry, ...data);
  };
  return Object.assign(step, { clear: () => compiled?.clear(), stats: () => compiled?.stats() ?? null });
}

/**
 * The loop body above as one function: `minimizer`'s step in a scope, then every tensor of `state`
 * that the new state does not hold is freed. The returned `loss` is the loss before this update.
 * With `options.ema` the state carries the EMA of the parameters (`ema: averager.init(params)` to
 * start). A caller that keeps an old state must not pass it here: its tensors are freed.
 */
export function minimizeStep<P, S extends TensorTree>(
  lossFn: (params: P) => Tensor,
  optimizer: GradientTransformation<S>,
  state: MinimizeState<P, S>,
  options: { ema?: Ema } = {},
): MinimizeState<P, S> & { readonly loss: Tensor } {
  const step = minimizer(lossFn, optimizer, options);
  const next = tidy(() => step(state));
  disposeStale(state, next);
  return next;
}

/** A `minimizeStep` compiled with `jit`: call it as `step(state, ...data)`. */
export interface JittedMinimizeStep<P, S extends TensorTree, D extends unknown[]> {
  (state: MinimizeState<P, S>, ...data: D): MinimizeState<P, S> & { readonly loss: Tensor };
  /** Free the compiled programs' constants (the next call traces again). */
  clear(): void;
  /** The jitted step's counters (traces, cache hits, primitives against kernels per step). */
  stats(): JitStats;
}

/**
 * `minimizeStep` as a `jit`-compiled program: loss, gradients, the optimizer's update and the new
 * parameters are traced once and replayed on every later step (one kernel per fused chain of
 * element-wise ops, no tape, no per-op bookkeeping), with the same values bit for bit. The loss takes
 * the step's data as arguments (`lossFn(params, ...data)`): the jitted program is cached per
 * shapes of its arguments, and a tensor the loss closes over is baked into it (see `jit`). Numbers
 * and PRNG keys among `data` are static: a new value traces again, so draw per-step noise outside and
 * pass the tensor. Like `minimizeStep`, it frees every tensor of `state` the new state does not hold.
 *
 * Opt-in, not `minimizeStep`'s default: measured 1.4-1.9× faster (CPU time) on the README's MLP with
 * Adam, where per-op overhead dominates. `rolling train` compiles its step the same way
 * (experiments/step.ts: the draws of a new key every step are made outside, then passed in).
 *
 * ```ts
 * const step = jitMinimizeStep((p: MlpParams, x: Tensor, y: Tensor) => mean(square(sub(model.apply(p, x), y))), optimizer);
 * for (const [x, y] of batches) state = step(state, x, y);
 * ```
 */
export function jitMinimizeStep<P, S extends TensorTree, D extends unknown[]>(
  lossFn: (params: P, ...data: D) => Tensor,
  optimizer: GradientTransformation<S>,
  options: { ema?: Ema } = {},
): JittedMinimizeStep<P, S, D> {
  const compiled = minimizer(lossFn, optimizer, { ...options, jit: true });
  const step = (state: MinimizeState<P, S>, ...data: D): MinimizeState<P, S> & { readonly loss: Tensor } => {
    const next = compiled(state, ...data);
    disposeStale(state, next);
    return next;
  };
  return Object.assign(step, { clear: () => compiled.clear(), stats: () => compiled.stats()! });
}
