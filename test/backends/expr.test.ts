/**
 * Every backend renders the scalar expression IR (core/expr.ts) as the reference evaluator says
 * (core/elementwise.ts `evaluate`): each node, on boundary values (0, −0, ±Inf, NaN, the smallest
 * subnormal, the largest float, integer extremes) and random ones. The CPU computes in float64 and
 * rounds once, so it matches float64 evaluation bit for bit; wasm and WebGPU compute in float32, so
 * they match float32 evaluation bit for bit on the basic nodes and to a few ulp on the
 * transcendental ones (their own exp, log, …). A chain of primitives composed into one expression
 * renders and runs as one kernel on every backend, and equals the unfused chain bit for bit.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate, expr as ir, expressionOf, makeTypedArray, type Backend, type DType, type Expr, type TypedArray } from '../../index.js';
import { createCpuBackend } from '../../backends/cpu/index.js';
import { createWasmBackendSync } from '../../backends/wasm/index.js';
import { lowerForWasm } from '../../backends/wasm/render.js';
import { startWebGPU } from './webgpuAdapter.js';

const { gpu, suite } = await startWebGPU();
const cpu = createCpuBackend();
const wasm = createWasmBackendSync({ threads: 1 });
afterAll(() => wasm.dispose?.());

const FLOAT_EDGES = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -0.5, 1e-45, -1e-45, 1.1754943508222875e-38, 3.4028234663852886e38, -3.4028234663852886e38, 88.7, -103.9];
const INT_EDGES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 31, 32, 7, -7];
const UINT_EDGES = [0, 1, 2 ** 32 - 1, 2 ** 31, 31, 32, 7];

const valueOf = (t: DType, lo = -1e4, hi = 1e4): fc.Arbitrary<number> => {
  switch (t) {
    case 'float32':
      return fc.oneof(fc.constantFrom(...FLOAT_EDGES), fc.float({ min: Math.fround(lo), max: Math.fround(hi) }), fc.float());
    case 'int32': return fc.oneof(fc.constantFrom(...INT_EDGES), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -9, max: 9 }));
    case 'uint32': return fc.oneof(fc.constantFrom(...UINT_EDGES), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 9 }));
    case 'bool': return fc.constantFrom(0, 1);
  }
};

interface NodeCase {
  name: string;
  expr: Expr;
  inputs: DType[];
  /** Float32 backends agree with float32 evaluation within this relative (and absolute) tolerance; 0: bit for bit. */
  tol: number;
  /** The GPU's tolerance is this many times larger (WGSL's exp is good to 3 + 2|x| ulp). */
  gpuScale?: number;
  /**
   * On the GPU, moderate finite values only. Left alone, and documented here: sin and cos reduce
   * their argument accurately only up to ~10⁵ (wgsl.ts); `mod` computes a − b·floor(a / b) in float32,
   * so a / b overflows for tiny b where float64 does not; `powf_` gives NaN for pow(−Inf, y) with a
   * non-integer y where Math.pow gives Inf or 0, and +Inf for pow(−0, y) with an odd y < −64 where
   * Math.pow gives −Inf (so −0 is not among the moderate values).
   */
  gpuModerate?: boolean;
}

const f = (k: number) => ir.input(k, 'float32');
const i = (k: number) => ir.input(k, 'int32');
const u = (k: number) => ir.input(k, 'uint32');
const b = (k: number) => ir.input(k, 'bool');

