/**
 * Element-wise fusion in the WebGPU backend (backends/webgpu/fusion.ts) and the vec4 loads of the
 * tiled matmul: fused kernels compute exactly what one dispatch per primitive computes, agree with
 * the CPU backend, issue fewer dispatches, never compute a value freed unused, and leak nothing.
 *
 * Needs a WebGPU adapter. Without a GPU on Linux: `apt-get install -y chromium` and run with
 * `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` (SwiftShader).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  add, bind, broadcastTo, dispose, exp, fromArray, gelu, matmul, mean, memoryStats, mul, normal, registerBackend, relu, reshape, setBackend, silu, split,
  square, sub, sum, tanh, tensor, tidy, toArray, transpose, valueAndGrad, key, sigmoid, type DType, type Tensor, type TypedArray,
} from '../../index.js';
import { rng } from '../core/harness.js';
import { initMlp, sgdStep, startWebGPU, type MlpParams } from './webgpuAdapter.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import { vec4Loads } from '../../backends/webgpu/matmul.js';

const { gpu, suite } = await startWebGPU();
/** The same device kind with one dispatch per primitive: the reference fused kernels must equal bit for bit. */
const UNFUSED = 'webgpu-unfused';
registerBackend(UNFUSED, () => createWebGPUBackend({ registeredAs: UNFUSED, fusion: false }));
/** The tiled (workgroup-memory) matmul, whatever the adapter would choose. */
const TILED = 'webgpu-gpu-schedule';
registerBackend(TILED, () => createWebGPUBackend({ registeredAs: TILED, schedule: 'gpu' }));
type BackendName = 'cpu' | 'webgpu' | typeof UNFUSED | typeof TILED;

// ---------------------------------------------------------------- values and comparison


const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1, -1];
const INT_EDGES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 31, 32];
const UINT_EDGES = [0, 1, 2 ** 32 - 1, 2 ** 31, 31, 32];

/**
 * Values of a dtype, a quarter of them boundaries: NaN, ±∞, ±0, ±1 for floats (the rest multiples of
 * 0.25 in [-8, 8], so sums and products are exact and never subnormal); the extremes and shift
 * widths for integers (the rest small, so division and modulo see small divisors and zero).
 */
function values(dtype: DType, n: number, seed: number, plain = false): TypedArray {
  const r = rng(seed);
  const edge = (list: readonly number[]) => list[Math.floor(r() * list.length)]!;
  switch (dtype) {
    case 'float32':
      return Float32Array.from({ length: n }, () => (!plain && r() < 0.25 ? edge(SPECIALS) : plain ? -3 + 6 * r() : Math.round((-8 + 16 * r()) * 4) / 4));
    case 'int32':
      return Int32Array.from({ length: n }, () => (r() < 0.25 ? edge(INT_EDGES) : Math.floor(-9 + 19 * r())));
    case 'uint32':
      return Uint32Array.from({ length: n }, () => (r() < 0.25 ? edge(UINT_EDGES) : Math.floor(10 * r())));
    case 'bool':
      return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
  }
}

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Run `fn` on a backend inside tidy and read its outputs; also returns the dispatches it recorded. */
async function on(name: BackendName, fn: () => Tensor | Tensor[]): Promise<{ values: TypedArray[]; dispatches: number }> {
  const b = await setBackend(name);
  const counters = (b as Partial<WebGPUBackend>).counters;
  const before = counters?.dispatches ?? 0;
  const outs = tidy(() => {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  });
  try {
    const read = await Promise.all(outs.map((t) => toArray(t)));
    return { values: read, dispatches: (counters?.dispatches ?? 0) - before };
  } finally {
    dispose(outs);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => ((f32[0] = x), u32[0]!);
const show = (x: number) => (Object.is(x, -0) ? '-0' : String(x));

/**
 * `bits`: identical words (any NaN matches any NaN). `value`: equal numbers (also −0 = 0: the CPU's
 * Math.max(0, −0) is 0 where the GPU's max may keep −0, which the per-primitive tests allow too).
 * Or within `atol + rtol·|cpu|`.
 */
type Tol = 'bits' | 'value' | { rtol: number; atol: number };

function agree(what: string, want: TypedArray, got: TypedArray, tol: Tol): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  expect(got.constructor, `${what}: array type`).toBe(want.constructor);
  for (let i = 0; i < want.length; i++) {
    const a = want[i]!;
    const b = got[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
    } else if (tol === 'bits' ? (want instanceof Float32Array ? bitsOf(a) === bitsOf(b) : a === b) : tol === 'value' ? a === b : Math.abs(a - b) <= tol.atol + tol.rtol * Math.abs(a)) {
      continue;
    }
    throw new Error(`${what}: element ${i}: expected ${show(a)}, got ${show(b)} (${JSON.stringify(tol)})`);
  }
}

// ---------------------------------------------------------------- random element-wise programs

/** An output shape and `k` input shapes that broadcast to it; sizes 1 and 0-d included. */
function broadcastArb(k: number): fc.Arbitrary<{ out: number[]; ins: number[][] }> {
  const dims = fc.oneof({ arbitrary: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 4 }), weight: 4 }, { arbitrary: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 2 }), weight: 1 });
  return dims.chain((out) =>
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })), { minLength: k, maxLength: k })
      .map((specs) => ({ out, ins: specs.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[drop + i] ? 1 : d))) })),
  );
}

