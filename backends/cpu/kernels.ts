/**
 * The CPU backend's kernels: every element-wise primitive runs its expression (core/elementwise.ts)
 * through the generated loops of `elementwise.ts`; the table holds the rest, one entry per structural
 * primitive, typed so that a missing kernel is a compile error. Each kernel receives host arrays and
 * writes into a pooled output array.
 */
import { broadcastStrides, ELEMENTWISE_PRIMS, primitiveExpression, stridesOf, sizeOf, threefry2x32Lanes, type BackendPrim, type DType, type ElementwisePrim, type PrimParams, type Shape, type StructuralPrim, type TypedArray } from '../../core/index.js';
import { mapElements } from './elementwise.js';
import { matmul } from './matmul.js';
import { winogradIn, winogradOut } from './winograd.js';
import { scratchF32, scratchF64 } from './pool.js';

export interface HostTensor {
  data: TypedArray;
  shape: Shape;
  dtype: DType;
}

export type Kernel<P extends BackendPrim> = (out: TypedArray, inputs: HostTensor[], params: PrimParams[P], outShape: Shape, outDType: DType) => void;

/** An element-wise primitive: its expression for these dtypes, rendered and run. */
const elementwise = <P extends ElementwisePrim>(prim: P): Kernel<P> => (out, inputs, params, shape, dtype) =>
  mapElements(primitiveExpression(prim, inputs, params, dtype), out, inputs, shape);

/** The kernel of any primitive. */
export function kernelOf<P extends BackendPrim>(prim: P): Kernel<P> {
  return (allKernels as unknown as Record<BackendPrim, Kernel<P>>)[prim];
}

/**
 * Sum or max over `axes`. Neighbouring axes of the same kind (kept or reduced) merge, and size-1 axes
 * drop out, so most reductions become `[outer, reduced, inner]` over contiguous memory: with inner = 1
 * each output is one contiguous row (`sumRow`, `maxRow`); otherwise whole rows of `inner` values are
 * accumulated, which reads memory in order. Only interleaved patterns such as [reduced, kept, reduced]
 * first move the reduced axes last with a transposed copy. Sums accumulate in float64.
 */
function reduce(out: TypedArray, x: HostTensor, axes: readonly number[], kind: 'sum' | 'max'): void {
  const groups: { size: number; reduced: boolean }[] = [];
  for (let i = 0; i < x.shape.length; i++) {
    const d = x.shape[i]!;
    if (d === 1) continue;
    const reduced = axes.includes(i);
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else groups.push({ size: d, reduced });
  }
  const reducedGroups = groups.filter((g) => g.reduced).length;
  let data = x.data;
  let outer = 1;
  let len = 1;
  let inner = 1;
  if (reducedGroups <= 1) {
    let seen = false;
    for (const g of groups) {
      if (g.reduced) {
        len = g.size;
        seen = true;
      } else if (seen) inner *= g.size;
      else outer *= g.size;
    }
  } else {
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const tmp = data instanceof Float32Array ? scratchF32('reduce.t', data.length).subarray(0, data.length) : new (data.constructor as new (n: number) => TypedArray)(data.length);
    transposeInto(tmp, data, x.shape, [...kept, ...axes]);
    data = tmp;
    outer = out.length;
    len = outer === 0 ? 0 : data.length / outer;
  }
  if (outer * inner === 0) return;
  if (len === 0) {
    out.fill(kind === 'sum' ? 0 : -Infinity);
    return;
  }
  if (inner === 1) {
    for (let o = 0; o < outer; o++) out[o] = kind === 'sum' ? sumRow(data, o * len, len) : maxRow(data, o * len, len);
    return;
  }
  const acc = scratchF64('reduce.acc', inner);
  for (let o = 0; o < outer; o++) {
    const base = o * len * inner;
    for (let j = 0; j < inner; j++) acc[j] = data[base + j]!;
    if (kind === 'sum') for (let r = 1; r < len; r++) addRow(acc, data, base + r * inner, inner);
    else for (let r = 1; r < len; r++) maxIntoRow(acc, data, base + r * inner, inner);
    const dst = o * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = acc[j]!;
  }
}

/** Σ d[start .. start+n), in four interleaved float64 partial sums: one running sum waits on the add latency every element. */
function sumRow(d: TypedArray, start: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = start;
  const end = start + n;
  for (; i + 3 < end; i += 4) {
    s0 += d[i]!;
    s1 += d[i + 1]!;
    s2 += d[i + 2]!;
    s3 += d[i + 3]!;
  }
  for (; i < end; i++) s0 += d[i]!;
  return s0 + s1 + (s2 + s3);
}

