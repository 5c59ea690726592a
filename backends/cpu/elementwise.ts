/**
 * Element-wise kernels with NumPy broadcasting that never materialise a broadcast: each input is read
 * through its own strides (0 along stretched axes). Kernels are generated from an expression of the
 * scalar IR (core/expr.ts), rendered to JavaScript by `render.ts` (`a + b`, `Math.exp(a)`), so that
 * each expression gets a tight monomorphic loop; the generator below is the whole trick, and reading
 * one generated body (`kernelSource(expression)`) shows what runs.
 */
import { broadcastStrides, collapseStrides, evaluator, type Expr, type Shape, type TypedArray } from '../../core/index.js';
import { INPUT_NAMES, RENDER_HELPERS, renderJs, type JsElement, type RenderHelpers } from './render.js';

type Kernel = (out: TypedArray, inputs: TypedArray[], shape: number[], strides: number[][], helpers: RenderHelpers) => void;

const helpers = RENDER_HELPERS;

const NAMES = INPUT_NAMES;

/** Merge axes that every operand walks contiguously, and drop size-1 axes (core's collapseStrides). */
export const collapse = collapseStrides;

/**
 * Elements per iteration of the unrolled loops. V8 does not unroll, and with one element per
 * iteration the loop's own bookkeeping costs as much as the element (4 lanes: 1.6× on `a + b`).
 */
const LANES = 4;

function generate(arity: number, { statements, value }: JsElement): Kernel {
  const names = NAMES.slice(0, arity);
  const each = (f: (k: number) => string, sep = ' ') => names.map((_, k) => f(k)).join(sep);
  const lanes = Array.from({ length: LANES }, (_, u) => u);
  /** One element: each operand read at its offset, the expression written at `outIndex`. */
  const element = (offset: (k: number) => string, outIndex: string) =>
    `{ ${each((k) => `const ${names[k]} = x${k}[${offset(k)}];`)} ${statements} out[${outIndex}] = ${value}; }`;
  // Rows of the last (collapsed) axis; along a row, operand k steps by s_k (1: contiguous, 0: broadcast).
  // An odometer over the other axes moves each operand's row start.
  const src = `
    ${each((k) => `const x${k} = X[${k}];`, '\n    ')}
    const n = out.length;
    const rank = shape.length;
    if (rank === 0) { if (n > 0) ${element(() => '0', '0')} return; }
    const inner = shape[rank - 1];
    ${each((k) => `const s${k} = S[${k}][rank - 1];`)}
    ${each((k) => `const ${lanes.slice(1).map((u) => `s${k}x${u + 1} = ${u + 1} * s${k}`).join(', ')};`, '\n    ')}
    const contiguous = ${each((k) => `s${k} === 1`, ' && ')};
    if (rank === 1 && contiguous) {
      // Same-shape operands: one index serves every array.
      let i = 0;
      for (; i + ${LANES - 1} < n; i += ${LANES}) {
        ${lanes.map((u) => element(() => (u ? `i + ${u}` : 'i'), u ? `i + ${u}` : 'i')).join('\n        ')}
      }
      for (; i < n; i++) ${element(() => 'i', 'i')}
      return;
    }
    const idx = new Array(Math.max(rank - 1, 0)).fill(0);
    ${each((k) => `let base${k} = 0;`)}
    for (let i = 0; i < n; ) {
      const end = i + inner;
      ${each((k) => `let o${k} = base${k};`)}
      if (contiguous) {
        for (; i + ${LANES - 1} < end; i += ${LANES}) {
          ${lanes.map((u) => element((k) => (u ? `o${k} + ${u}` : `o${k}`), u ? `i + ${u}` : 'i')).join('\n          ')}
          ${each((k) => `o${k} += ${LANES};`)}
        }
      } else {
        for (; i + ${LANES - 1} < end; i += ${LANES}) {
          ${lanes.map((u) => element((k) => (u ? `o${k} + ${u === 1 ? `s${k}` : `s${k}x${u}`}` : `o${k}`), u ? `i + ${u}` : 'i')).join('\n          ')}
          ${each((k) => `o${k} += s${k}x${LANES};`)}
        }
      }
      for (; i < end; i++) { ${element((k) => `o${k}`, 'i')} ${each((k) => `o${k} += s${k};`)} }
      for (let ax = rank - 2; ax >= 0; ax--) {
        idx[ax]++;
        ${each((k) => `base${k} += S[${k}][ax];`)}
        if (idx[ax] < shape[ax]) break;
        ${each((k) => `base${k} -= S[${k}][ax] * shape[ax];`)}
        idx[ax] = 0;
      }
    }`;
  const f = new Function('out', 'X', 'shape', 'S', 'H', src) as Kernel;
  sources.set(f, src);
  return f;
}

const sources = new Map<Kernel, string>();
const cache = new Map<string, Kernel>();

/**
 * One compiled kernel per expression *and* array types: `a + b` runs on float32, int32 and uint32
 * arrays, and a single function fed all three becomes polymorphic (V8 then checks the array kind on
 * every element and boxes uint32 sums), several times slower than one that only ever sees one kind.
 */
