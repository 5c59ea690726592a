/**
 * The CPU backend's kernel table: one entry per backend primitive, typed so that a missing kernel is
 * a compile error. Each kernel receives host arrays and writes into a pooled output array.
 */
import { broadcastStrides, stridesOf, sizeOf, threefry2x32Block, type BackendPrim, type DType, type PrimParams, type Shape, type TypedArray } from '../../core';
import { binaryExpr, mapElements, UNARY_EXPR } from './elementwise';
import { matmul } from './matmul';
import { scratchF32, scratchF64 } from './pool';

export interface HostTensor {
  data: TypedArray;
  shape: Shape;
  dtype: DType;
}

export type Kernel<P extends BackendPrim> = (out: TypedArray, inputs: HostTensor[], params: PrimParams[P], outShape: Shape, outDType: DType) => void;

const unary = <P extends BackendPrim>(prim: P): Kernel<P> => (out, [x], _p, shape) => mapElements(UNARY_EXPR[prim]!, out, [x!], shape);
const binary = <P extends BackendPrim>(prim: P): Kernel<P> => (out, [a, b], _p, shape) => mapElements(binaryExpr(prim, a!.dtype), out, [a!, b!], shape);

/** Reduce over trailing contiguous axes after moving the reduced axes last (by a transpose copy if needed). */
function reduce(out: TypedArray, x: HostTensor, axes: readonly number[], kind: 'sum' | 'max'): void {
  const rank = x.shape.length;
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const inner = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const outer = out.length;
  let data = x.data;
  const trailing = perm.every((p, i) => p === i);
  if (!trailing) {
    const leading = axes.every((a, i) => a === i);
    if (leading && kind === 'sum') {
      // Accumulate rows in float64: out[j] = Σ_i x[i, j].
      const acc = scratchF64('reduce.acc', outer);
      acc.fill(0, 0, outer);
      for (let i = 0; i < inner; i++) {
        const base = i * outer;
        for (let j = 0; j < outer; j++) acc[j] += data[base + j]!;
      }
      for (let j = 0; j < outer; j++) out[j] = acc[j]!;
      return;
    }
    const tmp = data instanceof Float32Array ? scratchF32('reduce.t', data.length).subarray(0, data.length) : new (data.constructor as new (n: number) => TypedArray)(data.length);
    transposeInto(tmp, data, x.shape, perm);
    data = tmp;
  }
  void rank;
  if (kind === 'sum') {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * inner;
      for (let i = 0; i < inner; i++) s += data[base + i]!;
      out[o] = s;
    }
  } else {
    for (let o = 0; o < outer; o++) {
      let m = -Infinity;
      const base = o * inner;
      for (let i = 0; i < inner; i++) {
        const v = data[base + i]!;
        if (v > m || v !== v) m = v;
        if (m !== m) break;
      }
      out[o] = m;
    }
  }
}

export function transposeInto(out: TypedArray, x: TypedArray, shape: Shape, perm: readonly number[]): void {
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  stridedCopy(out, x, outShape, perm.map((p) => inStrides[p]!));
}

/** out[i] = x[Σ idx_k · strides_k] for the row-major index of i in `shape`. */
function stridedCopy(out: TypedArray, x: TypedArray, shape: readonly number[], strides: readonly number[]): void {
  const rank = shape.length;
  const n = out.length;
  if (rank === 0) {
    if (n) out[0] = x[0]!;
    return;
  }
  const inner = shape[rank - 1]!;
  const s = strides[rank - 1]!;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  for (let i = 0; i < n; ) {
    let o = base;
    if (s === 1) {
      out.set(x.subarray(o, o + inner), i);
      i += inner;
    } else {
      for (let j = 0; j < inner; j++, i++, o += s) out[i] = x[o]!;
    }
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      base -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

function im2col(out: TypedArray, x: HostTensor, p: PrimParams['im2col']): void {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight: ho, outWidth: wo, dilationHeight: dh, dilationWidth: dw } = p;
  const d = x.data;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = y * sh - pt + ky * dh;
          for (let kx = 0; kx < kw; kx++) {
            const ix = xo * sw - pl + kx * dw;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              out.fill(0, o, o + c);
            } else {
              const src = ((b * h + iy) * w + ix) * c;
              out.set(d.subarray(src, src + c), o);
            }
            o += c;
          }
        }
      }
    }
  }
}