/** max of d[start .. start+n); NaN if any element is NaN. */
function maxRow(d: TypedArray, start: number, n: number): number {
  let m = -Infinity;
  const end = start + n;
  for (let i = start; i < end; i++) {
    const v = d[i]!;
    if (v > m) m = v;
    else if (v !== v) return NaN;
  }
  return m;
}

function addRow(acc: Float64Array, d: TypedArray, start: number, n: number): void {
  let j = 0;
  for (; j + 3 < n; j += 4) {
    acc[j] += d[start + j]!;
    acc[j + 1] += d[start + j + 1]!;
    acc[j + 2] += d[start + j + 2]!;
    acc[j + 3] += d[start + j + 3]!;
  }
  for (; j < n; j++) acc[j] += d[start + j]!;
}

function maxIntoRow(acc: Float64Array, d: TypedArray, start: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const v = d[start + j]!;
    // Once NaN, a slot stays NaN: every comparison with it is false.
    if (v > acc[j]! || v !== v) acc[j] = v;
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
      copyRow(out, i, x, o, inner);
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

/**
 * Copy n elements. `set(subarray(...))` allocates a view object per call, which costs more than a
 * plain loop for the short rows that im2col, slices and transposes copy by the hundred thousand.
 */
function copyRow(out: TypedArray, o: number, src: TypedArray, s: number, n: number): void {
  if (n >= 256) {
    out.set(src.subarray(s, s + n), o);
    return;
  }
  for (let i = 0; i < n; i++) out[o + i] = src[s + i]!;
}

/**
 * One output row per output pixel: for each kernel row, the kernelWidth × C patch values. When the
 * whole kernel row lies inside the image (and is not dilated) they are one contiguous run of the NHWC
 * input, copied at once.
 */
function im2col(out: TypedArray, x: HostTensor, p: PrimParams['im2col']): void {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight: ho, outWidth: wo, dilationHeight: dh, dilationWidth: dw } = p;
  const d = x.data;
  const run = kw * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        const ix0 = xo * sw - pl;
        const inside = dw === 1 && ix0 >= 0 && ix0 + kw <= w;
        for (let ky = 0; ky < kh; ky++) {
          const iy = y * sh - pt + ky * dh;
          if (iy < 0 || iy >= h) {
            out.fill(0, o, o + run);
            o += run;
          } else if (inside) {
            copyRow(out, o, d, ((b * h + iy) * w + ix0) * c, run);
            o += run;
          } else {
            for (let kx = 0; kx < kw; kx++) {
              const ix = ix0 + kx * dw;
              if (ix < 0 || ix >= w) out.fill(0, o, o + c);
              else copyRow(out, o, d, ((b * h + iy) * w + ix) * c, c);
              o += c;
            }
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: every patch value is added back to the input position it was read from. */
function col2im(out: TypedArray, cols: HostTensor, p: PrimParams['col2im']): void {
  const { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight: ho, outWidth: wo, dilationHeight: dh, dilationWidth: dw, height: h, width: w } = p;
  const n = cols.shape[0]!;
  const c = cols.shape[3]! / (kh * kw);
  out.fill(0);
  const d = cols.data;
  const run = kw * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        const ix0 = xo * sw - pl;
        const inside = dw === 1 && ix0 >= 0 && ix0 + kw <= w;
        for (let ky = 0; ky < kh; ky++) {
          const iy = y * sh - pt + ky * dh;
          if (iy < 0 || iy >= h) {
            o += run;
          } else if (inside) {
            addRowInto(out, ((b * h + iy) * w + ix0) * c, d, o, run);
            o += run;
          } else {
            for (let kx = 0; kx < kw; kx++) {
              const ix = ix0 + kx * dw;
              if (ix >= 0 && ix < w) addRowInto(out, ((b * h + iy) * w + ix) * c, d, o, c);
              o += c;
            }
          }
        }
      }
    }
  }
}

function addRowInto(out: TypedArray, o: number, src: TypedArray, s: number, n: number): void {
  let i = 0;
  for (; i + 3 < n; i += 4) {
    out[o + i] += src[s + i]!;
    out[o + i + 1] += src[s + i + 1]!;
    out[o + i + 2] += src[s + i + 2]!;
    out[o + i + 3] += src[s + i + 3]!;
  }
  for (; i < n; i++) out[o + i] += src[s + i]!;
}

function outerInner(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

/** The structural primitives, and `bitcast` (a byte copy here: the bits never pass through a JavaScript number). */
export const kernels: { [P in StructuralPrim | 'bitcast']: Kernel<P> } = {
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
  winogradIn: (out, [x], p) => winogradIn(out, x!.data, x!.shape, p),
  winogradOut: (out, [x], p) => winogradOut(out, x!.data, x!.shape, p),
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
      for (let o = 0; o < outer; o++) copyRow(out, o * rowOut + col, x.data, o * row, row);
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
        copyRow(out, (o * m + j) * inner, x!.data, src, inner);
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
    threefry2x32Lanes(out as Uint32Array, n, k0, k1, x0, x1);
  },
};

