/**
 * The WebAssembly backend. Tensors live in one `WebAssembly.Memory` (see `heap.ts`); the kernels are
 * wasm generated at start-up by the assembler in `assembler.ts`:
 * - a packed, register-blocked SIMD matmul (`matmul.ts`), batched, transposes absorbed by packing;
 * - every element-wise primitive whose expression (core/elementwise.ts) it can render in SIMD
 *   (`render.ts`: float arithmetic, comparisons, `where`, exp, and what decomposes into them, such as
 *   sigmoid and erf), with broadcasting read through strides (`elementwise.ts`); the others (log,
 *   sin, pow, integer and bit ops, casts) run the CPU backend's rendering of the same expression on
 *   typed-array views of the heap, the same bits as the reference;
 * - sum/max over contiguous axis blocks, im2col and col2im, slice, concat, transpose and broadcast
 *   (`layout.ts`), and the Winograd transforms (`winograd.ts`), so conv2d is wasm end to end.
 * The remaining structural primitives (gathers, pads, flips, scans, random bits) run the CPU
 * backend's kernels on views of the heap too. The table at the bottom says which is which.
 *
 * With `threads > 1` (and shared memory available) large matmuls are split into output chunks that
 * worker threads sharing the heap claim (`threads.ts`); every element is summed in the same order
 * whichever thread computes it, so the bits do not depend on the number of threads.
 */
import type { Backend, BackendBuffer, BackendPrim, BufferInfo, DType, ElementwisePrim, Expr, OutputInfo, PrimParams, StructuralPrim, TypedArray } from '../../core/index.js';
import { broadcastStrides, bytesPerElement, ELEMENTWISE_PRIMS, expr as ir, makeTypedArray, sizeOf, stridesOf } from '../../core/index.js';
import { kernelOf as cpuKernelOf, type HostTensor } from '../cpu/kernels.js';
import { collapse, mapElements } from '../cpu/elementwise.js';
import { ModuleBuilder } from './assembler.js';
import { lowerForWasm } from './render.js';
import { Heap, sizeClass, type HeapStats } from './heap.js';
import { DEFAULT_MATMUL, matmulScratchBytes, type MatmulConfig } from './matmul.js';
import { buildKernelModule, type KernelModule, hasRelaxedSimd, hasSharedMemory, hasSimd, instantiate, type KernelFn } from './module.js';
import { canStartWorkers, ThreadPool, type PoolStats } from './threads.js';
import { winogradScratchBytes } from './winograd.js';
import { elementwiseTag, emitExpression, mapName } from './elementwise.js';
import { importNodeModule } from '../../core/nodeModule.js';

export interface WasmBuffer {
  /** Byte address in the heap. */
  readonly ptr: number;
  /** The block's size class in bytes. */
  readonly size: number;
}

export interface WasmBackendOptions {
  /** Worker threads including the calling one; default: the machine's parallelism (at most 8). 1 turns threads off. */
  threads?: number;
  /** The heap's limit in bytes (default 2 GiB). */
  maxBytes?: number;
  /** The heap's starting size in bytes (default 16 MiB). */
  initialBytes?: number;
  /** Use relaxed SIMD (fused multiply-add) where the engine supports it; default true. */
  relaxedSimd?: boolean;
  /** Matmul blocking parameters (for tuning experiments). */
  matmul?: Partial<MatmulConfig>;
  /** A matmul with fewer multiply-adds than this runs on one thread (default 2^17); element-wise ops, reductions and im2col/col2im with fewer elements than this or 2^17, whichever is smaller. */
  parallelThreshold?: number;
  /**
   * Fall back to the calling thread for a while when workers keep it waiting (a machine busier than
   * its cores); default true. Off, every large enough matmul is split (tests use this).
   */
  adaptive?: boolean;
}

export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
  sharedMemory: boolean;
}

export interface WasmBackend extends Backend {
  readonly name: 'wasm';
  readonly features: WasmFeatures;
  /**
   * Threads kernels use now (1 = the calling thread only). A backend made synchronously starts its
   * workers in the background and uses them once they are up; `ready()` waits for that.
   */
  readonly threads: number;
  /** Resolves (to the backend) once the worker threads have started or failed to start. */
  ready(): Promise<WasmBackend>;
  /** What the worker threads have done (null while there are none): jobs, chunks, the workers' share, modules added for fused expressions. */
  threadStats(): PoolStats | null;
  readonly heap: Heap;
  stats(): HeapStats;
}

/**
 * Node 20 and 21 have WebAssembly relaxed SIMD behind a V8 flag (Node 22 ships it on). This sets the
 * flag for the whole process when relaxed SIMD is missing, so wasm backends made afterwards use fused
 * multiply-add in the matmul kernel (measured 25-30% faster products on the 2-core Zen 5 machine).
 * Results then differ from the plain-SIMD path in the last bits (an FMA rounds once), and from one
 * machine to another (relaxed_madd may or may not fuse); on one machine they are still the same on
 * every run and thread count. Call it before the first wasm backend is made (backends made earlier
 * keep their kernels). A program's choice, not the library's: the `rolling` command calls it (unless
 * ROLLING_RELAXED_SIMD=0); nothing else does. Resolves to whether relaxed SIMD is available; outside
 * Node, to whether the engine has it.
 */
