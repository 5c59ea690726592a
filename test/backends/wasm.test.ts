import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bind, dispose, getBackendName, jit, key, matmul, mean, memoryStats, normal, registerBackend, relu, setBackend, sum, tensor, tidy, valueAndGrad,
  type BackendPrim, type DType, type PrimParams, type Tensor, type TypedArray,
} from '../../index.js';
import { Code, ModuleBuilder, signedLEB128, unsignedLEB128 } from '../../backends/wasm/assembler.js';
import { Heap, sizeClass } from '../../backends/wasm/heap.js';
import { createWasmBackend, createWasmBackendSync, matmulPlan, reductionRuns, wasmFeatures, type WasmBackend } from '../../backends/wasm/index.js';
import { hasRelaxedSimd } from '../../backends/wasm/module.js';
import * as core from '../../index.js';

// ---------------------------------------------------------------- the assembler

function decodeUnsigned(bytes: readonly number[]): number {
  let v = 0;
  let scale = 1;
  for (const b of bytes) {
    v += (b & 0x7f) * scale;
    scale *= 128;
  }
  return v;
}

function decodeSigned(bytes: readonly number[]): number {
  let v = 0;
  let shift = 0;
  for (const b of bytes) {
    v |= (b & 0x7f) << shift;
    shift += 7;
  }
  const last = bytes[bytes.length - 1]!;
  if (shift < 32 && last & 0x40) v |= -1 << shift;
  return v | 0;
}

function instantiate(m: ModuleBuilder, memory?: WebAssembly.Memory): Record<string, (...args: number[]) => number> {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), memory ? { env: { memory } } : {});
  return inst.exports as unknown as Record<string, (...args: number[]) => number>;
}

describe('wasm assembler', () => {
  it('LEB128: the encodings from the spec and the DWARF examples', () => {
    expect(unsignedLEB128(0)).toEqual([0x00]);
    expect(unsignedLEB128(127)).toEqual([0x7f]);
    expect(unsignedLEB128(128)).toEqual([0x80, 0x01]);
    expect(unsignedLEB128(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(unsignedLEB128(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(signedLEB128(0)).toEqual([0x00]);
    expect(signedLEB128(-1)).toEqual([0x7f]);
    expect(signedLEB128(63)).toEqual([0x3f]);
    expect(signedLEB128(64)).toEqual([0xc0, 0x00]);
    expect(signedLEB128(-64)).toEqual([0x40]);
    expect(signedLEB128(-65)).toEqual([0xbf, 0x7f]);
    expect(signedLEB128(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(signedLEB128(2 ** 31 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(signedLEB128(-(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    expect(() => unsignedLEB128(-1)).toThrow(/non-negative/);
  });

  it('LEB128: decoding an encoding gives the number back, in the fewest bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        const b = unsignedLEB128(n);
        expect(decodeUnsigned(b)).toBe(n);
        expect(b.length).toBe(Math.max(1, Math.ceil(Math.log2(n + 1) / 7)));
        expect(b.slice(0, -1).every((x) => x & 0x80)).toBe(true);
        return (b[b.length - 1]! & 0x80) === 0;
      }),
    );
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => decodeSigned(signedLEB128(n)) === n));
  });

  it('a module adding two i32s validates and runs, wrapping like i32', () => {
    const m = new ModuleBuilder();
    m.func('add', { params: ['i32', 'i32'], results: ['i32'] }, (c, a, b) => void c.localGet(a).localGet(b).i32Add());
    expect(WebAssembly.validate(m.encode())).toBe(true);
    const { add } = instantiate(m);
    expect(add!(2, 40)).toBe(42);
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (a, b) => add!(a, b) === ((a + b) | 0)));
  });

  it('i32.const round-trips every i32 through the signed LEB128 immediate', () => {
    const values = [0, 1, -1, 63, 64, -64, -65, 2 ** 31 - 1, -(2 ** 31), 123456789];
    const m = new ModuleBuilder();
    values.forEach((v, i) => m.func(`c${i}`, { params: [], results: ['i32'] }, (c) => void c.i32Const(v)));
    const fns = instantiate(m);
    values.forEach((v, i) => expect(fns[`c${i}`]!()).toBe(v));
  });

  it('structured control: forRange with labels sums 0..n-1, nested loops count n·m', () => {
    const m = new ModuleBuilder();
    m.func('tri', { params: ['i32'], results: ['i32'] }, (c, n) => {
      const i = c.local('i32');
      const s = c.local('i32');
      c.forRange(i, { const: 0 }, n!, 1, () => void c.localGet(s).localGet(i).i32Add().localSet(s));
      c.localGet(s);
    });
    m.func('grid', { params: ['i32', 'i32'], results: ['i32'] }, (c, n, k) => {
      const i = c.local('i32');
      const j = c.local('i32');
      const s = c.local('i32');
      c.forRange(i, { const: 0 }, n!, 1, () => {
        c.forRange(j, { const: 0 }, k!, 1, ({ next }) => {
          // skip odd j with a branch to the loop's `next` label
          c.localGet(j).i32Const(1).i32And().brIf(next);
          c.localGet(s).i32Const(1).i32Add().localSet(s);
        });
      });
      c.localGet(s);
    });
    const { tri, grid } = instantiate(m);
    fc.assert(fc.property(fc.integer({ min: 0, max: 300 }), (n) => tri!(n) === (n * (n - 1)) / 2));
    expect(grid!(7, 9)).toBe(7 * 5);
    expect(grid!(0, 9)).toBe(0);
  });

  it('SIMD: v128.load/store, f32x4.add/mul, f32x4.splat and i32x4 ops on memory', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: 1 });
    // out = (a + b) * splat(s)
    m.func('axpy', { params: ['i32', 'i32', 'i32', 'f32'] }, (c, out, a, b, s) => {
      c.localGet(out!).localGet(a!).v128Load().localGet(b!).v128Load().f32x4Add().localGet(s!).f32x4Splat().f32x4Mul().v128Store();
    });
    // out = (a << 3) - a·b, as i32x4
    m.func('ints', { params: ['i32', 'i32', 'i32'] }, (c, out, a, b) => {
      c.localGet(out!).localGet(a!).v128Load().i32Const(3).i32x4Shl().localGet(a!).v128Load().localGet(b!).v128Load().i32x4Mul().i32x4Sub().v128Store(16);
    });
    const { axpy, ints } = instantiate(m, memory);
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 10, 20, 30, 40]);
    axpy!(64, 0, 16, 0.5);
    expect([...f.subarray(16, 20)]).toEqual([5.5, 11, 16.5, 22]);
    const i32 = new Int32Array(memory.buffer);
    i32.set([1, -2, 3, 1 << 29, 5, 6, -7, 8]);
    ints!(64, 0, 16);
    expect([...i32.subarray(20, 24)]).toEqual([8 - 5, -16 + 12, 24 + 21, ((1 << 29) * 8 - (1 << 29) * 8) | 0]);
  });

  it('an i8x16.shuffle 4×4 transpose and lane extracts behave as specified', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: 1 });
    m.func('interleave', { params: ['i32', 'i32', 'i32'] }, (c, out, a, b) => {
      const lanes = [0, 4, 1, 5].flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
      c.localGet(out!).localGet(a!).v128Load().localGet(b!).v128Load().i8x16Shuffle(lanes).v128Store();
    });
    m.func('lane2', { params: ['i32'], results: ['f32'] }, (c, a) => void c.localGet(a!).v128Load().f32x4ExtractLane(2));
    const { interleave, lane2 } = instantiate(m, memory);
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 5, 6, 7, 8]);
    interleave!(64, 0, 16);
    expect([...f.subarray(16, 20)]).toEqual([1, 5, 2, 6]);
    expect(lane2!(0)).toBe(3);
    expect(lane2!(64)).toBe(2);
  });

  it('refuses a branch to a closed label, a shared memory without maximum, bad shuffles', () => {
    const c = new Code([], []);
    let outer: { depth: number } | null = null;
    c.block((l) => void (outer = l));
    expect(() => c.br(outer!)).toThrow(/no longer open/);
    expect(() => new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: 1, shared: true })).toThrow(/maximum/);
    expect(() => new Code([], []).i8x16Shuffle([0, 1])).toThrow(/16 lane/);
  });

  it('feature probes: relaxed SIMD is detected exactly when a relaxed_madd module validates', () => {
    const m = new ModuleBuilder();
    m.func('f', { params: [], results: ['v128'] }, (c) => void c.f32x4Const(1).f32x4Const(2).f32x4Const(3).f32x4RelaxedMadd());
    expect(hasRelaxedSimd()).toBe(WebAssembly.validate(m.encode()));
    expect(wasmFeatures().simd).toBe(true);
  });
});

