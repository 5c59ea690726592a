/**
 * Element-wise kernels with NumPy broadcasting, never materialising a broadcast: each input is read
 * through its own strides (0 along stretched axes). As on the CPU, axes every operand walks
 * contiguously are merged first, and each input gets a mode: `c` (contiguous, read at the output
 * index), `s` (a single element) or `g` (general strides); only `g` pays for index arithmetic.
 *
 * Expressions are WGSL over typed values `a, b, c, d`; integer and float semantics follow the CPU
 * backend (JavaScript's), see `binaryExpr`.
 */
import { broadcastStrides, collapseStrides, sizeOf, type BackendPrim, type BufferInfo, type DType, type Shape } from '../../core/index.js';
import type { Engine, GpuHandle } from './engine.js';
import { bindings, fromBits, helpersFor, linearGroups, linearMain, toBits, uniformWords } from './wgsl.js';

const NAMES = ['a', 'b', 'c', 'd'];


/** Merge axes that every operand walks contiguously, and drop size-1 axes (core's collapseStrides). */
export const collapse = collapseStrides;

export interface ElementwiseSpec {
  /** Names the operation in the pipeline key (with its dtypes). */
  readonly name: string;
  /** The dtype each input is loaded as. */
  readonly inTypes: readonly DType[];
  /** A WGSL expression over `a, b, ...` (typed by `inTypes`), of the output dtype's type. */
  readonly expr: string;
  readonly outType: DType;
}

export type Mode = 'c' | 's' | 'g';

export interface Layout {
  readonly modes: Mode[];
  readonly rank: number;
  /** [n, rank, ...shape, ...strides of each `g` input]. */
  readonly params: number[];
}

interface Plan extends Layout {
  readonly words: number;
}

/** How each input (of `shapes`, broadcast to `outShape`) is read: its mode, and the index parameters. */
export function layoutOf(shapes: readonly Shape[], outShape: Shape): Layout {
  const n = sizeOf(outShape);
  const { shape, strides } = collapse(outShape, shapes.map((s) => broadcastStrides(s, outShape)));
  const modes: Mode[] = shapes.map((s, k) => {
    if (sizeOf(s) === 1) return 's';
    const contiguous = sizeOf(s) === n && strides[k]!.every((st, i) => st === sizeOf(shape.slice(i + 1)));
    return contiguous ? 'c' : 'g';
  });
  const general = modes.map((m, k) => (m === 'g' ? k : -1)).filter((k) => k >= 0);
  const params = [n, shape.length, ...shape, ...general.flatMap((k) => strides[k]!)];
  return { modes, rank: general.length ? shape.length : 0, params };
}

function plan(inputs: readonly BufferInfo[], outShape: Shape): Plan {
  const layout = layoutOf(inputs.map((x) => x.shape), outShape);
  return { ...layout, words: uniformWords(layout.params.length) };
}

const buffersOf = (inputs: readonly BufferInfo[]): GPUBuffer[] => inputs.map((x) => (x.buffer as GpuHandle).slab.buffer);