export async function enableRelaxedSimd(): Promise<boolean> {
  if (hasRelaxedSimd()) return true;
  if (!isNode()) return false;
  try {
    const v8 = await importNodeModule<{ setFlagsFromString(flag: string): void }>('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return hasRelaxedSimd();
}

export function wasmFeatures(): WasmFeatures {
  return { simd: hasSimd(), relaxedSimd: hasRelaxedSimd(), sharedMemory: hasSharedMemory() };
}

interface Context {
  readonly heap: Heap;
  readonly fns: Readonly<Record<string, KernelFn>>;
  readonly fnIndex: ReadonlyMap<string, number>;
  /** Attached when the workers have started (they start in the background); null until then, or for one thread. */
  pool: ThreadPool | null;
  /** The calling thread's scratch block (packing panels); each worker has its own, as large. */
  readonly scratch: number;
  readonly scratchBytes: number;
  readonly parallelThreshold: number;
  readonly adaptive: boolean;
  /** Products with m and k at most this (B not transposed) take `matmul_smallk` (MatmulConfig.smallK). */
  readonly smallK: number;
  /**
   * A compiled expression's context: its module's exports (by the index `WebAssembly.Module.exports`
   * gives them, as the workers number them), its bytes, and its id in the pool (undefined until
   * first run with workers; null where the pool's store is full).
   */
  readonly own?: { readonly bytes: Uint8Array; readonly fnIndex: ReadonlyMap<string, number>; id?: number | null };
}

type WasmKernel<P extends BackendPrim> = (ctx: Context, out: WasmBuffer, inputs: readonly BufferInfo[], params: PrimParams[P], info: OutputInfo) => void;

const ptrOf = (b: BackendBuffer): number => (b as WasmBuffer).ptr;

function view(heap: Heap, dtype: DType, ptr: number, length: number): TypedArray {
  const buf = heap.memory.buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(buf, ptr, length);
    case 'int32': return new Int32Array(buf, ptr, length);
    case 'uint32': return new Uint32Array(buf, ptr, length);
    case 'bool': return new Uint8Array(buf, ptr, length);
  }
}

// ---------------------------------------------------------------- kernels borrowed from the CPU backend

/** Run the CPU backend's kernel on views of the heap. */
function viaCpu<P extends BackendPrim>(prim: P): WasmKernel<P> {
  const kernel = cpuKernelOf(prim);
  return (ctx, out, inputs, params, info) => {
    const hosts: HostTensor[] = inputs.map((i) => ({ data: view(ctx.heap, i.dtype, ptrOf(i.buffer), sizeOf(i.shape)), shape: i.shape, dtype: i.dtype }));
    kernel(view(ctx.heap, info.dtype, out.ptr, sizeOf(info.shape)), hosts, params, info.shape, info.dtype);
  };
}

// ---------------------------------------------------------------- element-wise

/**
 * Run the generated kernel `op_<modes>` over broadcast inputs. Returns false when the layout does not
 * suit it (the caller then uses the CPU kernel).
 */
function mapKernel(ctx: Context, op: string, out: WasmBuffer, outBytes: number, inputs: readonly BufferInfo[], outShape: readonly number[]): boolean {
  return mapStrided(ctx, op, out, outBytes, inputs.map((i) => ({ ptr: ptrOf(i.buffer), bytes: bytesPerElement(i.dtype), strides: broadcastStrides(i.shape, outShape) })), outShape);
}

/** An operand read through strides: element (i₀, i₁, …) of the output reads `ptr + bytes·Σ iₖ·strides[k]`. */
interface StridedSource {
  readonly ptr: number;
  readonly bytes: number;
  readonly strides: readonly number[];
}

/** Elements in a row below which a row loop pays more for its bookkeeping than for its work. */
const MIN_ROW = 16;

/**
 * Operands broadcast or gathered along short inner axes make rows too short for a vector loop: group
 * norm's `[n, 1, g, 1]` against `[n, hw, g, c/g]` collapses to rows of c/g = 2 elements. Such an
 * operand is first copied out over the innermost axes only (the shortest suffix of at least MIN_ROW
 * elements, and the outer axes along which it varies: `[n, 1, g, c/g]`, a small copy); then every
 * operand is contiguous over that suffix, which merges into one row, and the axes it was broadcast
 * along (hw) become rows. The copies go into `temps`. Null when no suffix pays (a copy would be more
 * than a quarter of the output, as for a transpose) or the shape is small anyway.
 */
function expandInner(ctx: Context, dims: readonly number[], sources: readonly StridedSource[], temps: WasmBuffer[]): StridedSource[] | null {
  let t = dims.length;
  let row = 1;
  while (t > 0 && row < MIN_ROW) row *= dims[--t]!;
  if (t === 0 || row < MIN_ROW) return null;
  const dense = stridesOf(dims.slice(t));
  const n = sizeOf(dims);
  const plan = sources.map((x) => {
    if (dims.every((d, j) => j < t || d === 1 || x.strides[j] === dense[j - t])) return null;
    return dims.map((d, j) => (j >= t || x.strides[j] !== 0 ? d : 1));
  });
  if (plan.every((p) => p === null) || plan.some((p, k) => p !== null && (sources[k]!.bytes !== 4 || 4 * sizeOf(p) > n))) return null;
  return sources.map((x, k) => {
    const shape = plan[k];
    if (!shape) return x;
    const copy = ctx.heap.alloc(4 * sizeOf(shape));
    temps.push(copy);
    copyRows(ctx, copy, x.ptr, x.strides, shape);
    const st = stridesOf(shape);
    return { ptr: copy.ptr, bytes: 4, strides: shape.map((d, j) => (d === 1 ? 0 : st[j]!)) };
  });
}

/** `mapKernel` over operands with any strides (in elements, one per output axis). */
function mapStrided(ctx: Context, op: string, out: WasmBuffer, outBytes: number, inputs: readonly StridedSource[], outShape: readonly number[], expanded = false): boolean {
  const n = sizeOf(outShape);
  if (n === 0) return true;
  const c = collapse(outShape, inputs.map((x) => x.strides));
  const dims = c.shape.length ? c.shape : [1];
  const strides = c.shape.length ? c.strides : inputs.map(() => [0]);
  const rank = dims.length;
  const inner = dims[rank - 1]!;
  const modes = strides.map((s) => (s[rank - 1] === 1 || inner === 1 ? 'v' : s[rank - 1] === 0 ? 's' : 'g')).join('');
  const fn = ctx.fns[mapName(op, modes)] as KernelFn | undefined;
  const sizes = inputs.map((x) => x.bytes);
  const ptrs = inputs.map((x) => x.ptr);
  const rows = rank >= 2 ? dims[rank - 2]! : 1;
  const rowStrides = strides.map((s, k) => (rank >= 2 ? s[rank - 2]! : 0) * sizes[k]!);
  if (fn !== undefined && rank <= 2) {
    runMap(ctx, mapName(op, modes), out.ptr, outBytes, ptrs, sizes, modes, rows, inner, rowStrides);
    return true;
  }
  // Higher rank: one call per 2-D block, unless the blocks are too small to pay for the calls; then
  // the strided operands are first copied out contiguously (`copy_rows`) and the map runs flat.
  const blocks = n / (rows * inner);
  if (fn && inner < MIN_ROW && blocks > 16 && !expanded) {
    const temps: WasmBuffer[] = [];
    try {
      const wide = expandInner(ctx, dims, inputs.map((x, k) => ({ ...x, strides: strides[k]! })), temps);
      if (wide) return mapStrided(ctx, op, out, outBytes, wide, dims, true);
    } finally {
      for (const t of temps) ctx.heap.free(t.ptr, t.size);
    }
  }
  if (!fn || (rows * inner < 64 && blocks > 16)) return mapDense(ctx, op, out, inputs, outShape);
  const lead = dims.slice(0, rank - 2);
  const idx = new Array<number>(lead.length).fill(0);
  const offsets = new Array<number>(inputs.length).fill(0);
  const args = new Array<number>(1 + 2 * inputs.length + 3);
  for (let b = 0; b < blocks; b++) {
    args[0] = out.ptr + b * rows * inner * outBytes;
    for (let k = 0; k < inputs.length; k++) args[1 + k] = ptrs[k]! + offsets[k]! * sizes[k]!;
    args[1 + inputs.length] = 0;
    args[2 + inputs.length] = rows;
    args[3 + inputs.length] = inner;
    for (let k = 0; k < inputs.length; k++) args[4 + inputs.length + k] = rowStrides[k]!;
    fn(...args);
    for (let ax = lead.length - 1; ax >= 0; ax--) {
      idx[ax]!++;
      for (let k = 0; k < inputs.length; k++) offsets[k] = offsets[k]! + strides[k]![ax]!;
      if (idx[ax]! < lead[ax]!) break;
      for (let k = 0; k < inputs.length; k++) offsets[k] = offsets[k]! - strides[k]![ax]! * lead[ax]!;
      idx[ax] = 0;
    }
  }
  return true;
}

/**
 * Elements of work below which a kernel runs on the calling thread alone (or fewer, when the
 * backend's `parallelThreshold` is lower). Measured on the 2-core machine: at 2¹⁵ the demo step's
 * 1 MB element-wise ops were split too, and on a shared machine, where the worker is often not
 * scheduled in time, that cost more than it gave (before the pool learned to fall back to one
 * thread when the worker keeps it waiting, `ThreadPool.worthIt`); 2¹⁹ kept the demo's on one thread.
 * 2¹⁷ (with matmuls from 2¹⁷ multiply-adds), measured on a quiet machine 2026-12-06 in alternating
 * runs: the demo step at two threads 116 / 114 → 100 / 104 ms.
 */
const PARALLEL_ELEMENTS = 1 << 17;
/** The fewest elements a thread's chunk holds. */
const MIN_CHUNK = 1 << 16;
/** Row width when a single long row is cut into rows for the threads (a multiple of 4, so no SIMD tail moves). */
const FLAT_WIDTH = 4096;

/**
 * Run kernel `name`, whose arguments hold a range [lo, hi) at `rangeArg`, over [0, extent): on the
 * worker threads as well when there are any and `extent · perUnit` elements of work pay for waking
 * them. The kernels computed this way (maps, row reductions, im2col/col2im) compute every output
 * element in the same order whatever the split, so threads change no bits.
 */
function runRange(ctx: Context, name: string, args: number[], rangeArg: number, extent: number, perUnit: number, scratchArg = -1): void {
  const fn = ctx.fns[name]!;
  args[rangeArg] = 0;
  args[rangeArg + 1] = extent;
  if (scratchArg >= 0) args[scratchArg] = ctx.scratch;
  const pool = ctx.pool;
  if (!pool || extent < 2 || extent * perUnit < Math.min(PARALLEL_ELEMENTS, ctx.parallelThreshold) || (ctx.adaptive && !pool.worthIt)) {
    fn(...args);
    return;
  }
  // An export of a compiled expression's module: the workers get the module the first time.
  const own = ctx.own;
  const ownIndex = own?.fnIndex.get(name);
  let module: number | undefined;
  if (own && ownIndex !== undefined) {
    if (own.id === undefined) own.id = pool.addModule(own.bytes);
    if (own.id === null) {
      fn(...args);
      return;
    }
    module = own.id;
  }
  const unit = Math.max(Math.ceil(extent / (4 * (pool.size + 1))), Math.ceil(MIN_CHUNK / Math.max(perUnit, 1)));
  pool.run({ fn: module === undefined ? ctx.fnIndex.get(name)! : ownIndex!, args, rangeArg, unit, extent, scratchArg, module }, fn, ctx.scratch);
}

/**
 * A map kernel over rows [0, rows) of an `[rows, inner]` view. One long row (a flat operation) is
 * first cut into rows of FLAT_WIDTH, so threads can share it; `v` operands then step a row's width,
 * `s` operands stay put, and the last partial row runs as it would have.
 */
function runMap(ctx: Context, name: string, outPtr: number, outBytes: number, ptrs: readonly number[], sizes: readonly number[], modes: string, rows: number, inner: number, rowStrides: readonly number[]): void {
  const n = ptrs.length;
  if (rows === 1 && ctx.pool && inner >= 2 * FLAT_WIDTH && inner >= Math.min(PARALLEL_ELEMENTS, ctx.parallelThreshold)) {
    const full = Math.floor(inner / FLAT_WIDTH);
    const strides = sizes.map((b, k) => (modes[k] === 'v' ? FLAT_WIDTH * b : 0));
    runRange(ctx, name, [outPtr, ...ptrs, 0, full, FLAT_WIDTH, ...strides], 1 + n, full, FLAT_WIDTH);
    const rest = inner - full * FLAT_WIDTH;
    if (rest > 0) {
      const at = full * FLAT_WIDTH;
      ctx.fns[name]!(outPtr + at * outBytes, ...ptrs.map((p, k) => (modes[k] === 'v' ? p + at * sizes[k]! : p)), 0, 1, rest, ...strides);
    }
    return;
  }
  runRange(ctx, name, [outPtr, ...ptrs, 0, rows, inner, ...rowStrides], 1 + n, rows, inner);
}

/**
 * The map over contiguous copies of the operands that are not already laid out like the output
 * (4-byte operands only; false otherwise). The same per-element arithmetic, so the same bits.
 */
function mapDense(ctx: Context, op: string, out: WasmBuffer, sources: readonly StridedSource[], outShape: readonly number[]): boolean {
  const fn = ctx.fns[mapName(op, 'v'.repeat(sources.length))];
  if (!fn) return false;
  const n = sizeOf(outShape);
  const dense = stridesOf(outShape);
  const contiguous = (st: readonly number[]): boolean => st.every((s, k) => outShape[k] === 1 || s === dense[k]);
  if (sources.some((x) => x.bytes !== 4 && !contiguous(x.strides))) return false;
  const temps: WasmBuffer[] = [];
  try {
    const ptrs = sources.map((x) => {
      if (contiguous(x.strides)) return x.ptr;
      const t = ctx.heap.alloc(4 * n);
      temps.push(t);
      copyRows(ctx, t, x.ptr, x.strides, outShape);
      return t.ptr;
    });
    runMap(ctx, mapName(op, 'v'.repeat(sources.length)), out.ptr, 4, ptrs, sources.map(() => 4), 'v'.repeat(sources.length), 1, n, sources.map(() => 0));
  } finally {
    for (const t of temps) ctx.heap.free(t.ptr, t.size);
  }
  return true;
}

/**
 * An element-wise primitive: the generated kernel of its expression for these dtypes when wasm renders
 * it (elementwise.ts), else, or for a layout the kernels do not take, the CPU backend's rendering of
 * the same expression on views of the heap.
 */
function elementwiseKernel<P extends ElementwisePrim>(prim: P): WasmKernel<P> {
  const fallback = viaCpu(prim);
  return (ctx, out, inputs, params, info) => {
    const tag = elementwiseTag(prim, inputs, info.dtype);
    if (tag === null || !mapKernel(ctx, tag, out, bytesPerElement(info.dtype), inputs, info.shape)) fallback(ctx, out, inputs, params, info);
  };
}


// ---------------------------------------------------------------- expressions compiled on demand

/** Compiled expression modules by structure and dtypes, and the same looked up by the expression object (a jitted program runs the same objects every step). */
interface ExpressionCache {
  readonly byKey: Map<string, Context>;
  /** Per expression object and dtype signature: its module's context, or null where wasm cannot render it. */
  readonly byExpression: WeakMap<Expr, Map<string, Context | null>>;
}

/**
 * Run any expression (a composed chain, say) as one kernel: rendered into a module of its own that
 * shares the heap, compiled once per structure and dtypes, split across the worker threads as the
 * start-up module's maps are (each worker compiles the module the first time a job names it). An
 * expression wasm cannot render runs as the CPU renders it.
 */
function runExpression(ctx: Context, cache: ExpressionCache, expression: Expr, out: WasmBuffer, inputs: readonly BufferInfo[], info: OutputInfo): void {
  let signature = info.dtype as string;
  for (const x of inputs) signature += `,${x.dtype}`;
  let perExpression = cache.byExpression.get(expression);
  if (!perExpression) cache.byExpression.set(expression, (perExpression = new Map()));
  let own = perExpression.get(signature);
  if (own === undefined) {
    own = compileExpression(ctx, cache, expression, inputs.map((x) => x.dtype), info.dtype);
    perExpression.set(signature, own);
  }
  if (own && mapKernel(own, 'expr', out, bytesPerElement(info.dtype), inputs, info.shape)) return;
  const hosts = inputs.map((i) => ({ data: view(ctx.heap, i.dtype, ptrOf(i.buffer), sizeOf(i.shape)), shape: i.shape }));
  mapElements(expression, view(ctx.heap, info.dtype, out.ptr, sizeOf(info.shape)), hosts, info.shape);
}

/** The module of an expression's wasm rendering (shared by every expression of the same structure and dtypes), or null where wasm cannot render it. */
function compileExpression(ctx: Context, cache: ExpressionCache, expression: Expr, dtypes: readonly DType[], outDtype: DType): Context | null {
  const lowered = lowerForWasm(expression);
  if (!lowered) return null;
  const key = `${ir.structureKey(lowered)}|${dtypes.join(',')}|${outDtype}`;
  let own = cache.byKey.get(key);
  if (!own) {
    const memory = ctx.heap.memory;
    const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: memory.buffer.byteLength / PAGE, maximum: ctx.heap.maxBytes / PAGE, shared: ctx.heap.shared });
    emitExpression(m, 'expr', lowered, dtypes, outDtype);
    const bytes = m.encode();
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const fns: Record<string, KernelFn> = { ...ctx.fns };
    for (const [name, f] of Object.entries(instance.exports)) fns[name] = f as KernelFn;
    const exported = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function');
    const parent = ctx;
    own = {
      ...ctx,
      fns,
      // The workers may start after this module is compiled: the pool is looked up when a kernel runs.
      get pool() {
        return parent.pool;
      },
      own: { bytes, fnIndex: new Map(exported.map((e, i) => [e.name, i])) },
    };
    cache.byKey.set(key, own);
  }
  return own;
}