interface OpDef {
  readonly name: string;
  /** The dtype of each operand; the first operand's dtype selects among the ops. */
  readonly ins: readonly DType[];
  /** `out`: the shape every value of the program broadcasts to. */
  readonly run: (xs: Tensor[], out: readonly number[]) => Tensor;
}

const prim = (p: string, params: object = {}) => (xs: Tensor[]) => bind(p as 'add', xs, params as never);
const unaryOps = (dtype: DType, names: readonly string[]): OpDef[] => names.map((n) => ({ name: `${n}:${dtype}`, ins: [dtype], run: prim(n) }));
const binaryOps = (dtype: DType, names: readonly string[]): OpDef[] => names.map((n) => ({ name: `${n}:${dtype}`, ins: [dtype, dtype], run: prim(n) }));
const casts = (from: DType, tos: readonly DType[]): OpDef[] => tos.map((to) => ({ name: `cast:${from}:${to}`, ins: [from], run: prim('cast', { dtype: to }) }));
const COMPARES = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];
const BITS = ['bitand', 'bitor', 'bitxor', 'shl', 'shr'];
const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32', 'bool'];

/**
 * Primitives whose results are exactly defined, so the GPU must reproduce the CPU's numbers: float
 * add/sub/mul (IEEE, correctly rounded), max/min, floor and sign; all the integer arithmetic and bit
 * ops; comparisons, where, and casts. (Division and the transcendental functions are only accurate
 * to some ulp in WGSL: they are in `APPROXIMATE_OPS`.)
 */
const EXACT_OPS: readonly OpDef[] = [
  ...unaryOps('float32', ['neg', 'abs', 'floor', 'sign']),
  ...binaryOps('float32', ['add', 'sub', 'mul', 'max', 'min', ...COMPARES]),
  ...casts('float32', ['int32', 'uint32', 'bool']),
  ...unaryOps('int32', ['neg', 'abs', 'sign']),
  ...binaryOps('int32', ['add', 'sub', 'mul', 'max', 'min', 'div', 'mod', ...BITS, ...COMPARES]),
  ...casts('int32', ['float32', 'uint32', 'bool']),
  ...binaryOps('uint32', ['add', 'sub', 'mul', 'max', 'min', 'div', 'mod', ...BITS, ...COMPARES]),
  ...casts('uint32', ['float32', 'int32', 'bool']),
  ...binaryOps('bool', ['bitand', 'bitor', 'bitxor', 'eq', 'ne', 'lt']),
  ...casts('bool', ['float32', 'int32', 'uint32']),
  ...DTYPES.map((d) => ({ name: `where:${d}`, ins: ['bool', d, d] as DType[], run: prim('where') })),
  ...DTYPES.map((d): OpDef => ({ name: `broadcastTo:${d}`, ins: [d], run: ([x], out) => broadcastTo(x!, out) })),
];