// ---------------------------------------------------------------- the heap

describe('wasm heap', () => {
  it('size classes cover the request, stay 64-byte multiples and waste under half', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 28 }), (n) => {
        const s = sizeClass(n);
        expect(s).toBeGreaterThanOrEqual(n);
        expect(s % 64).toBe(0);
        expect(s < Math.max(128, 2 * n)).toBe(true);
      }),
    );
  });

  it('blocks are aligned, freed blocks are reused, stats count live and pooled bytes', () => {
    const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 1 << 24 });
    const a = heap.alloc(100);
    const b = heap.alloc(1000);
    expect(a.ptr % 64).toBe(0);
    expect(b.ptr % 64).toBe(0);
    expect(a.ptr).toBeGreaterThan(0);
    expect(heap.stats()).toMatchObject({ buffers: 2, bytes: a.size + b.size, pooledBytes: 0 });
    heap.free(a.ptr, a.size);
    expect(heap.stats()).toMatchObject({ buffers: 1, bytes: b.size, pooledBytes: a.size });
    const c = heap.alloc(90);
    expect(c.ptr).toBe(a.ptr);
    expect(heap.stats().pooledBytes).toBe(0);
  });

  it('grows the memory on demand and keeps its typed-array view current', () => {
    const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 1 << 26 });
    const before = heap.stats().heapBytes;
    const big = heap.alloc(4 << 20);
    expect(heap.stats().heapBytes).toBeGreaterThan(before);
    heap.f32()[(big.ptr >> 2) + (1 << 20) - 1] = 7;
    expect(heap.f32().length * 4).toBe(heap.stats().heapBytes);
  });

  it('memory freed in one size class serves requests of other classes once the heap is full (split and merge)', () => {
    const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 8 << 20 });
    // Fill the heap with 96 KiB blocks (a class no later request asks for), then free them all.
    const small: { ptr: number; size: number }[] = [];
    for (let i = 0; i < 80; i++) small.push(heap.alloc(96 << 10));
    for (const b of small) heap.free(b.ptr, b.size);
    // 2 MiB blocks need neighbours merged; 40 KiB blocks need a larger block split.
    const big = [heap.alloc(2 << 20), heap.alloc(2 << 20), heap.alloc(2 << 20)];
    const tiny = Array.from({ length: 20 }, () => heap.alloc(40 << 10));
    const all = [...big, ...tiny].sort((a, b) => a.ptr - b.ptr);
    for (let i = 1; i < all.length; i++) expect(all[i]!.ptr).toBeGreaterThanOrEqual(all[i - 1]!.ptr + all[i - 1]!.size);
    expect(all[all.length - 1]!.ptr + all[all.length - 1]!.size).toBeLessThanOrEqual(heap.maxBytes);
  });

  it('property: live blocks never overlap, stay aligned and inside the heap, under any alloc/free sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 300_000 }), fc.nat()), { minLength: 1, maxLength: 200 }), (ops) => {
        const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 4 << 20 });
        const live: { ptr: number; size: number }[] = [];
        for (const [allocate, bytes, pick] of ops) {
          if (allocate || live.length === 0) {
            let b: { ptr: number; size: number };
            try {
              b = heap.alloc(bytes);
            } catch (e) {
              // Full is allowed only when the live blocks and this one cannot fit in the heap at all
              // without fragmentation beyond what whole size classes waste.
              expect(String(e)).toMatch(/out of memory/);
              continue;
            }
            expect(b.size).toBeGreaterThanOrEqual(bytes);
            expect(b.ptr % 64).toBe(0);
            expect(b.ptr).toBeGreaterThanOrEqual(64);
            expect(b.ptr + b.size).toBeLessThanOrEqual(heap.maxBytes);
            for (const o of live) expect(b.ptr + b.size <= o.ptr || o.ptr + o.size <= b.ptr).toBe(true);
            live.push(b);
          } else {
            const [b] = live.splice(pick % live.length, 1);
            heap.free(b!.ptr, b!.size);
          }
        }
        const stats = heap.stats();
        expect(stats.buffers).toBe(live.length);
        expect(stats.bytes).toBe(live.reduce((a, b) => a + b.size, 0));
      }),
      { numRuns: 200 },
    );
  });

  it('growing past the maximum is a clear error that says what to do', () => {
    const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 1 << 21 });
    heap.alloc(1 << 20);
    expect(() => heap.alloc(3 << 20)).toThrow(/out of memory.*maximum of 2\.0 MiB.*maxBytes/s);
  });
});

// ---------------------------------------------------------------- primitives against the CPU backend

let wasm: WasmBackend;
let wasmOne: WasmBackend;
let defaultBackend = '';

beforeAll(async () => {
  defaultBackend = getBackendName();
  await setBackend('cpu');
  wasm = (await setBackend('wasm')) as WasmBackend;
  wasmOne = createWasmBackendSync({ threads: 1 });
  registerBackend('wasm-1', () => wasmOne);
  await setBackend('wasm-1');
  await setBackend('cpu');
});

afterAll(() => {
  wasmOne.dispose?.();
});

interface InputSpec {
  shape: number[];
  dtype: DType;
  /** Values drawn uniformly from [lo, hi) (integers for integer dtypes). */
  lo?: number;
  hi?: number;
}

interface Case<P extends BackendPrim> {
  inputs: InputSpec[];
  params: PrimParams[P];
  seed: number;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function values(spec: InputSpec, rand: () => number): TypedArray {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const lo = spec.lo ?? -3;
  const hi = spec.hi ?? 3;
  switch (spec.dtype) {
    case 'float32': return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
    case 'int32': return Int32Array.from({ length: n }, () => Math.floor(lo + (hi - lo) * rand()));
    case 'uint32': return Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
    case 'bool': return Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0));
  }
}

/** Run one primitive on a backend with the same host values; the output as a host array. */
function runOn<P extends BackendPrim>(backend: string, prim: P, c: Case<P>, transform?: (x: number) => number): TypedArray {
  void setBackend(backend);
  expect(getBackendName()).toBe(backend);
  const rand = xorshift(c.seed);
  return tidy(() => {
    const ts = c.inputs.map((s) => {
      const v = values(s, rand);
      if (transform && s.dtype === 'float32') for (let i = 0; i < v.length; i++) v[i] = transform(v[i]!);
      return tensor(v, s.shape, s.dtype);
    });
    const out = bind(prim, ts, c.params);
    return out.toArraySync();
  });
}

/** Primitives whose wasm kernels sum in another order or approximate in float32 (exp, sigmoid, erf); the rest must match bit for bit. */
const APPROX = new Set<BackendPrim>(['exp', 'log', 'sigmoid', 'erf', 'erfinv', 'sum', 'matmul', 'reduceMax']);

function sameBits(a: TypedArray, b: TypedArray): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

