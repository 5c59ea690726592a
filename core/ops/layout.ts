/**
 * The user ops, shapes and layout: reshape, transpose, broadcast, slice, concat, pad, gather and scatter.
 * Each binds primitives (`primitives.ts`) through the tape; the derivative of every primitive is in
 * `rules.ts`, so each op is differentiable. `core/ops.ts` re-exports every family.
 */
import { checkTensor } from '../argument.js';
import { describeValue } from '../pytree.js';
import { fmt, normalizeAxes, normalizeAxis, type Shape } from '../shape.js';
import { scoped, Tensor } from '../tensor.js';
import { bind } from '../trace.js';
import { arange } from './creation.js';
import { equal, cast } from './arithmetic.js';

export function reshape(x: Tensor, shape: Shape): Tensor {
  checkTensor('reshape', 'x', x);
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    if (s.lastIndexOf(-1) !== infer) throw new Error(`reshape: only one -1 allowed in ${fmt(shape)}`);
    const known = s.reduce((n, d, i) => (i === infer ? n : n * d), 1);
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    s[infer] = x.size / known;
  }
  if (s.length === x.rank && s.every((d, i) => d === x.shape[i])) return x;
  return bind('reshape', [x], { shape: s });
}

export const transpose = scoped(function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  checkTensor('transpose', 'x', x);
  const p = perm ? perm.map((a) => normalizeAxis('transpose', a, x.rank)) : x.shape.map((_, i) => x.rank - 1 - i);
  // (A shorter identity prefix such as [0] for a matrix must reach the shape rule, which rejects it.)
  if (p.length === x.rank && p.every((v, i) => v === i)) return x;
  return bind('transpose', [x], { perm: p });
});

/** Swap the last two axes. */
export const matrixTranspose = scoped(function matrixTranspose(x: Tensor): Tensor {
  checkTensor('matrixTranspose', 'x', x);
  if (x.rank < 2) throw new Error(`matrixTranspose: needs rank ≥ 2, got ${fmt(x.shape)}`);
  const p = x.shape.map((_, i) => i);
  p[x.rank - 1] = x.rank - 2;
  p[x.rank - 2] = x.rank - 1;
  return transpose(x, p);
});

export const broadcastTo = scoped(function broadcastTo(x: Tensor, shape: Shape): Tensor {
  checkTensor('broadcastTo', 'x', x);
  if (shape.length === x.rank && shape.every((d, i) => d === x.shape[i])) return x;
  return bind('broadcast', [x], { shape: [...shape] });
});

export const expandDims = scoped(function expandDims(x: Tensor, axis: number): Tensor {
  checkTensor('expandDims', 'x', x);
  const a = normalizeAxis('expandDims', axis, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
});

export const squeeze = scoped(function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  checkTensor('squeeze', 'x', x);
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normalizeAxes('squeeze', axes, x.rank);
  for (const a of ax) if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${a} of ${fmt(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
});

/** `slice(x, begin, size)`; a size of -1 takes the rest of that axis; negative begins count from the end. */
export const slice = scoped(function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  checkTensor('slice', 'x', x);
  if (begin.length > x.rank) throw new Error(`slice: ${begin.length} begins for a tensor of rank ${x.rank} ${fmt(x.shape)}`);
  const b = x.shape.map((d, i) => {
    const v = begin[i] ?? 0;
    return v < 0 ? v + d : v;
  });
  const s = x.shape.map((d, i) => {
    const v = size?.[i] ?? -1;
    return v === -1 ? d - b[i]! : v;
  });
  if (b.every((v) => v === 0) && s.every((v, i) => v === x.shape[i])) return x;
  return bind('slice', [x], { begin: b, size: s });
});

/** Take `[start, stop)` along one axis. */
export const sliceAxis = scoped(function sliceAxis(x: Tensor, axis: number, start: number, stop: number): Tensor {
  checkTensor('sliceAxis', 'x', x);
  const a = normalizeAxis('sliceAxis', axis, x.rank);
  // Python's [start:stop], negative bounds counting from the end. (Passing stop − start on as a size
  // would turn a reversed range into slice's "−1 = the rest of the axis".)
  const d = x.shape[a]!;
  const from = start < 0 ? start + d : start;
  const to = stop < 0 ? stop + d : stop;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > d) {
    throw new Error(`sliceAxis: [${start}, ${stop}) is not a range within axis ${a} of ${fmt(x.shape)}`);
  }
  const begin = x.shape.map((_, i) => (i === a ? from : 0));
  const size = x.shape.map((n, i) => (i === a ? to - from : n));
  return slice(x, begin, size);
});

export const concat = scoped(function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown)) throw new Error(`concat: the tensors must come as an array, got ${describeValue(xs)}`);
  if (xs.length === 0) throw new Error('concat: needs at least one tensor');
  xs.forEach((x, i) => checkTensor('concat', `xs[${i}]`, x));
  const a = normalizeAxis('concat', axis, xs[0]!.rank);
  if (xs.length === 1) return xs[0]!;
  return bind('concat', xs, { axis: a });
});

export const stack = scoped(function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown)) throw new Error(`stack: the tensors must come as an array, got ${describeValue(xs)}`);
  if (xs.length === 0) throw new Error('stack: needs at least one tensor');
  xs.forEach((x, i) => checkTensor('stack', `xs[${i}]`, x));
  const a = normalizeAxis('stack', axis, xs[0]!.rank + 1);
  for (const x of xs) {
    if (x.rank !== xs[0]!.rank || x.shape.some((d, i) => d !== xs[0]!.shape[i])) {
      throw new Error(`stack: shapes differ: ${xs.map((t) => fmt(t.shape)).join(', ')}`);
    }
  }
  return concat(xs.map((x) => expandDims(x, a)), a);
});