/** Float functions accurate to a few ulp on the GPU, and arithmetic that keeps values moderate. */
const APPROXIMATE_OPS: readonly OpDef[] = [
  ...unaryOps('float32', ['tanh', 'sigmoid', 'sin', 'cos', 'erf', 'neg', 'abs']),
  ...binaryOps('float32', ['add', 'sub', 'mul', 'max', 'min']),
  { name: 'exp(tanh)', ins: ['float32'], run: ([x]) => exp(tanh(x!)) },
  { name: 'a / (1 + |b|)', ins: ['float32', 'float32'], run: ([a, b]) => bind('div', [a!, add(bind('abs', [b!], {}), 1)], {}) },
];

interface Program {
  readonly shapes: number[][];
  readonly out: number[];
  readonly seed: number;
  /** Each step: which op (modulo the ops that fit its first operand) and which operands (modulo those of the right dtype). */
  readonly steps: readonly (readonly [number, number, number, number])[];
}

const programArb = (inputs: number): fc.Arbitrary<Program> =>
  fc
    .record({
      shapes: broadcastArb(inputs),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      steps: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 12 }),
    })
    .map(({ shapes, seed, steps }) => ({ shapes: shapes.ins, out: shapes.out, seed, steps }));

/**
 * Build the program's tensors: inputs (of the dtypes given, in turn), then one value per step. Returns
 * every value (for the CPU, to scale tolerances) and the description of the last.
 */
function runProgram(p: Program, ops: readonly OpDef[], dtypes: readonly DType[]): { all: Tensor[]; text: string[] } {
  const vals: Tensor[] = p.shapes.map((s, j) => fromArray(values(dtypes[j % dtypes.length]!, sizeOf(s), p.seed + j, dtypes.length === 1), s, dtypes[j % dtypes.length]!));
  const text = vals.map((t, j) => `x${j}: ${t.dtype}[${t.shape}]`);
  for (const [op, a, b, c] of p.steps) {
    const first = vals[a % vals.length]!;
    const fits = ops.filter((o) => o.ins[0] === first.dtype && o.ins.slice(1).every((d) => vals.some((v) => v.dtype === d)));
    if (fits.length === 0) continue;
    const def = fits[op % fits.length]!;
    const operands = [first, ...def.ins.slice(1).map((d, q) => {
      const of = vals.filter((v) => v.dtype === d);
      return of[[b, c][q]! % of.length]!;
    })];
    vals.push(def.run(operands, p.out));
    text.push(`v${vals.length - 1} = ${def.name}(${operands.map((o) => `v${vals.indexOf(o)}`).join(', ')})`);
  }
  return { all: vals, text };
}

// ---------------------------------------------------------------- the suite