// ---------------------------------------------------------------- layout: broadcast, transpose

/** `n` contiguous 4-byte elements from `src` to `dst`, by `copy_block`: a long run cut into rows of FLAT_WIDTH that the threads share. */
function copyVector(ctx: Context, dst: number, src: number, n: number): void {
  if (n < 2 * FLAT_WIDTH) {
    ctx.fns.copy_block!(dst, 0, src, 0, 0, 1, n);
    return;
  }
  const full = Math.floor(n / FLAT_WIDTH);
  runRange(ctx, 'copy_block', [dst, 4 * FLAT_WIDTH, src, 4 * FLAT_WIDTH, 0, 0, FLAT_WIDTH], 4, full, FLAT_WIDTH);
  if (n > full * FLAT_WIDTH) ctx.fns.copy_block!(dst + 4 * full * FLAT_WIDTH, 0, src + 4 * full * FLAT_WIDTH, 0, 0, 1, n - full * FLAT_WIDTH);
}

/**
 * out = x read through `strides` (elements, one per output axis), 4-byte elements: after merging
 * axes, one contiguous run (a slice of a vector) or rows of contiguous runs (a slice of channels) by
 * `copy_block`, which the threads split; otherwise by `copy_rows`: rows along the last axis
 * (contiguous, broadcast or gathered), the outer axes walked by an odometer in wasm, its metadata
 * in the calling thread's scratch block.
 */
