/**
 * The WebGPU backend against the CPU backend (the reference): every primitive on random shapes and
 * values, gradients of composite functions, the PRNG bit for bit, training, memory, device loss.
 *
 * Needs a WebGPU adapter. Without a GPU on Linux: `apt-get install -y chromium` and run with
 * `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` (SwiftShader).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  add, bernoulli, bind, concat, conv2d, cumsum, dispose, exp, fromArray, gelu, getBackend, key, logSoftmax, matmul, max, mean,
  memoryStats, mul, normal, pad, randomBits, registerBackend, reshape, setBackend, sigmoid, slice, softmax, softplus, split,
  sqrt, square, sub, sum, take, tanh, tensor, tidy, toArray, transpose, uniform, valueAndGrad, variance,
  where, greater, flip, type BackendPrim, type DType, type PrimParams, type Tensor, type TypedArray,
} from '../../index.js';
import { rng } from '../core/harness.js';
import { initMlp, sgdStep, startWebGPU, type MlpParams } from './webgpuAdapter.js';
import { createWebGPUBackend, describeAdapter, type WebGPUBackend } from '../../backends/webgpu/index.js';

const { gpu, suite } = await startWebGPU();
/**
 * The default picks its kernels by adapter (`gpu`: workgroup-memory tiles and trees; `cpu`: barrier-free
 * kernels for SwiftShader and the like); a second instance forces the other schedule, so both are tested.
 */
const OTHER = 'webgpu-other-schedule';
const otherSchedule = gpu?.schedule === 'cpu' ? 'gpu' : 'cpu';
registerBackend(OTHER, () => createWebGPUBackend({ registeredAs: OTHER, schedule: otherSchedule }));
/** Primitives whose kernels depend on the schedule. */
const SCHEDULED: readonly BackendPrim[] = ['matmul', 'sum', 'reduceMax', 'im2col', 'col2im'];
type BackendName = 'cpu' | 'webgpu' | typeof OTHER;

// ---------------------------------------------------------------- values and comparison


interface Dist {
  dtype: DType;
  lo: number;
  hi: number;
  /** Probability of NaN, ±∞, ±0, ±1 in place of a value (float32). */
  specials?: number;
  /** Round floats to multiples of this (to make ties). */
  step?: number;
}

interface HostInput {
  shape: number[];
  dist: Dist;
  seed: number;
}

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1, -1];

function values({ dtype, lo, hi, specials = 0, step }: Dist, n: number, seed: number): TypedArray {
  const r = rng(seed);
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let v = lo + (hi - lo) * r();
        if (step) v = Math.round(v / step) * step;
        a[i] = r() < specials ? SPECIALS[Math.floor(r() * SPECIALS.length)]! : v;
      }
      return a;
    }
    case 'int32':
      return Int32Array.from({ length: n }, () => Math.floor(lo + (hi - lo + 1) * r()));
    case 'uint32':
      return Uint32Array.from({ length: n }, () => Math.floor(lo + (hi - lo + 1) * r()));
    case 'bool':
      return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
  }
}

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const make = (x: HostInput): Tensor => fromArray(values(x.dist, sizeOf(x.shape), x.seed), x.shape, x.dist.dtype);

/** Run `fn` on a backend and read its outputs. */
async function on(name: BackendName, fn: () => Tensor | Tensor[]): Promise<TypedArray[]> {
  await setBackend(name);
  const outs = tidy(() => {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  });
  try {
    return await Promise.all(outs.map((t) => toArray(t)));
  } finally {
    dispose(outs);
  }
}

type Tol = 'exact' | { rtol: number; atol: number };

function bitsOf(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}

/** CPU and GPU agree: bit for bit (any NaN matches any NaN), or within tolerance. */
function agree(what: string, cpu: TypedArray, gpuv: TypedArray, tol: Tol): void {
  expect(gpuv.length, `${what}: length`).toBe(cpu.length);
  expect(gpuv.constructor, `${what}: array type`).toBe(cpu.constructor);
  for (let i = 0; i < cpu.length; i++) {
    const a = cpu[i]!;
    const b = gpuv[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (!(Number.isNaN(a) && Number.isNaN(b))) throw new Error(`${what}: element ${i}: cpu ${a}, webgpu ${b}`);
      continue;
    }
    if (tol === 'exact') {
      const same = cpu instanceof Float32Array ? bitsOf(a) === bitsOf(b) : a === b;
      if (!same) throw new Error(`${what}: element ${i}: cpu ${Object.is(a, -0) ? '-0' : a}, webgpu ${Object.is(b, -0) ? '-0' : b} (expected identical)`);
    } else if (a !== b && !(Math.abs(a - b) <= tol.atol + tol.rtol * Math.abs(a))) {
      throw new Error(`${what}: element ${i}: cpu ${a}, webgpu ${b} (|diff| ${Math.abs(a - b)} > ${tol.atol} + ${tol.rtol}·|cpu|)`);
    }
  }
}

