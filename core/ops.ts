/**
 * The user-facing ops. Each is a short function that binds primitives (see `primitives.ts`); the
 * derivative of each primitive lives in `rules.ts`, so every op here is differentiable for free.
 */
import { checkDType, checkTensor, checkTensorLike } from './argument.js';
import { bytesPerElement, dtypeOfTypedArray, makeTypedArray, type DType, type TypedArray } from './dtype.js';
import { nest } from './format.js';
import { describeValue } from './pytree.js';
import type { Im2ColParams, PrimParams } from './primitives.js';
import { WINOGRAD, type WinogradTile } from './winograd.js';
import { broadcastShapes, fmt, normalizeAxes, normalizeAxis, sizeOf, assertShape, type Shape } from './shape.js';
import { getBackend, getBackendName, setBackend } from './backendRegistry.js';
import { newStorage, scoped, Tensor } from './tensor.js';
import { bind, customVjp, stopGradient } from './trace.js';

export type NestedArray = number | boolean | readonly NestedArray[];
export type TensorLike = Tensor | number;

// ---------------------------------------------------------------- creation

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as NestedArray;
  }
  return shape;
}

function flatten(values: NestedArray, out: number[], shape: readonly number[], depth: number): void {
  if (Array.isArray(values)) {
    if (values.length !== shape[depth]) throw new Error(`tensor: ragged nested array: expected ${shape[depth]} entries at depth ${depth}, got ${values.length}`);
    for (const x of values) flatten(x, out, shape, depth + 1);
  } else {
    if (depth !== shape.length) throw new Error('tensor: ragged nested array');
    if (typeof values === 'number') out.push(values);
    else if (typeof values === 'boolean') out.push(Number(values));
    else throw new Error(`tensor: element ${out.length} (in row-major order) is ${describeValue(values)}; values must be numbers or booleans${values instanceof Tensor ? ' (join tensors with stack or concat)' : ''}`);
  }
}

/** Make a tensor from host values on the current backend. */
export function fromArray(data: TypedArray, shape: Shape, dtype: DType): Tensor {
  checkDType('tensor', dtype);
  assertShape('tensor', shape);
  if (data.length !== sizeOf(shape)) throw new Error(`tensor: ${data.length} values do not fill shape ${fmt(shape)} (${sizeOf(shape)} elements)`);
  const backend = getBackend();
  const buffer = backend.upload(data, dtype);
  return new Tensor(newStorage(backend, buffer, data.length, dtype), shape, dtype);
}

/**
 * `tensor(values, shape?, dtype?)`: from a number, a nested array or a typed array. The dtype
 * defaults to float32 for numbers, bool for booleans, and for a typed array to the dtype that keeps
 * its numbers (`dtypeOfTypedArray`: integer arrays such as image bytes become int32, never bool).
 */
export function tensor(values: NestedArray | TypedArray | ArrayBufferView, shape?: Shape, dtype?: DType): Tensor {
  if (dtype !== undefined) checkDType('tensor', dtype);
  if (ArrayBuffer.isView(values)) {
    const d: DType = dtype ?? dtypeOfTypedArray('tensor', values);
    const arr = makeTypedArray(d, (values as TypedArray).length);
    arr.set(values as TypedArray);
    return fromArray(arr, shape ?? [arr.length], d);
  }
  if (typeof values !== 'number' && typeof values !== 'boolean' && !Array.isArray(values)) {
    throw new Error(`tensor: values are ${describeValue(values)}; pass a number, a boolean, a nested array of them or a typed array${values instanceof Tensor ? ' (it is a tensor already)' : ''}`);
  }
  const inferred = inferShape(values as NestedArray);
  const flat: number[] = [];
  flatten(values as NestedArray, flat, inferred, 0);
  let leaf: NestedArray = values as NestedArray;
  while (Array.isArray(leaf)) leaf = leaf[0] as NestedArray;
  const d: DType = dtype ?? (typeof leaf === 'boolean' ? 'bool' : 'float32');
  const arr = makeTypedArray(d, flat.length);
  for (let i = 0; i < flat.length; i++) arr[i] = flat[i]!;
  return fromArray(arr, shape ?? inferred, d);
}

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`scalar: the value is ${describeValue(value)}, not a number`);
  checkDType('scalar', dtype);
  const arr = makeTypedArray(dtype, 1);
  arr[0] = value;
  return fromArray(arr, [], dtype);
}

