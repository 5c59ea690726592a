/**
 * The WebGPU backend's kernel table: one entry per backend primitive, typed so that a missing kernel
 * is a compile error. Each kernel records its dispatches on the engine and returns the output buffer
 * at once; the GPU runs it when the batch is submitted.
 */
import type { BackendPrim, BufferInfo, DType, OutputInfo, PrimParams } from '../../core';
import { binaryExpr, bitwiseExpr, castExpr, castLoadType, compareExpr, elementwise, threefryKernel, unaryExpr } from './elementwise';
import type { Engine, GpuHandle } from './engine';
import * as layout from './layout';
import { matmul } from './matmul';
import { argmax, cumsum, reduce } from './reduce';

export type GpuKernel<P extends BackendPrim> = (e: Engine, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo) => GpuHandle;

const unary = <P extends BackendPrim>(prim: P): GpuKernel<P> => (e, [x], _p, out) =>
  elementwise(e, { name: `${prim}:${x!.dtype}`, inTypes: [x!.dtype], expr: unaryExpr(prim, x!.dtype), outType: out.dtype }, [x!], out.shape);

const binary = <P extends BackendPrim>(prim: P): GpuKernel<P> => (e, [a, b], _p, out) =>
  elementwise(e, { name: `${prim}:${a!.dtype}`, inTypes: [a!.dtype, b!.dtype], expr: binaryExpr(prim, a!.dtype), outType: out.dtype }, [a!, b!], out.shape);

const bitwise = <P extends BackendPrim>(prim: P): GpuKernel<P> => (e, [a, b], _p, out) => {
  const { expr, inType } = bitwiseExpr(prim, a!.dtype);
  return elementwise(e, { name: `${prim}:${a!.dtype === 'int32' && prim === 'shr' ? 'i' : 'u'}`, inTypes: [inType, inType], expr, outType: 'uint32' }, [a!, b!], out.shape);
};

const compare = <P extends BackendPrim>(prim: P): GpuKernel<P> => (e, [a, b], _p, out) => {
  const t: DType = a!.dtype === 'bool' ? 'uint32' : a!.dtype;
  return elementwise(e, { name: `${prim}:${t}`, inTypes: [t, t], expr: compareExpr(prim, t), outType: 'uint32' }, [a!, b!], out.shape);
};

export const kernels: { [P in BackendPrim]: GpuKernel<P> } = {
  neg: unary('neg'), exp: unary('exp'), log: unary('log'), expm1: unary('expm1'), log1p: unary('log1p'),
  sin: unary('sin'), cos: unary('cos'), tanh: unary('tanh'), sqrt: unary('sqrt'), erf: unary('erf'),
  erfinv: unary('erfinv'), floor: unary('floor'), abs: unary('abs'), sign: unary('sign'), sigmoid: unary('sigmoid'),
  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), max: binary('max'),
  min: binary('min'), pow: binary('pow'), mod: binary('mod'),
  bitand: bitwise('bitand'), bitor: bitwise('bitor'), bitxor: bitwise('bitxor'), shl: bitwise('shl'), shr: bitwise('shr'),
  eq: compare('eq'), ne: compare('ne'), lt: compare('lt'), le: compare('le'), gt: compare('gt'), ge: compare('ge'),
  // where(cond, a, b) picks raw words: one pipeline for every dtype.
  where: (e, [c, a, b], _p, out) =>
    elementwise(e, { name: 'where', inTypes: ['uint32', 'uint32', 'uint32'], expr: 'select(c, b, a != 0u)', outType: 'uint32' }, [c!, a!, b!], out.shape),
  cast: (e, [x], { dtype }, out) => {
    const expr = castExpr(x!.dtype, dtype);
    // Same bits (int32 ↔ uint32, bool → int): share the buffer.
    if (expr === null) return e.alias(x!.buffer as GpuHandle);
    return elementwise(e, { name: `cast:${x!.dtype}:${dtype}`, inTypes: [castLoadType(x!.dtype, dtype)], expr, outType: dtype }, [x!], out.shape);
  },
  bitcast: (e, [x]) => e.alias(x!.buffer as GpuHandle),
  sum: (e, [x], { axes }) => reduce(e, x!, axes, 'sum', x!.dtype),
  reduceMax: (e, [x], { axes }) => reduce(e, x!, axes, 'max', x!.dtype === 'bool' ? 'uint32' : x!.dtype),
  argmax: (e, [x], { axis }) => argmax(e, x!, axis, x!.dtype === 'bool' ? 'uint32' : x!.dtype),
  cumsum: (e, [x], { axis, reverse }) => cumsum(e, x!, axis, reverse, x!.dtype),
  matmul: (e, [a, b], p, out) => matmul(e, a!, b!, p, out.shape),
  im2col: (e, [x], p, out) => layout.im2col(e, x!, p, out.shape),
  col2im: (e, [x], p, out) => layout.col2im(e, x!, p, out.shape, out.dtype),
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