// ---------------------------------------------------------------- shapes

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const smallShape = (min = 0, max = 4) => fc.array(fc.integer({ min: 1, max: 5 }), { minLength: min, maxLength: max });
/** Mostly small tensors with size-1 axes; sometimes long odd ones that span several workgroups. */
const shapeArb = (min = 0, max = 4): fc.Arbitrary<number[]> =>
  fc.oneof({ arbitrary: smallShape(min, max), weight: 4 }, { arbitrary: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: Math.max(min, 1), maxLength: Math.min(max, 2) }), weight: 1 });

/** An output shape and `k` input shapes that broadcast to it (leading axes dropped, axes set to 1). */
function broadcastArb(k: number): fc.Arbitrary<{ out: number[]; ins: number[][] }> {
  return shapeArb().chain((out) =>
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })), { minLength: k, maxLength: k })
      .map((specs) => ({ out, ins: specs.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[drop + i] ? 1 : d))) })),
  );
}

const permutationArb = (n: number): fc.Arbitrary<number[]> =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }).map((ks) => ks.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i));

const axesSubset = (rank: number): fc.Arbitrary<number[]> =>
  fc.array(fc.boolean(), { minLength: rank, maxLength: rank }).map((bs) => bs.flatMap((b, i) => (b ? [i] : [])));

// ---------------------------------------------------------------- one generator per primitive

interface Case<P extends BackendPrim> {
  inputs: HostInput[];
  params: PrimParams[P];
  tol: Tol;
}

const F = (lo: number, hi: number, extra: Partial<Dist> = {}): Dist => ({ dtype: 'float32', lo, hi, ...extra });
const I = (lo: number, hi: number): Dist => ({ dtype: 'int32', lo, hi });
const U = (lo: number, hi: number): Dist => ({ dtype: 'uint32', lo, hi });
const B: Dist = { dtype: 'bool', lo: 0, hi: 1 };
const close = (rtol: number, atol = 0): Tol => ({ rtol, atol });

function unaryCase<P extends BackendPrim>(options: readonly { dist: Dist; tol: Tol }[]): fc.Arbitrary<Case<P>> {
  return fc.tuple(shapeArb(), seedArb, fc.constantFrom(...options)).map(([shape, seed, o]) => ({ inputs: [{ shape, dist: o.dist, seed }], params: {} as PrimParams[P], tol: o.tol }));
}

function binaryCase<P extends BackendPrim>(options: readonly { a: Dist; b?: Dist; tol: Tol }[]): fc.Arbitrary<Case<P>> {
  return fc.tuple(broadcastArb(2), seedArb, fc.constantFrom(...options)).map(([{ ins }, seed, o]) => ({
    inputs: [
      { shape: ins[0]!, dist: o.a, seed },
      { shape: ins[1]!, dist: o.b ?? o.a, seed: seed + 1 },
    ],
    params: {} as PrimParams[P],
    tol: o.tol,
  }));
}

const FLOAT_WITH_SPECIALS = F(-3, 3, { specials: 0.15, step: 0.5 });
const compareCase = <P extends BackendPrim>() =>
  binaryCase<P>([{ a: FLOAT_WITH_SPECIALS, tol: 'exact' }, { a: I(-3, 3), tol: 'exact' }, { a: U(0, 4), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }, { a: B, tol: 'exact' }]);
const bitCase = <P extends BackendPrim>(withBool: boolean) =>
  binaryCase<P>([{ a: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }, ...(withBool ? [{ a: B, tol: 'exact' as const }] : [])]);
const shiftCase = <P extends BackendPrim>() =>
  binaryCase<P>([{ a: I(-(2 ** 31), 2 ** 31 - 1), b: I(0, 40), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), b: U(0, 40), tol: 'exact' }]);

function reduceCase<P extends 'sum' | 'reduceMax'>(dists: readonly { dist: Dist; tol: Tol }[]): fc.Arbitrary<Case<P>> {
  return fc
    .tuple(shapeArb(1, 4), seedArb, fc.constantFrom(...dists))
    .chain(([shape, seed, o]) => axesSubset(shape.length).filter((a) => a.length > 0).map((axes) => ({ inputs: [{ shape, dist: o.dist, seed }], params: { axes } as PrimParams[P], tol: o.tol })));
}