export const full = scoped(function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  assertShape('full', shape);
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`full: the value is ${describeValue(value)}, not a number`);
  checkDType('full', dtype);
  // The scalar is spent at once (no tape tracks it), so `zeros`/`ones` outside tidy leave only their result.
  const s = scalar(value, dtype);
  const out = bind('broadcast', [s], { shape: [...shape] });
  s.dispose();
  return out;
});

export const zeros = (shape: Shape, dtype: DType = 'float32'): Tensor => (checkDType('zeros', dtype), full(shape, 0, dtype));
export const ones = (shape: Shape, dtype: DType = 'float32'): Tensor => (checkDType('ones', dtype), full(shape, 1, dtype));
export const zerosLike = (x: Tensor): Tensor => (checkTensor('zerosLike', 'x', x), full(x.shape, 0, x.dtype));
export const onesLike = (x: Tensor): Tensor => (checkTensor('onesLike', 'x', x), full(x.shape, 1, x.dtype));

/** `arange(n)` or `arange(start, stop, step?)`, float32 unless a dtype is given. */
export const arange = scoped(function arange(startOrN: number, stop?: number, step = 1, dtype: DType = 'float32'): Tensor {
  const [start, end] = stop === undefined ? [0, startOrN] : [startOrN, stop];
  if (step === 0) throw new Error('arange: step must not be 0');
  checkDType('arange', dtype);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const arr = makeTypedArray(dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return fromArray(arr, [n], dtype);
});

export const linspace = scoped(function linspace(start: number, stop: number, num: number): Tensor {
  const arr = new Float32Array(num);
  for (let i = 0; i < num; i++) arr[i] = num === 1 ? start : start + ((stop - start) * i) / (num - 1);
  return fromArray(arr, [num], 'float32');
});

export const eye = scoped(function eye(n: number): Tensor {
  const arr = new Float32Array(n * n);
  for (let i = 0; i < n; i++) arr[i * n + i] = 1;
  return fromArray(arr, [n, n], 'float32');
});

/** Values of a tensor, flattened. */
export function toArray(t: Tensor): Promise<TypedArray> {
  return t.toArray();
}

/** A nested-array copy of the values, shaped like the tensor (numbers, or booleans for bool). */
export async function toNested(t: Tensor): Promise<NestedArray> {
  checkTensor('toNested', 't', t);
  return nest(await t.toArray(), t.shape, t.dtype);
}

/** Copy a tensor to another backend's memory. */
export async function toBackend(t: Tensor, backendName: string): Promise<Tensor> {
  const prev = getBackendName();
  const data = await t.toArray();
  await setBackend(backendName);
  try {
    return fromArray(data, t.shape, t.dtype);
  } finally {
    await setBackend(prev);
  }
}

// ---------------------------------------------------------------- element-wise

function lift(x: TensorLike, like: Tensor): Tensor {
  return x instanceof Tensor ? x : scalar(x, like.dtype);
}

const binaryOp = scoped(function binaryOp(prim: 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'mod' | 'bitand' | 'bitor' | 'bitxor' | 'shl' | 'shr' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: TensorLike, b: TensorLike): Tensor {
  if (!(a instanceof Tensor)) checkTensorLike(prim, 'a', a);
  if (!(b instanceof Tensor)) checkTensorLike(prim, 'b', b);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) return bind(prim, [scalar(a), scalar(b)], {});
  const ta = a instanceof Tensor ? a : lift(a, b as Tensor);
  const tb = b instanceof Tensor ? b : lift(b, ta);
  return bind(prim, [ta, tb], {});
});

