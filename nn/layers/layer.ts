/**
 * What a layer is: a value with two pure functions (Equinox/Flax style). `init(key)` draws fresh
 * parameters, a plain pytree of tensors; `apply(params, x, options?)` computes the output. Nothing is
 * stored in the layer itself, so the same layer value can be applied to any number of parameter sets
 * (an EMA copy, a checkpoint, a gradient step) and `grad` differentiates `apply` like any function.
 */
import { scoped, treeLeaves, type Key, type Tensor } from '../../core/index.js';

/** What `apply` may need besides its input: a key for randomness (dropout) and the mode. */
export interface RunOptions {
  /** Consumed by layers that draw random numbers when training; never drawn from a hidden source. */
  readonly key?: Key;
  /** Dropout is active only when this is true. */
  readonly training?: boolean;
}

/**
 * A layer with parameters `P`, input `X`, output `Y` and per-call options `O`. The methods are
 * written as methods (not properties) so that a `Layer<LinearParams>` can stand where a
 * `Layer<unknown>` is expected, e.g. in `sequential`.
 */
export interface Layer<P, X = Tensor, Y = Tensor, O = RunOptions> {
  init(key: Key): P;
  apply(params: P, x: X, options?: O): Y;
}

/** The parameter type of a layer. */
export type ParamsOf<L> = L extends Layer<infer P, never, unknown, never> ? P : never;

/** The number of scalars in a parameter pytree (every tensor leaf's size, added up). */
export function countParameters(params: unknown): number {
  return treeLeaves(params).reduce((n, t) => n + t.size, 0);
}

/** `[a, b]` from a number or a pair. */
export function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Integer check for layer configs; the error names the layer and the field. */
export function positiveInteger(layer: string, field: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${layer}: ${field} must be a positive integer, got ${v}`);
  return v;
}

/**
 * A layer whose `init` and `apply` clean up after themselves, as a single op does: the keys, lifted
 * numbers and partial results made inside are freed when they return (inside `tidy` or not); their
 * result, and whatever a recording tape still needs for the backward pass, go to the caller. Every
 * layer factory returns its layer through this, so `layer.apply(params, x)` in a plain loop leaves
 * exactly one new tensor behind: its output.
 */
export function scopedLayer<L extends { init(key: Key): unknown; apply(...args: never[]): unknown }>(layer: L): L {
  return { ...layer, init: scoped(layer.init.bind(layer)), apply: scoped(layer.apply.bind(layer)) };
}