/** Every primitive's kernel: the element-wise ones made from their expressions, then the table (whose `bitcast` is a byte copy). */
const allKernels: { [P in BackendPrim]: Kernel<P> } = {
  ...(Object.fromEntries(ELEMENTWISE_PRIMS.map((p) => [p, elementwise(p)])) as { [P in ElementwisePrim]: Kernel<P> }),
  ...kernels,
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
  // 64×64 tiles (16 KiB in, 16 KiB out) stay in L1. Each output row of a tile is written in order,
  // reading a column of the input tile, four rows per iteration.
  const T = 64;
  for (let b = 0; b < batch; b++) {
    const off = b * r * c;
    for (let j0 = 0; j0 < c; j0 += T) {
      const j1 = Math.min(c, j0 + T);
      for (let i0 = 0; i0 < r; i0 += T) {
        const i1 = Math.min(r, i0 + T);
        for (let j = j0; j < j1; j++) {
          let o = off + j * r + i0;
          let src = off + i0 * c + j;
          let i = i0;
          for (; i + 3 < i1; i += 4, o += 4, src += 4 * c) {
            out[o] = d[src]!;
            out[o + 1] = d[src + c]!;
            out[o + 2] = d[src + 2 * c]!;
            out[o + 3] = d[src + 3 * c]!;
          }
          for (; i < i1; i++, o++, src += c) out[o] = d[src]!;
        }
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
    copyRow(out, base, x, i, inner);
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

/**
 * Run the hand-written kernels a dozen times on tiny inputs, through their main paths and loop tails,
 * before any real call. V8 collects type feedback only from a function's first few calls on, and
 * compiles a long first call mid-loop (on-stack replacement) with what it has by then; in Node 20
 * that cached code then deoptimises on every later call where it meets a path that had not run (a
 * sum over 1M elements as the very first call of `sumRow` stays 3-4× slower for good).
 */
function primeKernels(): void {
  const f32 = (shape: number[]): HostTensor => {
    const data = new Float32Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7) % 5) - 1.5;
    return { data, shape, dtype: 'float32' };
  };
  const x = f32([3, 5, 7]);
  const img = f32([1, 5, 6, 3]);
  const conv = { kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1, outHeight: 5, outWidth: 6, dilationHeight: 1, dilationWidth: 1 };
  const cols = f32([1, 5, 6, 27]);
  const a = f32([2, 13, 70]);
  const b = f32([1, 70, 11]);
  const at = f32([2, 70, 13]);
  const bt = f32([1, 11, 70]);
  for (let r = 0; r < 12; r++) {
    for (const axes of [[0], [1], [2], [0, 2], [0, 1, 2]]) {
      const outShape = x.shape.filter((_, i) => !axes.includes(i));
      kernels.sum(new Float32Array(sizeOf(outShape)), [x], { axes }, outShape, 'float32');
      kernels.reduceMax(new Float32Array(sizeOf(outShape)), [x], { axes }, outShape, 'float32');
    }
    kernels.transpose(new Float32Array(x.data.length), [x], { perm: [0, 2, 1] }, [3, 7, 5], 'float32');
    kernels.transpose(new Float32Array(x.data.length), [x], { perm: [2, 0, 1] }, [7, 3, 5], 'float32');
    kernels.broadcast(new Float32Array(2 * x.data.length), [x], { shape: [2, 3, 5, 7] }, [2, 3, 5, 7], 'float32');
    kernels.slice(new Float32Array(2 * 3 * 5), [x], { begin: [1, 1, 1], size: [2, 3, 5] }, [2, 3, 5], 'float32');
    kernels.im2col(new Float32Array(cols.data.length), [img], conv, cols.shape, 'float32');
    kernels.col2im(new Float32Array(img.data.length), [cols], { ...conv, height: 5, width: 6 }, img.shape, 'float32');
    for (const [p, q, transA, transB] of [[a, b, false, false], [at, b, true, false], [a, bt, false, true], [at, bt, true, true]] as const) {
      kernels.matmul(new Float32Array(2 * 13 * 11), [p, q], { transA, transB }, [2, 13, 11], 'float32');
      kernels.matmul(new Float32Array(2 * 13), [p, f32(transB ? [1, 1, 70] : [1, 70, 1])], { transA, transB }, [2, 13, 1], 'float32');
    }
  }
}

primeKernels();