function copyRows(ctx: Context, out: WasmBuffer, ptr: number, strides: readonly number[], outShape: readonly number[]): void {
  if (sizeOf(outShape) === 0) return;
  const c = collapse(outShape, [strides]);
  const dims = c.shape.length ? c.shape : [1];
  const st = c.shape.length ? c.strides[0]! : [0];
  const rank = dims.length - 1;
  if (rank === 0 && st[0] === 1) return copyVector(ctx, out.ptr, ptr, dims[0]!);
  if (rank === 1 && st[1] === 1 && dims[1]! >= MIN_ROW) {
    runRange(ctx, 'copy_block', [out.ptr, 4 * dims[1]!, ptr, 4 * st[0]!, 0, 0, dims[1]!], 4, dims[0]!, dims[1]!);
    return;
  }
  const meta = new Int32Array(ctx.heap.memory.buffer, ctx.scratch, 3 * rank);
  for (let k = 0; k < rank; k++) {
    meta[k] = dims[k]!;
    meta[rank + k] = 4 * st[k]!;
  }
  ctx.fns.copy_rows!(out.ptr, ptr, dims[rank]!, 4 * st[rank]!, rank, ctx.scratch);
}

const broadcastKernel: WasmKernel<'broadcast'> = (() => {
  const fallback = viaCpu('broadcast');
  return (ctx, out, inputs, params, info) => {
    const x = inputs[0]!;
    if (bytesPerElement(x.dtype) !== 4) return fallback(ctx, out, inputs, params, info);
    const strides = broadcastStrides(x.shape, info.shape);
    const c = collapse(info.shape, [strides]);
    const temps: WasmBuffer[] = [];
    try {
      // Short rows (a broadcast along the innermost axes): copy from a small expansion instead.
      const wide = c.shape.length && c.shape[c.shape.length - 1]! < MIN_ROW ? expandInner(ctx, c.shape, [{ ptr: ptrOf(x.buffer), bytes: 4, strides: c.strides[0]! }], temps) : null;
      if (wide) copyRows(ctx, out, wide[0]!.ptr, wide[0]!.strides, c.shape);
      else copyRows(ctx, out, ptrOf(x.buffer), strides, info.shape);
    } finally {
      for (const t of temps) ctx.heap.free(t.ptr, t.size);
    }
  };
})();