/** im2col parameters that fit an input of [n, h, w, c]. */
const convArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    c: fc.integer({ min: 1, max: 3 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    pt: fc.integer({ min: 0, max: 2 }),
    pb: fc.integer({ min: 0, max: 2 }),
    pl: fc.integer({ min: 0, max: 2 }),
    pr: fc.integer({ min: 0, max: 2 }),
  })
  .map((r) => {
    const outHeight = Math.floor((r.h + r.pt + r.pb - ((r.kh - 1) * r.dh + 1)) / r.sh) + 1;
    const outWidth = Math.floor((r.w + r.pl + r.pr - ((r.kw - 1) * r.dw + 1)) / r.sw) + 1;
    const params: PrimParams['im2col'] = {
      kernelHeight: r.kh, kernelWidth: r.kw, strideHeight: r.sh, strideWidth: r.sw, padTop: r.pt, padLeft: r.pl,
      outHeight, outWidth, dilationHeight: r.dh, dilationWidth: r.dw,
    };
    return { ...r, outHeight, outWidth, params };
  })
  .filter((r) => r.outHeight >= 1 && r.outWidth >= 1);

/** Winograd tile grids: a single tile (the boundary) up to 3×4, both directions. */
const winogradArb = fc.record({
  tile: fc.constantFrom(2 as const, 4 as const),
  n: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 7 }),
  w: fc.integer({ min: 1, max: 7 }),
  pt: fc.integer({ min: 0, max: 2 }),
  pl: fc.integer({ min: 0, max: 2 }),
  th: fc.integer({ min: 1, max: 3 }),
  tw: fc.integer({ min: 1, max: 4 }),
  c: fc.integer({ min: 1, max: 5 }),
  adjoint: fc.boolean(),
});

