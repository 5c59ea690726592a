/**
 * The WebGPU backend's kernel table: one entry per backend primitive, typed so that a missing kernel
 * is a compile error. Each kernel records its dispatches on the engine and returns the output buffer
 * at once; the GPU runs it when the batch is submitted. The element-wise primitives are also given as
 * expressions (`expressions`), which the fuser composes instead of dispatching one by one.
 */
import type { BackendPrim, BufferInfo, DType, OutputInfo, PrimParams } from '../../core/index.js';
import { binaryExpr, bitwiseExpr, castExpr, castLoadType, compareExpr, elementwise, threefryKernel, unaryExpr, type ElementwiseSpec } from './elementwise.js';
import type { Engine, GpuHandle } from './engine.js';
import * as layout from './layout.js';
import * as winograd from './winograd.js';
import { matmul } from './matmul.js';
import { argmax, cumsum, reduce } from './reduce.js';

export type GpuKernel<P extends BackendPrim> = (e: Engine, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo) => GpuHandle;

/** The primitives that are one expression per output element: what `fusion.ts` composes. */
export type ElementwisePrim =
  | 'neg' | 'exp' | 'log' | 'expm1' | 'log1p' | 'sin' | 'cos' | 'tanh' | 'sqrt' | 'erf' | 'erfinv' | 'floor' | 'abs' | 'sign' | 'sigmoid'
  | 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'mod'
  | 'bitand' | 'bitor' | 'bitxor' | 'shl' | 'shr'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  | 'where' | 'cast' | 'bitcast';

/** An element-wise primitive as an expression over its inputs' dtypes; null: the output has the input's bits (no kernel). */
export type ExpressionRule<P extends ElementwisePrim> = (inputs: readonly { readonly dtype: DType }[], params: PrimParams[P], out: OutputInfo) => ElementwiseSpec | null;

const unary = <P extends ElementwisePrim>(prim: P): ExpressionRule<P> => ([x], _p, out) =>
  ({ name: `${prim}:${x!.dtype}`, inTypes: [x!.dtype], expr: unaryExpr(prim, x!.dtype), outType: out.dtype });

const binary = <P extends ElementwisePrim>(prim: P): ExpressionRule<P> => ([a, b], _p, out) =>
  ({ name: `${prim}:${a!.dtype}`, inTypes: [a!.dtype, b!.dtype], expr: binaryExpr(prim, a!.dtype), outType: out.dtype });

const bitwise = <P extends ElementwisePrim>(prim: P): ExpressionRule<P> => ([a]) => {
  const { expr, inType } = bitwiseExpr(prim, a!.dtype);
  return { name: `${prim}:${a!.dtype === 'int32' && prim === 'shr' ? 'i' : 'u'}`, inTypes: [inType, inType], expr, outType: 'uint32' };
};

const compare = <P extends ElementwisePrim>(prim: P): ExpressionRule<P> => ([a]) => {
  const t: DType = a!.dtype === 'bool' ? 'uint32' : a!.dtype;
  return { name: `${prim}:${t}`, inTypes: [t, t], expr: compareExpr(prim, t), outType: 'uint32' };
};

export const expressions: { [P in ElementwisePrim]: ExpressionRule<P> } = {
  neg: unary('neg'), exp: unary('exp'), log: unary('log'), expm1: unary('expm1'), log1p: unary('log1p'),
  sin: unary('sin'), cos: unary('cos'), tanh: unary('tanh'), sqrt: unary('sqrt'), erf: unary('erf'),
  erfinv: unary('erfinv'), floor: unary('floor'), abs: unary('abs'), sign: unary('sign'), sigmoid: unary('sigmoid'),
  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), max: binary('max'),
  min: binary('min'), pow: binary('pow'), mod: binary('mod'),
  bitand: bitwise('bitand'), bitor: bitwise('bitor'), bitxor: bitwise('bitxor'), shl: bitwise('shl'), shr: bitwise('shr'),
  eq: compare('eq'), ne: compare('ne'), lt: compare('lt'), le: compare('le'), gt: compare('gt'), ge: compare('ge'),
  // where(cond, a, b) picks raw words: one pipeline for every dtype.
  where: () => ({ name: 'where', inTypes: ['uint32', 'uint32', 'uint32'], expr: 'select(c, b, a != 0u)', outType: 'uint32' }),
  cast: ([x], { dtype }) => {
    const expr = castExpr(x!.dtype, dtype);
    // Same bits (int32 ↔ uint32, bool → int): share the buffer.
    return expr === null ? null : { name: `cast:${x!.dtype}:${dtype}`, inTypes: [castLoadType(x!.dtype, dtype)], expr, outType: dtype };
  },
  bitcast: () => null,
};