export const add = (a: TensorLike, b: TensorLike): Tensor => binaryOp('add', a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binaryOp('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binaryOp('mul', a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => binaryOp('div', a, b);
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binaryOp('max', a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binaryOp('min', a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binaryOp('pow', a, b);
/** Floored modulo (sign of the divisor), as Python and NumPy. */
export const mod = (a: TensorLike, b: TensorLike): Tensor => binaryOp('mod', a, b);
export const bitwiseAnd = (a: TensorLike, b: TensorLike): Tensor => binaryOp('bitand', a, b);
export const bitwiseOr = (a: TensorLike, b: TensorLike): Tensor => binaryOp('bitor', a, b);
export const bitwiseXor = (a: TensorLike, b: TensorLike): Tensor => binaryOp('bitxor', a, b);
export const shiftLeft = (a: TensorLike, b: TensorLike): Tensor => binaryOp('shl', a, b);
export const shiftRight = (a: TensorLike, b: TensorLike): Tensor => binaryOp('shr', a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binaryOp('eq', a, b);
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('ne', a, b);
export const less = (a: TensorLike, b: TensorLike): Tensor => binaryOp('lt', a, b);
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('le', a, b);
export const greater = (a: TensorLike, b: TensorLike): Tensor => binaryOp('gt', a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('ge', a, b);

export const logicalAnd = (a: Tensor, b: Tensor): Tensor => binaryOp('bitand', a, b);
export const logicalOr = (a: Tensor, b: Tensor): Tensor => binaryOp('bitor', a, b);
export const logicalNot = scoped((a: Tensor): Tensor => equal(a, scalar(0, 'bool')));

export const neg = (x: Tensor): Tensor => bind('neg', [x], {});
export const exp = (x: Tensor): Tensor => bind('exp', [x], {});
export const log = (x: Tensor): Tensor => bind('log', [x], {});
/** exp(x) − 1 without cancellation near 0. */
export const expm1 = (x: Tensor): Tensor => bind('expm1', [x], {});
/** log(1 + x) without cancellation near 0. */
export const log1p = (x: Tensor): Tensor => bind('log1p', [x], {});
export const sin = (x: Tensor): Tensor => bind('sin', [x], {});
export const cos = (x: Tensor): Tensor => bind('cos', [x], {});
export const tanh = (x: Tensor): Tensor => bind('tanh', [x], {});
export const sqrt = (x: Tensor): Tensor => bind('sqrt', [x], {});
export const erf = (x: Tensor): Tensor => bind('erf', [x], {});
export const erfinv = (x: Tensor): Tensor => bind('erfinv', [x], {});
export const floor = (x: Tensor): Tensor => bind('floor', [x], {});
export const abs = (x: Tensor): Tensor => bind('abs', [x], {});
export const sign = (x: Tensor): Tensor => bind('sign', [x], {});
export const sigmoid = (x: Tensor): Tensor => bind('sigmoid', [x], {});
export const square = (x: Tensor): Tensor => (checkTensor('square', 'x', x), mul(x, x));
export const reciprocal = (x: Tensor): Tensor => (checkTensor('reciprocal', 'x', x), div(1, x));
export const rsqrt = scoped((x: Tensor): Tensor => (checkTensor('rsqrt', 'x', x), reciprocal(sqrt(x))));
export const ceil = scoped((x: Tensor): Tensor => (checkTensor('ceil', 'x', x), neg(floor(neg(x)))));

/** ReLU with derivative 0 at 0 (PyTorch's convention). */
export const relu = scoped((x: Tensor): Tensor => (checkTensor('relu', 'x', x), where(greater(x, 0), x, 0)));
/** The exact GELU, x Φ(x) = x (1 + erf(x/√2)) / 2 (PyTorch's default `approximate='none'`). */
export const gelu = scoped((x: Tensor): Tensor => (checkTensor('gelu', 'x', x), mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1))));
/** The tanh approximation of GELU (`approximate='tanh'`). */
export const geluTanh = scoped((x: Tensor): Tensor => (checkTensor('geluTanh', 'x', x), mul(mul(x, 0.5), add(tanh(mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1))));
export const silu = scoped((x: Tensor): Tensor => (checkTensor('silu', 'x', x), mul(x, sigmoid(x))));
/** log(1 + eˣ), written max(x, 0) + log1p(e^−|x|) so it neither overflows nor loses small values. */
export const softplus = scoped((x: Tensor): Tensor => (checkTensor('softplus', 'x', x), add(maximum(x, 0), log1p(exp(neg(abs(x)))))));
export const logSigmoid = scoped((x: Tensor): Tensor => (checkTensor('logSigmoid', 'x', x), neg(softplus(neg(x)))));

export const clip = scoped(function clip(x: Tensor, lo: number, hi: number): Tensor {
  checkTensor('clip', 'x', x);
  if (lo > hi) throw new Error(`clip: lower bound ${lo} exceeds upper bound ${hi}`);
  return minimum(maximum(x, lo), hi);
});

/** where(cond, a, b): `a` where cond is true, else `b`; all three broadcast. */
export const where = scoped(function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  checkTensor('where', 'cond', cond);
  if (!(a instanceof Tensor)) checkTensorLike('where', 'a', a);
  if (!(b instanceof Tensor)) checkTensorLike('where', 'b', b);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  const ta = a instanceof Tensor ? a : like ? lift(a, like) : scalar(a);
  const tb = b instanceof Tensor ? b : lift(b, ta);
  return bind('where', [cond, ta, tb], {});
});

export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor('cast', 'x', x);
  checkDType('cast', dtype);
  return x.dtype === dtype ? x : bind('cast', [x], { dtype });
}

export function bitcast(x: Tensor, dtype: DType): Tensor {
  checkTensor('bitcast', 'x', x);
  checkDType('bitcast', dtype);
  if (bytesPerElement(x.dtype) !== 4 || bytesPerElement(dtype) !== 4) throw new Error(`bitcast: only between 32-bit dtypes, got ${x.dtype} → ${dtype}`);
  return x.dtype === dtype ? x : bind('bitcast', [x], { dtype });
}

/** NaN test on the bits (exponent all ones, mantissa non-zero), so it behaves the same on every backend. */
export const isNaN = scoped(function isNaN(x: Tensor): Tensor {
  checkTensor('isNaN', 'x', x);
  const bits = bitwiseAnd(bitcast(x, 'uint32'), scalar(0x7fffffff, 'uint32'));
  return greater(bits, scalar(0x7f800000, 'uint32'));
});

/** Finite test on the bits: the exponent is not all ones. */
export const isFinite = scoped(function isFinite(x: Tensor): Tensor {
  checkTensor('isFinite', 'x', x);
  const bits = bitwiseAnd(bitcast(x, 'uint32'), scalar(0x7f800000, 'uint32'));
  return notEqual(bits, scalar(0x7f800000, 'uint32'));
});

// ---------------------------------------------------------------- reductions

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


// ---------------------------------------------------------------- shapes

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

// ---------------------------------------------------------------- linear algebra

/** @internal the rank-3 primitive with transpose flags. */
export function matmulPrim(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  return bind('matmul', [a, b], { transA, transB });
}

/**
 * Matrix product with NumPy semantics: `[..., M, K] @ [..., K, N]`, leading axes broadcast; a rank-1
 * operand is a row (left) or column (right) vector.
 */
export const matmul = scoped(function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: operands must have rank ≥ 1, got ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const [m, k] = a2.shape.slice(-2) as [number, number];
  const [k2, n] = b2.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  const aLead = a2.shape.slice(0, -2);
  const bLead = b2.shape.slice(0, -2);
  let out: Tensor;
  let lead: number[];
  if (bLead.length === 0) {
    // The common layer case: fold every leading axis of a into M.
    lead = aLead;
    out = matmulPrim(reshape(a2, [1, sizeOf(aLead) * m, k]), reshape(b2, [1, k, n]), false, false);
  } else {
    lead = broadcastShapes(`matmul: batch dimensions of ${fmt(a.shape)} @ ${fmt(b.shape)}`, aLead, bLead);
    const batch = sizeOf(lead);
    const as3 = sizeOf(aLead) === batch && aLead.length === lead.length ? reshape(a2, [batch, m, k]) : sizeOf(aLead) === 1 ? reshape(a2, [1, m, k]) : reshape(broadcastTo(a2, [...lead, m, k]), [batch, m, k]);
    const bs3 = sizeOf(bLead) === batch && bLead.length === lead.length ? reshape(b2, [batch, k, n]) : sizeOf(bLead) === 1 ? reshape(b2, [1, k, n]) : reshape(broadcastTo(b2, [...lead, k, n]), [batch, k, n]);
    out = matmulPrim(as3, bs3, false, false);
  }
  const shape = [...lead, m, n];
  if (a.rank === 1) shape.splice(shape.length - 2, 1);
  if (b.rank === 1) shape.splice(shape.length - 1, 1);
  return reshape(out, shape);
});

export const dot = scoped(function dot(a: Tensor, b: Tensor): Tensor {
  checkTensor('dot', 'a', a);
  checkTensor('dot', 'b', b);
  return matmul(a, b);
});

export type Padding = 'same' | 'valid' | number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: Padding;
  dilation?: number | readonly [number, number];
  /**
   * How to compute it. 'im2col': patches and one matmul (any kernel). 'winograd4x4': Winograd's
   * F(4×4, 3×3), 4× fewer multiply-adds in each of the three products of a training step;
   * 'winograd': F(2×2, 3×3), 2.25× fewer. Both round differently from im2col (sums of transformed
   * terms instead of the 9·C products): F(2×2)'s errors stay at a few float32 ulps of the output's
   * scale, F(4×4)'s are ~10× larger (its transforms scale terms by up to ~10², so a relative error
   * near 1e-5, as cuDNN's and oneDNN's F(4×4) kernels have); only 3×3 kernels with stride and dilation 1.
   * 'auto' (the default): Winograd where it applies and both channel counts are at least
   * WINOGRAD_MIN_CHANNELS, F(4×4) unless the output is smaller than its 4×4 tiles.
   */
  algorithm?: ConvAlgorithm;
}

/**
 * 'auto' uses Winograd for 3×3 convolutions with at least this many input and output channels.
 * Measured on the 2-core Zen 5 machine (bench/convAlgorithms.ts: wasm, one thread, CPU time, a
 * training step's three products, im2col time / F(4×4) time; bench/RESULTS.md): 4 → 16 channels
 * 1.15×, 16 → 4 1.41×, 16 → 16 1.50×, 64 → 12 2.06×, 64 → 64 2.28×, 256 → 128 2.87×; the 1-channel stem
 * loses (0.90×: the transforms cost per channel what the fewer multiply-adds no longer repay).
 */
export const WINOGRAD_MIN_CHANNELS = 4;

/** The tile 'auto' takes: F(4×4, 3×3), or F(2×2, 3×3) for an output smaller than a 4×4 tile (whose overhang would be mostly waste). */
function autoWinogradTile(outHeight: number, outWidth: number): WinogradTile {
  return outHeight >= 4 && outWidth >= 4 ? 4 : 2;
}

export type ConvAlgorithm = 'auto' | 'im2col' | 'winograd' | 'winograd4x4';
let defaultConvAlgorithm: ConvAlgorithm = 'auto';

/** `lead` starts the message: "setConvAlgorithm: expected", "conv2d: algorithm must be". */
function checkConvAlgorithm(lead: string, algorithm: ConvAlgorithm): void {
  if (algorithm !== 'auto' && algorithm !== 'im2col' && algorithm !== 'winograd' && algorithm !== 'winograd4x4') throw new Error(`${lead} 'auto', 'im2col', 'winograd' or 'winograd4x4', got ${String(algorithm)}`);
}

/**
 * The algorithm conv2d uses when a call does not name one (PyTorch's `torch.backends` switches play
 * this part): 'auto' (the default), 'im2col' (the exact summation order of earlier releases) or
 * 'winograd' (where it applies; elsewhere such calls fall back to im2col). Returns the previous one.
 */
export function setConvAlgorithm(algorithm: ConvAlgorithm): ConvAlgorithm {
  checkConvAlgorithm('setConvAlgorithm: expected', algorithm);
  const previous = defaultConvAlgorithm;
  defaultConvAlgorithm = algorithm;
  return previous;
}

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Resolve a padding spec into [top, bottom, left, right] (TensorFlow's rule for 'same'). */
export function resolvePadding(padding: Padding, h: number, w: number, kh: number, kw: number, sh: number, sw: number, dh = 1, dw = 1): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const ekh = (kh - 1) * dh + 1;
    const ekw = (kw - 1) * dw + 1;
    const ph = Math.max((Math.ceil(h / sh) - 1) * sh + ekh - h, 0);
    const pw = Math.max((Math.ceil(w / sw) - 1) * sw + ekw - w, 0);
    return [Math.floor(ph / 2), ph - Math.floor(ph / 2), Math.floor(pw / 2), pw - Math.floor(pw / 2)];
  }
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (typeof padding[0] === 'number') {
    const [ph, pw] = padding as readonly [number, number];
    return [ph, ph, pw, pw];
  }
  const [[t, b], [l, r]] = padding as readonly [readonly [number, number], readonly [number, number]];
  return [t, b, l, r];
}