function checkPrim<P extends BackendPrim>(prim: P, c: Case<P>, backend = 'wasm'): void {
  const ref = runOn('cpu', prim, c);
  const got = runOn(backend, prim, c);
  expect(got.constructor).toBe(ref.constructor);
  expect(got.length).toBe(ref.length);
  if (!APPROX.has(prim)) {
    if (!sameBits(got, ref)) {
      const i = [...ref].findIndex((v, j) => !Object.is(v, got[j]) && !(Number.isNaN(v) && Number.isNaN(got[j])));
      expect.fail(`${prim}: element ${i} differs: cpu ${ref[i]} vs ${backend} ${got[i]} (shapes ${JSON.stringify(c.inputs.map((x) => x.shape))}, params ${JSON.stringify(c.params)})`);
    }
    return;
  }
  // Sums in another order: bound the error by the same computation on absolute values.
  const scale = prim === 'sum' || prim === 'matmul' ? runOn('cpu', prim, c, Math.abs) : null;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const g = got[i]!;
    if (g === r) continue;
    if (Number.isNaN(r) || Number.isNaN(g)) {
      expect(Number.isNaN(g), `${prim} element ${i}`).toBe(Number.isNaN(r));
      continue;
    }
    // exp is ~1 ulp and sigmoid ~2 ulp (measured: at most 1.96·2⁻²³·|r| over 2M points in [−110, 110]);
    // 4e-7·|r| is about 3.4 ulp. Below 1e-37 only an absolute bound makes sense (subnormals).
    // log (Cephes' logf) is ~1 ulp: at most 1.0 ulp over 200k points spread over [1e-40, 1e78], and
    // exact at 0, ±Inf, NaN, negatives and subnormals.
    // erf evaluates the CPU's formula in float32 (the CPU in float64): measured at most 1.8e-7 absolute
    // (at |x| ≈ 0.555, just past the series/erfc switch) and 3.2e-7 relative over 400k points in [−10, 10].
    // erfinv, the same formula over wasm's log: at most 2.3e-7 relative and 4.8e-7 absolute (near ±1,
    // where it is steep) over 400k points in (−1, 1), half of them within 1e-7 of ±1.
    const tol =
      prim === 'exp' || prim === 'sigmoid' || prim === 'log' ? 4e-7 * Math.abs(r) + 1e-37 : prim === 'erf' ? 2.5e-7 + 4e-7 * Math.abs(r) : prim === 'erfinv' ? 1e-7 + 4e-7 * Math.abs(r) : 2e-6 * (1 + Math.abs(scale ? scale[i]! : r));
    if (!(Math.abs(g - r) <= tol)) expect.fail(`${prim}: element ${i}: cpu ${r} vs ${backend} ${g} (tolerance ${tol}); shapes ${JSON.stringify(c.inputs.map((x) => x.shape))} params ${JSON.stringify(c.params)}`);
  }
}

// shapes: odd sizes, sizes not divisible by the SIMD width or tiles, and size 1
const dim = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 7 }) }, { weight: 1, arbitrary: fc.constantFrom(1, 4, 5, 15, 16, 17, 33) });
const shapeArb = (minRank = 0, maxRank = 4) => fc.array(dim, { minLength: minRank, maxLength: maxRank });
const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/** `n` shapes that broadcast (to `out` or to a shape with some of its axes 1): each axis kept or set to 1, leading axes maybe dropped. */
const broadcastShapes = (n: number) =>
  shapeArb(0, 4).chain((out) =>
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })), { minLength: n, maxLength: n })
      .map((specs) => ({ out, shapes: specs.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))) })),
  );
const broadcastPair = (n = 2) => broadcastShapes(n).map((x) => x.shapes);

const float = (shape: number[], lo?: number, hi?: number): InputSpec => ({ shape, dtype: 'float32', lo, hi });

const UNARY_DOMAIN: Partial<Record<BackendPrim, [number, number]>> = {
  log: [0.01, 50], sqrt: [0, 50], log1p: [-0.99, 50], erfinv: [-0.999, 0.999], exp: [-110, 95], expm1: [-20, 20],
};

const unaryCase = <P extends BackendPrim>(prim: P): fc.Arbitrary<Case<P>> =>
  fc.record({ shape: shapeArb(), seed: seedArb }).map(({ shape, seed }) => {
    const [lo, hi] = UNARY_DOMAIN[prim] ?? [-6, 6];
    return { inputs: [float(shape, lo, hi)], params: {} as PrimParams[P], seed };
  });

const binaryCase = <P extends BackendPrim>(prim: P, dtype: DType = 'float32'): fc.Arbitrary<Case<P>> =>
  fc.record({ shapes: broadcastPair(2), seed: seedArb }).map(({ shapes, seed }) => {
    const [lo, hi] = prim === 'pow' ? [0.1, 3] : prim === 'shl' || prim === 'shr' ? [0, 31] : [-6, 6];
    const spec = (s: number[], k: number): InputSpec => ({ shape: s, dtype, lo: k === 1 && (prim === 'div' || prim === 'mod') && dtype !== 'float32' ? 1 : lo, hi });
    return { inputs: shapes.map(spec), params: {} as PrimParams[P], seed };
  });

const reduceCase = <P extends 'sum' | 'reduceMax'>(): fc.Arbitrary<Case<P>> =>
  shapeArb(1, 4).chain((shape) =>
    fc.record({
      axes: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
      seed: seedArb,
    }).map(({ axes, seed }) => ({ inputs: [float(shape)], params: { axes: [...axes].sort((a, b) => a - b) } as PrimParams[P], seed })),
  );

const axisCase = <P extends 'argmax' | 'cumsum'>(prim: P): fc.Arbitrary<Case<P>> =>
  shapeArb(1, 4).chain((shape) =>
    fc.record({ axis: fc.integer({ min: 0, max: shape.length - 1 }), reverse: fc.boolean(), seed: seedArb }).map(({ axis, reverse, seed }) => ({
      inputs: [float(shape)],
      params: (prim === 'argmax' ? { axis } : { axis, reverse }) as PrimParams[P],
      seed,
    })),
  );

const matmulCase: fc.Arbitrary<Case<'matmul'>> = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    broadcast: fc.constantFrom('none', 'a', 'b'),
    m: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 2, 16, 17, 33, 130)),
    n: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 15, 16, 17, 31, 33, 70)),
    k: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 3, 4, 255, 257, 385, 800)),
    transA: fc.boolean(),
    transB: fc.boolean(),
    seed: seedArb,
  })
  .map(({ batch, broadcast, m, n, k, transA, transB, seed }) => ({
    inputs: [float([broadcast === 'a' ? 1 : batch, ...(transA ? [k, m] : [m, k])]), float([broadcast === 'b' ? 1 : batch, ...(transB ? [n, k] : [k, n])])],
    params: { transA, transB },
    seed,
  }));

const convGeometry = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    c: fc.integer({ min: 1, max: 5 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    padTop: fc.integer({ min: 0, max: 2 }),
    padLeft: fc.integer({ min: 0, max: 2 }),
    seed: seedArb,
  })
  .map((g) => {
    const outHeight = Math.floor((g.h + 2 * g.padTop - ((g.kh - 1) * g.dh + 1)) / g.sh) + 1;
    const outWidth = Math.floor((g.w + 2 * g.padLeft - ((g.kw - 1) * g.dw + 1)) / g.sw) + 1;
    const params = { kernelHeight: g.kh, kernelWidth: g.kw, strideHeight: g.sh, strideWidth: g.sw, padTop: g.padTop, padLeft: g.padLeft, outHeight, outWidth, dilationHeight: g.dh, dilationWidth: g.dw };
    return { g, params, ok: outHeight > 0 && outWidth > 0 };
  })
  .filter((x) => x.ok);