/** Split into pieces of the given sizes (or `n` equal pieces) along an axis. */
export const split = scoped(function split(x: Tensor, sizesOrCount: number | readonly number[], axis = 0): Tensor[] {
  checkTensor('split', 'x', x);
  const a = normalizeAxis('split', axis, x.rank);
  const d = x.shape[a]!;
  let sizes: number[];
  if (typeof sizesOrCount === 'number') {
    if (!Number.isInteger(sizesOrCount) || sizesOrCount < 1) throw new Error(`split: the number of pieces must be a positive integer, got ${sizesOrCount}`);
    if (d % sizesOrCount !== 0) throw new Error(`split: axis ${a} of size ${d} does not divide into ${sizesOrCount} pieces`);
    sizes = new Array(sizesOrCount).fill(d / sizesOrCount);
  } else sizes = [...sizesOrCount];
  if (sizes.some((v) => !Number.isInteger(v) || v < 0)) throw new Error(`split: sizes [${sizes}] must be non-negative integers`);
  if (sizes.reduce((s, v) => s + v, 0) !== d) throw new Error(`split: sizes [${sizes}] do not add up to ${d}`);
  let off = 0;
  return sizes.map((s) => {
    const r = sliceAxis(x, a, off, off + s);
    off += s;
    return r;
  });
});

/** Pad with a constant: `paddings[i] = [before, after]` for each axis. */
export const pad = scoped(function pad(x: Tensor, paddings: readonly (readonly [number, number])[], value = 0): Tensor {
  checkTensor('pad', 'x', x);
  if (paddings.length !== x.rank) throw new Error(`pad: need ${x.rank} [before, after] pairs for ${fmt(x.shape)}, got ${paddings.length}`);
  return padPrim(x, paddings.map((p) => p[0]), paddings.map((p) => p[1]), value);
});

/** @internal */
export function padPrim(x: Tensor, before: readonly number[], after: readonly number[], value: number): Tensor {
  if (before.every((v) => v === 0) && after.every((v) => v === 0)) return x;
  return bind('pad', [x], { before: [...before], after: [...after], value });
}

export const flip = scoped(function flip(x: Tensor, axes?: number | readonly number[]): Tensor {
  checkTensor('flip', 'x', x);
  const ax = normalizeAxes('flip', axes, x.rank);
  return ax.length ? bind('flip', [x], { axes: ax }) : x;
});

/** Gather along an axis with int32 indices of any shape (NumPy's `take`). Indices must be in range. */
export const take = scoped(function take(x: Tensor, indices: Tensor, axis = 0): Tensor {
  checkTensor('take', 'x', x);
  checkTensor('take', 'indices', indices);
  const a = normalizeAxis('take', axis, x.rank);
  return bind('gather', [x, cast(indices, 'int32')], { axis: a });
});

/** @internal the adjoint of take. */
export function scatterAddPrim(g: Tensor, indices: Tensor, axis: number, size: number): Tensor {
  return bind('scatterAdd', [g, indices], { axis, size });
}

/** Scatter-add `updates` into zeros of length `size` along `axis` (the adjoint of take). */
export const scatterAdd = scoped(function scatterAdd(updates: Tensor, indices: Tensor, size: number, axis = 0): Tensor {
  checkTensor('scatterAdd', 'updates', updates);
  checkTensor('scatterAdd', 'indices', indices);
  // `axis` names an axis of the result (as `take`'s names one of its input), whose rank is
  // updates.rank − indices.rank + 1: a scalar index adds an axis.
  return scatterAddPrim(updates, cast(indices, 'int32'), normalizeAxis('scatterAdd', axis, updates.rank - indices.rank + 1), size);
});

export const oneHot = scoped(function oneHot(indices: Tensor, depth: number): Tensor {
  checkTensor('oneHot', 'indices', indices);
  return cast(equal(expandDims(cast(indices, 'int32'), -1), arange(0, depth, 1, 'int32')), 'float32');
});

export const tile = scoped(function tile(x: Tensor, reps: readonly number[]): Tensor {
  checkTensor('tile', 'x', x);
  if (reps.length !== x.rank) throw new Error(`tile: need ${x.rank} repetitions for ${fmt(x.shape)}`);
  // Interleave a new axis of each repetition count before every axis, broadcast, and merge.
  const expanded = reshape(x, x.shape.flatMap((d) => [1, d]));
  const b = broadcastTo(expanded, x.shape.flatMap((d, i) => [reps[i]!, d]));
  return reshape(b, x.shape.map((d, i) => d * reps[i]!));
});

/** Repeat each element `n` times along an axis (nearest-neighbour upsampling uses this). */
export const repeat = scoped(function repeat(x: Tensor, n: number, axis: number): Tensor {
  checkTensor('repeat', 'x', x);
  if (!Number.isInteger(n) || n < 0) throw new Error(`repeat: n must be a non-negative integer, got ${n}`);
  const a = normalizeAxis('repeat', axis, x.rank);
  const s = [...x.shape];
  const e = expandDims(x, a + 1);
  const bs = [...e.shape];
  bs[a + 1] = n;
  s[a] = s[a]! * n;
  return reshape(broadcastTo(e, bs), s);
});