/** @internal */
export function im2colPrim(x: Tensor, p: Im2ColParams): Tensor {
  return bind('im2col', [x], p);
}

/** @internal */
export function col2imPrim(x: Tensor, p: PrimParams['col2im']): Tensor {
  return bind('col2im', [x], p);
}

/**
 * 2-D convolution (cross-correlation, as in every framework): `x` is NHWC, `w` is HWIO
 * ([kernelHeight, kernelWidth, inChannels, outChannels]). Computed as im2col followed by one matmul.
 */
export const conv2d = scoped(function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkTensor('conv2d', 'x', x);
  checkTensor('conv2d', 'w', w);
  if (x.rank !== 4) throw new Error(`conv2d: input must be NHWC (rank 4), got ${fmt(x.shape)}`);
  if (w.rank !== 4) throw new Error(`conv2d: weights must be HWIO (rank 4), got ${fmt(w.shape)}`);
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  if (ci !== c) throw new Error(`conv2d: input has ${c} channels but the weights expect ${ci}: ${fmt(x.shape)} * ${fmt(w.shape)}`);
  const [sh, sw] = pair(options.stride ?? 1);
  const [dh, dw] = pair(options.dilation ?? 1);
  for (const [what, v] of [['stride', sh], ['stride', sw], ['dilation', dh], ['dilation', dw]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`conv2d: ${what} must be a positive integer, got ${v}`);
  }
  const [pt, pb, pl, pr] = resolvePadding(options.padding ?? 'valid', h, wd, kh, kw, sh, sw, dh, dw);
  const outHeight = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
  const outWidth = Math.floor((wd + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
  if (outHeight <= 0 || outWidth <= 0) throw new Error(`conv2d: kernel ${kh}×${kw} does not fit input ${h}×${wd} with this padding`);
  const named = options.algorithm !== undefined;
  const algorithm = options.algorithm ?? defaultConvAlgorithm;
  checkConvAlgorithm('conv2d: algorithm must be', algorithm);
  const winogradFits = kh === 3 && kw === 3 && sh === 1 && sw === 1 && dh === 1 && dw === 1;
  const winograd = algorithm === 'winograd' || algorithm === 'winograd4x4';
  if (winograd && !winogradFits && named) throw new Error(`conv2d: algorithm '${algorithm}' needs a 3×3 kernel with stride 1 and dilation 1, got ${kh}×${kw}, stride ${sh}×${sw}, dilation ${dh}×${dw}; use 'im2col' or 'auto'`);
  if (winogradFits && (winograd || (algorithm === 'auto' && c >= WINOGRAD_MIN_CHANNELS && co >= WINOGRAD_MIN_CHANNELS))) {
    const tile = algorithm === 'winograd' ? 2 : algorithm === 'winograd4x4' ? 4 : autoWinogradTile(outHeight, outWidth);
    return convWinograd(x, winogradFilter(w, tile), { tile, top: pt, left: pl, outHeight, outWidth });
  }
  const w2 = reshape(w, [1, kh * kw * c, co]);
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && pb === 0 && pr === 0) {
    return reshape(matmulPrim(reshape(x, [1, n * h * wd, c]), w2, false, false), [n, outHeight, outWidth, co]);
  }
  const p: Im2ColParams = { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight, outWidth, dilationHeight: dh, dilationWidth: dw };
  // The patch matrix is kh·kw times the input: under `grad` it is rebuilt in the backward pass
  // (checkpoint) instead of kept from the forward pass, which dominated a training step's memory.
  const y = convPatches(x, w2, p);
  return reshape(y, [n, outHeight, outWidth, co]);
});