/** slice of 4-byte elements: `copy_rows` from the first element, with the input's strides. */
const sliceKernel: WasmKernel<'slice'> = (() => {
  const fallback = viaCpu('slice');
  return (ctx, out, inputs, params, info) => {
    const x = inputs[0]!;
    if (bytesPerElement(x.dtype) !== 4) return fallback(ctx, out, inputs, params, info);
    const st = stridesOf(x.shape);
    const offset = params.begin.reduce((sum, b, i) => sum + b * st[i]!, 0);
    copyRows(ctx, out, ptrOf(x.buffer) + 4 * offset, st, info.shape);
  };
})();

/**
 * concat of 4-byte elements: each input's rows (its extent from `axis` on) into its columns of the
 * output, by `copy_block`, the threads splitting the rows; one long row (a concatenation of vectors,
 * as the optimizers' whole-tree vectors) is cut into rows of FLAT_WIDTH for them first.
 */
const concatKernel: WasmKernel<'concat'> = (() => {
  const fallback = viaCpu('concat');
  return (ctx, out, inputs, params, info) => {
    if (bytesPerElement(info.dtype) !== 4) return fallback(ctx, out, inputs, params, info);
    const outer = sizeOf(info.shape.slice(0, params.axis));
    const rowOut = sizeOf(info.shape.slice(params.axis));
    let col = 0;
    for (const x of inputs) {
      const row = sizeOf(x.shape.slice(params.axis));
      const [dst, src] = [out.ptr + 4 * col, ptrOf(x.buffer)];
      if (outer === 1) copyVector(ctx, dst, src, row);
      else if (row > 0 && outer > 0) runRange(ctx, 'copy_block', [dst, 4 * rowOut, src, 4 * row, 0, 0, row], 4, outer, row);
      col += row;
    }
  };
})();

/**
 * Transpose of 4-byte elements. When the output's last axis is contiguous in the input (heads moved
 * around whole rows), or the blocks below would be small, `copy_rows`. Otherwise the output axis that
 * walks the input contiguously and the output's last axis form 2-D blocks, each one `transpose32`
 * call (4×4 register transposes, so both sides are read and written four lanes at a time).
 */
const transposeKernel: WasmKernel<'transpose'> = (() => {
  const fallback = viaCpu('transpose');
  return (ctx, out, inputs, params, info) => {
    const x = inputs[0]!;
    if (bytesPerElement(x.dtype) !== 4) return fallback(ctx, out, inputs, params, info);
    const inStrides = stridesOf(x.shape);
    const strides = params.perm.map((p) => inStrides[p]!);
    const c = collapse(info.shape, [strides]);
    const dims = c.shape;
    const st = c.strides[0] ?? [];
    const rank = dims.length;
    const a = st.indexOf(1);
    const rows = dims[a] ?? 1;
    const cols = dims[rank - 1] ?? 1;
    if (rank < 2 || a < 0 || a === rank - 1 || rows < 4 || cols < 4 || rows * cols < 64) return copyRows(ctx, out, ptrOf(x.buffer), strides, info.shape);
    const outStrides = stridesOf(dims);
    const leadAxes = dims.map((_, k) => k).filter((k) => k !== a && k !== rank - 1);
    const lead = leadAxes.map((k) => dims[k]!);
    const blocks = lead.reduce((p, d) => p * d, 1);
    const fn = ctx.fns.transpose32!;
    const idx = new Array<number>(lead.length).fill(0);
    let inOff = 0;
    let outOff = 0;
    const xPtr = ptrOf(x.buffer);
    for (let b = 0; b < blocks; b++) {
      fn(out.ptr + 4 * outOff, xPtr + 4 * inOff, rows, cols, 4 * st[rank - 1]!, 4 * outStrides[a]!);
      for (let k = lead.length - 1; k >= 0; k--) {
        const ax = leadAxes[k]!;
        idx[k]!++;
        inOff += st[ax]!;
        outOff += outStrides[ax]!;
        if (idx[k]! < lead[k]!) break;
        inOff -= st[ax]! * lead[k]!;
        outOff -= outStrides[ax]! * lead[k]!;
        idx[k] = 0;
      }
    }
  };
})();

// ---------------------------------------------------------------- reductions

/**
 * Sum or max over `axes` when they form one contiguous block: x viewed as [outer, reduced, inner].
 * Size-1 axes are ignored; other layouts go to the CPU kernel.
 */
/**
 * `[size, reduced]` runs of the shape with size-1 axes dropped and neighbours of the same kind merged:
 * [64, 64, 8, 2] over axes [1, 3] is [[64, false], [64, true], [8, false], [2, true]].
 */
export function reductionRuns(shape: readonly number[], axes: readonly number[]): [number, boolean][] {
  const runs: [number, boolean][] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const reduced = axes.includes(d);
    const last = runs[runs.length - 1];
    if (last && last[1] === reduced) last[0] *= size;
    else runs.push([size, reduced]);
  });
  return runs;
}

/**
 * Sum or max over any axes. A reduction over one block of adjacent axes is one kernel call
 * (`[outer, len, inner]`); reduced blocks separated by kept axes (group norm's [n, hw, groups, c/g]
 * over hw and c/g) are reduced one block at a time from the last, through temporary blocks.
 */