const CASES: NodeCase[] = [
  ...(['neg', 'abs', 'floor'] as const).map((op) => ({ name: op, expr: ir.unary(op, f(0)), inputs: ['float32' as DType], tol: 0 })),
  ...(['sign', 'sqrt', 'exp', 'log', 'expm1', 'log1p', 'tanh', 'sigmoid', 'erf', 'erfinv'] as const).map((op) => ({ name: op, expr: ir.unary(op, f(0)), inputs: ['float32' as DType], tol: 2e-6, gpuScale: 20 })),
  ...(['sin', 'cos'] as const).map((op) => ({ name: op, expr: ir.unary(op, f(0)), inputs: ['float32' as DType], tol: 2e-6, gpuScale: 20, gpuModerate: true })),
  ...(['add', 'sub', 'mul', 'div', 'max', 'min'] as const).map((op) => ({ name: op, expr: ir.binary(op, f(0), f(1)), inputs: ['float32', 'float32'] as DType[], tol: 0 })),
  ...(['pow', 'mod'] as const).map((op) => ({ name: op, expr: ir.binary(op, f(0), f(1)), inputs: ['float32', 'float32'] as DType[], tol: 2e-6, gpuModerate: true })),
  ...(['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const).map((op) => ({ name: op, expr: ir.compare(op, f(0), f(1)), inputs: ['float32', 'float32'] as DType[], tol: 0 })),
  ...(['add', 'sub', 'mul', 'div', 'max', 'min', 'mod', 'bitand', 'bitor', 'bitxor', 'shl', 'shr'] as const).map((op) => ({ name: `${op} int32`, expr: ir.binary(op, i(0), i(1)), inputs: ['int32', 'int32'] as DType[], tol: 0 })),
  ...(['add', 'mul', 'div', 'mod', 'shl', 'shr'] as const).map((op) => ({ name: `${op} uint32`, expr: ir.binary(op, u(0), u(1)), inputs: ['uint32', 'uint32'] as DType[], tol: 0 })),
  { name: 'lt int32', expr: ir.lt(i(0), i(1)), inputs: ['int32', 'int32'], tol: 0 },
  { name: 'select', expr: ir.select(b(0), f(1), f(2)), inputs: ['bool', 'float32', 'float32'], tol: 0 },
  ...(['int32', 'uint32', 'bool'] as const).map((t) => ({ name: `cast float32 → ${t}`, expr: ir.cast(f(0), t), inputs: ['float32' as DType], tol: 0 })),
  { name: 'cast int32 → float32', expr: ir.cast(i(0), 'float32'), inputs: ['int32'], tol: 0 },
  { name: 'cast uint32 → float32', expr: ir.cast(u(0), 'float32'), inputs: ['uint32'], tol: 0 },
  { name: 'bitcast float32 → uint32', expr: ir.bitcast(f(0), 'uint32'), inputs: ['float32'], tol: 0 },
  { name: 'round', expr: ir.round(ir.add(f(0), f(1))), inputs: ['float32', 'float32'], tol: 0 },
];

/** Integer shifts by 32 or more, pow of huge values and such: the semantics are JavaScript's everywhere, so no exclusions. */
async function runOn(backend: Backend, e: Expr, dtypes: readonly DType[], columns: readonly number[][]): Promise<TypedArray> {
  const n = columns[0]!.length;
  const inputs = dtypes.map((t, k) => {
    const data = makeTypedArray(t, n);
    columns[k]!.forEach((v, j) => (data[j] = v));
    return { buffer: backend.upload(data, t), shape: [n], dtype: t };
  });
  const out = backend.runExpression!(e, inputs, { shape: [n], dtype: e.dtype });
  const got = await backend.read(out, e.dtype, n);
  backend.free(out);
  for (const x of inputs) backend.free(x.buffer);
  return got;
}

/** Values as the typed array of `t` holds them. */
const stored = (t: DType, vs: readonly number[]): number[] => [...makeTypedArrayFrom(t, vs)];
function makeTypedArrayFrom(t: DType, vs: readonly number[]): TypedArray {
  const a = makeTypedArray(t, vs.length);
  vs.forEach((v, j) => (a[j] = v));
  return a;
}

const SMALLEST_NORMAL = 2 ** -126;
const subnormal = (v: number): boolean => v !== 0 && Math.abs(v) < SMALLEST_NORMAL;

/** How a GPU may differ from IEEE float32, as WGSL allows: subnormals flushed to zero, max/min free to pick either zero of ±0. */
interface Leeway {
  readonly flushesSubnormals: boolean;
  readonly signOfZeroInMaxMin: boolean;
}
const STRICT: Leeway = { flushesSubnormals: false, signOfZeroInMaxMin: false };
const GPU: Leeway = { flushesSubnormals: true, signOfZeroInMaxMin: true };

function agree(name: string, got: number, want: number, tol: number, inputs: readonly number[], leeway: Leeway): void {
  const same = Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want));
  if (same) return;
  if (leeway.flushesSubnormals && got === 0 && subnormal(want)) return;
  if (leeway.signOfZeroInMaxMin && (name === 'max' || name === 'min') && got === 0 && want === 0) return;
  // relative to the value, and absolute near 0 (sin and cos at their zeros, erf of tiny x)
  const close = tol > 0 && Number.isFinite(want) && Number.isFinite(got) && Math.abs(got - want) <= tol * (Math.abs(want) + 1);
  if (!close) expect.fail(`${name}(${inputs.join(', ')}): got ${got}, want ${want}${tol ? ` (tolerance ${tol})` : ' (bit for bit)'}`);
}