/**
 * im2col + matmul as one step of the tape: its backward pass rebuilds the patches from `x` (one
 * im2col) for the weights' cotangent instead of keeping them from the forward pass, so a training
 * step holds each convolution's input, not its kh·kw times larger patch matrix.
 */
const convPatches = customVjp(
  (x: Tensor, w2: Tensor, p: Im2ColParams): Tensor => matmulPrim(patchMatrix(x, p), w2, false, false),
  ([x, w2, p], [g], wanted) => [
    wanted[0] ? col2imPrim(reshape(matmulPrim(g!, w2, false, true), [x.shape[0]!, p.outHeight, p.outWidth, w2.shape[1]!]), { ...p, height: x.shape[1]!, width: x.shape[2]! }) : null,
    wanted[1] ? matmulPrim(patchMatrix(x, p), g!, true, false) : null,
  ],
);

/** @internal */
export function winogradInPrim(x: Tensor, p: PrimParams['winogradIn']): Tensor {
  return bind('winogradIn', [x], p);
}

/** @internal */
export function winogradOutPrim(x: Tensor, p: PrimParams['winogradOut']): Tensor {
  return bind('winogradOut', [x], p);
}

/** The filter transform U = G g Gᵀ of HWIO 3×3 weights, as [α², Cin, Cout] (entry (a, b) in row α·a + b). */
function winogradFilter(w: Tensor, tile: WinogradTile): Tensor {
  const [, , ci, co] = w.shape as [number, number, number, number];
  const alpha = tile + 2;
  const g = fromArray(new Float32Array(WINOGRAD[tile].g), [1, alpha, 3], 'float32');
  // Rows: t[a, j] = Σ_i G[a, i] w[i, j]; then columns: U[b, a] = Σ_j G[b, j] t[a, j].
  const t = matmulPrim(g, reshape(w, [1, 3, 3 * ci * co]), false, false);
  const tj = reshape(transpose(reshape(t, [alpha, 3, ci * co]), [1, 0, 2]), [1, 3, alpha * ci * co]);
  const u = reshape(matmulPrim(g, tj, false, false), [alpha, alpha, ci, co]);
  return reshape(transpose(u, [1, 0, 2, 3]), [alpha * alpha, ci, co]);
}