/** Run an element-wise expression over broadcast inputs into a new buffer of `outShape`. */
export function elementwise(e: Engine, spec: ElementwiseSpec, inputs: readonly BufferInfo[], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  if (n === 0) return out;
  const { modes, rank, params, words } = plan(inputs, outShape);
  e.dispatch({
    key: `ew:${spec.name}:${modes.join('')}${rank}:${words}`,
    source: () => elementwiseSource(spec, modes, rank, words),
    inputs: buffersOf(inputs),
    output: out.slab.buffer,
    params,
    words,
    groups: linearGroups(n, e.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/**
 * Offsets of each input for output element `i`, unrolled for the rank (constant parameter indices:
 * dynamic indexing into the uniform block is slow on some implementations). Layout: [n, rank,
 * shape[rank], strides of each `g` input [rank]].
 */
export function offsetsSource(modes: readonly Mode[], rank: number): string {
  const general = modes.map((m, k) => (m === 'g' ? k : -1)).filter((k) => k >= 0);
  const lines: string[] = [];
  modes.forEach((m, k) => lines.push(`  var o${k} = ${m === 'c' ? 'i' : '0u'};`));
  if (general.length) {
    lines.push('  var rem = i;');
    for (let ax = rank - 1; ax >= 0; ax--) {
      const c = `c${ax}`;
      if (ax > 0) lines.push(`  let q${ax} = rem / p(${2 + ax}u);`, `  let ${c} = rem - q${ax} * p(${2 + ax}u);`, `  rem = q${ax};`);
      else lines.push(`  let ${c} = rem;`);
      general.forEach((k, j) => lines.push(`  o${k} = o${k} + ${c} * p(${2 + rank * (j + 1) + ax}u);`));
    }
  }
  return lines.join('\n');
}

function elementwiseSource(spec: ElementwiseSpec, modes: readonly Mode[], rank: number, words: number): string {
  const loads = modes.map((_, k) => `  let ${NAMES[k]} = ${fromBits(spec.inTypes[k]!, `in${k}[o${k}]`)};`).join('\n');
  const body = `${offsetsSource(modes, rank)}\n${loads}\n  out[i] = ${toBits(spec.outType, spec.expr)};`;
  return `${bindings(modes.length, words)}\n${helpersFor(spec.expr)}\n${linearMain(body)}`;
}

// ---------------------------------------------------------------- expressions

const UNARY_FLOAT: Record<string, string> = {
  neg: '-a',
  exp: 'exp_(a)',
  log: 'log_(a)',
  expm1: 'expm1_(a)',
  log1p: 'log1p_(a)',
  sin: 'sin_(a)',
  cos: 'cos_(a)',
  tanh: 'tanh_(a)',
  sqrt: 'sqrt_(a)',
  erf: 'erf_(a)',
  erfinv: 'erfinv_(a)',
  floor: 'floor(a)',
  abs: 'abs(a)',
  sign: 'sign_(a)',
  sigmoid: '1.0 / (1.0 + exp_(-a))',
};

const UNARY_INT: Record<string, string> = { neg: '-a', abs: 'abs(a)', sign: 'sign(a)' };

export function unaryExpr(prim: BackendPrim, dtype: DType): string {
  const expr = dtype === 'float32' ? UNARY_FLOAT[prim] : dtype === 'int32' ? UNARY_INT[prim] : undefined;
  if (expr === undefined) throw new Error(`webgpu backend: ${prim} is not defined for ${dtype}`);
  return expr;
}

/** Binary arithmetic with the CPU backend's (JavaScript's) results, including the integer corner cases. */
export function binaryExpr(prim: BackendPrim, dtype: DType): string {
  if (dtype === 'float32') {
    switch (prim) {
      case 'add': return 'a + b';
      case 'sub': return 'a - b';
      case 'mul': return 'a * b';
      case 'div': return 'a / b';
      case 'max': return 'maxf_(a, b)';
      case 'min': return 'minf_(a, b)';
      case 'pow': return 'powf_(a, b)';
      case 'mod': return '(a - b * floor(a / b))';
    }
  } else if (dtype === 'int32') {
    switch (prim) {
      case 'add': return 'a + b';
      case 'sub': return 'a - b';
      case 'mul': return 'a * b';
      case 'div': return 'idiv_(a, b)';
      case 'max': return 'max(a, b)';
      case 'min': return 'min(a, b)';
      case 'pow': return 'ipow_(a, b)';
      case 'mod': return 'imod_(a, b)';
    }
  } else {
    switch (prim) {
      case 'add': return 'a + b';
      case 'sub': return 'a - b';
      case 'mul': return 'a * b';
      case 'div': return 'select(a / b, 0u, b == 0u)';
      case 'max': return 'max(a, b)';
      case 'min': return 'min(a, b)';
      case 'pow': return 'upow_(a, b)';
      case 'mod': return 'select(a % b, 0u, b == 0u)';
    }
  }
  throw new Error(`webgpu backend: no expression for ${prim} on ${dtype}`);
}

/** Bit operations act on the raw words (the same bits for int32, uint32 and bool), except `shr` on int32. */
export function bitwiseExpr(prim: BackendPrim, dtype: DType): { expr: string; inType: DType } {
  switch (prim) {
    case 'bitand': return { expr: 'a & b', inType: 'uint32' };
    case 'bitor': return { expr: 'a | b', inType: 'uint32' };
    case 'bitxor': return { expr: 'a ^ b', inType: 'uint32' };
    case 'shl': return { expr: 'a << (b & 31u)', inType: 'uint32' };
    case 'shr':
      return dtype === 'int32' ? { expr: 'bitcast<u32>(bitcast<i32>(a) >> (b & 31u))', inType: 'uint32' } : { expr: 'a >> (b & 31u)', inType: 'uint32' };
  }
  throw new Error(`webgpu backend: no bitwise expression for ${prim}`);
}

/** Comparisons; float ones test NaN on the bits (WGSL may assume there is none). */
export function compareExpr(prim: BackendPrim, dtype: DType): string {
  const op = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' }[prim as 'eq'];
  if (op === undefined) throw new Error(`webgpu backend: no comparison ${prim}`);
  if (dtype !== 'float32') return `select(0u, 1u, a ${op} b)`;
  if (prim === 'ne') return 'select(0u, 1u, isnan_(a) || isnan_(b) || a != b)';
  return `select(0u, 1u, !isnan_(a) && !isnan_(b) && a ${op} b)`;
}

/** Value conversion as the CPU does it (typed-array stores: truncation, wrapping, NaN → 0). */
export function castExpr(from: DType, to: DType): string | null {
  if (to === 'bool') return from === 'float32' ? 'select(0u, 1u, a != 0.0 || isnan_(a))' : 'select(0u, 1u, a != 0u)';
  if (from === 'float32') return to === 'int32' ? 'bitcast<i32>(f2bits_(a))' : 'f2bits_(a)';
  if (to === 'float32') return from === 'int32' ? 'i2f_(a)' : 'u2f_(a)';
  // int32 ↔ uint32 and bool → int: the bits are already right.
  return null;
}

export function castLoadType(from: DType, to: DType): DType {
  if (to === 'bool') return from === 'float32' ? 'float32' : 'uint32';
  return from === 'bool' ? 'uint32' : from;
}


/** Threefry-2x32 over four broadcast uint32 inputs; writes y0 then y1 (the new leading axis of 2). */
export function threefryKernel(e: Engine, inputs: readonly BufferInfo[], outShape: Shape): GpuHandle {
  const shape0 = outShape.slice(1);
  const n = sizeOf(shape0);
  const out = e.allocOutput(2 * n * 4);
  if (n === 0) return out;
  const { modes, rank, params, words } = plan(inputs, shape0);
  e.dispatch({
    key: `threefry:${modes.join('')}${rank}:${words}`,
    source: () => {
      const body = `${offsetsSource(modes, rank)}
  let y = threefry(in0[o0], in1[o1], in2[o2], in3[o3]);
  out[i] = y.x;
  out[p(0u) + i] = y.y;`;
      return `${bindings(4, words)}\n${helpersFor('threefry(')}\n${linearMain(body)}`;
    },
    inputs: buffersOf(inputs),
    output: out.slab.buffer,
    params,
    words,
    groups: linearGroups(n, e.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