/** Winograd F(2×2, 3×3) geometries: images from 1×1, padding 0-2, one tile (the boundary) up to 4×5, both directions. */
const winogradGeometry = fc.record({
  tile: fc.constantFrom(2 as const, 4 as const),
  n: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 8 }),
  w: fc.integer({ min: 1, max: 8 }),
  pt: fc.integer({ min: 0, max: 2 }),
  pl: fc.integer({ min: 0, max: 2 }),
  th: fc.integer({ min: 1, max: 4 }),
  tw: fc.integer({ min: 1, max: 5 }),
  // The kernels take a row of tiles in runs of max(1, 128 / C) tiles through scratch: one run of the
  // whole row (C ≤ 9), several with a partial last one (26-70: 1-4 tiles), one tile (127-134, with a scalar tail).
  c: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 26, max: 70 }), fc.integer({ min: 127, max: 134 })),
  adjoint: fc.boolean(),
  seed: seedArb,
});

const permutation = (n: number) => fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n });

const CASES: { [P in BackendPrim]: fc.Arbitrary<Case<P>> } = {
  neg: unaryCase('neg'), exp: unaryCase('exp'), log: unaryCase('log'), expm1: unaryCase('expm1'), log1p: unaryCase('log1p'),
  sin: unaryCase('sin'), cos: unaryCase('cos'), tanh: unaryCase('tanh'), sqrt: unaryCase('sqrt'), erf: unaryCase('erf'),
  erfinv: unaryCase('erfinv'), floor: unaryCase('floor'), abs: unaryCase('abs'), sign: unaryCase('sign'), sigmoid: unaryCase('sigmoid'),
  add: binaryCase('add'), sub: binaryCase('sub'), mul: binaryCase('mul'), div: binaryCase('div'), max: binaryCase('max'),
  min: binaryCase('min'), pow: binaryCase('pow'), mod: binaryCase('mod'),
  bitand: binaryCase('bitand', 'uint32'), bitor: binaryCase('bitor', 'uint32'), bitxor: binaryCase('bitxor', 'uint32'),
  shl: binaryCase('shl', 'int32'), shr: binaryCase('shr', 'int32'),
  eq: binaryCase('eq'), ne: binaryCase('ne'), lt: binaryCase('lt'), le: binaryCase('le'), gt: binaryCase('gt'), ge: binaryCase('ge'),
  where: fc.record({ shapes: broadcastPair(3), seed: seedArb }).map(({ shapes, seed }) => ({
    inputs: [{ shape: shapes[0]!, dtype: 'bool' }, float(shapes[1]!), float(shapes[2]!)],
    params: {},
    seed,
  })),
  cast: fc.record({ shape: shapeArb(), dtype: fc.constantFrom<DType>('int32', 'bool', 'uint32'), seed: seedArb }).map(({ shape, dtype, seed }) => ({ inputs: [float(shape, -100, 100)], params: { dtype }, seed })),
  bitcast: fc.record({ shape: shapeArb(), seed: seedArb }).map(({ shape, seed }) => ({ inputs: [float(shape)], params: { dtype: 'uint32' }, seed })),
  sum: reduceCase<'sum'>(),
  reduceMax: reduceCase<'reduceMax'>(),
  argmax: axisCase('argmax'),
  cumsum: axisCase('cumsum'),
  matmul: matmulCase,
  im2col: convGeometry.map(({ g, params }) => ({ inputs: [float([g.n, g.h, g.w, g.c])], params, seed: g.seed })),
  col2im: convGeometry.map(({ g, params }) => ({
    inputs: [float([g.n, params.outHeight, params.outWidth, g.kh * g.kw * g.c])],
    params: { ...params, height: g.h, width: g.w },
    seed: g.seed,
  })),
  winogradIn: winogradGeometry.map(({ tile, n, h, w, pt, pl, th, tw, c, adjoint, seed }) => ({
    inputs: [float(adjoint ? [(tile + 2) ** 2, n * th * tw, c] : [n, h, w, c])],
    params: { tile, batch: n, height: h, width: w, padTop: pt, padLeft: pl, tilesHigh: th, tilesWide: tw, adjoint },
    seed,
  })),
  winogradOut: winogradGeometry.map(({ tile, n, th, tw, c, adjoint, seed }) => ({
    inputs: [float(adjoint ? [n, tile * th, tile * tw, c] : [(tile + 2) ** 2, n * th * tw, c])],
    params: { tile, batch: n, tilesHigh: th, tilesWide: tw, adjoint },
    seed,
  })),
  transpose: shapeArb(1, 5).chain((shape) => fc.record({ perm: permutation(shape.length), seed: seedArb }).map(({ perm, seed }) => ({ inputs: [float(shape)], params: { perm }, seed }))),
  broadcast: fc.record({ b: broadcastShapes(1), seed: seedArb }).map(({ b, seed }) => ({ inputs: [float(b.shapes[0]!)], params: { shape: b.out }, seed })),
  slice: shapeArb(1, 4).chain((shape) =>
    fc.record({
      cuts: fc.tuple(...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: d })).map(([b, s]) => [b, Math.min(s, d - b)] as const))),
      seed: seedArb,
    }).map(({ cuts, seed }) => ({ inputs: [float(shape)], params: { begin: cuts.map((c) => c[0]), size: cuts.map((c) => c[1]) }, seed })),
  ),
  pad: shapeArb(1, 4).chain((shape) =>
    fc.record({
      before: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: shape.length, maxLength: shape.length }),
      after: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: shape.length, maxLength: shape.length }),
      value: fc.constantFrom(0, -1.5),
      seed: seedArb,
    }).map(({ before, after, value, seed }) => ({ inputs: [float(shape)], params: { before, after, value }, seed })),
  ),
  concat: shapeArb(1, 4).chain((shape) =>
    fc.record({ axis: fc.integer({ min: 0, max: shape.length - 1 }), sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), seed: seedArb }).map(({ axis, sizes, seed }) => ({
      inputs: sizes.map((s) => float(shape.map((d, i) => (i === axis ? s : d)))),
      params: { axis },
      seed,
    })),
  ),
  flip: shapeArb(1, 4).chain((shape) => fc.record({ axes: fc.subarray(shape.map((_, i) => i)), seed: seedArb }).map(({ axes, seed }) => ({ inputs: [float(shape)], params: { axes }, seed }))),
  gather: shapeArb(1, 3).chain((shape) =>
    fc.record({ axis: fc.integer({ min: 0, max: shape.length - 1 }), idx: shapeArb(0, 2), seed: seedArb }).map(({ axis, idx, seed }) => ({
      inputs: [float(shape), { shape: idx, dtype: 'int32', lo: 0, hi: shape[axis]! }],
      params: { axis },
      seed,
    })),
  ),
  scatterAdd: shapeArb(1, 3).chain((shape) =>
    fc.record({ axis: fc.integer({ min: 0, max: shape.length - 1 }), size: fc.integer({ min: 1, max: 6 }), seed: seedArb }).map(({ axis, size, seed }) => ({
      inputs: [float(shape), { shape: [shape[axis]!], dtype: 'int32', lo: 0, hi: size }],
      params: { axis, size },
      seed,
    })),
  ),
  threefry2x32: broadcastPair(4).map((shapes) => ({ inputs: shapes.map((s) => ({ shape: s, dtype: 'uint32' as DType })), params: {}, seed: 7 })),
};

