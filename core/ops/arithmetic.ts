/**
 * The user ops, element-wise: arithmetic with NumPy broadcasting, comparisons, bit ops, unary math, activations.
 * Each binds primitives (`primitives.ts`) through the tape; the derivative of every primitive is in
 * `rules.ts`, so each op is differentiable. `core/ops.ts` re-exports every family.
 */
import { checkDType, checkTensor, checkTensorLike } from '../argument.js';
import { bytesPerElement, type DType } from '../dtype.js';
import { scoped, Tensor } from '../tensor.js';
import { bind } from '../trace.js';
import { scalar, type TensorLike } from './creation.js';

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