function reduceKernel(op: 'sum' | 'max'): WasmKernel<'sum' | 'reduceMax'> {
  const fallback = op === 'sum' ? viaCpu('sum') : viaCpu('reduceMax');
  return (ctx, out, inputs, params, info) => {
    const x = inputs[0]!;
    if (x.dtype !== 'float32' || sizeOf(x.shape) === 0) return fallback(ctx, out, inputs, params as never, info);
    const runs = reductionRuns(x.shape, (params as { axes: number[] }).axes);
    let src = ptrOf(x.buffer);
    let temp: WasmBuffer | null = null;
    try {
      for (;;) {
        let last = runs.map((r) => r[1]).lastIndexOf(true);
        // A short innermost reduced run (group norm's c/g = 2) would make rows of 2: an earlier
        // reduced block goes first, with the short run inside its columns, then the short rows of a
        // much smaller array.
        const earlier = runs.slice(0, Math.max(last, 0)).map((r) => r[1]).lastIndexOf(true);
        if (earlier >= 0 && last === runs.length - 1 && runs[last]![0] < MIN_ROW) last = earlier;
        const outer = runs.slice(0, Math.max(last, 0)).reduce((a, r) => a * r[0], 1);
        const len = last >= 0 ? runs[last]![0] : 1;
        const inner = runs.slice(last + 1).reduce((a, r) => a * r[0], 1);
        const more = runs.some((r, k) => r[1] && k !== last);
        const dst: WasmBuffer = more ? ctx.heap.alloc(outer * inner * 4) : out;
        if (inner === 1) runRange(ctx, `${op}_rows`, [dst.ptr, src, 0, outer, len], 2, outer, len);
        else runRange(ctx, `${op}_cols`, [dst.ptr, src, 0, outer, len, inner], 2, outer, len * inner);
        if (temp) ctx.heap.free(temp.ptr, temp.size);
        temp = more ? dst : null;
        if (!more) return;
        src = dst.ptr;
        // Drop the reduced run; its kept neighbours merge.
        runs.splice(last, 1);
        if (last > 0 && last < runs.length && runs[last - 1]![1] === runs[last]![1]) runs.splice(last - 1, 2, [runs[last - 1]![0] * runs[last]![0], runs[last]![1]]);
      }
    } finally {
      if (temp) ctx.heap.free(temp.ptr, temp.size);
    }
  };
}

// ---------------------------------------------------------------- im2col / col2im

const im2colKernel: WasmKernel<'im2col'> = (() => {
  const fallback = viaCpu('im2col');
  return (ctx, out, inputs, p, info) => {
    const x = inputs[0]!;
    if (bytesPerElement(x.dtype) !== 4) return fallback(ctx, out, inputs, p, info);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const args = [out.ptr, ptrOf(x.buffer), 0, n, h, w, c, p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padTop, p.padLeft, p.outHeight, p.outWidth, p.dilationHeight, p.dilationWidth];
    runRange(ctx, 'im2col', args, 2, n, p.outHeight * p.outWidth * p.kernelHeight * p.kernelWidth * c);
  };
})();

const col2imKernel: WasmKernel<'col2im'> = (() => {
  const fallback = viaCpu('col2im');
  return (ctx, out, inputs, p, info) => {
    const cols = inputs[0]!;
    if (cols.dtype !== 'float32') return fallback(ctx, out, inputs, p, info);
    const n = cols.shape[0]!;
    const c = cols.shape[3]! / (p.kernelHeight * p.kernelWidth);
    const args = [out.ptr, ptrOf(cols.buffer), 0, n, p.height, p.width, c, p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padTop, p.padLeft, p.outHeight, p.outWidth, p.dilationHeight, p.dilationWidth];
    runRange(ctx, 'col2im', args, 2, n, p.outHeight * p.outWidth * p.kernelHeight * p.kernelWidth * c);
  };
})();

// ---------------------------------------------------------------- Winograd transforms

/** The scratch argument's index for a transform over `c` channels, or −1 (direct, its 0 left in place) where the thread's scratch block is too small for a run. */
const winogradScratchArg = (ctx: Context, c: number, index: number): number => (winogradScratchBytes(c) <= ctx.scratchBytes ? index : -1);

const winogradInKernel: WasmKernel<'winogradIn'> = (() => {
  const fallback = viaCpu('winogradIn');
  return (ctx, out, inputs, p, info) => {
    const x = inputs[0]!;
    if (x.dtype !== 'float32') return fallback(ctx, out, inputs, p, info);
    const c = x.shape[x.shape.length - 1]!;
    const tiles = p.batch * p.tilesHigh * p.tilesWide;
    if (tiles * c === 0) return;
    const geometry = [p.height, p.width, c, p.tilesHigh, p.tilesWide, tiles, p.padTop, p.padLeft];
    if (p.adjoint) {
      // Two passes: each tile's contributions, then each pixel's sum of those that reach it.
      const entries = (p.tile + 2) ** 2;
      const contributions = ctx.heap.alloc(tiles * entries * c * 4);
      try {
        runRange(ctx, `winogradInAdjTiles${p.tile}`, [contributions.ptr, ptrOf(x.buffer), 0, 0, p.tilesHigh, p.tilesWide, c, tiles, 0], 2, p.batch * p.tilesHigh, p.tilesWide * c * entries, winogradScratchArg(ctx, c, 8));
        runRange(ctx, `winogradInAdj${p.tile}`, [out.ptr, contributions.ptr, 0, 0, ...geometry], 2, p.batch * p.height, p.width * c * 4);
      } finally {
        ctx.heap.free(contributions.ptr, contributions.size);
      }
      return;
    }
    // c zero floats that the tiles' points outside the image read instead of the image.
    const zero = ctx.heap.alloc(c * 4);
    try {
      view(ctx.heap, 'float32', zero.ptr, c).fill(0);
      runRange(ctx, `winogradInFwd${p.tile}`, [out.ptr, ptrOf(x.buffer), 0, 0, ...geometry, zero.ptr, 0], 2, p.batch * p.tilesHigh, p.tilesWide * c * (p.tile + 2) ** 2, winogradScratchArg(ctx, c, 13));
    } finally {
      ctx.heap.free(zero.ptr, zero.size);
    }
  };
})();

const winogradOutKernel: WasmKernel<'winogradOut'> = (() => {
  const fallback = viaCpu('winogradOut');
  return (ctx, out, inputs, p, info) => {
    const x = inputs[0]!;
    if (x.dtype !== 'float32') return fallback(ctx, out, inputs, p, info);
    const c = x.shape[x.shape.length - 1]!;
    const tiles = p.batch * p.tilesHigh * p.tilesWide;
    if (tiles * c === 0) return;
    runRange(ctx, `${p.adjoint ? 'winogradOutAdj' : 'winogradOutFwd'}${p.tile}`, [out.ptr, ptrOf(x.buffer), 0, 0, p.tilesHigh, p.tilesWide, c, tiles, 0], 2, p.batch * p.tilesHigh, p.tilesWide * c * (p.tile + 2) ** 2, winogradScratchArg(ctx, c, 8));
  };
})();

// ---------------------------------------------------------------- the PRNG

/**
 * Threefry-2x32 over the broadcast of its four uint32 inputs (random.ts): an input with one value is
 * read as a splat, one of the output's size directly, any other broadcast copied out to full size
 * first. The threads split the blocks. Integer arithmetic: the host reference's bits.
 */