export function isElementwise(prim: BackendPrim): prim is ElementwisePrim {
  return Object.hasOwn(expressions, prim);
}

/** One dispatch per element-wise primitive (the kernels when fusion is off). */
const direct = <P extends ElementwisePrim>(prim: P): GpuKernel<P> => (e, inputs, params, out) => {
  const spec = expressions[prim](inputs, params, out);
  return spec === null ? e.alias(inputs[0]!.buffer as GpuHandle) : elementwise(e, spec, inputs, out.shape);
};

export const kernels: { [P in BackendPrim]: GpuKernel<P> } = {
  neg: direct('neg'), exp: direct('exp'), log: direct('log'), expm1: direct('expm1'), log1p: direct('log1p'),
  sin: direct('sin'), cos: direct('cos'), tanh: direct('tanh'), sqrt: direct('sqrt'), erf: direct('erf'),
  erfinv: direct('erfinv'), floor: direct('floor'), abs: direct('abs'), sign: direct('sign'), sigmoid: direct('sigmoid'),
  add: direct('add'), sub: direct('sub'), mul: direct('mul'), div: direct('div'), max: direct('max'),
  min: direct('min'), pow: direct('pow'), mod: direct('mod'),
  bitand: direct('bitand'), bitor: direct('bitor'), bitxor: direct('bitxor'), shl: direct('shl'), shr: direct('shr'),
  eq: direct('eq'), ne: direct('ne'), lt: direct('lt'), le: direct('le'), gt: direct('gt'), ge: direct('ge'),
  where: direct('where'), cast: direct('cast'), bitcast: direct('bitcast'),
  sum: (e, [x], { axes }) => reduce(e, x!, axes, 'sum', x!.dtype),
  reduceMax: (e, [x], { axes }) => reduce(e, x!, axes, 'max', x!.dtype === 'bool' ? 'uint32' : x!.dtype),
  argmax: (e, [x], { axis }) => argmax(e, x!, axis, x!.dtype === 'bool' ? 'uint32' : x!.dtype),
  cumsum: (e, [x], { axis, reverse }) => cumsum(e, x!, axis, reverse, x!.dtype),
  matmul: (e, [a, b], p, out) => matmul(e, a!, b!, p, out.shape),
  im2col: (e, [x], p, out) => layout.im2col(e, x!, p, out.shape),
  col2im: (e, [x], p, out) => layout.col2im(e, x!, p, out.shape, out.dtype),
  winogradIn: (e, [x], p, out) => winograd.winogradIn(e, x!, p, out.shape),
  winogradOut: (e, [x], p, out) => winograd.winogradOut(e, x!, p, out.shape),
  transpose: (e, [x], { perm }) => layout.transpose(e, x!, perm),
  broadcast: (e, [x], { shape }) => layout.broadcast(e, x!, shape),
  slice: (e, [x], p) => layout.slice(e, x!, p),
  pad: (e, [x], p, out) => layout.pad(e, x!, p, out.shape, out.dtype),
  concat: (e, xs, p, out) => layout.concat(e, xs, p, out.shape),
  flip: (e, [x], p) => layout.flip(e, x!, p),
  gather: (e, [x, idx], p, out) => layout.gather(e, x!, idx!, p, out.shape),
  scatterAdd: (e, [g, idx], p, out) => layout.scatterAdd(e, g!, idx!, p, out.shape, out.dtype),
  threefry2x32: (e, xs, _p, out) => threefryKernel(e, xs, out.shape),
};