/** The padding before the image (the tiles' overhang and `outHeight`/`outWidth` fix the rest), and the output tile. */
interface WinogradConv {
  tile: WinogradTile;
  top: number;
  left: number;
  outHeight: number;
  outWidth: number;
}

/** Tiles covering the output (the last row and column of tiles may overhang it by up to m − 1). */
function winogradGeometry(x: Tensor, p: WinogradConv): { inP: PrimParams['winogradIn']; outP: PrimParams['winogradOut'] } {
  const [n, h, w] = x.shape as [number, number, number, number];
  const th = Math.ceil(p.outHeight / p.tile);
  const tw = Math.ceil(p.outWidth / p.tile);
  return {
    inP: { tile: p.tile, batch: n, height: h, width: w, padTop: p.top, padLeft: p.left, tilesHigh: th, tilesWide: tw, adjoint: false },
    outP: { tile: p.tile, batch: n, tilesHigh: th, tilesWide: tw, adjoint: false },
  };
}

/**
 * conv2d by Winograd F(m×m, 3×3): transform the (implicitly zero-padded) tiles, α² matmuls,
 * transform back. One step of the tape, like convPatches: the backward pass recomputes the
 * transformed input (cheap) instead of keeping it (α²/m² times the input), so a step holds x and U
 * only. Its products are Winograd's too: dx is the data transform's adjoint of dM·Uᵀ, dU = Vᵀ·dM,
 * with dM the output transform's adjoint of g.
 */