const threefryKernel: WasmKernel<'threefry2x32'> = (ctx, out, inputs, _params, info) => {
  const shape = info.shape.slice(1);
  const n = sizeOf(shape);
  if (n === 0) return;
  const temps: WasmBuffer[] = [];
  try {
    const operands = inputs.map((x): [number, number] => {
      const size = sizeOf(x.shape);
      if (size === 1) return [ptrOf(x.buffer), 0];
      if (size === n) return [ptrOf(x.buffer), 4];
      const full = ctx.heap.alloc(4 * n);
      temps.push(full);
      copyRows(ctx, full, ptrOf(x.buffer), broadcastStrides(x.shape, shape), shape);
      return [full.ptr, 4];
    });
    runRange(ctx, 'threefry2x32', [out.ptr, ...operands.map(([ptr]) => ptr), ...operands.map(([, stride]) => stride), 0, 0, n], 9, n, 16);
  } finally {
    for (const t of temps) ctx.heap.free(t.ptr, t.size);
  }
};

// ---------------------------------------------------------------- matmul

const matmulKernel: WasmKernel<'matmul'> = (ctx, out, [a, b], { transA, transB }, info) => {
  const [batch, m, n] = info.shape as [number, number, number];
  const k = transA ? a!.shape[1]! : a!.shape[2]!;
  if (batch * m * n === 0) return;
  if (k === 0) {
    view(ctx.heap, 'float32', out.ptr, batch * m * n).fill(0);
    return;
  }
  const strideA = a!.shape[0] === 1 ? 0 : m * k * 4;
  const strideB = b!.shape[0] === 1 ? 0 : k * n * 4;
  // A tiny op(A) against a wide B (the Winograd filter transform): rows of C streamed over B's rows,
  // the threads taking fours of columns. The micro-kernel's operations in its order: the same bits.
  if (!transB && m <= ctx.smallK && k <= ctx.smallK && n >= 4) {
    runRange(ctx, `matmul_smallk${k}`, [ptrOf(a!.buffer), ptrOf(b!.buffer), out.ptr, strideA, strideB, batch, m, n, transA ? 1 : 0, 0, 0, 0], 9, Math.ceil(n / 4), 4 * batch * m * k, 11);
    return;
  }
  // One output column (a convolution to one channel, its weight gradient): computed as the row
  // Cᵀ = op(B)ᵀ·op(A)ᵀ, which is the same memory, so the long side runs along the micro-tile's
  // columns (a 1-of-4 row edge instead of a 1-of-8 column edge copied through scratch per tile).
  // Each element is the same products summed in the same order of k: the same bits.
  if (n === 1 && m > 1) {
    const flagsT = (transB ? 0 : 1) | (transA ? 0 : 2);
    runMatmul(ctx, [ptrOf(b!.buffer), ptrOf(a!.buffer), out.ptr, strideB, strideA, 0, batch, 1, m, k, flagsT, 0, 1, 0, m, ctx.scratch], batch, 1, m, k);
    return;
  }
  const flags = (transA ? 1 : 0) | (transB ? 2 : 0);
  runMatmul(ctx, [ptrOf(a!.buffer), ptrOf(b!.buffer), out.ptr, strideA, strideB, 0, batch, m, n, k, flags, 0, m, 0, n, ctx.scratch], batch, m, n, k);
};

/** The matmul kernel over its whole output, split across the threads where that pays. */
function runMatmul(ctx: Context, args: number[], batch: number, m: number, n: number, k: number): void {
  const fn = ctx.fns.matmul!;
  if (!ctx.pool || batch * m * n * k < ctx.parallelThreshold || (ctx.adaptive && !ctx.pool.worthIt)) {
    fn(...args);
    return;
  }
  const plan = matmulPlan(batch, m, n, ctx.pool.size + 1);
  ctx.pool.run({ fn: ctx.fnIndex.get('matmul')!, args, rangeArg: plan.rangeArg, unit: plan.unit, extent: plan.extent, scratchArg: 15 }, fn, ctx.scratch);
}

/**
 * How threads share a batched matmul: chunks of batches when there are enough of them, else chunks
 * of the longer of rows and columns, whole multiples of 16 (the micro-tiles), about four chunks per
 * thread so a late thread costs little. `rangeArg` is the position of the range in the kernel's
 * arguments (t0 = 5, i0 = 11, j0 = 13).
 */
export function matmulPlan(batch: number, m: number, n: number, threads: number): { rangeArg: number; unit: number; extent: number } {
  const chunks = 4 * threads;
  if (batch >= 2 * threads) return { rangeArg: 5, unit: Math.ceil(batch / chunks), extent: batch };
  const alongN = n >= m;
  const len = alongN ? n : m;
  const unit = Math.max(32, Math.ceil(len / chunks / 16) * 16);
  return { rangeArg: alongN ? 13 : 11, unit, extent: len };
}

// ---------------------------------------------------------------- the table

const wasmKernels: { [P in StructuralPrim]: WasmKernel<P> } = {
  sum: reduceKernel('sum'),
  reduceMax: reduceKernel('max'),
  argmax: viaCpu('argmax'),
  cumsum: viaCpu('cumsum'),
  matmul: matmulKernel,
  im2col: im2colKernel,
  col2im: col2imKernel,
  winogradIn: winogradInKernel,
  winogradOut: winogradOutKernel,
  transpose: transposeKernel,
  broadcast: broadcastKernel,
  slice: sliceKernel,
  pad: viaCpu('pad'),
  concat: concatKernel,
  flip: viaCpu('flip'),
  gather: viaCpu('gather'),
  scatterAdd: viaCpu('scatterAdd'),
  threefry2x32: threefryKernel,
};

/** Every primitive's kernel: the element-wise ones (generated kernel or the CPU's rendering), then the table. */
const allKernels: { [P in BackendPrim]: WasmKernel<P> } = {
  ...(Object.fromEntries(ELEMENTWISE_PRIMS.map((p) => [p, elementwiseKernel(p)])) as { [P in ElementwisePrim]: WasmKernel<P> }),
  ...wasmKernels,
};

// ---------------------------------------------------------------- the backend

const PAGE = 65536;

