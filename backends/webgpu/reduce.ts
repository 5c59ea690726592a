/**
 * Reductions without moving data: the input's axes are grouped into runs of kept and reduced axes
 * (adjacent axes of one kind merge, since the input is contiguous), an output index decomposes over
 * the kept runs and a reduction index over the reduced runs.
 *
 * Two schedules:
 * - tree: a workgroup per output (per chunk of it, for long reductions into few outputs), its 256
 *   threads striding over the reduced elements, then a tree in workgroup memory; a second pass
 *   combines the chunks;
 * - serial: a thread per output looping over a short reduction (e.g. a bias gradient summed over
 *   the batch: consecutive threads read consecutive words).
 */
import { sizeOf, type BufferInfo, type DType, type Shape } from '../../core/index.js';
import type { Engine, GpuHandle } from './engine.js';
import { bindings, fromBits, helpersFor, linearGroups, linearMain, toBits, uniformWords, wgslType } from './wgsl.js';

export type ReduceKind = 'sum' | 'max';

const TREE = 256;

interface Runs {
  keptShape: number[];
  keptStrides: number[];
  redShape: number[];
  redStrides: number[];
}

function runsOf(shape: Shape, axes: readonly number[]): Runs {
  const runs: { kind: 'k' | 'r'; size: number; stride: number }[] = [];
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    const kind = axes.includes(i) ? 'r' : 'k';
    if (d !== 1) {
      const first = runs[0];
      if (first && first.kind === kind && first.stride * first.size === stride) first.size *= d;
      else runs.unshift({ kind, size: d, stride });
    }
    stride *= d;
  }
  const kept = runs.filter((r) => r.kind === 'k');
  const red = runs.filter((r) => r.kind === 'r');
  return { keptShape: kept.map((r) => r.size), keptStrides: kept.map((r) => r.stride), redShape: red.map((r) => r.size), redStrides: red.map((r) => r.stride) };
}

function combine(kind: ReduceKind, dtype: DType, a: string, b: string): string {
  if (kind === 'sum') return `${a} + ${b}`;
  return dtype === 'float32' ? `maxf_(${a}, ${b})` : `max(${a}, ${b})`;
}

function identity(kind: ReduceKind, dtype: DType): string {
  const t = wgslType(dtype);
  if (kind === 'sum') return t === 'f32' ? '0.0' : `${t}(0)`;
  if (t === 'f32') return '-inf_()';
  return t === 'i32' ? 'i32(-2147483647 - 1)' : '0u';
}

/**
 * Offsets of output `o` (over the kept runs) and of reduction element `r` (over the reduced runs),
 * unrolled for the run counts. Parameter layout: [numOut, total, chunks, chunkLen, nk, nr,
 * keptShape[nk], keptStrides[nk], redShape[nr], redStrides[nr]].
 */
function offsetFns(nk: number, nr: number): string {
  const decompose = (name: string, arg: string, count: number, shapeAt: number, strideAt: number): string => {
    const l = [`fn ${name}(${arg}: u32) -> u32 {`, `  var rem = ${arg};`, '  var off = 0u;'];
    for (let ax = count - 1; ax >= 0; ax--) {
      if (ax > 0) l.push(`  { let q = rem / p(${shapeAt + ax}u); off = off + (rem - q * p(${shapeAt + ax}u)) * p(${strideAt + ax}u); rem = q; }`);
      else l.push(`  off = off + rem * p(${strideAt}u);`);
    }
    l.push('  return off;', '}');
    return l.join('\n');
  };
  return `${decompose('keptOffset', 'o', nk, 6, 6 + nk)}\n${decompose('redOffset', 'r', nr, 6 + 2 * nk, 6 + 2 * nk + nr)}`;
}