describe('wasm backend: every primitive equals the CPU backend', () => {
  for (const prim of Object.keys(CASES) as BackendPrim[]) {
    it(`${prim}${APPROX.has(prim) ? ' (within rounding of the summation order)' : ' (bit for bit)'}`, () => {
      fc.assert(fc.property(CASES[prim] as fc.Arbitrary<Case<typeof prim>>, (c) => checkPrim(prim, c)), { numRuns: prim === 'matmul' ? 120 : 60 });
    });
  }

  it('integer and comparison variants go through the same kernels correctly', () => {
    for (const prim of ['add', 'sub', 'mul', 'div', 'max', 'min', 'mod'] as const) {
      fc.assert(fc.property(binaryCase(prim, 'int32'), (c) => checkPrim(prim, c)), { numRuns: 15 });
    }
    fc.assert(fc.property(binaryCase('gt', 'int32'), (c) => checkPrim('gt', c)), { numRuns: 15 });
    // where on 32-bit integers goes through the float kernel as bits
    fc.assert(
      fc.property(fc.record({ shapes: broadcastPair(3), seed: seedArb }), ({ shapes, seed }) =>
        checkPrim('where', { inputs: [{ shape: shapes[0]!, dtype: 'bool' }, { shape: shapes[1]!, dtype: 'uint32' }, { shape: shapes[2]!, dtype: 'uint32' }], params: {}, seed }),
      ),
      { numRuns: 15 },
    );
  });

  it('special values: exp overflows to Inf, underflows to 0 and subnormals, keeps NaN; add/max propagate NaN', () => {
    const special = [0, -0, 1, -1, 88.72, 88.73, 89, 100, Infinity, -Infinity, NaN, -87, -87.5, -100, -103.9, -104, -200, 1e-8, 10.5];
    const run = (backend: string, f: (x: Tensor) => Tensor): TypedArray => {
      void setBackend(backend);
      return tidy(() => f(tensor(new Float32Array(special))).toArraySync());
    };
    const e = run('wasm', core.exp);
    const r = run('cpu', core.exp);
    special.forEach((x, i) => {
      if (Number.isNaN(r[i]!)) expect(e[i]).toBeNaN();
      else if (!Number.isFinite(r[i]!)) expect(e[i]).toBe(r[i]);
      else expect(Math.abs(e[i]! - r[i]!), `exp(${x}) = ${r[i]} vs ${e[i]}`).toBeLessThanOrEqual(4e-7 * Math.abs(r[i]!) + 1e-44);
    });
    expect(sameBits(run('wasm', (x) => core.maximum(x, core.flip(x))), run('cpu', (x) => core.maximum(x, core.flip(x))))).toBe(true);
    expect(sameBits(run('wasm', (x) => core.add(x, core.flip(x))), run('cpu', (x) => core.add(x, core.flip(x))))).toBe(true);
  });

  it('log and erfinv special values: log of ±0 is −Inf, of negatives and NaN NaN, of +Inf +Inf; subnormals, the √½ switch and the extremes within 1 ulp; erfinv of ±1 is ±Inf', () => {
    const special = [0, -0, -1, -Infinity, NaN, Infinity, 1, 2, 0.5, 0.70710677, 0.7071068, 1e-40, 1.4e-45, 1.17549435e-38, 1.1754942e-38, 3.4e38, 0.99999994, 1.0000001, 1e-10, 10];
    const run = (backend: string, f: (x: Tensor) => Tensor, xs: readonly number[]): TypedArray => {
      void setBackend(backend);
      return tidy(() => f(tensor(new Float32Array(xs))).toArraySync());
    };
    const [w, r] = [run('wasm', core.log, special), run('cpu', core.log, special)];
    special.forEach((x, i) => {
      if (Number.isNaN(r[i]!) || !Number.isFinite(r[i]!)) expect(Object.is(w[i], r[i]) || (Number.isNaN(w[i]!) && Number.isNaN(r[i]!)), `log(${x}) = ${r[i]} vs ${w[i]}`).toBe(true);
      else expect(Math.abs(w[i]! - r[i]!), `log(${x}) = ${r[i]} vs ${w[i]}`).toBeLessThanOrEqual(2 ** -23 * Math.abs(r[i]!) + 1e-44);
    });
    expect(w[0]).toBe(-Infinity);
    expect(w[1]).toBe(-Infinity);
    expect(w[5]).toBe(Infinity);
    expect(w[6]).toBe(0);
    const edges = [1, -1, 0, -0, NaN, 1.5, -1.5, 0.99999994, -0.99999994, 1e-30];
    const [we, re] = [run('wasm', core.erfinv, edges), run('cpu', core.erfinv, edges)];
    expect([we[0], we[1]]).toEqual([Infinity, -Infinity]);
    expect(Object.is(we[3], -0)).toBe(true);
    edges.forEach((x, i) => {
      if (!Number.isFinite(re[i]!)) expect(Object.is(we[i], re[i]) || (Number.isNaN(we[i]!) && Number.isNaN(re[i]!)), `erfinv(${x})`).toBe(true);
      else expect(Math.abs(we[i]! - re[i]!), `erfinv(${x}) = ${re[i]} vs ${we[i]}`).toBeLessThanOrEqual(1e-7 + 4e-7 * Math.abs(re[i]!));
    });
  });

  it('sigmoid special values: saturates to 0 and 1 without overflow, ±0 give 1/2, keeps NaN', () => {
    const special = [0, -0, 1, -1, 20, -20, 88.7, -88.7, 89, -89, 103.9, -103.9, 150, -150, Infinity, -Infinity, NaN, 1e-30, -1e-30];
    const run = (backend: string): TypedArray => {
      void setBackend(backend);
      return tidy(() => core.sigmoid(tensor(new Float32Array(special))).toArraySync());
    };
    const [w, r] = [run('wasm'), run('cpu')];
    special.forEach((x, i) => {
      if (Number.isNaN(r[i]!)) expect(w[i]).toBeNaN();
      else expect(Math.abs(w[i]! - r[i]!), `sigmoid(${x}) = ${r[i]} vs ${w[i]}`).toBeLessThanOrEqual(4e-7 * Math.abs(r[i]!) + 1e-37);
    });
    expect(w[special.indexOf(Infinity)]).toBe(1);
    expect(w[special.indexOf(-Infinity)]).toBe(0);
    expect(w[1]).toBe(0.5);
  });

  it('erf special values: ±Inf give ±1, ±0 and NaN pass through, continuous across the series/erfc switch at |x| = 0.5', () => {
    const special = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-30, 0.49999997, 0.5, -0.5, 0.50000006, 3.9, 4, -4, 10, -10];
    const run = (backend: string): TypedArray => {
      void setBackend(backend);
      return tidy(() => core.erf(tensor(new Float32Array(special))).toArraySync());
    };
    const [w, r] = [run('wasm'), run('cpu')];
    special.forEach((x, i) => {
      if (Number.isNaN(r[i]!)) expect(w[i]).toBeNaN();
      else expect(Math.abs(w[i]! - r[i]!), `erf(${x}) = ${r[i]} vs ${w[i]}`).toBeLessThanOrEqual(2.5e-7 + 4e-7 * Math.abs(r[i]!));
    });
    expect([w[2], w[3], w[14], w[15]]).toEqual([1, -1, 1, -1]);
    expect(Object.is(w[1], -0)).toBe(true);
  });

  it('transpose and broadcast move 32-bit patterns unchanged (NaN payloads, uint32) through the 4×4 register path', () => {
    // Shapes from the U-ViT (attention heads, axial time attention) and ragged 4×4 edges.
    const cases: [number[], number[]][] = [
      [[64, 16, 2, 32], [0, 2, 3, 1]], [[128, 8, 2, 32], [0, 2, 3, 1]], [[128, 2, 32, 8], [0, 3, 1, 2]], [[8, 8, 4, 4, 64], [0, 2, 3, 1, 4]],
      [[64, 8, 4, 8, 4, 1], [0, 1, 3, 2, 4, 5]], [[15, 2], [1, 0]], [[33, 17], [1, 0]], [[5, 7, 9], [2, 1, 0]], [[3, 4, 4], [0, 2, 1]],
    ];
    const bits = (n: number, seed: number): Uint32Array => {
      const rand = xorshift(seed);
      // Include quiet and signalling NaN patterns, infinities and negative zero among random words.
      const special = [0x7fc00001, 0x7f800001, 0xffc12345, 0x7f800000, 0x80000000];
      return Uint32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? special[(i / 7) % special.length]! : Math.floor(rand() * 2 ** 32)));
    };
    cases.forEach(([shape, perm], k) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const words = bits(n, 100 + k);
      const on = (backend: string, dtype: DType, w: Uint32Array) => {
        void setBackend(backend);
        return tidy(() => core.bitcast(core.transpose(core.bitcast(tensor(w, shape, 'uint32'), dtype), perm), 'uint32').toArraySync());
      };
      // The reference is the CPU backend on uint32 (JS integers, exact). As float32, signalling NaNs
      // are replaced by a quiet one: where wasm hands a layout to the CPU kernel (tiny blocks), that
      // kernel's float32 → float64 → float32 round trip quiets them, as any JS Float32Array copy does.
      const quiet = words.map((u) => ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0 && (u & 0x400000) === 0 ? 0x7fc00000 : u));
      for (const dtype of ['uint32', 'float32', 'int32'] as const) {
        const w = dtype === 'float32' ? quiet : words;
        expect(sameBits(on('wasm', dtype, w), on('cpu', 'uint32', w)), `transpose ${JSON.stringify(shape)} ${JSON.stringify(perm)} ${dtype}`).toBe(true);
      }
    });
    const bcast: [number[], number[]][] = [[[64, 1, 8, 1], [64, 64, 8, 2]], [[8, 8, 4, 4, 1], [8, 8, 4, 4, 64]], [[64, 4, 1, 4, 1, 16], [64, 4, 2, 4, 2, 16]], [[1], [37]], [[5, 1, 3], [5, 6, 3]]];
    bcast.forEach(([from, to], k) => {
      const words = bits(from.reduce((a, b) => a * b, 1), 200 + k);
      const on = (backend: string) => {
        void setBackend(backend);
        return tidy(() => core.broadcastTo(tensor(words, from, 'uint32'), to).toArraySync());
      };
      expect(sameBits(on('wasm'), on('cpu')), `broadcast ${JSON.stringify(from)} → ${JSON.stringify(to)}`).toBe(true);
    });
  });

  it('element-wise ops over small broadcast blocks (group norm\'s x − mean) run on expanded rows or dense copies, bit for bit', () => {
    const before = wasm.stats().buffers;
    // The first and last cases take the inner expansion (rows of 2 or 3 become rows of 16 or 24: a
    // [64, 1, 8, 2] copy of the mean), the others the dense copies.
    const cases: [number[], number[]][] = [[[64, 64, 8, 2], [64, 1, 8, 1]], [[9, 5, 3, 2], [1, 5, 1, 2]], [[7, 6, 5, 3], [7, 1, 5, 1]], [[40, 3, 2, 3], [40, 3, 1, 1]], [[5, 33, 8, 3], [5, 1, 8, 1]], [[5, 33, 8, 3], [1, 33, 1, 3]]];
    cases.forEach(([a, b], i) => {
      for (const prim of ['sub', 'mul', 'div', 'max'] as const) checkPrim(prim, { inputs: [float(a), float(b)], params: {}, seed: 300 + i });
      checkPrim('add', { inputs: [float(b), float(a)], params: {}, seed: 310 + i });
      checkPrim('gt', { inputs: [float(a), float(b)], params: {}, seed: 320 + i });
      checkPrim('where', { inputs: [{ shape: b, dtype: 'bool' }, float(a), float(b)], params: {}, seed: 330 + i });
    });
    expect(wasm.stats().buffers).toBe(before);
  });

  it('a broadcast along short inner axes (group norm\'s mean to [n, hw, g, c/g]) copies the same bits through its small expansion, and frees it', () => {
    const before = wasm.stats().buffers;
    const cases: [number[], number[]][] = [[[64, 1, 8, 1], [64, 64, 8, 2]], [[5, 1, 8, 1], [5, 33, 8, 3]], [[1, 33, 1, 3], [5, 33, 8, 3]], [[3, 1, 1], [3, 40, 2]]];
    cases.forEach(([from, to], i) => checkPrim('broadcast', { inputs: [float(from)], params: { shape: to }, seed: 340 + i }));
    expect(wasm.stats().buffers).toBe(before);
  });

  it('sums over reduced axes separated by kept ones (group norm) go block by block and free their temporaries', () => {
    expect(reductionRuns([64, 64, 8, 2], [1, 3])).toEqual([[64, false], [64, true], [8, false], [2, true]]);
    // size-1 axes vanish, so axes 0 and 2-3 form one block
    expect(reductionRuns([2, 1, 3, 4], [0, 2, 3])).toEqual([[24, true]]);
    expect(reductionRuns([3, 4], [])).toEqual([[12, false]]);
    const wasmStats = (): number => wasm.stats().buffers;
    void setBackend('wasm');
    const x = tensor(Float32Array.from({ length: 6 * 5 * 4 * 3 }, (_, i) => Math.sin(i)), [6, 5, 4, 3]);
    const before = wasmStats();
    // [1, 3] and [0, 1, 3] end in a short reduced run (3 elements): the earlier block goes first.
    for (const axes of [[0, 2], [1, 3], [0, 1, 3], [0, 3], [0, 2, 3]]) {
      const ref = (() => {
        void setBackend('cpu');
        return tidy(() => core.sum(tensor(x.toArraySync(), [6, 5, 4, 3]), axes).toArraySync());
      })();
      void setBackend('wasm');
      const got = tidy(() => core.sum(x, axes).toArraySync());
      ref.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-5));
      expect(wasmStats()).toBe(before);
    }
    x.dispose();
    void setBackend('cpu');
  });

  it('tiny products (m, k ≤ 8, B not transposed: the Winograd filter transform) take matmul_smallk, with the blocked kernel\'s bits and the CPU\'s values', async () => {
    const blocked = createWasmBackendSync({ threads: 1, matmul: { smallK: 0 } });
    registerBackend('wasm-blocked', () => blocked);
    await setBackend('wasm-blocked');
    try {
      const tiny = fc
        .record({
          batch: fc.integer({ min: 1, max: 3 }),
          broadcast: fc.constantFrom('none', 'a', 'b'),
          m: fc.integer({ min: 1, max: 8 }),
          k: fc.integer({ min: 1, max: 8 }),
          // Whole fours, a partial last four, fewer than four (the blocked kernel then).
          n: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(4, 5, 7, 8, 9, 301, 4096)),
          transA: fc.boolean(),
          seed: seedArb,
        })
        .map(({ batch, broadcast, m, n, k, transA, seed }): Case<'matmul'> => ({
          inputs: [float([broadcast === 'a' ? 1 : batch, ...(transA ? [k, m] : [m, k])]), float([broadcast === 'b' ? 1 : batch, k, n])],
          params: { transA, transB: false },
          seed,
        }));
      fc.assert(
        fc.property(tiny, (c) => {
          expect(sameBits(runOn('wasm-1', 'matmul', c), runOn('wasm-blocked', 'matmul', c)), JSON.stringify(c)).toBe(true);
          checkPrim('matmul', c, 'wasm-1');
        }),
        { numRuns: 60, examples: [[{ inputs: [float([1, 6, 3]), float([1, 3, 2304])], params: { transA: false, transB: false }, seed: 1 }], [{ inputs: [float([1, 6, 3]), float([1, 6, 2305])], params: { transA: true, transB: false }, seed: 2 }]] },
      );
    } finally {
      blocked.dispose?.();
      await setBackend('cpu');
    }
  });

  it('the single-threaded instance agrees with the CPU too', () => {
    fc.assert(fc.property(matmulCase, (c) => checkPrim('matmul', c, 'wasm-1')), { numRuns: 30 });
    fc.assert(fc.property(binaryCase('add'), (c) => checkPrim('add', c, 'wasm-1')), { numRuns: 30 });
  });
});

