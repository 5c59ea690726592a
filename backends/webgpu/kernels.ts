/**
 * The WebGPU backend's kernels: every element-wise primitive is its expression (core/elementwise.ts)
 * rendered to WGSL, one dispatch each here, or composed by the fuser (`fusion.ts`); the table holds
 * the structural primitives, typed so that a missing kernel is a compile error. Each kernel records
 * its dispatches on the engine and returns the output buffer at once; the GPU runs it when the batch
 * is submitted.
 */
import { primitiveExpression, type BufferInfo, type DType, type ElementwisePrim, type Expr, type OutputInfo, type PrimParams, type StructuralPrim, type BackendPrim } from '../../core/index.js';
import { elementwise, threefryKernel } from './elementwise.js';
import type { Engine, GpuHandle } from './engine.js';
import * as layout from './layout.js';
import * as winograd from './winograd.js';
import { matmul } from './matmul.js';
import { argmax, cumsum, reduce } from './reduce.js';

export type GpuKernel<P extends BackendPrim> = (e: Engine, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo) => GpuHandle;

/** Casts that keep the 32-bit words (int32 ↔ uint32, bool → int: bool is a u32 0/1 here), and bitcasts. */
function keepsWords(prim: ElementwisePrim, from: DType, to: DType): boolean {
  if (prim === 'bitcast') return true;
  return prim === 'cast' && to !== 'bool' && from !== 'float32' && to !== 'float32';
}

/** An element-wise primitive's expression on these inputs; null: the output is the input's words (no kernel). */
export function expressionFor<P extends ElementwisePrim>(prim: P, inputs: readonly { readonly dtype: DType }[], params: PrimParams[P], out: OutputInfo): Expr | null {
  if (keepsWords(prim, inputs[0]!.dtype, out.dtype)) return null;
  return primitiveExpression(prim, inputs, params, out.dtype);
}

/** One dispatch for an element-wise primitive (the kernels when fusion is off). */
export function direct<P extends ElementwisePrim>(prim: P): GpuKernel<P> {
  return (e, inputs, params, out) => {
    const expression = expressionFor(prim, inputs, params, out);
    return expression === null ? e.alias(inputs[0]!.buffer as GpuHandle) : elementwise(e, expression, inputs, out.shape);
  };
}

export const kernels: { [P in StructuralPrim]: GpuKernel<P> } = {
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