/** Multiples of 1/16 up to 10⁴ in magnitude: quotients stay below 2²⁴, where float32's a − b·floor(a / b) is still exact enough. */
const moderate = fc.oneof(fc.constantFrom(0, 1, -1, 0.5, -0.5, 2, 3), fc.integer({ min: -160000, max: 160000 }).map((k) => k / 16 || 0));
const column = (c: NodeCase, gpu: boolean) => fc.array(fc.tuple(...c.inputs.map((t) => (gpu && c.gpuModerate ? moderate : valueOf(t)))), { minLength: 1, maxLength: 40 });

async function checkNode(backend: Backend, c: NodeCase, precision: (e: Expr) => 'float32' | 'float64', leeway = STRICT): Promise<void> {
  const flush = (t: DType, v: number): number => (leeway.flushesSubnormals && t === 'float32' && subnormal(v) ? (v < 0 ? -0 : 0) : v);
  await fc.assert(
    fc.asyncProperty(column(c, leeway === GPU), async (rows) => {
      const cols = c.inputs.map((t, k) => stored(t, rows.map((r) => flush(t, r[k]!))));
      const got = await runOn(backend, c.expr, c.inputs, cols);
      const p = precision(c.expr);
      for (let j = 0; j < rows.length; j++) {
        const xs = cols.map((col) => col[j]!);
        agree(c.name, got[j]!, evaluate(c.expr, xs, p), p === 'float64' ? 0 : c.tol * (leeway === GPU ? c.gpuScale ?? 1 : 1), xs, leeway);
      }
    }),
    { numRuns: 30 },
  );
}

describe('expression IR on the CPU backend: every node equals float64 evaluation bit for bit', () => {
  for (const c of CASES) it(c.name, () => checkNode(cpu, c, () => 'float64'));

  it('erf, now Horner on the IR, gives the float32 results of the series the CPU summed term by term before', async () => {
    // The former backends/cpu/special.ts erf, kept here as the pin that the IR changed no CPU result.
    const former = (x: number): number => {
      const ax = Math.abs(x);
      if (ax < 0.5) {
        const x2 = x * x;
        let term = x;
        let sum = x;
        for (let n = 1; n < 9; n++) {
          term *= -x2 / n;
          sum += term / (2 * n + 1);
        }
        return sum * 1.1283791670955126;
      }
      const t = 1 / (1 + 0.5 * ax);
      const erfc = t * Math.exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
      return x > 0 ? 1 - erfc : erfc - 1;
    };
    const xs = Float32Array.from({ length: 1 << 16 }, (_, k) => (k % 2 ? -1 : 1) * (k < 1 << 15 ? (k / (1 << 15)) * 0.6 : (k / (1 << 16)) * 6));
    const got = await runOn(cpu, ir.unary('erf', f(0)), ['float32'], [[...xs]]);
    xs.forEach((x, k) => agree('erf', got[k]!, Math.fround(former(x)), 0, [x], STRICT));
  });
});

describe('expression IR on the wasm backend: rendered nodes equal float32 evaluation, the rest (the CPU rendering) float64', () => {
  for (const c of CASES) it(`${c.name}${lowerForWasm(c.expr) ? ' (SIMD)' : ' (CPU rendering)'}`, () => checkNode(wasm, c, (e) => (lowerForWasm(e) ? 'float32' : 'float64')));
});

suite('expression IR on the WebGPU backend: every node equals float32 evaluation', () => {
  for (const c of CASES) it(c.name, () => checkNode(gpu!, c, () => 'float32', GPU));
});

// ---------------------------------------------------------------- composition

const F: DType = 'float32';
const prim = (p: Parameters<typeof expressionOf>[0], inputs: DType[], out: DType = F): Expr => expressionOf(p, inputs, { dtype: out } as never, out);

/** where(x > y, sigmoid(x) · y + erf(x − 0.5), exp(−|y|)) as primitives, and as one composed expression. */
const x0 = ir.input(0, F);
const y0 = ir.input(1, F);
const half = ir.input(2, F);
const sig = ir.compose(prim('sigmoid', [F]), [x0]);
const prod = ir.compose(prim('mul', [F, F]), [sig, y0]);
const shifted = ir.compose(prim('sub', [F, F]), [x0, half]);
const erfed = ir.compose(prim('erf', [F]), [shifted]);
const sum = ir.compose(prim('add', [F, F]), [prod, erfed]);
const decay = ir.compose(prim('exp', [F]), [ir.compose(prim('neg', [F]), [ir.compose(prim('abs', [F]), [y0])])]);
const COMPOSED = ir.compose(prim('where', ['bool', F, F]), [ir.compose(prim('gt', [F, F], 'bool'), [x0, y0]), sum, decay]);