// ---------------------------------------------------------------- matmul

describe('wasm matmul', () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [2, 16, 3], [17, 33, 5], [64, 64, 64], [130, 70, 300], [3, 1030, 2], [129, 257, 513], [65, 47, 1100]];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`transA=${transA} transB=${transB} on tile edges and block boundaries`, () => {
        shapes.forEach(([m, n, k], i) => {
          checkPrim('matmul', { inputs: [float(transA ? [1, k, m] : [1, m, k]), float(transB ? [1, n, k] : [1, k, n])], params: { transA, transB }, seed: 11 + i });
          checkPrim('matmul', { inputs: [float(transA ? [2, k, m] : [2, m, k]), float(transB ? [1, n, k] : [1, k, n])], params: { transA, transB }, seed: 21 + i });
        });
      });
    }
  }

  it('one output column (computed as the row Cᵀ = Bᵀ·Aᵀ) has the bits of that column of a wider product', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 140 }), fc.constantFrom(1, 5, 16, 144, 385), fc.boolean(), fc.boolean(), seedArb, (batch, m, k, transA, transB, seed) => {
        void setBackend('wasm');
        const rand = xorshift(seed);
        tidy(() => {
          const a = tensor(values(float(transA ? [batch, k, m] : [batch, m, k]), rand), transA ? [batch, k, m] : [batch, m, k], 'float32');
          const b1 = values(float([1, k]), rand); // the column of B
          const b2 = new Float32Array(2 * k); // B with a second column, in the layout transB asks for
          for (let i = 0; i < k; i++) {
            if (transB) [b2[i], b2[k + i]] = [b1[i]!, 0.5 * b1[i]!];
            else [b2[2 * i], b2[2 * i + 1]] = [b1[i]!, 0.5 * b1[i]!];
          }
          const one = bind('matmul', [a, tensor(b1, transB ? [1, 1, k] : [1, k, 1], 'float32')], { transA, transB }).toArraySync();
          const two = bind('matmul', [a, tensor(b2, transB ? [1, 2, k] : [1, k, 2], 'float32')], { transA, transB }).toArraySync();
          const column = Float32Array.from({ length: batch * m }, (_, i) => two[2 * i]! as number);
          expect(sameBits(one, column)).toBe(true);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('k = 0 gives zeros; empty outputs are fine', () => {
    checkPrim('matmul', { inputs: [float([1, 3, 0]), float([1, 0, 4])], params: { transA: false, transB: false }, seed: 1 });
    checkPrim('matmul', { inputs: [float([1, 0, 5]), float([1, 5, 4])], params: { transA: false, transB: false }, seed: 1 });
  });

  it('thread chunks cover the output exactly once, whole micro-tiles but the last', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 2, max: 8 }), (batch, m, n, threads) => {
        const { rangeArg, unit, extent } = matmulPlan(batch, m, n, threads);
        expect(extent).toBe(rangeArg === 5 ? batch : rangeArg === 11 ? m : n);
        if (rangeArg !== 5) expect(unit % 16).toBe(0);
        expect(Math.ceil(extent / unit)).toBeLessThanOrEqual(Math.max(4 * threads, Math.ceil(extent / 32)));
      }),
    );
  });

  it('threads on and off give the same bits', async () => {
    if (!wasmFeatures().sharedMemory) return;
    const two = await createWasmBackend({ threads: 2, parallelThreshold: 1, adaptive: false });
    const one = createWasmBackendSync({ threads: 1 });
    registerBackend('wasm-t2', () => two);
    registerBackend('wasm-t1', () => one);
    await setBackend('wasm-t2');
    await setBackend('wasm-t1');
    expect(two.threads).toBe(2);
    try {
      for (const [batch, m, n, k, tA, tB] of [[1, 300, 200, 260, false, false], [3, 40, 50, 60, true, false], [1, 5, 700, 33, false, true], [2, 129, 17, 513, true, true], [1, 3000, 1, 144, false, false], [2, 700, 1, 300, true, true]] as const) {
        const c: Case<'matmul'> = { inputs: [float(tA ? [batch, k, m] : [batch, m, k]), float(tB ? [1, n, k] : [1, k, n])], params: { transA: tA, transB: tB }, seed: m + n };
        expect(sameBits(runOn('wasm-t1', 'matmul', c), runOn('wasm-t2', 'matmul', c))).toBe(true);
      }
      // Element-wise maps (one long row cut for the threads, with a tail that is not a whole vector;
      // rows with a broadcast row; a scalar operand), row and column reductions, im2col and col2im
      // are split across threads (above 2¹⁹ elements, or the backend's parallelThreshold, 1 here): the same bits, and the CPU's bits where exact.
      const im2col = { kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 2, padTop: 1, padLeft: 1, outHeight: 20, outWidth: 10, dilationHeight: 1, dilationWidth: 1 };
      const threaded: [BackendPrim, Case<BackendPrim>][] = [
        ['add', { inputs: [float([70_003]), float([70_003])], params: {}, seed: 1 }],
        ['mul', { inputs: [float([301, 257]), float([257])], params: {}, seed: 2 }],
        ['sub', { inputs: [float([]), float([5, 9000])], params: {}, seed: 3 }],
        ['sigmoid', { inputs: [float([65_539], -20, 20)], params: {}, seed: 4 }],
        ['exp', { inputs: [float([3, 40_000], -20, 20)], params: {}, seed: 5 }],
        ['gt', { inputs: [float([50_001]), float([50_001])], params: {}, seed: 6 }],
        ['sum', { inputs: [float([300, 257])], params: { axes: [1] }, seed: 7 }],
        ['sum', { inputs: [float([40, 30, 70])], params: { axes: [1] }, seed: 8 }],
        ['reduceMax', { inputs: [float([600, 129])], params: { axes: [1] }, seed: 9 }],
        ['im2col', { inputs: [float([6, 20, 20, 8])], params: im2col, seed: 10 }],
        ['col2im', { inputs: [float([6, 20, 10, 72])], params: { ...im2col, height: 20, width: 20 }, seed: 11 }],
        // Concatenations: long vectors cut into rows for the threads (with tails), and rows of blocks.
        ['concat', { inputs: [float([50_003]), float([30_001]), float([7])], params: { axis: 0 }, seed: 18 }],
        ['concat', { inputs: [float([300, 257]), float([300, 100])], params: { axis: 1 }, seed: 19 }],
        // Slices: a long run of a vector, and rows of channels (copy_block, split by rows).
        ['slice', { inputs: [float([90_007])], params: { begin: [5], size: [90_001] }, seed: 20 }],
        ['slice', { inputs: [float([700, 257])], params: { begin: [3, 100], size: [690, 120] }, seed: 21 }],
        // Threefry: scalar keys, full counters, a tail of blocks past the last four.
        ['threefry2x32', { inputs: [{ shape: [], dtype: 'uint32' }, { shape: [1], dtype: 'uint32' }, { shape: [70_003], dtype: 'uint32' }, { shape: [70_003], dtype: 'uint32' }], params: {}, seed: 22 }],
        // A tiny product (matmul_smallk) split by fours of columns, its last four partial.
        ['matmul', { inputs: [float([1, 6, 3]), float([1, 3, 70_001])], params: { transA: false, transB: false }, seed: 16 }],
        ['matmul', { inputs: [float([2, 6, 3]), float([2, 6, 30_002])], params: { transA: true, transB: false }, seed: 17 }],
        // Winograd transforms through each thread's own scratch (runs of 3 tiles at 40 channels).
        ['winogradIn', { inputs: [float([4, 30, 29, 40])], params: { tile: 4, batch: 4, height: 30, width: 29, padTop: 1, padLeft: 1, tilesHigh: 8, tilesWide: 8, adjoint: false }, seed: 12 }],
        ['winogradIn', { inputs: [float([36, 4 * 8 * 8, 40])], params: { tile: 4, batch: 4, height: 30, width: 29, padTop: 1, padLeft: 1, tilesHigh: 8, tilesWide: 8, adjoint: true }, seed: 13 }],
        ['winogradOut', { inputs: [float([36, 4 * 8 * 8, 40])], params: { tile: 4, batch: 4, tilesHigh: 8, tilesWide: 8, adjoint: false }, seed: 14 }],
        ['winogradOut', { inputs: [float([4, 32, 32, 40])], params: { tile: 4, batch: 4, tilesHigh: 8, tilesWide: 8, adjoint: true }, seed: 15 }],
      ];
      for (const [prim, c] of threaded) {
        const t1 = runOn('wasm-t1', prim, c);
        expect(sameBits(t1, runOn('wasm-t2', prim, c)), `${prim} ${JSON.stringify(c.inputs.map((x) => x.shape))}`).toBe(true);
        checkPrim(prim, c, 'wasm-t2');
      }
      // A jitted program's fused expressions (modules compiled after the workers started) are split
      // across the threads too: the pool gets each module once, and the bits are one thread's.
      const chain = (x: Tensor, y: Tensor): Tensor => core.mul(core.sigmoid(core.add(core.mul(x, 2), y)), core.sub(x, 1));
      const fusedOn = async (name: string): Promise<{ bits: Float32Array; fused: number }> => {
        await setBackend(name);
        const x = normal(key(21), [3, 70_001]);
        const y = normal(key(22), [70_001]);
        const jf = jit(chain);
        dispose(jf(x, y)); // the first call traces (running eagerly); the second runs the program
        const out = jf(x, y);
        const bits = new Float32Array(await out.toArray());
        dispose([x, y, out]);
        return { bits, fused: jf.stats().fused };
      };
      const before = two.threadStats()!;
      const [t2, t1] = [await fusedOn('wasm-t2'), await fusedOn('wasm-t1')];
      const after = two.threadStats()!;
      expect(t2.fused).toBe(1);
      expect(after.modules).toBe(before.modules + 1);
      expect(after.jobs).toBeGreaterThan(before.jobs);
      expect(Array.from(t2.bits)).toEqual(Array.from(t1.bits));
      expect(one.threadStats()).toBeNull();
    } finally {
      two.dispose?.();
      await setBackend('cpu');
    }
  });
});