function treeSource(kind: ReduceKind, dtype: DType, words: number, nk: number, nr: number): string {
  const t = wgslType(dtype);
  const c = (a: string, b: string) => combine(kind, dtype, a, b);
  const id = identity(kind, dtype);
  return `${bindings(1, words)}
${helpersFor(c('a', 'b'), id)}
${offsetFns(nk, nr)}
var<workgroup> partial: array<${t}, ${TREE}>;
@compute @workgroup_size(${TREE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  let chunks = p(2u);
  let o = g / chunks;
  let chunk = g - o * chunks;
  let valid = o < p(0u);
  let total = p(1u);
  let begin = chunk * p(3u);
  let end = min(total, begin + p(3u));
  let base = keptOffset(min(o, p(0u) - 1u));
  var acc = ${id};
  if (valid) {
    for (var r = begin + lid; r < end; r = r + ${TREE}u) {
      acc = ${c('acc', fromBits(dtype, 'in0[base + redOffset(r)]'))};
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = ${c('partial[lid]', 'partial[lid + s]')}; }
    workgroupBarrier();
  }
  if (lid == 0u && valid) { out[g] = ${toBits(dtype, 'partial[0]')}; }
}`;
}

/** A thread per (output, chunk), looping over the chunk's reduction elements. */
function serialSource(kind: ReduceKind, dtype: DType, words: number, nk: number, nr: number): string {
  const c = (a: string, b: string) => combine(kind, dtype, a, b);
  const id = identity(kind, dtype);
  // One reduced run (the usual case after merging): walk it with a constant stride.
  const loop =
    nr <= 1
      ? `  let stride = ${nr === 1 ? `p(${7 + 2 * nk}u)` : '0u'};
  var off = base + begin * stride;
  for (var r = begin; r < end; r = r + 1u) {
    acc = ${c('acc', fromBits(dtype, 'in0[off]'))};
    off = off + stride;
  }`
      : `  for (var r = begin; r < end; r = r + 1u) {
    acc = ${c('acc', fromBits(dtype, 'in0[base + redOffset(r)]'))};
  }`;
  const body = `  let chunks = p(2u);
  let o = i / chunks;
  let chunk = i - o * chunks;
  let begin = chunk * p(3u);
  let end = min(p(1u), begin + p(3u));
  let base = keptOffset(o);
  var acc = ${id};
${loop}
  out[i] = ${toBits(dtype, 'acc')};`;
  return `${bindings(1, words)}\n${helpersFor(c('a', 'b'), id)}\n${offsetFns(nk, nr)}\n${linearMain(body, 'p(0u) * p(2u)')}`;
}

type ReduceSchedule = 'serial' | 'tree';

/** The schedule and the number of chunks each output's reduction is split into. */
function planReduce(e: Engine, numOut: number, total: number): { schedule: ReduceSchedule; chunks: number } {
  if (e.schedule === 'cpu') {
    // Enough threads for the CPU's cores and SIMD lanes, chunks long enough to amortise the second pass.
    const chunks = numOut < 256 && total >= 4096 ? Math.min(Math.ceil(total / 2048), Math.ceil(1024 / numOut)) : 1;
    return { schedule: 'serial', chunks };
  }
  if (total <= 64 || numOut >= 8192) return { schedule: 'serial', chunks: 1 };
  return { schedule: 'tree', chunks: numOut < 64 && total > 16384 ? Math.min(256, Math.ceil(total / 8192)) : 1 };
}

function dispatchReduce(e: Engine, schedule: ReduceSchedule, kind: ReduceKind, t: DType, input: GPUBuffer, output: GPUBuffer, params: number[], threads: number): void {
  const words = uniformWords(params.length);
  const [nk, nr] = [params[4]!, params[5]!];
  e.dispatch({
    key: `reduce:${schedule}:${kind}:${t}:${nk}:${nr}:${words}`,
    source: () => (schedule === 'serial' ? serialSource(kind, t, words, nk, nr) : treeSource(kind, t, words, nk, nr)),
    inputs: [input],
    output,
    params,
    words,
    groups: schedule === 'serial' ? linearGroups(threads, e.limits.maxComputeWorkgroupsPerDimension) : linearGroups(threads, e.limits.maxComputeWorkgroupsPerDimension, 1),
  });
}

