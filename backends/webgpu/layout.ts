/**
 * Data movement: transpose, broadcast, slice and flip are one strided-gather kernel (each output
 * element reads the input at base + Σ index·stride, strides possibly 0 or negative, wrapping u32
 * arithmetic); pad, concat, gather, scatterAdd, im2col and col2im have their own. All move raw u32
 * words, so one pipeline serves every dtype (only the sums in scatterAdd/col2im depend on it).
 */
import { stridesOf, sizeOf, type BufferInfo, type DType, type PrimParams, type Shape } from '../../core/index.js';
import { collapse } from './elementwise.js';
import type { Engine, GpuHandle } from './engine.js';
import { bindings, linearGroups, linearMain, uniformWords } from './wgsl.js';

export const gpuBuffer = (x: BufferInfo): GPUBuffer => (x.buffer as GpuHandle).slab.buffer;

export function run1d(e: Engine, key: string, body: string, inputs: readonly GPUBuffer[], out: GpuHandle, params: number[], n: number, extra = ''): void {
  if (n === 0) return;
  const words = uniformWords(params.length);
  e.dispatch({
    key: `${key}:${words}`,
    source: () => `${bindings(inputs.length, words)}\n${extra}\n${linearMain(body)}`,
    inputs,
    output: out.slab.buffer,
    params,
    words,
    groups: linearGroups(n, e.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** out[i] = in[base + Σ_d index_d(i) · strides_d] over `shape` (row-major). */
export function stridedCopy(e: Engine, x: BufferInfo, shape: Shape, strides: readonly number[], base: number): GpuHandle {
  const n = sizeOf(shape);
  const out = e.allocOutput(n * 4);
  const c = collapse(shape, [strides]);
  const st = c.strides[0]!;
  const contiguous = c.shape.length <= 1 && (c.shape.length === 0 || st[0] === 1);
  if (contiguous) {
    run1d(e, 'copy', '  out[i] = in0[p(1u) + i];', [gpuBuffer(x)], out, [n, base], n);
    return out;
  }
  const rank = c.shape.length;
  // Unrolled for the rank: [n, rank, base, shape[rank], strides[rank]].
  const lines = ['  var rem = i;', '  var o = p(2u);'];
  for (let ax = rank - 1; ax >= 0; ax--) {
    if (ax > 0) lines.push(`  let q${ax} = rem / p(${3 + ax}u);`, `  o = o + (rem - q${ax} * p(${3 + ax}u)) * p(${3 + rank + ax}u);`, `  rem = q${ax};`);
    else lines.push(`  o = o + rem * p(${3 + rank}u);`);
  }
  lines.push('  out[i] = in0[o];');
  const body = lines.join('\n');
  run1d(e, `strided${rank}`, body, [gpuBuffer(x)], out, [n, rank, base, ...c.shape, ...st], n);
  return out;
}

export function transpose(e: Engine, x: BufferInfo, perm: readonly number[]): GpuHandle {
  const st = stridesOf(x.shape);
  return stridedCopy(e, x, perm.map((p) => x.shape[p]!), perm.map((p) => st[p]!), 0);
}

export function broadcast(e: Engine, x: BufferInfo, shape: Shape): GpuHandle {
  const st = stridesOf(x.shape);
  const off = shape.length - x.shape.length;
  const strides = shape.map((_, i) => (i < off || x.shape[i - off] === 1 ? 0 : st[i - off]!));
  return stridedCopy(e, x, shape, strides, 0);
}

export function slice(e: Engine, x: BufferInfo, { begin, size }: PrimParams['slice']): GpuHandle {
  const st = stridesOf(x.shape);
  return stridedCopy(e, x, size, st, begin.reduce((s, b, i) => s + b * st[i]!, 0));
}

export function flip(e: Engine, x: BufferInfo, { axes }: PrimParams['flip']): GpuHandle {
  const st = stridesOf(x.shape);
  let base = 0;
  const strides = st.map((s, i) => {
    if (!axes.includes(i)) return s;
    base += (x.shape[i]! - 1) * s;
    return -s;
  });
  return stridedCopy(e, x, x.shape, strides, base);
}

/** The bits of `value` in a dtype (how pad stores its constant). */
export function valueBits(value: number, dtype: DType): number {
  if (dtype === 'float32') return new Uint32Array(new Float32Array([value]).buffer)[0]!;
  if (dtype === 'bool') return value ? 1 : 0;
  return value >>> 0;
}

export function pad(e: Engine, x: BufferInfo, { before, value }: PrimParams['pad'], outShape: Shape, dtype: DType): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const r = outShape.length;
  // Unrolled for the rank: [n, rank, value, outShape[r], before[r], inShape[r], inStrides[r]]. An
  // out-of-range coordinate wraps (u32) past the input's extent, so one comparison covers both sides.
  const lines = ['  var rem = i;', '  var o = 0u;', '  var inside = true;'];
  for (let ax = r - 1; ax >= 0; ax--) {
    const coord = ax > 0 ? `(rem - q${ax} * p(${3 + ax}u))` : 'rem';
    if (ax > 0) lines.push(`  let q${ax} = rem / p(${3 + ax}u);`);
    lines.push(`  { let c = ${coord} - p(${3 + r + ax}u); inside = inside && c < p(${3 + 2 * r + ax}u); o = o + c * p(${3 + 3 * r + ax}u); }`);
    if (ax > 0) lines.push(`  rem = q${ax};`);
  }
  lines.push('  out[i] = select(p(2u), in0[min(o, arrayLength(&in0) - 1u)], inside);');
  const body = lines.join('\n');
  run1d(e, `pad${r}`, body, [gpuBuffer(x)], out, [n, r, valueBits(value, dtype), ...outShape, ...before, ...x.shape, ...stridesOf(x.shape)], n);
  return out;
}

/** One dispatch per input, each writing its block of rows into the shared output. */
export function concat(e: Engine, xs: readonly BufferInfo[], { axis }: PrimParams['concat'], outShape: Shape): GpuHandle {
  const out = e.allocOutput(sizeOf(outShape) * 4);
  const outer = sizeOf(outShape.slice(0, axis));
  const rowOut = sizeOf(outShape.slice(axis));
  let col = 0;
  for (const x of xs) {
    const row = sizeOf(x.shape.slice(axis));
    const body = `  let row = p(1u);
  let o = i / row;
  out[o * p(2u) + p(3u) + (i - o * row)] = in0[i];`;
    run1d(e, 'concat', body, [gpuBuffer(x)], out, [outer * row, row, rowOut, col], outer * row);
    col += row;
  }
  return out;
}

/** out[o, j, i] = x[o, idx[j], i]; an index out of range gives 0 (the GPU cannot throw). */
export function gather(e: Engine, x: BufferInfo, idx: BufferInfo, { axis }: PrimParams['gather'], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const len = x.shape[axis]!;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const m = sizeOf(idx.shape);
  const body = `  let m = p(1u);
  let inner = p(2u);
  let len = p(3u);
  let ii = i % inner;
  let t = i / inner;
  let j = t % m;
  let o = t / m;
  let k = in1[j];
  out[i] = select(0u, in0[min((o * len + k) * inner + ii, arrayLength(&in0) - 1u)], k < len);`;
  run1d(e, 'gather', body, [gpuBuffer(x), gpuBuffer(idx)], out, [n, m, inner, len], n);
  return out;
}

const addIn = (dtype: DType, acc: string, v: string): string =>
  dtype === 'float32' ? `${acc} = bitcast<u32>(bitcast<f32>(${acc}) + bitcast<f32>(${v}));` : `${acc} = ${acc} + ${v};`;

/**
 * The adjoint of gather, as a gather: each output element loops over the indices and adds the
 * matching updates, in index order (the CPU's order, so float sums agree bit for bit). No atomics,
 * deterministic.
 */
export function scatterAdd(e: Engine, g: BufferInfo, idx: BufferInfo, { axis, size }: PrimParams['scatterAdd'], outShape: Shape, dtype: DType): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const m = sizeOf(idx.shape);
  const inner = sizeOf(g.shape.slice(axis + idx.shape.length));
  const body = `  let size = p(1u);
  let inner = p(2u);
  let m = p(3u);
  let ii = i % inner;
  let t = i / inner;
  let k = t % size;
  let o = t / size;
  var acc = 0u;
  for (var j = 0u; j < m; j = j + 1u) {
    if (in1[j] == k) { ${addIn(dtype, 'acc', 'in0[(o * m + j) * inner + ii]')} }
  }
  out[i] = acc;`;
  run1d(e, `scatterAdd:${dtype === 'float32' ? 'f' : 'u'}`, body, [gpuBuffer(g), gpuBuffer(idx)], out, [n, size, inner, m], n);
  return out;
}

function convParams(p: PrimParams['im2col']): number[] {
  return [p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padTop, p.padLeft, p.outHeight, p.outWidth, p.dilationHeight, p.dilationWidth];
}

const CONV_LETS = `  let kh = p(4u); let kw = p(5u); let sh = p(6u); let sw = p(7u); let pt = p(8u); let pl = p(9u);
  let ho = p(10u); let wo = p(11u); let dh = p(12u); let dw = p(13u); let h = p(1u); let w = p(2u); let ch = p(3u);`;

/**
 * NHWC patches, (kernel row, kernel column, channel) order; zero outside the image. A thread per
 * element on the `gpu` schedule; on `cpu`, a thread per patch position copying its channel run (the
 * index arithmetic, five divisions, is then paid once per position instead of once per element).
 */
export function im2col(e: Engine, x: BufferInfo, p: PrimParams['im2col'], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const [, h, w, c] = x.shape as [number, number, number, number];
  const perPosition = e.schedule === 'cpu';
  const decode = `${CONV_LETS}
  var t = ${perPosition ? 'i' : 'i / ch'};
  let kx = t % kw; t = t / kw;
  let ky = t % kh; t = t / kh;
  let xo = t % wo; t = t / wo;
  let yo = t % ho; let b = t / ho;
  let iy = i32(yo * sh + ky * dh) - i32(pt);
  let ix = i32(xo * sw + kx * dw) - i32(pl);
  let ok = iy >= 0 && iy < i32(h) && ix >= 0 && ix < i32(w);
  let src = ((b * h + u32(max(iy, 0))) * w + u32(max(ix, 0))) * ch;`;
  const body = perPosition
    ? `${decode}
  let dst = i * ch;
  if (ok) {
    for (var cc = 0u; cc < ch; cc = cc + 1u) { out[dst + cc] = in0[src + cc]; }
  } else {
    for (var cc = 0u; cc < ch; cc = cc + 1u) { out[dst + cc] = 0u; }
  }`
    : `${decode}
  let cc = i % ch;
  out[i] = select(0u, in0[min(src + cc, arrayLength(&in0) - 1u)], ok);`;
  const threads = perPosition ? n / Math.max(c, 1) : n;
  // Word 0 is the invocation count; the kernel reads its parameters from word 1 on.
  run1d(e, `im2col:${perPosition ? 'pos' : 'elem'}`, body, [gpuBuffer(x)], out, [threads, h, w, c, ...convParams(p)], threads);
  return out;
}

/**
 * The adjoint of im2col as a gather: each image element sums the patch entries that copied it,
 * visiting them in the CPU's order (output row, then output column), so float sums agree bit for bit.
 * On the `cpu` schedule a thread handles a pixel's channel run, accumulating in place in the output.
 */
export function col2im(e: Engine, cols: BufferInfo, p: PrimParams['col2im'], outShape: Shape, dtype: DType): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const c = outShape[3]!;
  const perPosition = e.schedule === 'cpu';
  const visit = (inner: string) => `  let kc = kh * kw * ch;
  for (var ky = i32(kh) - 1; ky >= 0; ky = ky - 1) {
    let ty = i32(iy + pt) - ky * i32(dh);
    if (ty < 0 || ty % i32(sh) != 0 || ty / i32(sh) >= i32(ho)) { continue; }
    let yo = u32(ty) / sh;
    for (var kx = i32(kw) - 1; kx >= 0; kx = kx - 1) {
      let tx = i32(ix + pl) - kx * i32(dw);
      if (tx < 0 || tx % i32(sw) != 0 || tx / i32(sw) >= i32(wo)) { continue; }
      let xo = u32(tx) / sw;
      let src = ((b * ho + yo) * wo + xo) * kc + (u32(ky) * kw + u32(kx)) * ch;
${inner}
    }
  }`;
  const body = perPosition
    ? `${CONV_LETS}
  var t = i;
  let ix = t % w; t = t / w;
  let iy = t % h; let b = t / h;
  let dst = i * ch;
  for (var cc = 0u; cc < ch; cc = cc + 1u) { out[dst + cc] = 0u; }
${visit(`      for (var cc = 0u; cc < ch; cc = cc + 1u) {
        let v = in0[src + cc];
        var acc = out[dst + cc];
        ${addIn(dtype, 'acc', 'v')}
        out[dst + cc] = acc;
      }`)}`
    : `${CONV_LETS}
  var t = i;
  let cc = t % ch; t = t / ch;
  let ix = t % w; t = t / w;
  let iy = t % h; let b = t / h;
  var acc = 0u;
${visit(`      let v = in0[src + cc];
      ${addIn(dtype, 'acc', 'v')}`)}
  out[i] = acc;`;
  const threads = perPosition ? n / Math.max(c, 1) : n;
  run1d(e, `col2im:${perPosition ? 'pos' : 'elem'}:${dtype === 'float32' ? 'f' : 'u'}`, body, [gpuBuffer(cols)], out, [threads, p.height, p.width, c, ...convParams(p)], threads);
  return out;
}