suite('webgpu element-wise fusion', () => {
  afterAll(async () => {
    for (const name of [UNFUSED, TILED]) ((await setBackend(name)) as WebGPUBackend).dispose();
    await setBackend('cpu');
  });

  it('the default backend fuses, the reference one does not', async () => {
    expect(gpu!.fusion).toBe(true);
    expect(((await setBackend(UNFUSED)) as WebGPUBackend).fusion).toBe(false);
    await setBackend('cpu');
  });

  it('random chains of exact element-wise ops: fused equals unfused bit for bit, and equals the CPU', async () => {
    await fc.assert(
      fc.asyncProperty(programArb(5), async (p) => {
        let what = '';
        const last = () => {
          const { all, text } = runProgram(p, EXACT_OPS, DTYPES);
          what = `program ${text.join('; ')}`;
          return all[all.length - 1]!;
        };
        const cpu = await on('cpu', last);
        const fused = await on('webgpu', last);
        const unfused = await on(UNFUSED, last);
        agree(`${what}: fused vs unfused`, unfused.values[0]!, fused.values[0]!, 'bits');
        agree(`${what}: fused vs cpu`, cpu.values[0]!, fused.values[0]!, 'value');
        expect(fused.dispatches, what).toBeLessThanOrEqual(unfused.dispatches);
      }),
      { numRuns: 80 },
    );
  });

  it('random chains of float functions: fused equals unfused bit for bit, and the CPU to float precision', async () => {
    await fc.assert(
      fc.asyncProperty(programArb(3), async (p) => {
        let what = '';
        const cpuAll = await on('cpu', () => {
          const { all, text } = runProgram(p, APPROXIMATE_OPS, ['float32']);
          what = `program ${text.join('; ')}`;
          return all;
        });
        const last = () => {
          const { all } = runProgram(p, APPROXIMATE_OPS, ['float32']);
          return all[all.length - 1]!;
        };
        const fused = await on('webgpu', last);
        const unfused = await on(UNFUSED, last);
        agree(`${what}: fused vs unfused`, unfused.values[0]!, fused.values[0]!, 'bits');
        // Each primitive is within a few ulp (the per-primitive tests allow ≤ 4e-6 relative); along a
        // chain of ≤ 12 the errors add, scaled by the largest intermediate (through sub's cancellation).
        let scale = 1;
        for (const v of cpuAll.values) for (const x of v) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
        agree(`${what}: fused vs cpu`, cpuAll.values[cpuAll.values.length - 1]!, fused.values[0]!, { rtol: 5e-5, atol: 5e-5 * scale });
      }),
      { numRuns: 40 },
    );
  });

  it('reshaped and broadcast lazy values are read in the right order', async () => {
    const fn = () => {
      const a = tensor(Float32Array.from({ length: 6 }, (_, i) => i - 2.5), [2, 3]);
      const lazy = tanh(mul(a, 0.5));
      const reshaped = add(reshape(lazy, [3, 2]), tensor([1, 2, 3, 4, 5, 6], [3, 2]));
      const rowLazy = exp(tensor([0.5, -1, 2], [3]));
      const broadcast = mul(sigmoid(tensor(Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1), [4, 3])), rowLazy);
      const scalarLazy = add(tensor([2]), 1);
      return [reshaped, broadcast, mul(broadcast, scalarLazy), transpose(reshaped)];
    };
    const cpu = await on('cpu', fn);
    const fused = await on('webgpu', fn);
    const unfused = await on(UNFUSED, fn);
    cpu.values.forEach((want, i) => {
      agree(`output ${i}: fused vs unfused`, unfused.values[i]!, fused.values[i]!, 'bits');
      agree(`output ${i}: fused vs cpu`, want, fused.values[i]!, { rtol: 1e-5, atol: 1e-6 });
    });
  });

  it('matmul → add bias → gelu/relu/silu runs as two dispatches (matmul and one fused kernel)', async () => {
    /** The chain's output and the dispatches it took (inputs made and computed first: random bits take their own). */
    const chain = async (name: BackendName, act: (x: Tensor) => Tensor) => {
      const b = await setBackend(name);
      const [k1, k2, k3] = split(key(5), 3);
      const [x, w, bias] = [normal(k1!, [33, 20]), normal(k2!, [20, 17]), normal(k3!, [17])];
      b.flush?.();
      const counters = (b as Partial<WebGPUBackend>).counters;
      const before = counters?.dispatches ?? 0;
      const y = tidy(() => act(add(matmul(x, w), bias)));
      b.flush?.();
      const dispatches = (counters?.dispatches ?? 0) - before;
      const values = await toArray(y);
      dispose([x, w, bias, y]);
      return { values, dispatches };
    };
    for (const [name, act] of [['gelu', gelu], ['relu', relu], ['silu', silu]] as const) {
      const cpu = await chain('cpu', act);
      const fused = await chain('webgpu', act);
      const unfused = await chain(UNFUSED, act);
      expect(fused.dispatches, name).toBe(2);
      expect(unfused.dispatches, name).toBeGreaterThan(2);
      agree(`${name}: fused vs unfused`, unfused.values, fused.values, 'bits');
      agree(`${name}: fused vs cpu`, cpu.values, fused.values, { rtol: 1e-5, atol: 1e-5 });
    }
    await setBackend('cpu');
  });

  it('a value freed before anything needs it is never computed', async () => {
    const b = (await setBackend('webgpu')) as WebGPUBackend;
    const x = tensor(Float32Array.from({ length: 1000 }, (_, i) => i / 100));
    b.flush();
    const live = b.stats().buffers;
    const before = { ...b.counters };
    tidy(() => {
      tanh(exp(add(mul(x, 2), 1)));
    });
    b.flush();
    await b.sync();
    expect(b.counters.dispatches).toBe(before.dispatches);
    expect(b.counters.droppedOps - before.droppedOps).toBe(4);
    expect(b.stats().buffers).toBe(live);
    // The same chain, kept: one dispatch.
    const kept = tidy(() => tanh(exp(add(mul(x, 2), 1))));
    expect([...(await toArray(kept))].slice(0, 2).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([Math.round(Math.tanh(Math.exp(1)) * 1e6) / 1e6, Math.round(Math.tanh(Math.exp(1.02)) * 1e6) / 1e6]);
    expect(b.counters.dispatches - before.dispatches).toBe(1);
    expect(b.counters.fusedOps - before.fusedOps).toBe(4);
    dispose([x, kept]);
    await setBackend('cpu');
  });

  it('pending values are computed at the end of the task, releasing their inputs', async () => {
    const b = (await setBackend('webgpu')) as WebGPUBackend;
    const x = tensor([1, 2, 3]);
    const y = tensor([4, 5, 6]);
    b.flush();
    const live = b.stats().buffers;
    const z = tidy(() => mul(add(x, y), y));
    expect(b.stats().pending).toBe(1);
    dispose([x, y]);
    // The pending value still holds x and y's buffers.
    expect(b.stats().buffers).toBe(live);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(b.stats().pending).toBe(0);
    expect(b.stats().buffers).toBe(live - 1);
    expect([...(await toArray(z))]).toEqual([20, 35, 54]);
    dispose(z);
    await setBackend('cpu');
  });

  describe('training', () => {
    type Params = MlpParams;
    const init = initMlp;
    const loss = (p: Params, x: Tensor, y: Tensor): Tensor => {
      const h = gelu(add(matmul(x, p.w1), p.b1));
      const h2 = silu(add(matmul(h, transpose(p.w1)), x));
      return mean(square(sub(add(matmul(h2, p.w1), p.b1), y)));
    };
    const data = (n: number, inF: number, hidden: number) => {
      const x = normal(key(7), [n, inF]);
      const y = tanh(normal(key(8), [n, hidden]));
      return { x, y };
    };
    const step = (p: Params, x: Tensor, y: Tensor, lr: number) => sgdStep(loss, p, x, y, lr);

    it('gradients through fused chains agree with the CPU, and with unfused kernels bit for bit', async () => {
      const run = () => {
        const p = init(6, 10);
        const { x, y } = data(9, 6, 10);
        const [v, g] = valueAndGrad(loss)(p, x, y);
        const stepped = step(p, x, y, 0.1);
        return [v, g.w1, g.b1, g.w2, g.b2, stepped.loss, stepped.p.w1, stepped.p.b1];
      };
      const cpu = await on('cpu', run);
      const fused = await on('webgpu', run);
      const unfused = await on(UNFUSED, run);
      cpu.values.forEach((want, i) => {
        agree(`output ${i}: fused vs unfused`, unfused.values[i]!, fused.values[i]!, 'bits');
        // The tolerance of the cross-backend gradient tests in webgpu.test.ts.
        agree(`output ${i}: fused vs cpu`, want, fused.values[i]!, { rtol: 1e-4, atol: 1e-5 });
      });
      expect(fused.dispatches).toBeLessThan(unfused.dispatches);
    });

    it('live GPU buffers stay flat across 1,000 fused training steps', async () => {
      const b = (await setBackend('webgpu')) as WebGPUBackend;
      let p = init(4, 8);
      const { x, y } = data(16, 4, 8);
      let buffersAt100 = 0;
      let tensorsAt100 = 0;
      let first = NaN;
      let last = NaN;
      const fusedBefore = b.counters.fusedOps;
      for (let s = 0; s < 1000; s++) {
        const r = step(p, x, y, 0.05);
        dispose(p);
        p = r.p;
        if (s === 0) first = (await toArray(r.loss))[0]!;
        if (s % 100 === 99) {
          last = (await toArray(r.loss))[0]!;
          expect(b.stats().pending).toBe(0);
        }
        dispose(r.loss);
        if (s === 99) {
          buffersAt100 = b.stats().buffers;
          tensorsAt100 = memoryStats().tensors;
        }
      }
      expect(b.stats().buffers).toBe(buffersAt100);
      expect(memoryStats().tensors).toBe(tensorsAt100);
      expect(last).toBeLessThan(first);
      expect(b.counters.fusedOps - fusedBefore).toBeGreaterThan(1000 * 10);
      dispose([p, x, y]);
      await setBackend('cpu');
    });
  });
});

