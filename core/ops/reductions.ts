/**
 * The user ops, reductions over axes (sum, mean, max, ...), softmax and its relatives.
 * Each binds primitives (`primitives.ts`) through the tape; the derivative of every primitive is in
 * `rules.ts`, so each op is differentiable. `core/ops.ts` re-exports every family.
 */
import { checkTensor } from '../argument.js';
import { fmt, normalizeAxes, normalizeAxis } from '../shape.js';
import { scoped, Tensor } from '../tensor.js';
import { bind, stopGradient } from '../trace.js';
import { add, sub, div, neg, exp, log, square, where, cast, isFinite } from './arithmetic.js';
import { reshape } from './layout.js';

function reduceResult(op: string, r: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  void op;
  return keepDims ? reshape(r, x.shape.map((d, i) => (axes.includes(i) ? 1 : d))) : r;
}

/** Sum over `axes` (all by default). */
export const sum = scoped(function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('sum', 'x', x);
  const ax = normalizeAxes('sum', axes, x.rank);
  const src = x.dtype === 'bool' ? cast(x, 'int32') : x;
  return reduceResult('sum', ax.length ? bind('sum', [src], { axes: ax }) : src, x, ax, keepDims);
});

/** The mean over `axes` (all by default). Integer and bool inputs give float32 means, as in NumPy and JAX. */
export const mean = scoped(function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('mean', 'x', x);
  const ax = normalizeAxes('mean', axes, x.rank);
  const count = ax.reduce((n, a) => n * x.shape[a]!, 1);
  return div(sum(x.dtype === 'float32' ? x : cast(x, 'float32'), ax, keepDims), count);
});

export const max = scoped(function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('max', 'x', x);
  const ax = normalizeAxes('max', axes, x.rank);
  for (const a of ax) if (x.shape[a] === 0) throw new Error(`max: axis ${a} of ${fmt(x.shape)} is empty`);
  return reduceResult('max', ax.length ? bind('reduceMax', [x], { axes: ax }) : x, x, ax, keepDims);
});

export const min = scoped(function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('min', 'x', x);
  return neg(max(neg(x), axes, keepDims));
});

/** Variance (population, ddof = 0) over `axes`. */
export const variance = scoped(function variance(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('variance', 'x', x);
  const mu = mean(x, axes, true);
  return mean(square(sub(x, mu)), axes, keepDims);
});

export const argmax = scoped(function argmax(x: Tensor, axis = -1): Tensor {
  checkTensor('argmax', 'x', x);
  return bind('argmax', [x], { axis: normalizeAxis('argmax', axis, x.rank) });
});

export const argmin = scoped(function argmin(x: Tensor, axis = -1): Tensor {
  checkTensor('argmin', 'x', x);
  return argmax(neg(x), axis);
});

/** log Σ exp(x), shifted by the (gradient-free) maximum so it cannot overflow. */
export const logSumExp = scoped(function logSumExp(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  checkTensor('logSumExp', 'x', x);
  const ax = normalizeAxes('logSumExp', axes, x.rank);
  const m = stopGradient(max(x, ax, true));
  const safe = where(isFinite(m), m, 0);
  const r = add(log(sum(exp(sub(x, safe)), ax, true)), safe);
  return keepDims ? r : reshape(r, x.shape.filter((_, i) => !ax.includes(i)));
});

export const cumsum = scoped(function cumsum(x: Tensor, axis = -1, options: { reverse?: boolean } = {}): Tensor {
  checkTensor('cumsum', 'x', x);
  return bind('cumsum', [x], { axis: normalizeAxis('cumsum', axis, x.rank), reverse: options.reverse ?? false });
});

export const softmax = scoped(function softmax(x: Tensor, axis = -1): Tensor {
  checkTensor('softmax', 'x', x);
  axis = normalizeAxis('softmax', axis, x.rank);
  const m = stopGradient(max(x, axis, true));
  const e = exp(sub(x, m));
  return div(e, sum(e, axis, true));
});

export const logSoftmax = scoped(function logSoftmax(x: Tensor, axis = -1): Tensor {
  checkTensor('logSoftmax', 'x', x);
  // (x − m) − log Σ exp(x − m), shifting first as JAX does: x − logSumExp(x) would cancel two numbers
  // of the logits' size, losing ~|x|·2⁻²⁴ (6e-5 at logits of 1000) of a result near 0.
  axis = normalizeAxis('logSoftmax', axis, x.rank);
  const m = stopGradient(max(x, axis, true));
  const shifted = sub(x, where(isFinite(m), m, 0));
  return sub(shifted, log(sum(exp(shifted), axis, true)));
});