// ---------------------------------------------------------------- end to end

function mlpLoss(params: { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor }, x: Tensor, y: Tensor): Tensor {
  const h = relu(core.add(matmul(x, params.w1), params.b1));
  const logits = core.add(matmul(h, params.w2), params.b2);
  return mean(core.neg(sum(core.mul(core.logSoftmax(logits, -1), y), -1)));
}

function mlpSetup(): { params: { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor }; x: Tensor; y: Tensor } {
  const k = key(3);
  const [k1, k2, k3, k4] = core.split(k, 4) as [core.Key, core.Key, core.Key, core.Key];
  const params = { w1: core.mul(normal(k1, [37, 50]), 0.2), b1: core.mul(normal(k2, [50]), 0.1), w2: core.mul(normal(k3, [50, 10]), 0.2), b2: core.zeros([10]) };
  const x = normal(k4, [19, 37]);
  const y = core.oneHot(core.randint(core.foldIn(k, 9), [19], 0, 10), 10);
  return { params, x, y };
}

describe('wasm backend end to end', () => {
  it('the package index makes wasm the default backend; setBackend("cpu") and back work', async () => {
    expect(defaultBackend).toBe('wasm');
    await setBackend('cpu');
    expect(getBackendName()).toBe('cpu');
    const b = await setBackend('wasm');
    expect(b.name).toBe('wasm');
    expect(getBackendName()).toBe('wasm');
    // Made synchronously, its workers start in the background (Node, shared memory): ready() waits.
    const w = await (b as WasmBackend).ready();
    if (wasmFeatures().sharedMemory) expect(w.threads).toBeGreaterThanOrEqual(Math.min(2, availableParallelism()));
    await setBackend('cpu');
  });

  it('valueAndGrad of a small MLP agrees with the CPU backend', async () => {
    const run = async (backend: string) => {
      await setBackend(backend);
      const { params, x, y } = mlpSetup();
      const [loss, grads] = valueAndGrad(mlpLoss)(params, x, y);
      return { loss: (await loss.toArray())[0]!, grads: await Promise.all([grads.w1, grads.b1, grads.w2, grads.b2].map((g) => g.toArray())) };
    };
    const cpu = await run('cpu');
    const w = await run('wasm');
    expect(Math.abs(w.loss - cpu.loss)).toBeLessThan(1e-5 * (1 + Math.abs(cpu.loss)));
    cpu.grads.forEach((g, i) => {
      const scale = Math.max(...[...g].map(Math.abs));
      for (let j = 0; j < g.length; j++) expect(Math.abs(w.grads[i]![j]! - g[j]!)).toBeLessThan(1e-5 * (scale + 1e-3));
    });
    await setBackend('cpu');
  });

  it('conv2d forward and backward agree with the CPU backend', async () => {
    const run = async (backend: string) => {
      await setBackend(backend);
      const k = key(5);
      const x = normal(k, [2, 9, 8, 3]);
      const w = normal(core.foldIn(k, 1), [3, 3, 3, 5]);
      const f = (w: Tensor, x: Tensor) => sum(core.square(core.conv2d(x, w, { stride: 2, padding: 'same' })));
      const [v, g] = valueAndGrad(f)(w, x);
      return [await v.toArray(), await g.toArray()];
    };
    const cpu = await run('cpu');
    const w = await run('wasm');
    cpu.forEach((a, i) => a.forEach((v, j) => expect(Math.abs(w[i]![j]! - v)).toBeLessThan(1e-4 * (1 + Math.abs(v)))));
    await setBackend('cpu');
  });

  it('memory stays flat over many tidy training steps', async () => {
    await setBackend('wasm');
    let { params } = mlpSetup();
    const { x, y } = mlpSetup();
    const step = () =>
      tidy(() => {
        const [, g] = valueAndGrad(mlpLoss)(params, x, y);
        const next = { w1: core.sub(params.w1, core.mul(g.w1, 0.1)), b1: core.sub(params.b1, core.mul(g.b1, 0.1)), w2: core.sub(params.w2, core.mul(g.w2, 0.1)), b2: core.sub(params.b2, core.mul(g.b2, 0.1)) };
        core.dispose(params);
        return next;
      });
    for (let i = 0; i < 5; i++) params = step();
    const before = { backend: wasm.stats(), core: memoryStats() };
    for (let i = 0; i < 60; i++) params = step();
    const after = { backend: wasm.stats(), core: memoryStats() };
    expect(after.core).toEqual(before.core);
    expect(after.backend.buffers).toBe(before.backend.buffers);
    expect(after.backend.bytes).toBe(before.backend.bytes);
    expect(after.backend.heapBytes).toBe(before.backend.heapBytes);
    core.dispose([params, x, y]);
    await setBackend('cpu');
  });

  it('a tensor past the heap maximum is a clear error and leaves the backend usable', async () => {
    const small = createWasmBackendSync({ threads: 1, maxBytes: 4 << 20, initialBytes: 1 << 20 });
    registerBackend('wasm-small', () => small);
    await setBackend('wasm-small');
    try {
      expect(() => core.zeros([2 << 20])).toThrow(/out of memory.*maxBytes/s);
      const t = core.add(core.ones([1000]), 1);
      expect((await t.toArray())[999]).toBe(2);
      t.dispose();
    } finally {
      await setBackend('cpu');
    }
  });
});