const convWinograd = customVjp(
  (x: Tensor, u: Tensor, p: WinogradConv): Tensor => {
    const { inP, outP } = winogradGeometry(x, p);
    const y = winogradOutPrim(matmulPrim(winogradInPrim(x, inP), u, false, false), outP);
    return y.shape[1] === p.outHeight && y.shape[2] === p.outWidth ? y : slice(y, [0, 0, 0, 0], [y.shape[0]!, p.outHeight, p.outWidth, y.shape[3]!]);
  },
  ([x, u, p], [g], wanted) => {
    const { inP, outP } = winogradGeometry(x, p);
    const full = padPrim(g!, [0, 0, 0, 0], [0, p.tile * outP.tilesHigh - p.outHeight, p.tile * outP.tilesWide - p.outWidth, 0], 0);
    const dm = winogradOutPrim(full, { ...outP, adjoint: true });
    return [
      wanted[0] ? winogradInPrim(matmulPrim(dm, u, false, true), { ...inP, adjoint: true }) : null,
      wanted[1] ? matmulPrim(winogradInPrim(x, inP), dm, true, false) : null,
    ];
  },
);

function patchMatrix(x: Tensor, p: Im2ColParams): Tensor {
  return reshape(im2colPrim(x, p), [1, x.shape[0]! * p.outHeight * p.outWidth, p.kernelHeight * p.kernelWidth * x.shape[3]!]);
}