function col2im(out: TypedArray, cols: HostTensor, p: PrimParams['col2im']): void {
  const { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight: ho, outWidth: wo, dilationHeight: dh, dilationWidth: dw, height: h, width: w } = p;
  const n = cols.shape[0]!;
  const c = cols.shape[3]! / (kh * kw);
  out.fill(0);
  const d = cols.data;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = y * sh - pt + ky * dh;
          for (let kx = 0; kx < kw; kx++) {
            const ix = xo * sw - pl + kx * dw;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
              const dst = ((b * h + iy) * w + ix) * c;
              for (let ch = 0; ch < c; ch++) out[dst + ch] += d[o + ch]!;
            }
            o += c;
          }
        }
      }
    }
  }
}

function outerInner(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

export const kernels: { [P in BackendPrim]: Kernel<P> } = {
  neg: unary('neg'), exp: unary('exp'), log: unary('log'), expm1: unary('expm1'), log1p: unary('log1p'),
  sin: unary('sin'), cos: unary('cos'), tanh: unary('tanh'), sqrt: unary('sqrt'), erf: unary('erf'),
  erfinv: unary('erfinv'), floor: unary('floor'), abs: unary('abs'), sign: unary('sign'), sigmoid: unary('sigmoid'),
  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), max: binary('max'),
  min: binary('min'), pow: binary('pow'), mod: binary('mod'),
  bitand: binary('bitand'), bitor: binary('bitor'), bitxor: binary('bitxor'), shl: binary('shl'), shr: binary('shr'),
  eq: binary('eq'), ne: binary('ne'), lt: binary('lt'), le: binary('le'), gt: binary('gt'), ge: binary('ge'),
  where: (out, [c, a, b], _p, shape) => mapElements('(a ? b : c)', out, [c!, a!, b!], shape),
  cast: (out, [x], { dtype }) => {
    if (dtype === 'bool') for (let i = 0; i < out.length; i++) out[i] = x!.data[i] !== 0 ? 1 : 0;
    else if (x!.dtype === 'float32' && dtype !== 'float32') {
      // Truncation toward zero; NaN becomes 0 (as ToInt32 does).
      const d = x!.data;
      for (let i = 0; i < out.length; i++) out[i] = Math.trunc(d[i]!) || 0;
    } else out.set(x!.data);
  },
  bitcast: (out, [x]) => new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(new Uint8Array(x!.data.buffer, x!.data.byteOffset, out.byteLength)),
  sum: (out, [x], { axes }) => reduce(out, x!, axes, 'sum'),
  reduceMax: (out, [x], { axes }) => reduce(out, x!, axes, 'max'),
  argmax: (out, [x], { axis }) => {
    const [outer, len, inner] = outerInner(x!.shape, axis);
    const d = x!.data;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = 0;
        let bv = d[o * len * inner + i]!;
        for (let k = 1; k < len; k++) {
          const v = d[(o * len + k) * inner + i]!;
          if (v > bv || (v !== v && bv === bv)) {
            bv = v;
            best = k;
          }
        }
        out[o * inner + i] = best;
      }
    }
  },
  cumsum: (out, [x], { axis, reverse }) => {
    const [outer, len, inner] = outerInner(x!.shape, axis);
    const d = x!.data;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let kk = 0; kk < len; kk++) {
          const k = reverse ? len - 1 - kk : kk;
          const idx = (o * len + k) * inner + i;
          s += d[idx]!;
          out[idx] = s;
        }
      }
    }
  },
  matmul: (out, [a, b], { transA, transB }, outShape) => {
    const [batch, m, n] = outShape as [number, number, number];
    const k = transA ? a!.shape[1]! : a!.shape[2]!;
    matmul({ a: a!.data as Float32Array, b: b!.data as Float32Array, out: out as Float32Array, batch, batchA: a!.shape[0]!, batchB: b!.shape[0]!, m, n, k, transA, transB });
  },
  im2col: (out, [x], p) => im2col(out, x!, p),
  col2im: (out, [x], p) => col2im(out, x!, p),
  transpose: (out, [x], { perm }) => transposeFast(out, x!, perm),
  broadcast: (out, [x], { shape }) => stridedCopy(out, x!.data, shape, broadcastStrides(x!.shape, shape)),
  slice: (out, [x], { begin, size }) => {
    const st = stridesOf(x!.shape);
    const offset = begin.reduce((s, b, i) => s + b * st[i]!, 0);
    stridedCopy(out, x!.data.subarray(offset), size, st);
  },
  pad: (out, [x], { before, value }, outShape) => {
    out.fill(value);
    const st = stridesOf(outShape);
    const offset = before.reduce((s, b, i) => s + b * st[i]!, 0);
    scatterStrided(out.subarray(offset), x!.data, x!.shape, st);
  },
  concat: (out, xs, { axis }, outShape) => {
    const outer = sizeOf(outShape.slice(0, axis));
    const rowOut = sizeOf(outShape.slice(axis));
    let col = 0;
    for (const x of xs) {
      const row = sizeOf(x.shape.slice(axis));
      for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * row, (o + 1) * row), o * rowOut + col);
      col += row;
    }
  },
  flip: (out, [x], { axes }) => {
    const st = stridesOf(x!.shape);
    let offset = 0;
    const strides = st.map((s, i) => {
      if (!axes.includes(i)) return s;
      offset += (x!.shape[i]! - 1) * s;
      return -s;
    });
    flipCopy(out, x!.data, x!.shape, strides, offset);
  },
  gather: (out, [x, idx], { axis }) => {
    const [outer, len, inner] = outerInner(x!.shape, axis);
    const ind = idx!.data;
    const m = ind.length;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < m; j++) {
        const k = ind[j]!;
        if (k < 0 || k >= len) throw new Error(`take: index ${k} is out of range for axis ${axis} of size ${len}`);
        const src = (o * len + k) * inner;
        out.set(x!.data.subarray(src, src + inner), (o * m + j) * inner);
      }
    }
  },
  scatterAdd: (out, [g, idx], { axis, size }) => {
    const ind = idx!.data;
    const m = ind.length;
    const outer = sizeOf(g!.shape.slice(0, axis));
    const inner = sizeOf(g!.shape.slice(axis + idx!.shape.length));
    out.fill(0);
    const d = g!.data;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < m; j++) {
        const k = ind[j]!;
        if (k < 0 || k >= size) throw new Error(`scatterAdd: index ${k} is out of range for size ${size}`);
        const src = (o * m + j) * inner;
        const dst = (o * size + k) * inner;
        for (let i = 0; i < inner; i++) out[dst + i] += d[src + i]!;
      }
    }
  },
  threefry2x32: (out, xs, _p, outShape) => {
    const shape = outShape.slice(1);
    const n = sizeOf(shape);
    const lanes = xs.map((x) => {
      const full = new Uint32Array(n);
      stridedCopy(full, x.data, shape, broadcastStrides(x.shape, shape));
      return full;
    });
    const [k0, k1, x0, x1] = lanes as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    for (let i = 0; i < n; i++) {
      const [y0, y1] = threefry2x32Block(k0[i]!, k1[i]!, x0[i]!, x1[i]!);
      out[i] = y0;
      out[n + i] = y1;
    }
  },
};