/** The same chain, one primitive at a time on `backend`. */
async function unfused(backend: Backend, x: Float32Array, xShape: number[], y: Float32Array, yShape: number[], outShape: number[]): Promise<TypedArray> {
  const bufs: object[] = [];
  const up = (v: Float32Array, shape: number[]) => {
    const buffer = backend.upload(v, F);
    bufs.push(buffer);
    return { buffer, shape, dtype: F };
  };
  const run = (p: Parameters<typeof expressionOf>[0], ins: { buffer: object; shape: number[]; dtype: DType }[], dtype: DType = F) => {
    const shape = ins.reduce((s, a) => (a.shape.length > s.length ? a.shape : s), [] as number[]).length === outShape.length ? outShape : ins[0]!.shape;
    const buffer = backend.run(p, ins, {} as never, { shape, dtype });
    bufs.push(buffer);
    return { buffer, shape, dtype };
  };
  const X = up(x, xShape);
  const Y = up(y, yShape);
  const H = up(Float32Array.of(0.5), [1]);
  const s = run('add', [run('mul', [run('sigmoid', [X]), Y]), run('erf', [run('sub', [X, H])])]);
  const d = run('exp', [run('neg', [run('abs', [Y])])]);
  const out = run('where', [run('gt', [X, Y], 'bool'), s, d]);
  const got = await backend.read(out.buffer, F, outShape.reduce((p, q) => p * q, 1));
  for (const buf of bufs) backend.free(buf);
  return got;
}

async function composed(backend: Backend, x: Float32Array, xShape: number[], y: Float32Array, yShape: number[], outShape: number[]): Promise<TypedArray> {
  const ins = [
    { buffer: backend.upload(x, F), shape: xShape, dtype: F },
    { buffer: backend.upload(y, F), shape: yShape, dtype: F },
    { buffer: backend.upload(Float32Array.of(0.5), F), shape: [1], dtype: F },
  ];
  const out = backend.runExpression!(COMPOSED, ins, { shape: outShape, dtype: F });
  const got = await backend.read(out, F, outShape.reduce((p, q) => p * q, 1));
  backend.free(out);
  for (const a of ins) backend.free(a.buffer);
  return got;
}

const chainCase = fc.record({
  rows: fc.integer({ min: 1, max: 5 }),
  cols: fc.integer({ min: 1, max: 37 }),
  broadcastY: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1e6 }),
});

function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed;
  for (let k = 0; k < n; k++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[k] = k % 11 === 3 ? FLOAT_EDGES[s % FLOAT_EDGES.length]! : (s / 2 ** 32) * 8 - 4;
  }
  return v;
}

async function checkChain(backend: Backend): Promise<void> {
  await fc.assert(
    fc.asyncProperty(chainCase, async ({ rows, cols, broadcastY, seed }) => {
      const shape = [rows, cols];
      const yShape = broadcastY ? [cols] : shape;
      const x = values(rows * cols, seed);
      const y = values(yShape.reduce((p, q) => p * q, 1), seed + 1);
      const want = await unfused(backend, x, shape, y, yShape, shape);
      const got = await composed(backend, x, shape, y, yShape, shape);
      for (let k = 0; k < want.length; k++) {
        if (!(Object.is(got[k], want[k]) || (Number.isNaN(got[k]) && Number.isNaN(want[k])))) expect.fail(`element ${k}: composed ${got[k]} vs unfused ${want[k]} (x ${x[k]})`);
      }
    }),
    { numRuns: 25 },
  );
}

describe('a chain of primitives composed into one expression', () => {
  it('is one expression with a round node at every primitive boundary, and wasm renders it in SIMD', () => {
    expect(ir.topological(COMPOSED).filter((e) => e.op === 'round').length).toBeGreaterThanOrEqual(8);
    expect(lowerForWasm(COMPOSED)).not.toBeNull();
  });
  it('runs as one kernel on the CPU and equals the unfused chain bit for bit', () => checkChain(cpu));
  it('runs as one compiled kernel on wasm and equals the unfused chain bit for bit', () => checkChain(wasm));
});

suite('a composed chain on WebGPU', () => {
  it('runs as one fused kernel and equals the unfused chain bit for bit', () => checkChain(gpu!));
});