// ---------------------------------------------------------------- vec4 matmul

suite('webgpu tiled matmul with vec4 loads', () => {
  afterAll(async () => {
    await setBackend('cpu');
  });

  it('vec4 loads are chosen exactly when the operand rows are a multiple of 4 long', () => {
    expect(vec4Loads(5, 6, 8, false, false)).toEqual({ a: true, b: false });
    expect(vec4Loads(8, 6, 5, true, false)).toEqual({ a: true, b: false });
    expect(vec4Loads(5, 8, 7, false, false)).toEqual({ a: false, b: true });
    expect(vec4Loads(5, 7, 12, false, true)).toEqual({ a: true, b: true });
    expect(vec4Loads(6, 7, 12, true, true)).toEqual({ a: false, b: true });
  });

  const dim = fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 24 }).map((q) => 4 * q));
  it('matmul on the tiled schedule agrees with the CPU for dims divisible by 4 and not, every transpose', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ batch: fc.integer({ min: 1, max: 2 }), broadcastB: fc.boolean(), m: dim, k: dim, n: dim, transA: fc.boolean(), transB: fc.boolean(), seed: fc.nat() }),
        async ({ batch, broadcastB, m, k, n, transA, transB, seed }) => {
          const fn = () => [
            bind('matmul', [
              fromArray(values('float32', batch * m * k, seed, true), [batch, ...(transA ? [k, m] : [m, k])], 'float32'),
              fromArray(values('float32', (broadcastB ? 1 : batch) * k * n, seed + 1, true), [broadcastB ? 1 : batch, ...(transB ? [n, k] : [k, n])], 'float32'),
            ], { transA, transB }),
          ];
          const cpu = await on('cpu', fn);
          const tiled = await on(TILED, fn);
          // The tolerance of the matmul case in webgpu.test.ts (values here are in [-3, 3], so ×9).
          agree(`matmul ${batch}×${m}×${k}×${n} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`, cpu.values[0]!, tiled.values[0]!, { rtol: 1e-5, atol: 9 * 2e-5 * Math.sqrt(k) });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('every combination of transposes and divisibility by 4, across several tiles', async () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [m, k, n] of [[68, 36, 132], [67, 36, 132], [68, 35, 132], [68, 36, 131], [67, 35, 131], [4, 4, 4], [3, 8, 5]] as const) {
          const fn = () => [
            bind('matmul', [
              fromArray(values('float32', m * k, m + k, true), [1, ...(transA ? [k, m] : [m, k])], 'float32'),
              fromArray(values('float32', k * n, k + n, true), [1, ...(transB ? [n, k] : [k, n])], 'float32'),
            ], { transA, transB }),
          ];
          const cpu = await on('cpu', fn);
          const tiled = await on(TILED, fn);
          agree(`matmul ${m}×${k}×${n} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`, cpu.values[0]!, tiled.values[0]!, { rtol: 1e-5, atol: 9 * 2e-5 * Math.sqrt(k) });
        }
      }
    }
  });
});