function kernelFor(arity: number, element: JsElement, out?: TypedArray, inputs?: readonly TypedArray[]): Kernel {
  let types = '';
  if (out && inputs) {
    types = out.constructor.name;
    for (const x of inputs) types += x.constructor.name;
  }
  // Each rendering keeps its kernels by array types; the source text is hashed only on a miss.
  let own = byElement.get(element);
  if (!own) byElement.set(element, (own = new Map()));
  let k = own.get(types);
  if (k) return k;
  const key = `${arity}:${element.statements}|${element.value}:${types}`;
  k = cache.get(key);
  if (!k) {
    cache.set(key, (k = generate(arity, element)));
    if (out && inputs) prime(k, out, inputs);
  }
  own.set(types, k);
  return k;
}

const byElement = new WeakMap<JsElement, Map<string, Kernel>>();

type ArrayConstructor = new (length: number) => TypedArray;

/** Values that give V8 the feedback real data would: non-integers, and integers whose sums overflow. */
function sampleValue(a: TypedArray): number {
  if (a instanceof Float32Array) return 1.5;
  if (a instanceof Int32Array) return 0x40000001;
  if (a instanceof Uint32Array) return 0xfffffff1;
  return 1;
}

/**
 * V8 collects a function's type feedback only from its first few calls on, and compiles a long-running
 * first call in the middle of its loop (on-stack replacement) with the feedback it has by then. Code
 * that had not run yet (the loop tail, the other paths) then has none, and in Node 20 the cached OSR
 * code deoptimises there on every later call: an `a + b` over 1M elements as the first call of its
 * kernel stays 3-4× slower for good. So a new kernel first runs a dozen times on tiny inputs through
 * every path (rank 0, one contiguous run, contiguous rows, strided rows, loop tails).
 */
function prime(k: Kernel, out: TypedArray, inputs: readonly TypedArray[]): void {
  const make = (like: TypedArray, n: number) => {
    const a = new (like.constructor as ArrayConstructor)(n);
    const v = sampleValue(like);
    for (let i = 0; i < n; i += 2) a[i] = v;
    return a;
  };
  const xs = inputs.map((x) => make(x, 16));
  const out1 = make(out, 1);
  const out7 = make(out, 7);
  const out14 = make(out, 14);
  for (let r = 0; r < 12; r++) {
    k(out1, xs, [], xs.map(() => []), helpers);
    k(out7, xs, [7], xs.map(() => [1]), helpers);
    k(out14, xs, [2, 7], xs.map(() => [7, 1]), helpers);
    k(out14, xs, [2, 7], xs.map((_, i) => (i % 2 ? [1, 0] : [0, 1])), helpers);
  }
}

/** The generated source of the kernel for an expression (for learners and debugging). */
export function kernelSource(arity: number, expression: Expr): string {
  return sources.get(kernelFor(arity, renderJs(expression)))!;
}

/** Run `expression` (over inputs 0 … n−1) on broadcast inputs into `out` (already sized to the broadcast shape). */
export function mapElements(expression: Expr, out: TypedArray, inputs: { data: TypedArray; shape: Shape }[], outShape: Shape): void {
  const strides = inputs.map((x) => broadcastStrides(x.shape, outShape));
  const c = collapse(outShape, strides);
  const data = inputs.map((x) => x.data);
  if (codegen()) kernelFor(inputs.length, rendered(expression), out, data)(out, data, c.shape, c.strides, helpers);
  else interpret(expression, out, data, c.shape, c.strides);
}

/**
 * Whether `new Function` works here. A page whose Content-Security-Policy forbids 'unsafe-eval' (a
 * policy that allows WebAssembly needs only 'wasm-unsafe-eval') throws an EvalError on it; element-
 * wise ops then run `interpret` instead: the same values (core's `evaluator`, float64 like the
 * generated code; composites through their decompositions, within a few ulp of the generated
 * sigmoid), several times slower. `setCpuCodegen(false)` forces that path (tests).
 */
let generating: boolean | undefined;
function codegen(): boolean {
  if (generating === undefined) {
    try {
      generating = (new Function('return 1') as () => number)() === 1;
    } catch {
      generating = false;
    }
  }
  return generating;
}

/** @internal Force (false) or re-probe (undefined) the interpreted path; returns the previous setting. */
export function setCpuCodegen(on: boolean | undefined): boolean | undefined {
  const previous = generating;
  generating = on;
  return previous;
}

const evaluators = new WeakMap<Expr, (inputs: readonly number[]) => number>();

/** The element loop without generated code: an odometer over the collapsed shape, `evaluator` per element. */
function interpret(expression: Expr, out: TypedArray, data: readonly TypedArray[], shape: readonly number[], strides: readonly (readonly number[])[]): void {
  const f = evaluators.get(expression) ?? evaluator(expression, 'float64');
  evaluators.set(expression, f);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  const offsets = new Array<number>(data.length).fill(0);
  const values = new Array<number>(data.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < data.length; k++) values[k] = data[k]![offsets[k]!]!;
    out[i] = f(values);
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      for (let k = 0; k < data.length; k++) offsets[k]! += strides[k]![ax]!;
      if (idx[ax]! < shape[ax]!) break;
      for (let k = 0; k < data.length; k++) offsets[k]! -= strides[k]![ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

/** Rendering is cached per expression object: a primitive's expression is made once per dtype signature. */
const renderings = new WeakMap<Expr, JsElement>();
function rendered(e: Expr): JsElement {
  let r = renderings.get(e);
  if (!r) renderings.set(e, (r = renderJs(e)));
  return r;
}