function makeBackend(heap: Heap, fns: Record<string, KernelFn>, names: readonly string[], pool: ((reserve: (bytes: number) => number, release: (ptr: number, bytes: number) => void) => Promise<ThreadPool | null>) | null, scratch: number, scratchBytes: number, features: WasmFeatures, options: WasmBackendOptions): WasmBackend {
  const ctx: Context = {
    heap,
    fns,
    fnIndex: new Map(names.map((n, i) => [n, i])),
    pool: null,
    scratch,
    scratchBytes,
    parallelThreshold: options.parallelThreshold ?? 2 ** 17,
    adaptive: options.adaptive ?? true,
    smallK: options.matmul?.smallK ?? DEFAULT_MATMUL.smallK,
  };
  // Kernels run on the calling thread until the workers are up; the bits are the same either way.
  // The scratch blocks (ours and the workers') are the backend's own; they do not count as tensors.
  const base = { ...heap.stats() };
  const reserve = (bytes: number): number => {
    const { ptr, size } = heap.alloc(bytes);
    base.buffers++;
    base.bytes += size;
    return ptr;
  };
  const release = (ptr: number, bytes: number): void => {
    const size = sizeClass(Math.max(bytes, 1));
    heap.free(ptr, size);
    base.buffers--;
    base.bytes -= size;
  };
  const started: Promise<void> = (pool ? pool(reserve, release) : Promise.resolve(null)).then(
    (p) => {
      if (disposed) void p?.dispose();
      else ctx.pool = p;
    },
    () => undefined,
  );
  const buffer = (b: BackendBuffer): WasmBuffer => b as WasmBuffer;
  const compiled: ExpressionCache = { byKey: new Map(), byExpression: new WeakMap() };
  let disposed = false;
  return {
    name: 'wasm',
    features,
    threadStats(): PoolStats | null {
      return ctx.pool?.stats() ?? null;
    },
    get threads(): number {
      return ctx.pool ? ctx.pool.size + 1 : 1;
    },
    heap,
    ready(): Promise<WasmBackend> {
      return started.then(() => this as WasmBackend);
    },
    upload(values: TypedArray, dtype: DType): BackendBuffer {
      const block = heap.alloc(values.length * bytesPerElement(dtype));
      view(heap, dtype, block.ptr, values.length).set(values);
      return block;
    },
    free(b: BackendBuffer): void {
      const { ptr, size } = buffer(b);
      heap.free(ptr, size);
    },
    read(b: BackendBuffer, dtype: DType, size: number): Promise<TypedArray> {
      return Promise.resolve(this.readSync!(b, dtype, size));
    },
    readSync(b: BackendBuffer, dtype: DType, size: number): TypedArray {
      const out = makeTypedArray(dtype, size);
      out.set(view(heap, dtype, buffer(b).ptr, size) as never);
      return out;
    },
    run<P extends BackendPrim>(prim: P, inputs: readonly BufferInfo[], params: PrimParams[P], info: OutputInfo): BackendBuffer {
      if (disposed) throw new Error('wasm backend: used after dispose()');
      const block = heap.alloc(sizeOf(info.shape) * bytesPerElement(info.dtype));
      try {
        (allKernels[prim] as WasmKernel<P>)(ctx, block, inputs, params, info);
      } catch (e) {
        heap.free(block.ptr, block.size);
        throw e;
      }
      return block;
    },
    renders(expression: Expr): boolean {
      return lowerForWasm(expression) !== null;
    },
    runExpression(expression: Expr, inputs: readonly BufferInfo[], info: OutputInfo): BackendBuffer {
      if (disposed) throw new Error('wasm backend: used after dispose()');
      const block = heap.alloc(sizeOf(info.shape) * bytesPerElement(info.dtype));
      try {
        runExpression(ctx, compiled, expression, block, inputs, info);
      } catch (e) {
        heap.free(block.ptr, block.size);
        throw e;
      }
      return block;
    },
    stats(): HeapStats {
      const s = heap.stats();
      return { ...s, buffers: s.buffers - base.buffers, bytes: s.bytes - base.bytes };
    },
    dispose(): void {
      disposed = true;
      void ctx.pool?.dispose();
      ctx.pool = null;
    },
  };
}

function setup(options: WasmBackendOptions, threads: number): { heap: Heap; cfg: MatmulConfig; features: WasmFeatures; build: () => ReturnType<typeof buildKernelModule> } {
  const features = wasmFeatures();
  if (!features.simd) throw new Error('wasm backend: this engine has no WebAssembly 128-bit SIMD (Node ≥ 16.4 and every current browser do)');
  const shared = threads > 1 && features.sharedMemory;
  const heap = new Heap({ maxBytes: options.maxBytes, initialBytes: options.initialBytes, shared });
  const cfg: MatmulConfig = { ...DEFAULT_MATMUL, ...options.matmul, relaxed: (options.relaxedSimd ?? true) && features.relaxedSimd };
  const build = () => buildKernelModule({ initialPages: heap.memory.buffer.byteLength / PAGE, maximumPages: heap.maxBytes / PAGE, shared, matmul: cfg });
  return { heap, cfg, features, build };
}

/** Cores to use: Node's available parallelism or the browser's `hardwareConcurrency`, at most 8. */
async function parallelism(): Promise<number> {
  if (!isNode()) return Math.min(8, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
  try {
    const os = await importNodeModule<typeof import('node:os')>('node:os');
    return Math.min(8, os.availableParallelism?.() ?? os.cpus().length);
  } catch {
    return 1;
  }
}

/** Start `threads - 1` workers (`'auto'`: one per core, at most 8, less the calling thread). */
async function startPool(k: KernelModule, memory: WebAssembly.Memory, cfg: MatmulConfig, threads: number | 'auto', reserve: (bytes: number) => number, release: (ptr: number, bytes: number) => void): Promise<ThreadPool | null> {
  const count = threads === 'auto' ? await parallelism() : threads;
  if (count <= 1) return null;
  const workerScratch = Array.from({ length: count - 1 }, () => reserve(matmulScratchBytes(cfg)));
  try {
    return await ThreadPool.start(k.module, memory, k.names, workerScratch);
  } catch {
    for (const ptr of workerScratch) release(ptr, matmulScratchBytes(cfg));
    return null;
  }
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

/**
 * The wasm backend, made synchronously (this is what the package's default backend uses). With more
 * than one thread (default: one per core, at most 8, in Node and in cross-origin-isolated pages;
 * elsewhere 1) the workers start in the background and kernels use them once they are up (`ready()`
 * waits); until then, and wherever shared memory or workers are missing, everything runs on the
 * calling thread.
 */
export function createWasmBackendSync(options: WasmBackendOptions = {}): WasmBackend {
  const wanted: number | 'auto' = options.threads !== undefined ? Math.max(1, Math.floor(options.threads)) : canStartWorkers() ? 'auto' : 1;
  const { heap, cfg, features, build } = setup(options, wanted === 'auto' ? 2 : wanted);
  const k = build();
  const fns = instantiate(k, heap.memory);
  const scratchBytes = matmulScratchBytes(cfg);
  const scratch = heap.alloc(scratchBytes).ptr;
  const pool = wanted !== 1 && heap.shared ? (reserve: (bytes: number) => number, release: (ptr: number, bytes: number) => void) => startPool(k, heap.memory, cfg, wanted, reserve, release) : null;
  return makeBackend(heap, fns, k.names, pool, scratch, scratchBytes, features, options);
}

/** The wasm backend with its worker threads started (see `createWasmBackendSync`). */
export function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  return createWasmBackendSync(options).ready();
}