/** Sum or max over `axes` of a contiguous input (the output drops them). */
export function reduce(e: Engine, x: BufferInfo, axes: readonly number[], kind: ReduceKind, dtype: DType): GpuHandle {
  const numOut = sizeOf(x.shape.filter((_, i) => !axes.includes(i)));
  const total = sizeOf(axes.map((a) => x.shape[a]!));
  const out = e.allocOutput(numOut * 4);
  if (numOut === 0) return out;
  // Integer sums wrap, so int32 and uint32 share the u32 adder.
  const t: DType = kind === 'sum' && dtype !== 'float32' ? 'uint32' : dtype;
  const runs = runsOf(x.shape, axes);
  const { schedule, chunks } = planReduce(e, numOut, total);
  const chunkLen = Math.ceil(total / chunks);
  const target = chunks > 1 ? e.allocOutput(numOut * chunks * 4) : out;
  const header = (n: number, tot: number, ch: number, len: number) => [n, tot, ch, len];
  const runsWords = (r: Runs) => [r.keptShape.length, r.redShape.length, ...r.keptShape, ...r.keptStrides, ...r.redShape, ...r.redStrides];
  dispatchReduce(e, schedule, kind, t, (x.buffer as GpuHandle).slab.buffer, target.slab.buffer, [...header(numOut, total, chunks, chunkLen), ...runsWords(runs)], numOut * chunks);
  if (chunks > 1) {
    // Combine the chunk partials: [numOut, chunks] reduced over its last axis.
    const second: Runs = { keptShape: [numOut], keptStrides: [chunks], redShape: [chunks], redStrides: [1] };
    dispatchReduce(e, schedule, kind, t, target.slab.buffer, out.slab.buffer, [...header(numOut, chunks, 1, chunks), ...runsWords(second)], numOut);
    e.free(target);
  }
  return out;
}

/** Index of the first maximum along an axis; a NaN counts as the maximum (the CPU's rule). */
export function argmax(e: Engine, x: BufferInfo, axis: number, dtype: DType): GpuHandle {
  const len = x.shape[axis]!;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const n = sizeOf(x.shape) / Math.max(len, 1);
  const out = e.allocOutput(n * 4);
  if (n === 0) return out;
  const better = dtype === 'float32' ? '(v > bv && !isnan_(bv)) || (isnan_(v) && !isnan_(bv))' : 'v > bv';
  const body = `  let len = p(1u);
  let inner = p(2u);
  let o = i / inner;
  let ii = i - o * inner;
  let base = o * len * inner + ii;
  var best = 0u;
  var bv = ${fromBits(dtype, 'in0[base]')};
  for (var k = 1u; k < len; k = k + 1u) {
    let v = ${fromBits(dtype, 'in0[base + k * inner]')};
    if (${better}) { bv = v; best = k; }
  }
  out[i] = best;`;
  const words = 16;
  e.dispatch({
    key: `argmax:${dtype === 'bool' ? 'uint32' : dtype}`,
    source: () => `${bindings(1, words)}\n${helpersFor(better)}\n${linearMain(body)}`,
    inputs: [(x.buffer as GpuHandle).slab.buffer],
    output: out.slab.buffer,
    params: [n, len, inner],
    words,
    groups: linearGroups(n, e.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** Inclusive running sum along an axis, one thread per line, accumulating in the dtype (f32 or wrapping). */
export function cumsum(e: Engine, x: BufferInfo, axis: number, reverse: boolean, dtype: DType): GpuHandle {
  const len = x.shape[axis]!;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const total = sizeOf(x.shape);
  const out = e.allocOutput(total * 4);
  const n = len === 0 ? 0 : total / len;
  if (n === 0) return out;
  const t: DType = dtype === 'float32' ? 'float32' : 'uint32';
  const body = `  let len = p(1u);
  let inner = p(2u);
  let o = i / inner;
  let ii = i - o * inner;
  let base = o * len * inner + ii;
  var s = ${identity('sum', t)};
  for (var kk = 0u; kk < len; kk = kk + 1u) {
    let k = select(kk, len - 1u - kk, p(3u) == 1u);
    s = s + ${fromBits(t, 'in0[base + k * inner]')};
    out[base + k * inner] = ${toBits(t, 's')};
  }`;
  const words = 16;
  e.dispatch({
    key: `cumsum:${t}`,
    source: () => `${bindings(1, words)}\n${linearMain(body)}`,
    inputs: [(x.buffer as GpuHandle).slab.buffer],
    output: out.slab.buffer,
    params: [n, len, inner, reverse ? 1 : 0],
    words,
    groups: linearGroups(n, e.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