/** Transpose; the common 2-D case (and batched 2-D) goes through cache-sized tiles. */
function transposeFast(out: TypedArray, x: HostTensor, perm: readonly number[]): void {
  const rank = perm.length;
  const isLastTwo = rank >= 2 && perm.slice(0, rank - 2).every((p, i) => p === i) && perm[rank - 2] === rank - 1 && perm[rank - 1] === rank - 2;
  if (!isLastTwo) {
    const st = stridesOf(x.shape);
    stridedCopy(out, x.data, perm.map((p) => x.shape[p]!), perm.map((p) => st[p]!));
    return;
  }
  const r = x.shape[rank - 2]!;
  const c = x.shape[rank - 1]!;
  const batch = sizeOf(x.shape.slice(0, rank - 2));
  const d = x.data;
  const T = 32;
  for (let b = 0; b < batch; b++) {
    const off = b * r * c;
    for (let i0 = 0; i0 < r; i0 += T) {
      const i1 = Math.min(r, i0 + T);
      for (let j0 = 0; j0 < c; j0 += T) {
        const j1 = Math.min(c, j0 + T);
        for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[off + j * r + i] = d[off + i * c + j]!;
      }
    }
  }
}

/** Write contiguous `x` of `shape` into `out` at the given strides (the inverse of stridedCopy). */
function scatterStrided(out: TypedArray, x: TypedArray, shape: Shape, strides: readonly number[]): void {
  const rank = shape.length;
  const n = x.length;
  if (rank === 0) {
    if (n) out[0] = x[0]!;
    return;
  }
  const inner = shape[rank - 1]!;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  for (let i = 0; i < n; i += inner) {
    out.set(x.subarray(i, i + inner), base);
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      base -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

function flipCopy(out: TypedArray, x: TypedArray, shape: Shape, strides: readonly number[], offset: number): void {
  const rank = shape.length;
  const n = out.length;
  const idx = new Array<number>(rank).fill(0);
  let pos = offset;
  for (let i = 0; i < n; i++) {
    out[i] = x[pos]!;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      pos += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      pos -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}
