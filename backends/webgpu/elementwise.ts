/**
 * Element-wise kernels with NumPy broadcasting, never materialising a broadcast: each input is read
 * through its own strides (0 along stretched axes). As on the CPU, axes every operand walks
 * contiguously are merged first, and each input gets a mode: `c` (contiguous, read at the output
 * index), `s` (a single element) or `g` (general strides); only `g` pays for index arithmetic.
 *
 * What an element computes is an expression of the scalar IR (core/expr.ts), rendered by `render.ts`;
 * integer and float semantics follow the CPU backend (JavaScript's).
 */
import { broadcastStrides, collapseStrides, expr as ir, sizeOf, type BufferInfo, type Expr, type Shape } from '../../core/index.js';
import type { Engine, GpuHandle } from './engine.js';
import { renderWgsl } from './render.js';
import { bindings, helpersFor, linearGroups, linearMain, uniformWords } from './wgsl.js';

/** Merge axes that every operand walks contiguously, and drop size-1 axes (core's collapseStrides). */
export const collapse = collapseStrides;

const keys = new WeakMap<Expr, string>();

/** An expression's structure as a pipeline-cache key, made once per expression object. */
export function expressionKey(e: Expr): string {
  let k = keys.get(e);
  if (k === undefined) keys.set(e, (k = ir.structureKey(e)));
  return k;
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

/** Run an element-wise expression (input k: `inputs[k]`) over broadcast inputs into a new buffer of `outShape`. */
export function elementwise(e: Engine, expression: Expr, inputs: readonly BufferInfo[], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  if (n === 0) return out;
  const layout = layoutOf(inputs.map((x) => x.shape), outShape);
  // A uniform 0 for `round` nodes (see render.ts).
  const barrierAt = layout.params.length;
  const params = [...layout.params, 0];
  const words = uniformWords(params.length);
  e.dispatch({
    key: `ew:${expressionKey(expression)}:${layout.modes.join('')}${layout.rank}:${words}`,
    source: () => elementwiseSource(expression, layout.modes, layout.rank, words, barrierAt),
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

/** The kernel of an expression whose input k is buffer k, read in `modes[k]`; the parameter `barrierAt` is 0. */
export function elementwiseSource(expression: Expr, modes: readonly Mode[], rank: number, words: number, barrierAt: number): string {
  const r = renderWgsl(expression, (k) => `in${k}[o${k}]`);
  const body = `${offsetsSource(modes, rank)}\n  let barrier = p(${barrierAt}u);\n${r.statements}\n  out[i] = ${r.word};`;
  return `${bindings(modes.length, words)}\n${r.helpers}\n${linearMain(body)}`;
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