const cases: { [P in BackendPrim]: fc.Arbitrary<Case<P>> } = {
  neg: unaryCase([{ dist: FLOAT_WITH_SPECIALS, tol: 'exact' }, { dist: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }]),
  exp: unaryCase([{ dist: F(-20, 20), tol: close(4e-6) }]),
  log: unaryCase([{ dist: F(1e-3, 100), tol: close(2e-6, 2e-7) }]),
  expm1: unaryCase([{ dist: F(-3, 3), tol: close(4e-6) }, { dist: F(-1e-4, 1e-4), tol: close(2e-6) }]),
  log1p: unaryCase([{ dist: F(-0.9, 3), tol: close(2e-6) }, { dist: F(-1e-4, 1e-4), tol: close(2e-6) }]),
  sin: unaryCase([{ dist: F(-30, 30), tol: close(2e-6, 2e-6) }]),
  cos: unaryCase([{ dist: F(-30, 30), tol: close(2e-6, 2e-6) }]),
  tanh: unaryCase([{ dist: F(-12, 12), tol: close(4e-6) }, { dist: F(-1e-3, 1e-3), tol: close(4e-6) }]),
  sqrt: unaryCase([{ dist: F(0, 100), tol: close(1e-6) }]),
  erf: unaryCase([{ dist: F(-4, 4), tol: close(4e-6, 1e-7) }]),
  erfinv: unaryCase([{ dist: F(-0.999, 0.999), tol: close(1e-5) }]),
  floor: unaryCase([{ dist: FLOAT_WITH_SPECIALS, tol: 'exact' }, { dist: F(-100, 100), tol: 'exact' }]),
  abs: unaryCase([{ dist: FLOAT_WITH_SPECIALS, tol: 'exact' }, { dist: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }]),
  sign: unaryCase([{ dist: F(-3, 3, { specials: 0.15 }), tol: close(0) }, { dist: I(-3, 3), tol: 'exact' }]),
  sigmoid: unaryCase([{ dist: F(-30, 30), tol: close(4e-6, 1e-7) }]),
  add: binaryCase([{ a: F(-10, 10), tol: close(1e-7) }, { a: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  sub: binaryCase([{ a: F(-10, 10), tol: close(1e-7) }, { a: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  mul: binaryCase([{ a: F(-10, 10), tol: close(1e-7) }, { a: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  div: binaryCase([{ a: F(-10, 10), tol: close(2e-7) }, { a: I(-50, 50), b: I(-5, 5), tol: 'exact' }, { a: U(0, 100), b: U(0, 5), tol: 'exact' }]),
  max: binaryCase([{ a: FLOAT_WITH_SPECIALS, tol: close(0) }, { a: I(-5, 5), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  min: binaryCase([{ a: FLOAT_WITH_SPECIALS, tol: close(0) }, { a: I(-5, 5), tol: 'exact' }, { a: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  pow: binaryCase([
    { a: F(0.1, 10), b: F(-3, 3), tol: close(1e-5) },
    { a: F(-4, 4, { step: 0.25 }), b: F(-4, 4, { step: 1 }), tol: close(1e-6) },
    { a: I(-4, 4), b: I(-2, 8), tol: 'exact' },
    { a: U(0, 9), b: U(0, 6), tol: 'exact' },
  ]),
  mod: binaryCase([{ a: F(-10, 10), b: F(0.5, 4), tol: close(1e-5, 1e-5) }, { a: I(-50, 50), b: I(-5, 5), tol: 'exact' }, { a: U(0, 100), b: U(0, 5), tol: 'exact' }]),
  bitand: bitCase(true),
  bitor: bitCase(true),
  bitxor: bitCase(true),
  shl: shiftCase(),
  shr: shiftCase(),
  eq: compareCase(),
  ne: compareCase(),
  lt: compareCase(),
  le: compareCase(),
  gt: compareCase(),
  ge: compareCase(),
  where: fc.tuple(broadcastArb(3), seedArb, fc.constantFrom(FLOAT_WITH_SPECIALS, I(-9, 9), B)).map(([{ ins }, seed, d]) => ({
    inputs: [
      { shape: ins[0]!, dist: B, seed },
      { shape: ins[1]!, dist: d, seed: seed + 1 },
      { shape: ins[2]!, dist: d, seed: seed + 2 },
    ],
    params: {},
    tol: 'exact' as const,
  })),
  cast: fc
    .tuple(
      shapeArb(),
      seedArb,
      fc.constantFrom<[Dist, DType]>(
        [F(-5e9, 5e9, { specials: 0.2 }), 'int32'], [F(-5e9, 5e9, { specials: 0.2 }), 'uint32'], [F(-3, 3, { specials: 0.2, step: 0.5 }), 'bool'],
        [F(-100, 100), 'int32'], [I(-(2 ** 31), 2 ** 31 - 1), 'float32'], [I(-(2 ** 31), 2 ** 31 - 1), 'uint32'], [I(-2, 2), 'bool'],
        [U(0, 2 ** 32 - 1), 'float32'], [U(0, 2 ** 32 - 1), 'int32'], [U(0, 2), 'bool'], [B, 'float32'], [B, 'int32'], [B, 'uint32'],
      ),
    )
    .map(([shape, seed, [dist, dtype]]) => ({ inputs: [{ shape, dist, seed }], params: { dtype }, tol: 'exact' as const })),
  bitcast: fc
    .tuple(shapeArb(), seedArb, fc.constantFrom<[Dist, DType]>([FLOAT_WITH_SPECIALS, 'uint32'], [FLOAT_WITH_SPECIALS, 'int32'], [U(0, 2 ** 32 - 1), 'float32'], [I(-(2 ** 31), 2 ** 31 - 1), 'uint32'], [U(0, 2 ** 32 - 1), 'int32']))
    .map(([shape, seed, [dist, dtype]]) => ({ inputs: [{ shape, dist, seed }], params: { dtype }, tol: 'exact' as const })),
  // Float sums: values on a 2⁻⁷ grid in [−1, 1]. Every partial sum then stays a multiple of 2⁻⁷ below
  // 2¹⁷ (at most 300² = 90,000 terms), which float32 holds exactly, so any summation order gives the
  // exact sum and CPU and GPU must agree bit for bit. (Continuous values needed a tolerance that grows
  // with the term count: a fixed 1e-5 failed in CI on 31,020 terms, 2e-4 apart after reordering.)
  sum: reduceCase([{ dist: F(-1, 1, { step: 2 ** -7 }), tol: 'exact' }, { dist: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { dist: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  reduceMax: reduceCase([{ dist: F(-3, 3, { specials: 0.02, step: 0.5 }), tol: close(0) }, { dist: F(-100, 100), tol: 'exact' }, { dist: I(-(2 ** 31), 2 ** 31 - 1), tol: 'exact' }, { dist: U(0, 2 ** 32 - 1), tol: 'exact' }]),
  argmax: fc
    .tuple(shapeArb(1, 4), seedArb, fc.constantFrom(F(-3, 3, { specials: 0.05, step: 0.5 }), F(-100, 100), I(-3, 3), U(0, 5)))
    .chain(([shape, seed, dist]) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({ inputs: [{ shape, dist, seed }], params: { axis }, tol: 'exact' as const }))),
  cumsum: fc
    // Floats on the 2⁻⁷ grid, as for sum: every running sum is exact, so any order agrees bit for bit.
    .tuple(shapeArb(1, 4), seedArb, fc.constantFrom<[Dist, Tol]>([F(-1, 1, { step: 2 ** -7 }), 'exact'], [I(-1000, 1000), 'exact'], [U(0, 2 ** 32 - 1), 'exact']), fc.boolean())
    .chain(([shape, seed, [dist, tol], reverse]) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({ inputs: [{ shape, dist, seed }], params: { axis, reverse }, tol }))),
  matmul: fc
    .record({
      batch: fc.integer({ min: 1, max: 3 }),
      broadcastA: fc.boolean(),
      broadcastB: fc.boolean(),
      m: fc.integer({ min: 1, max: 70 }),
      k: fc.integer({ min: 1, max: 70 }),
      n: fc.integer({ min: 1, max: 70 }),
      transA: fc.boolean(),
      transB: fc.boolean(),
      seed: seedArb,
    })
    .map(({ batch, broadcastA, broadcastB, m, k, n, transA, transB, seed }) => ({
      inputs: [
        { shape: [broadcastA ? 1 : batch, ...(transA ? [k, m] : [m, k])], dist: F(-1, 1), seed },
        { shape: [broadcastB && !broadcastA ? 1 : batch, ...(transB ? [n, k] : [k, n])], dist: F(-1, 1), seed: seed + 1 },
      ],
      params: { transA, transB },
      tol: close(1e-5, 2e-5 * Math.sqrt(k)),
    })),
  im2col: fc.tuple(convArb, seedArb).map(([r, seed]) => ({ inputs: [{ shape: [r.n, r.h, r.w, r.c], dist: F(-1, 1), seed }], params: r.params, tol: 'exact' as const })),
  col2im: fc.tuple(convArb, seedArb).map(([r, seed]) => ({
    inputs: [{ shape: [r.n, r.outHeight, r.outWidth, r.kh * r.kw * r.c], dist: F(-1, 1), seed }],
    params: { ...r.params, height: r.h, width: r.w },
    tol: 'exact' as const,
  })),
  // Same signed sums in the same order on both sides (core/winograd.ts): the bits agree.
  winogradIn: fc.tuple(winogradArb, seedArb).map(([r, seed]) => ({
    inputs: [{ shape: r.adjoint ? [(r.tile + 2) ** 2, r.n * r.th * r.tw, r.c] : [r.n, r.h, r.w, r.c], dist: FLOAT_WITH_SPECIALS, seed }],
    params: { tile: r.tile, batch: r.n, height: r.h, width: r.w, padTop: r.pt, padLeft: r.pl, tilesHigh: r.th, tilesWide: r.tw, adjoint: r.adjoint },
    tol: 'exact' as const,
  })),
  winogradOut: fc.tuple(winogradArb, seedArb).map(([r, seed]) => ({
    inputs: [{ shape: r.adjoint ? [r.n, r.tile * r.th, r.tile * r.tw, r.c] : [(r.tile + 2) ** 2, r.n * r.th * r.tw, r.c], dist: FLOAT_WITH_SPECIALS, seed }],
    params: { tile: r.tile, batch: r.n, tilesHigh: r.th, tilesWide: r.tw, adjoint: r.adjoint },
    tol: 'exact' as const,
  })),
  transpose: fc
    .tuple(fc.oneof(smallShape(1, 5), fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 2, maxLength: 3 })), seedArb, fc.constantFrom(FLOAT_WITH_SPECIALS, I(-9, 9), B))
    .chain(([shape, seed, dist]) => permutationArb(shape.length).map((perm) => ({ inputs: [{ shape, dist, seed }], params: { perm }, tol: 'exact' as const }))),
  broadcast: fc.tuple(broadcastArb(1), seedArb, fc.constantFrom(FLOAT_WITH_SPECIALS, U(0, 9), B)).map(([{ out, ins }, seed, dist]) => ({
    inputs: [{ shape: ins[0]!, dist, seed }],
    params: { shape: out },
    tol: 'exact' as const,
  })),
  slice: fc
    .tuple(shapeArb(1, 4), seedArb)
    .chain(([shape, seed]) =>
      fc
        .tuple(...shape.map((d) => fc.integer({ min: 0, max: d }).chain((b) => fc.integer({ min: 0, max: d - b }).map((s) => [b, s] as const))))
        .map((bs) => ({ inputs: [{ shape, dist: F(-9, 9), seed }], params: { begin: bs.map((x) => x[0]), size: bs.map((x) => x[1]) }, tol: 'exact' as const })),
    ),
  pad: fc
    .tuple(shapeArb(0, 4), seedArb, fc.constantFrom<[Dist, number]>([F(-9, 9), -0.5], [F(-9, 9), 0], [I(-9, 9), -3], [B, 1], [U(0, 9), 7]))
    .chain(([shape, seed, [dist, value]]) =>
      fc.tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: shape.length, maxLength: shape.length }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: shape.length, maxLength: shape.length })).map(([before, after]) => ({
        inputs: [{ shape, dist, seed }],
        params: { before, after, value },
        tol: 'exact' as const,
      })),
    ),
  concat: fc
    .tuple(shapeArb(1, 4), seedArb, fc.integer({ min: 1, max: 4 }), fc.constantFrom(F(-9, 9), I(-9, 9), B))
    .chain(([shape, seed, count, dist]) =>
      fc.integer({ min: 0, max: shape.length - 1 }).chain((axis) =>
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: count, maxLength: count }).map((sizes) => ({
          inputs: sizes.map((s, j) => ({ shape: shape.map((d, i) => (i === axis ? s : d)), dist, seed: seed + j })),
          params: { axis },
          tol: 'exact' as const,
        })),
      ),
    ),
  flip: fc
    .tuple(shapeArb(1, 4), seedArb)
    .chain(([shape, seed]) => axesSubset(shape.length).filter((a) => a.length > 0).map((axes) => ({ inputs: [{ shape, dist: FLOAT_WITH_SPECIALS, seed }], params: { axes }, tol: 'exact' as const }))),
  gather: fc
    .tuple(smallShape(1, 3), smallShape(0, 2), seedArb, fc.constantFrom(FLOAT_WITH_SPECIALS, I(-9, 9)))
    .chain(([shape, idxShape, seed, dist]) =>
      fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({
        inputs: [
          { shape, dist, seed },
          { shape: idxShape, dist: I(0, shape[axis]! - 1), seed: seed + 1 },
        ],
        params: { axis },
        tol: 'exact' as const,
      })),
    ),
  scatterAdd: fc
    .tuple(smallShape(1, 3), smallShape(0, 2), seedArb, fc.constantFrom(F(-9, 9), I(-99, 99)))
    .chain(([shape, idxShape, seed, dist]) =>
      fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({
        inputs: [
          { shape: [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)], dist, seed },
          { shape: idxShape, dist: I(0, shape[axis]! - 1), seed: seed + 1 },
        ],
        params: { axis, size: shape[axis]! },
        tol: 'exact' as const,
      })),
    ),
  threefry2x32: fc.tuple(broadcastArb(4), seedArb).map(([{ ins }, seed]) => ({
    inputs: ins.map((shape, j) => ({ shape, dist: U(0, 2 ** 32 - 1), seed: seed + j })),
    params: {},
    tol: 'exact' as const,
  })),
};

const RUNS: Partial<Record<BackendPrim, number>> = { matmul: 30, cast: 30, col2im: 20, im2col: 20, sum: 20, transpose: 20 };

// ---------------------------------------------------------------- the suite

suite('webgpu backend', () => {
  beforeAll(() => {
    console.log(`webgpu adapter: ${describeAdapter(gpu!.adapter)}; kernel schedule ${gpu!.schedule} (also testing ${otherSchedule})`);
  });
  afterAll(async () => {
    ((await setBackend(OTHER)) as WebGPUBackend).dispose();
    await setBackend('cpu');
  });

  describe('every primitive agrees with the CPU backend', () => {
    for (const prim of Object.keys(cases) as BackendPrim[]) {
      it(`${prim}: webgpu equals cpu on random shapes and values`, async () => {
        const arb = cases[prim] as fc.Arbitrary<Case<BackendPrim>>;
        await fc.assert(
          fc.asyncProperty(arb, async (c) => {
            const fn = () => bind(prim, c.inputs.map(make), c.params as never);
            const [want] = await on('cpu', fn);
            const what = `${prim}(${c.inputs.map((x) => `${x.dist.dtype}[${x.shape}]`).join(', ')}; ${JSON.stringify(c.params)})`;
            for (const name of SCHEDULED.includes(prim) ? (['webgpu', OTHER] as const) : (['webgpu'] as const)) {
              const [got] = await on(name, fn);
              agree(`${what} on ${name}`, want!, got!, c.tol);
            }
          }),
          { numRuns: RUNS[prim] ?? 12 },
        );
      });
    }
  });

  describe('larger shapes', () => {
    it('matmul: big tiles, odd sizes, transposes and batch broadcasting agree with the CPU (both schedules)', async () => {
      for (const [batch, m, k, n, transA, transB] of [
        [1, 300, 129, 257, false, false],
        [1, 513, 67, 515, true, true],
        [3, 97, 200, 131, false, true],
        [2, 129, 45, 200, true, false],
      ] as const) {
        const fn = () => [
          bind('matmul', [make({ shape: transA ? [batch, k, m] : [batch, m, k], dist: F(-1, 1), seed: m }), make({ shape: transB ? [1, n, k] : [1, k, n], dist: F(-1, 1), seed: n })], { transA, transB }),
        ];
        const [want] = await on('cpu', fn);
        for (const name of ['webgpu', OTHER] as const) {
          const [got] = await on(name, fn);
          agree(`matmul ${batch}×${m}×${k}×${n} on ${name}`, want!, got!, close(1e-5, 1e-5 * k));
        }
      }
    });

    it('sum and max: long reductions into few outputs (chunked, two passes; both schedules)', async () => {
      for (const [shape, axes] of [
        [[200_003], [0]],
        [[3, 70_001], [1]],
        [[50_000, 2], [0]],
        [[7, 9000, 3], [0, 2]],
      ] as const) {
        const x = { shape: [...shape], dist: F(-1, 1), seed: 7 };
        const fn = () => [bind('sum', [make(x)], { axes: [...axes] }), bind('reduceMax', [make(x)], { axes: [...axes] })];
        const [s0, m0] = await on('cpu', fn);
        for (const name of ['webgpu', OTHER] as const) {
          const [s1, m1] = await on(name, fn);
          agree(`sum [${shape}] on ${name}`, s0!, s1!, close(1e-4, 1e-3));
          agree(`max [${shape}] on ${name}`, m0!, m1!, 'exact');
        }
      }
    });

    it('element-wise chains over a million elements (2-D dispatch grids)', async () => {
      const x = { shape: [1031, 1033], dist: F(-2, 2), seed: 3 };
      const fn = () => tanh(add(mul(make(x), 2), sigmoid(make({ ...x, seed: 4 }))));
      const [want] = await on('cpu', fn);
      const [got] = await on('webgpu', fn);
      agree('tanh(2x + sigmoid(y))', want!, got!, close(1e-5, 1e-6));
    });
  });

  describe('gradients', () => {
    const fns: [string, (p: { w: Tensor; b: Tensor }, x: Tensor) => Tensor][] = [
      ['mlp with tanh and softplus', (p, x) => mean(softplus(matmul(tanh(add(matmul(x, p.w), p.b)), transpose(p.w))))],
      ['softmax cross-entropy with take', (p, x) => {
        const logits = add(matmul(x, p.w), p.b);
        const labels = tensor(Int32Array.from([0, 2, 1, 4, 3, 2, 0]), [7]);
        const picked = take(reshape(logSoftmax(logits, -1), [-1]), add(mul(tensor(Int32Array.from([0, 1, 2, 3, 4, 5, 6])), 5), labels));
        return mul(mean(picked), -1);
      }],
      ['normalisation, gelu, slicing, padding, flipping, cumsum', (p, x) => {
        const h = matmul(x, p.w);
        const mu = mean(h, -1, true);
        const normed = sub(h, mu);
        const scaled = mul(normed, sqrt(add(variance(h, -1, true), 1e-5)));
        const g = gelu(add(scaled, p.b));
        const s = slice(pad(flip(g, 1), [[1, 0], [0, 2]]), [1, 1], [6, 5]);
        return add(sum(square(cumsum(s, 1))), max(softmax(concat([s, slice(g, [0, 0], [6, 5])], 1), 0)));
      }],
      ['conv2d with where', (p, x) => {
        const img = reshape(x, [1, 7, 4, 1]);
        const w = reshape(slice(p.w, [0, 0], [4, 4]), [2, 2, 1, 4]);
        const y = conv2d(img, w, { padding: 'same', stride: [2, 1] });
        return mean(where(greater(y, 0), y, mul(y, 0.1)));
      }],
    ];
    for (const [name, f] of fns) {
      it(`valueAndGrad agrees across backends: ${name}`, async () => {
        const run = () => {
          const w = make({ shape: [4, 5], dist: F(-1, 1), seed: 11 });
          const b = make({ shape: [5], dist: F(-1, 1), seed: 12 });
          const x = make({ shape: [7, 4], dist: F(-2, 2), seed: 13 });
          const [v, g] = valueAndGrad(f)({ w, b }, x);
          return [v, g.w, g.b];
        };
        const want = await on('cpu', run);
        const got = await on('webgpu', run);
        want.forEach((w, i) => agree(`${name} output ${i}`, w, got[i]!, close(1e-4, 1e-5)));
      });
    }
  });

  describe('randomness', () => {
    it('random bits, uniform and bernoulli are bit-identical to the CPU; normal agrees to float precision', async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat(), smallShape(0, 3), fc.integer({ min: 0, max: 100 }), async (seed, shape, n) => {
          const fn = () => {
            const [k1, k2, k3] = split(key(seed), 3);
            return [randomBits(k1!, [...shape, n]), uniform(k2!, shape), bernoulli(k3!, 0.3, [n]), uniform(k1!, [n], -2, 5)];
          };
          const want = await on('cpu', fn);
          const got = await on('webgpu', fn);
          want.forEach((w, i) => agree(`random output ${i}`, w, got[i]!, 'exact'));
          const [nw] = await on('cpu', () => normal(key(seed), [n]));
          const [ng] = await on('webgpu', () => normal(key(seed), [n]));
          agree('normal', nw!, ng!, close(1e-5, 1e-6));
        }),
        { numRuns: 15 },
      );
    });
  });

  describe('training', () => {
    type Params = MlpParams;
    const init = initMlp;
    const loss = (p: Params, x: Tensor, y: Tensor): Tensor => {
      const h = tanh(add(matmul(x, p.w1), p.b1));
      return mean(square(sub(add(matmul(h, p.w2), p.b2), y)));
    };
    const data = (n: number, inF: number) => {
      const x = normal(key(7), [n, inF]);
      const y = reshape(tanh(sum(x, -1)), [n, 1]);
      return { x, y };
    };
    const step = (p: Params, x: Tensor, y: Tensor, lr: number) => sgdStep(loss, p, x, y, lr);

    async function train(backend: 'cpu' | 'webgpu', steps: number): Promise<number[]> {
      await setBackend(backend);
      let p = init(8, 32);
      const { x, y } = data(64, 8);
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) {
        const r = step(p, x, y, 0.1);
        dispose(p);
        p = r.p;
        if (s % 50 === 0 || s === steps - 1) losses.push((await toArray(r.loss))[0]!);
        dispose(r.loss);
      }
      dispose([p, x, y]);
      return losses;
    }

    it('a small MLP trained for 200 steps reaches the same loss on both backends', async () => {
      const cpu = await train('cpu', 200);
      const webgpu = await train('webgpu', 200);
      expect(cpu[cpu.length - 1]!).toBeLessThan(cpu[0]! * 0.5);
      cpu.forEach((l, i) => expect(Math.abs(webgpu[i]! - l)).toBeLessThanOrEqual(1e-3 * Math.abs(l) + 1e-6));
    });

    it('live GPU buffers stay flat across 1,000 training steps', async () => {
      const b = (await setBackend('webgpu')) as WebGPUBackend;
      let p = init(4, 8);
      const { x, y } = data(16, 4);
      let buffersAt100 = 0;
      let tensorsAt100 = 0;
      let last = NaN;
      for (let s = 0; s < 1000; s++) {
        const r = step(p, x, y, 0.05);
        dispose(p);
        p = r.p;
        if (s % 100 === 99) last = (await toArray(r.loss))[0]!;
        dispose(r.loss);
        if (s === 99) {
          buffersAt100 = b.stats().buffers;
          tensorsAt100 = memoryStats().tensors;
        }
      }
      expect(b.stats().buffers).toBe(buffersAt100);
      expect(memoryStats().tensors).toBe(tensorsAt100);
      expect(Number.isFinite(last)).toBe(true);
      expect(b.counters.submits).toBeLessThan(b.counters.dispatches / 4);
      dispose([p, x, y]);
    });
  });

  describe('submission', () => {
    it('a burst of ops is recorded into few submits, and a read sees all of it', async () => {
      const b = (await setBackend('webgpu')) as WebGPUBackend;
      const before = { ...b.counters };
      const x = tensor([1, 2, 3]);
      let y = x;
      // flip is not element-wise, so each add is materialised before it: 2 dispatches per step, unfused.
      const chain = tidy(() => {
        for (let i = 0; i < 100; i++) y = flip(add(y, 1), [0]);
        return y;
      });
      expect(b.counters.dispatches - before.dispatches).toBe(200);
      expect(b.counters.submits - before.submits).toBeLessThanOrEqual(4);
      expect([...(await toArray(chain))]).toEqual([101, 102, 103]);
      dispose([x, chain]);
    });

    it('disposed tensors give their buffers back (freed through the core, not the GC)', async () => {
      const b = (await setBackend('webgpu')) as WebGPUBackend;
      const live = b.stats().buffers;
      const t = tidy(() => exp(add(tensor([1, 2]), tensor([3, 4]))));
      // Until computed, a fused value holds its inputs' buffers (see backends/webgpu/fusion.ts).
      b.flush();
      expect(b.stats().buffers).toBe(live + 1);
      dispose(t);
      expect(b.stats().buffers).toBe(live);
    });
  });

  describe('device loss', () => {
    it('reads reject with a clear error, the backend reports itself lost, and setBackend starts a new device', async () => {
      registerBackend('webgpu-loss-test', () => createWebGPUBackend({ registeredAs: 'webgpu-loss-test' }));
      const b1 = (await setBackend('webgpu-loss-test')) as WebGPUBackend;
      const x = tensor([1, 2, 3]);
      const y = exp(x);
      expect([...(await toArray(y))].map((v) => Math.round(v * 1000))).toEqual([2718, 7389, 20086]);
      const z = add(y, 1);
      const pending = toArray(z);
      b1.device.destroy();
      await expect(pending).rejects.toThrow(/device was lost.*setBackend\('webgpu'\)/);
      await expect(toArray(y)).rejects.toThrow(/device was lost/);
      expect(b1.lost).not.toBeNull();
      expect(() => exp(x)).toThrow(/device was lost/);
      dispose([x, y, z]);
      const b2 = (await setBackend('webgpu-loss-test')) as WebGPUBackend;
      expect(b2).not.toBe(b1);
      expect(b2.lost).toBeNull();
      const w = add(tensor([1]), 1);
      expect([...(await toArray(w))]).toEqual([2]);
      expect(getBackend()).toBe(b2);
      dispose(w);
      b2.dispose();
      await setBackend('webgpu');
    });
  });
});
