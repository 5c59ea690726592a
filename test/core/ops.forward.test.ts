/**
 * Every op, forward: values against simple float64 references computed here (naive index loops,
 * triple loops, direct convolution), integer and bit semantics, comparisons, casts, and the algebra
 * the ops must obey.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { broadcastShapes, dispose, tidy, type DType, type Tensor } from '../../index.js';
import {
  axesArb,
  broadcastableTo,
  broadcastPairArb,
  broadcastRead,
  closeTo,
  describeBackends,
  dimArb,
  type Host,
  hostArb,
  permArb,
  read,
  REALS,
  shapeArb,
  sizeOfShape,
  stridesOfShape,
  unravel,
  upload,
} from './harness.js';

const NUM_RUNS = 25;

/** Run `f` on uploaded hosts inside a scope, read every output, free everything. */
async function run(f: (...xs: Tensor[]) => Tensor | Tensor[], ...inputs: Host[]): Promise<{ shape: number[]; dtype: DType; data: number[] }[]> {
  const outs = tidy(() => {
    const r = f(...inputs.map(upload));
    return Array.isArray(r) ? r : [r];
  });
  const res = await Promise.all(outs.map(async (t) => ({ shape: [...t.shape], dtype: t.dtype, data: await read(t) })));
  dispose(outs);
  return res;
}

async function run1(f: (...xs: Tensor[]) => Tensor, ...inputs: Host[]) {
  return (await run(f, ...inputs))[0]!;
}

const f32 = Math.fround;

// ---------------------------------------------------------------- float64 references

/** erf in float64: its Maclaurin series below 4 (terms ≤ 4e6, so ~1e-9 absolute), ±1 beyond (erfc(4) = 1.5e-8). */
function erf64(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let s = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    s += add;
    if (Math.abs(add) < 1e-17 * Math.abs(s)) break;
  }
  return (s * 2) / Math.sqrt(Math.PI);
}

/** erfinv in float64 by Newton on erf64. */
function erfinv64(y: number): number {
  if (y <= -1) return y === -1 ? -Infinity : NaN;
  if (y >= 1) return y === 1 ? Infinity : NaN;
  let x = 0;
  for (let i = 0; i < 100; i++) {
    const step = (erf64(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
    x -= step;
    if (Math.abs(step) < 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** Naive reduction over `axes`: returns the output's shape (keepDims or not) and its values. */
function reduceHost(x: Host, axes: readonly number[], keepDims: boolean, init: () => number[], step: (acc: number[], v: number, k: number) => void, finish: (acc: number[]) => number) {
  const shape = x.shape;
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outShape = keepDims ? kept : shape.filter((_, i) => !axes.includes(i));
  const accs = Array.from({ length: sizeOfShape(kept) }, init);
  const counts = new Array<number>(accs.length).fill(0);
  const keptStrides = stridesOfShape(kept);
  for (let flat = 0; flat < x.data.length; flat++) {
    const idx = unravel(flat, shape);
    const outFlat = idx.reduce((s, v, i) => s + (axes.includes(i) ? 0 : v * keptStrides[i]!), 0);
    step(accs[outFlat]!, x.data[flat]!, counts[outFlat]!++);
  }
  return { shape: outShape, data: accs.map(finish) };
}

// ---------------------------------------------------------------- arbitraries

const hostOf = (shapeArbitrary: fc.Arbitrary<number[]>, domain = REALS) => shapeArbitrary.chain((s) => hostArb(s, domain));

/** Shapes that may be empty (a 0 dimension), for ops where that is valid. */
const maybeEmptyShape = shapeArb({ minDim: 0 });

describeBackends('ops forward', (backend) => {
  // ------------------------------------------------------------ element-wise, unary
  // The CPU backend evaluates in float64 and rounds once (≤ 0.5 ulp of float32). The tolerances are
  // those of a float32 implementation of each function: exact for the arithmetic ones, a few ulps
  // (rtol 1e-6 ≈ 8 ulps) for transcendental ones, and the 1.2e-7 fractional error of the erf fit.
  // WGSL only promises exp to 3 + 2|x| ulps, so everything built on exp is checked on |x| ≤ 20 with
  // rtol 6e-6 (≈ 43 ulps + headroom); a GPU may also flush subnormals to zero, so inputs are normal
  // float32 numbers and every atol is at least the smallest normal, 2⁻¹²⁶.
  const unary: [string, (x: Tensor) => Tensor, (x: number) => number, { min: number; max: number }, number, number][] = [
    ['neg', o.neg, (x) => -x, REALS, 0, 0],
    ['abs', o.abs, Math.abs, REALS, 0, 0],
    ['floor', o.floor, Math.floor, REALS, 0, 0],
    ['ceil', o.ceil, Math.ceil, REALS, 0, 0],
    ['sign', o.sign, Math.sign, REALS, 0, 0],
    ['square', o.square, (x) => x * x, REALS, 6e-8, 0],
    ['exp', o.exp, Math.exp, { min: -20, max: 20 }, 6e-6, 0],
    ['expm1', o.expm1, Math.expm1, { min: -5, max: 5 }, 2e-6, 1e-30],
    ['log', o.log, Math.log, { min: 1e-3, max: 1e3 }, 1e-6, 1e-7],
    ['log1p', o.log1p, Math.log1p, { min: -0.99, max: 10 }, 1e-6, 1e-30],
    ['sin', o.sin, Math.sin, { min: -10, max: 10 }, 1e-6, 1e-7],
    ['cos', o.cos, Math.cos, { min: -10, max: 10 }, 1e-6, 1e-7],
    ['tanh', o.tanh, Math.tanh, { min: -10, max: 10 }, 1e-6, 1e-30],
    ['sqrt', o.sqrt, Math.sqrt, { min: 0, max: 100 }, 1e-6, 0],
    ['rsqrt', o.rsqrt, (x) => 1 / Math.sqrt(x), { min: 1e-3, max: 100 }, 1e-6, 0],
    ['reciprocal', o.reciprocal, (x) => 1 / x, { min: 0.01, max: 100 }, 1e-6, 0],
    ['sigmoid', o.sigmoid, (x) => 1 / (1 + Math.exp(-x)), { min: -20, max: 20 }, 6e-6, 1e-30],
    ['erf', o.erf, erf64, { min: -5, max: 5 }, 3e-7, 1e-7],
    // Giles' single-precision erfinv is accurate to a few float32 ulps away from ±1.
    ['erfinv', o.erfinv, erfinv64, { min: -0.999, max: 0.999 }, 2e-6, 1e-7],
    ['relu', o.relu, (x) => Math.max(x, 0), REALS, 0, 0],
    ['gelu', o.gelu, (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)), { min: -6, max: 6 }, 1e-6, 1e-7],
    // atol 3e-7, not gelu's 1e-7: for x < 0, 1 + tanh(z) cancels, so tanh's own float32 error (an ulp
    // of a value near −1 is 6e-8; WGSL allows tanh a few) comes through whole, times 0.5·|x|: a WebGPU
    // run (SwiftShader) drew x = −2.534 and missed the 1e-7 bound by 1.17e-7 against 1.14e-7.
    ['geluTanh', o.geluTanh, (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))), { min: -6, max: 6 }, 1e-6, 3e-7],
    ['silu', o.silu, (x) => x / (1 + Math.exp(-x)), { min: -20, max: 20 }, 6e-6, 1e-7],
    ['softplus', o.softplus, (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), { min: -20, max: 20 }, 6e-6, 1e-30],
    ['logSigmoid', o.logSigmoid, (x) => -(Math.max(-x, 0) + Math.log1p(Math.exp(-Math.abs(x)))), { min: -20, max: 20 }, 6e-6, 1e-30],
    ['clip', (x) => o.clip(x, -1, 1.5), (x) => Math.min(Math.max(x, -1), 1.5), REALS, 0, 0],
  ];
  for (const [name, fn, ref, domain, rtol, atol] of unary) {
    it(`${name} matches its float64 reference`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb().chain((s) => fc.tuple(fc.constant(s), fc.array(fc.double({ ...domain, noNaN: true }), { minLength: sizeOfShape(s), maxLength: sizeOfShape(s) }))),
          async ([shape, values]) => {
            const data = values.map((v) => (Math.abs(f32(v)) < 2 ** -126 ? 0 : f32(v)));
            const out = await run1(fn, { shape, data });
            expect(out.shape).toEqual(shape);
            closeTo(out.data, data.map((v) => f32(ref(v))), { rtol, atol: Math.max(atol, 2 ** -126), label: name });
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });
  }

  it('unary functions at their special points (±0, ±∞, NaN, domain edges)', async () => {
    const special = { shape: [8], data: [0, -0, Infinity, -Infinity, NaN, 1, -1, 1e-30] };
    const cases: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
      ['exp', o.exp, Math.exp],
      ['log', o.log, Math.log],
      ['sqrt', o.sqrt, Math.sqrt],
      ['tanh', o.tanh, Math.tanh],
      ['sigmoid', o.sigmoid, (x) => 1 / (1 + Math.exp(-x))],
      ['abs', o.abs, Math.abs],
      ['erf', o.erf, (x) => (Number.isNaN(x) ? NaN : Math.abs(x) === Infinity ? Math.sign(x) : erf64(x))],
      ['erfinv', o.erfinv, erfinv64],
    ];
    for (const [name, fn, ref] of cases) {
      const out = await run1(fn, special);
      closeTo(out.data, special.data.map((v) => f32(ref(f32(v)))), { rtol: 1e-6, atol: 1e-30, label: name });
    }
    // softplus/logSigmoid neither overflow nor underflow to the wrong value at large |x|.
    const big = await run(
      (x) => [o.softplus(x), o.logSigmoid(x)],
      { shape: [4], data: [-1000, -100, 100, 1000] },
    );
    // e^−100 ≈ 3.7e-44 is subnormal in float32; GPUs may flush subnormal results to zero (WGSL
    // permits it), so values below the smallest normal, 2^−126, count as equal to 0.
    closeTo(big[0]!.data, [0, f32(Math.exp(-100)), 100, 1000], { rtol: 1e-6, atol: 2 ** -126, label: 'softplus' });
    closeTo(big[1]!.data, [-1000, -100, -f32(Math.exp(-100)), -0], { rtol: 1e-6, atol: 2 ** -126, label: 'logSigmoid' });
  });

  // ------------------------------------------------------------ broadcasting
  const binary: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number, number][] = [
    ['add', o.add, (a, b) => a + b, 0],
    ['sub', o.sub, (a, b) => a - b, 0],
    ['mul', o.mul, (a, b) => a * b, 0],
    ['div', o.div, (a, b) => a / b, 0],
    ['maximum', o.maximum, Math.max, 0],
    ['minimum', o.minimum, Math.min, 0],
    ['pow', o.pow, (a, b) => Math.pow(a, b), 1e-6],
    ['mod', o.mod, (a, b) => a - b * Math.floor(a / b), 1e-6],
  ];
  for (const [name, fn, ref, rtol] of binary) {
    it(`${name} broadcasts like a naive index loop over the broadcast shape`, async () => {
      await fc.assert(
        fc.asyncProperty(
          broadcastPairArb({ minDim: 0 }).chain(({ a, b, out }) =>
            fc.tuple(hostArb(a, name === 'pow' ? { min: 0.1, max: 3 } : REALS), hostArb(b, name === 'div' || name === 'mod' ? { min: -3, max: 3, avoid: [0], margin: 0.25 } : REALS), fc.constant(out)),
          ),
          async ([a, b, shape]) => {
            const out = await run1(fn, a, b);
            expect(out.shape).toEqual(shape);
            const expected = Array.from({ length: sizeOfShape(shape) }, (_, i) => {
              const idx = unravel(i, shape);
              return f32(ref(broadcastRead(a, idx), broadcastRead(b, idx)));
            });
            // Exactly rounded for + − × ÷ max min; pow and mod go through exp/log or a floor.
            closeTo(out.data, expected, { rtol, atol: rtol ? 1e-6 : 0, label: name });
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });
  }

  it('where broadcasts condition and both branches', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minDim: 0 }).chain((out) =>
          fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out)).chain(([cs, as, bs]) =>
            fc.tuple(
              fc.array(fc.boolean(), { minLength: sizeOfShape(cs), maxLength: sizeOfShape(cs) }).map((c) => ({ shape: cs, data: c.map(Number), dtype: 'bool' as const })),
              hostArb(as),
              hostArb(bs),
            ),
          ),
        ),
        async ([c, a, b]) => {
          const out = await run1((cc, aa, bb) => o.where(cc!, aa!, bb!), c, a, b);
          const shape = out.shape;
          expect(shape).toEqual(broadcastShapes('where', c.shape, a.shape, b.shape));
          const expected = Array.from({ length: sizeOfShape(shape) }, (_, i) => {
            const idx = unravel(i, shape);
            return broadcastRead(c, idx) ? broadcastRead(a, idx) : broadcastRead(b, idx);
          });
          expect(out.data).toEqual(expected);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('numbers lift to the other operand’s dtype', async () => {
    const [a, b, c, d] = await run(
      (xf, xi) => [o.add(xf!, 1), o.mul(2, xi!), o.where(o.greater(xf!, 0), 1, xf!), o.sub(xi!, 1)],
      { shape: [3], data: [-1, 0.5, 2] },
      { shape: [3], data: [1, 2, 3], dtype: 'int32' },
    );
    expect(a).toEqual({ shape: [3], dtype: 'float32', data: [0, 1.5, 3] });
    expect(b).toEqual({ shape: [3], dtype: 'int32', data: [2, 4, 6] });
    expect(c).toEqual({ shape: [3], dtype: 'float32', data: [-1, 1, 1] });
    expect(d).toEqual({ shape: [3], dtype: 'int32', data: [0, 1, 2] });
  });

  // ------------------------------------------------------------ reductions
  const reductionCases: [string, (x: Tensor, axes: number[] | undefined, keep: boolean) => Tensor, (vs: number[]) => number][] = [
    ['sum', o.sum, (vs) => vs.reduce((s, v) => s + v, 0)],
    ['mean', o.mean, (vs) => vs.reduce((s, v) => s + v, 0) / vs.length],
    ['max', o.max, (vs) => Math.max(...vs)],
    ['min', o.min, (vs) => Math.min(...vs)],
    ['variance', o.variance, (vs) => {
      const m = vs.reduce((s, v) => s + v, 0) / vs.length;
      return vs.reduce((s, v) => s + (v - m) ** 2, 0) / vs.length;
    }],
    ['logSumExp', o.logSumExp, (vs) => {
      const m = Math.max(...vs);
      return m + Math.log(vs.reduce((s, v) => s + Math.exp(v - m), 0));
    }],
  ];
  for (const [name, fn, ref] of reductionCases) {
    it(`${name} over random axes (all, none, some) with and without keepDims`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb().chain((s) => fc.tuple(hostArb(s, { min: -10, max: 10 }), fc.option(axesArb(s.length), { nil: undefined }), fc.boolean())),
          async ([x, axes, keepDims]) => {
            const out = await run1((t) => fn(t, axes, keepDims), x);
            const ax = axes ?? x.shape.map((_, i) => i);
            const expected = reduceHost(x, ax, keepDims, () => [], (acc, v) => acc.push(v), ref);
            expect(out.shape).toEqual(expected.shape);
            // Float32 accumulation of ≤ 625 terms of size ≤ 10 (a float64 accumulator on the CPU).
            closeTo(out.data, expected.data, { rtol: 1e-5, atol: 2e-5, label: name });
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });
  }

  it('sum of int32 and bool stays integer; negative axes count from the end', async () => {
    const [a, b, c] = await run(
      (i, bo, f) => [o.sum(i!, -1), o.sum(bo!), o.sum(f!, [-1, 0], true)],
      { shape: [2, 3], data: [1, 2, 3, 4, 5, 6], dtype: 'int32' },
      { shape: [4], data: [1, 0, 1, 1], dtype: 'bool' },
      { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
    );
    expect(a).toEqual({ shape: [2], dtype: 'int32', data: [6, 15] });
    expect(b).toEqual({ shape: [], dtype: 'int32', data: [3] });
    expect(c).toEqual({ shape: [1, 1], dtype: 'float32', data: [21] });
  });

  it('mean of int32 and bool is a float32 mean (NumPy/JAX), not a truncated integer division', async () => {
    const [a, b] = await run(
      (i, bo) => [o.mean(i!, -1), o.mean(bo!)],
      { shape: [2, 2], data: [1, 2, -3, 4], dtype: 'int32' },
      { shape: [4], data: [1, 0, 1, 1], dtype: 'bool' },
    );
    expect(a).toEqual({ shape: [2], dtype: 'float32', data: [1.5, 0.5] });
    expect(b).toEqual({ shape: [], dtype: 'float32', data: [0.75] });
  });

  it('reductions over empty axes: sum is 0, mean is NaN, max throws', async () => {
    const [s, m] = await run((x) => [o.sum(x, 1), o.mean(x, 1)], { shape: [2, 0], data: [] });
    expect(s).toEqual({ shape: [2], dtype: 'float32', data: [0, 0] });
    expect(m!.data.every(Number.isNaN)).toBe(true);
    const [e] = await run((x) => o.sum(x, 0, true), { shape: [0, 3], data: [] });
    expect(e).toEqual({ shape: [1, 3], dtype: 'float32', data: [0, 0, 0] });
    expect(() => tidy(() => o.max(upload({ shape: [2, 0], data: [] }), 1))).toThrow(/max: axis 1 of \[2,0\] is empty/);
  });

  it('argmax and argmin along any axis match a naive scan (first index wins ties)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minRank: 1 }).chain((s) =>
          fc.tuple(
            // Small integers make ties frequent.
            fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOfShape(s), maxLength: sizeOfShape(s) }).map((data) => ({ shape: s, data })),
            fc.integer({ min: -s.length, max: s.length - 1 }),
          ),
        ),
        async ([x, axis]) => {
          const [amax, amin] = await run((t) => [o.argmax(t, axis), o.argmin(t, axis)], x);
          const a = axis < 0 ? axis + x.shape.length : axis;
          const scan = (better: (v: number, b: number) => boolean) =>
            reduceHost(x, [a], false, () => [Infinity, -1], (acc, v, k) => {
              if (acc[1] === -1 || better(v, acc[0]!)) {
                acc[0] = v;
                acc[1] = k;
              }
            }, (acc) => acc[1]!);
          expect(amax!.dtype).toBe('int32');
          expect(amax!.data).toEqual(scan((v, b) => v > b).data);
          expect(amin!.data).toEqual(scan((v, b) => v < b).data);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('max and argmax see NaN', async () => {
    const [m, am] = await run((x) => [o.max(x, 0), o.argmax(x, 0)], { shape: [3], data: [1, NaN, 2] });
    expect(Number.isNaN(m!.data[0])).toBe(true);
    expect(am!.data).toEqual([1]);
  });

  it('cumsum forward and reverse along any axis', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minRank: 1, minDim: 0 }).chain((s) => fc.tuple(hostArb(s), fc.integer({ min: 0, max: s.length - 1 }), fc.boolean())),
        async ([x, axis, reverse]) => {
          const out = await run1((t) => o.cumsum(t, axis, { reverse }), x);
          const st = stridesOfShape(x.shape);
          const expected = Array.from(x.data, (_, flat) => {
            const idx = unravel(flat, x.shape);
            let s = 0;
            const [from, to] = reverse ? [idx[axis]!, x.shape[axis]! - 1] : [0, idx[axis]!];
            for (let k = from; k <= to; k++) s += x.data[flat + (k - idx[axis]!) * st[axis]!]!;
            return s;
          });
          expect(out.shape).toEqual(x.shape);
          closeTo(out.data, expected, { rtol: 1e-6, atol: 1e-6, label: 'cumsum' });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  // ------------------------------------------------------------ softmax family
  it('softmax sums to one and equals exp(logSoftmax); both stay finite for logits of ±1000', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minRank: 1 }).chain((s) =>
          fc.tuple(
            fc.array(fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), fc.constantFrom(-1000, 1000)), { minLength: sizeOfShape(s), maxLength: sizeOfShape(s) }).map((d) => ({ shape: s, data: d.map(f32) })),
            fc.integer({ min: 0, max: s.length - 1 }),
          ),
        ),
        async ([x, axis]) => {
          const [sm, lsm, total] = await run((t) => [o.softmax(t, axis), o.logSoftmax(t, axis), o.sum(o.softmax(t, axis), axis)], x);
          expect(lsm!.data.every((v) => Number.isFinite(v))).toBe(true);
          expect(sm!.data.every((v) => v >= 0 && v <= 1)).toBe(true);
          closeTo(total!.data, total!.data.map(() => 1), { rtol: 0, atol: 1e-6 * x.shape[axis]!, label: 'Σ softmax' });
          closeTo(sm!.data, lsm!.data.map(Math.exp), { rtol: 1e-5, atol: 1e-7, label: 'exp(logSoftmax)' });
          const expected = reduceHost(x, [axis], true, () => [], (acc, v) => acc.push(v), (vs) => Math.max(...vs));
          // logSoftmax = x − max − log Σ exp(x − max), checked per element against float64.
          const st = stridesOfShape(x.shape);
          const ref = Array.from(x.data, (v, flat) => {
            const idx = unravel(flat, x.shape);
            const m = expected.data[unravel(flat, x.shape).reduce((s, d, i) => (i === axis ? s : s * x.shape[i]! + d), 0)]!;
            let z = 0;
            for (let k = 0; k < x.shape[axis]!; k++) z += Math.exp(x.data[flat + (k - idx[axis]!) * st[axis]!]! - m);
            return v - m - Math.log(z);
          });
          closeTo(lsm!.data, ref, { rtol: 1e-6, atol: 1e-5, label: 'logSoftmax' });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('logSumExp of all −∞ is −∞ and of +∞ is +∞ (the shift stays finite)', async () => {
    const [a, b] = await run((x, y) => [o.logSumExp(x!), o.logSumExp(y!)], { shape: [2], data: [-Infinity, -Infinity] }, { shape: [2], data: [Infinity, 0] });
    expect(a!.data).toEqual([-Infinity]);
    expect(b!.data).toEqual([Infinity]);
  });

  // ------------------------------------------------------------ matmul
  /** |Σ float32 products − exact| ≤ k·2⁻²⁴·Σ|a||b| (the classic bound for a float32 dot product). */
  function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number, aOff = 0, bOff = 0, transA = false, transB = false) {
    const out: number[] = [];
    const bound: number[] = [];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let abs = 0;
        for (let p = 0; p < k; p++) {
          const av = a[aOff + (transA ? p * m + i : i * k + p)]!;
          const bv = b[bOff + (transB ? j * k + p : p * n + j)]!;
          s += av * bv;
          abs += Math.abs(av * bv);
        }
        out.push(s);
        bound.push(abs * k * 2 ** -24 + 1e-30);
      }
    }
    return { out, bound };
  }

  it('matmul agrees with a naive triple loop (rank 1, rank 2, batched with broadcast leading axes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({ lead: broadcastPairArb({ maxRank: 2, maxDim: 3 }), m: dimArb({ maxDim: 9 }), k: dimArb({ maxDim: 9 }), n: dimArb({ maxDim: 11 }), aVec: fc.boolean(), bVec: fc.boolean() })
          .chain(({ lead, m, k, n, aVec, bVec }) => fc.tuple(hostArb(aVec ? [k] : [...lead.a, m, k]), hostArb(bVec ? [k] : [...lead.b, k, n]))),
        async ([a, b]) => {
          const out = await run1(o.matmul, a, b);
          const aMat = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape.slice(-2);
          const bMat = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape.slice(-2);
          const [m, k] = aMat as [number, number];
          const n = bMat[1]!;
          const aLead = a.shape.slice(0, -2);
          const bLead = b.shape.slice(0, -2);
          const lead = broadcastShapes('ref', aLead, bLead);
          const shape = [...lead, ...(a.shape.length === 1 ? [] : [m]), ...(b.shape.length === 1 ? [] : [n])];
          expect(out.shape).toEqual(shape);
          const expected: number[] = [];
          const bounds: number[] = [];
          for (let t = 0; t < sizeOfShape(lead); t++) {
            const idx = unravel(t, lead);
            const aBatch = a.shape.length <= 2 ? 0 : broadcastIndex(aLead, idx);
            const bBatch = b.shape.length <= 2 ? 0 : broadcastIndex(bLead, idx);
            const r = naiveMatmul(a.data, b.data, m, k, n, aBatch * m * k, bBatch * k * n);
            expected.push(...r.out);
            bounds.push(...r.bound);
          }
          out.data.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(bounds[i]! + 1e-6 * Math.abs(expected[i]!)));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('matmulPrim with transpose flags and batch-1 broadcasting, across the kernel’s block sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({
            batch: fc.integer({ min: 1, max: 3 }),
            aOne: fc.boolean(),
            bOne: fc.boolean(),
            // Sizes straddle the CPU kernel's MR = NR = 4, MC = 96 and KC = 256 blocks (backends/cpu/matmul.ts).
            m: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(95, 96, 97, 100)),
            k: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(255, 256, 257, 300)),
            n: fc.oneof(fc.integer({ min: 1, max: 17 }), fc.constantFrom(31, 33)),
            transA: fc.boolean(),
            transB: fc.boolean(),
          })
          .filter(({ m, k, n }) => m * k * n <= 70 * 300 * 9)
          .chain((p) =>
            fc.tuple(
              fc.constant(p),
              hostArb([p.aOne ? 1 : p.batch, ...(p.transA ? [p.k, p.m] : [p.m, p.k])]),
              hostArb([p.bOne ? 1 : p.batch, ...(p.transB ? [p.n, p.k] : [p.k, p.n])]),
            ),
          ),
        async ([p, a, b]) => {
          const out = await run1((x, y) => o.matmulPrim(x!, y!, p.transA, p.transB), a, b);
          const batch = Math.max(a.shape[0]!, b.shape[0]!);
          expect(out.shape).toEqual([batch, p.m, p.n]);
          for (let t = 0; t < batch; t++) {
            const r = naiveMatmul(a.data, b.data, p.m, p.k, p.n, a.shape[0] === 1 ? 0 : t * p.m * p.k, b.shape[0] === 1 ? 0 : t * p.k * p.n, p.transA, p.transB);
            r.out.forEach((e, i) => {
              const v = out.data[t * p.m * p.n + i]!;
              if (!(Math.abs(v - e) <= r.bound[i]! + 1e-6 * Math.abs(e))) throw new Error(`batch ${t} element ${i}: ${v} vs ${e}`);
            });
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('matmul with an empty inner dimension is zeros; with an empty outer dimension is empty', async () => {
    const [a, b] = await run((x, y, z) => [o.matmul(x!, y!), o.matmul(z!, x!)], { shape: [2, 0], data: [] }, { shape: [0, 3], data: [] }, { shape: [0, 2], data: [] });
    expect(a).toEqual({ shape: [2, 3], dtype: 'float32', data: [0, 0, 0, 0, 0, 0] });
    expect(b).toEqual({ shape: [0, 0], dtype: 'float32', data: [] });
  });

  // ------------------------------------------------------------ conv2d
  it('conv2d agrees with a naive direct convolution (stride, padding modes, dilation)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({
            n: fc.integer({ min: 1, max: 2 }),
            h: fc.integer({ min: 1, max: 7 }),
            w: fc.integer({ min: 1, max: 7 }),
            c: fc.integer({ min: 1, max: 3 }),
            co: fc.integer({ min: 1, max: 3 }),
            kh: fc.integer({ min: 1, max: 3 }),
            kw: fc.integer({ min: 1, max: 3 }),
            sh: fc.integer({ min: 1, max: 3 }),
            sw: fc.integer({ min: 1, max: 3 }),
            dh: fc.integer({ min: 1, max: 2 }),
            dw: fc.integer({ min: 1, max: 2 }),
            padding: fc.oneof(
              fc.constant('same' as const),
              fc.constant('valid' as const),
              fc.integer({ min: 0, max: 2 }),
              fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
              fc.tuple(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))),
            ),
          })
          .chain((p) => fc.tuple(fc.constant(p), hostArb([p.n, p.h, p.w, p.c]), hostArb([p.kh, p.kw, p.c, p.co]))),
        async ([p, x, w]) => {
          const [pt, pb, pl, pr] = referencePadding(p.padding, p);
          const ho = Math.floor((p.h + pt + pb - (p.kh - 1) * p.dh - 1) / p.sh) + 1;
          const wo = Math.floor((p.w + pl + pr - (p.kw - 1) * p.dw - 1) / p.sw) + 1;
          const conv = (xx: Tensor, ww: Tensor) => o.conv2d(xx, ww, { stride: [p.sh, p.sw], padding: p.padding, dilation: [p.dh, p.dw] });
          if (ho <= 0 || wo <= 0) {
            expect(() => tidy(() => conv(upload(x), upload(w)))).toThrow(/conv2d: kernel/);
            return;
          }
          const out = await run1((xx, ww) => conv(xx!, ww!), x, w);
          expect(out.shape).toEqual([p.n, ho, wo, p.co]);
          const expected: number[] = [];
          for (let b = 0; b < p.n; b++)
            for (let y = 0; y < ho; y++)
              for (let xo = 0; xo < wo; xo++)
                for (let oc = 0; oc < p.co; oc++) {
                  let s = 0;
                  for (let ky = 0; ky < p.kh; ky++)
                    for (let kx = 0; kx < p.kw; kx++) {
                      const iy = y * p.sh - pt + ky * p.dh;
                      const ix = xo * p.sw - pl + kx * p.dw;
                      if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                      for (let ic = 0; ic < p.c; ic++) s += x.data[((b * p.h + iy) * p.w + ix) * p.c + ic]! * w.data[((ky * p.kw + kx) * p.c + ic) * p.co + oc]!;
                    }
                  expected.push(s);
                }
          // 'auto' (core/ops/linalg.ts, autoWinogradTile) takes Winograd F(4×4) for a 3×3 kernel at stride
          // and dilation 1 with an output of 4×4 or more, and then each output carries the rounding of its
          // whole 6×6 tile's transforms (intermediates ~10² times the output), not of its own 9·C products:
          // over 40,000 draws of these values (C ≤ 3) on cpu and on wasm and 4,000 on WebGPU (SwiftShader)
          // it reached 1.6·2⁻¹⁷·max|x|·max|w|·C (2.5e-4; median 0.15·2⁻¹⁷·…), and an FC_SEED sweep (seed
          // 202) drew one 2.9e-5 off, missing 1e-5. That bound at 2⁻¹⁵ leaves 2.5× headroom; im2col's
          // direct sums keep 1e-5.
          const f4 = p.kh === 3 && p.kw === 3 && p.sh === 1 && p.sw === 1 && p.dh === 1 && p.dw === 1 && ho >= 4 && wo >= 4;
          const maxAbs = (h: Host) => Math.max(...Array.from(h.data, Math.abs));
          const atol = 1e-5 + (f4 ? 2 ** -15 * maxAbs(x) * maxAbs(w) * p.c : 0);
          closeTo(out.data, expected, { rtol: 1e-5, atol, label: f4 ? 'conv2d (Winograd F(4×4))' : 'conv2d' });
        },
      ),
      { numRuns: 30 },
    );
  });

  it("conv2d 'same' keeps the spatial size at stride 1 and gives ceil(size / stride) otherwise", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), async (h, k, s, d) => {
        const out = await run1((xx, ww) => o.conv2d(xx!, ww!, { stride: s, padding: 'same', dilation: d }), { shape: [1, h, h, 1], data: new Array(h * h).fill(1) }, { shape: [k, k, 1, 1], data: new Array(k * k).fill(1) });
        expect(out.shape).toEqual([1, Math.ceil(h / s), Math.ceil(h / s), 1]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // ------------------------------------------------------------ shape ops
  it('reshape round-trips and keeps row-major order; transpose is an involution and matches a naive permutation', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minDim: 0 }).chain((s) => fc.tuple(hostArb(s), permArb(s.length))),
        async ([x, perm]) => {
          const inv = new Array<number>(perm.length);
          perm.forEach((p, i) => (inv[p] = i));
          const [flat, back, tr, trtr, rev2] = await run(
            (t) => [o.reshape(t, [-1]), o.reshape(o.reshape(t, [x.data.length]), x.shape), o.transpose(t, perm), o.transpose(o.transpose(t, perm), inv), o.transpose(o.transpose(t))],
            x,
          );
          expect(flat!.data).toEqual(Array.from(x.data));
          expect(back).toEqual({ shape: x.shape, dtype: 'float32', data: Array.from(x.data) });
          expect(trtr!.data).toEqual(Array.from(x.data));
          expect(rev2!.data).toEqual(Array.from(x.data));
          const tshape = perm.map((p) => x.shape[p]!);
          expect(tr!.shape).toEqual(tshape);
          const st = stridesOfShape(x.shape);
          expect(tr!.data).toEqual(Array.from({ length: x.data.length }, (_, i) => x.data[unravel(i, tshape).reduce((s, v, j) => s + v * st[perm[j]!]!, 0)]));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('broadcastTo, expandDims, squeeze, tile and repeat match their definitions', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ maxRank: 3, minDim: 0 }).chain((out) =>
          fc.tuple(broadcastableTo(out).chain((s) => hostArb(s)), fc.constant(out)).chain(([x, outShape]) =>
            fc.tuple(fc.constant(x), fc.constant(outShape), fc.tuple(...x.shape.map(() => fc.integer({ min: 0, max: 3 }))), fc.integer({ min: 0, max: 3 }), fc.integer({ min: -(x.shape.length + 1), max: x.shape.length })),
          ),
        ),
        async ([x, outShape, reps, n, axis]) => {
          const r = x.shape.length;
          const [bc, ex, sq, ti, rp] = await run(
            (t) => [o.broadcastTo(t, outShape), o.expandDims(t, axis), o.squeeze(t), o.tile(t, reps), r > 0 ? o.repeat(t, n, -1) : t],
            x,
          );
          expect(bc!.shape).toEqual(outShape);
          expect(bc!.data).toEqual(Array.from({ length: sizeOfShape(outShape) }, (_, i) => broadcastRead(x, unravel(i, outShape))));
          const a = axis < 0 ? axis + r + 1 : axis;
          expect(ex!.shape).toEqual([...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
          expect(sq!.shape).toEqual(x.shape.filter((d) => d !== 1));
          expect(ex!.data).toEqual(Array.from(x.data));
          expect(sq!.data).toEqual(Array.from(x.data));
          const tshape = x.shape.map((d, i) => d * reps[i]!);
          expect(ti!.shape).toEqual(tshape);
          expect(ti!.data).toEqual(Array.from({ length: sizeOfShape(tshape) }, (_, i) => {
            const idx = unravel(i, tshape).map((v, j) => v % x.shape[j]!);
            return x.data[idx.reduce((s, v, j) => s * x.shape[j]! + v, 0)];
          }));
          if (r > 0) {
            const rshape = x.shape.map((d, i) => (i === r - 1 ? d * n : d));
            expect(rp!.shape).toEqual(rshape);
            expect(rp!.data).toEqual(Array.from({ length: sizeOfShape(rshape) }, (_, i) => {
              const idx = unravel(i, rshape);
              idx[r - 1] = Math.floor(idx[r - 1]! / n);
              return x.data[idx.reduce((s, v, j) => s * x.shape[j]! + v, 0)];
            }));
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('slice, pad and flip match naive index maps; pad then slice is the identity', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minDim: 0 }).chain((s) =>
          fc.tuple(
            hostArb(s),
            fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: d - b }))))),
            fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))),
            fc.option(axesArb(s.length), { nil: undefined }),
            fc.double({ min: -5, max: 5, noNaN: true }).map(f32),
          ),
        ),
        async ([x, spec, paddings, flipAxes, value]) => {
          const begin = spec.map(([b]) => b);
          const size = spec.map(([, z]) => z);
          const [sl, pd, back, fl] = await run(
            (t) => [o.slice(t, begin, size), o.pad(t, paddings as [number, number][], value), o.slice(o.pad(t, paddings as [number, number][], value), paddings.map((p) => p[0]), x.shape), o.flip(t, flipAxes)],
            x,
          );
          const st = stridesOfShape(x.shape);
          const at = (idx: number[]) => x.data[idx.reduce((s, v, j) => s + v * st[j]!, 0)]!;
          expect(sl!.shape).toEqual(size);
          expect(sl!.data).toEqual(Array.from({ length: sizeOfShape(size) }, (_, i) => at(unravel(i, size).map((v, j) => v + begin[j]!))));
          const pshape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
          expect(pd!.shape).toEqual(pshape);
          expect(pd!.data).toEqual(Array.from({ length: sizeOfShape(pshape) }, (_, i) => {
            const idx = unravel(i, pshape).map((v, j) => v - paddings[j]![0]);
            return idx.every((v, j) => v >= 0 && v < x.shape[j]!) ? at(idx) : value;
          }));
          expect(back!.data).toEqual(Array.from(x.data));
          const fa = flipAxes ?? x.shape.map((_, i) => i);
          expect(fl!.data).toEqual(Array.from({ length: x.data.length }, (_, i) => at(unravel(i, x.shape).map((v, j) => (fa.includes(j) ? x.shape[j]! - 1 - v : v)))));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('concat, stack and split: split undoes concat; stack is concat of expanded pieces', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minRank: 1, minDim: 0 }).chain((s) =>
          fc.tuple(
            fc.integer({ min: 0, max: s.length - 1 }),
            fc.constant(s),
          ).chain(([axis, base]) =>
            fc.tuple(fc.constant(axis), fc.array(fc.integer({ min: 0, max: 3 }).chain((d) => hostArb(base.map((v, i) => (i === axis ? d : v)))), { minLength: 1, maxLength: 4 }), fc.array(hostArb(base), { minLength: 1, maxLength: 3 })),
          ),
        ),
        async ([axis, pieces, same]) => {
          const sizes = pieces.map((p) => p.shape[axis]!);
          const outs = await run((...ts) => {
            const cat = o.concat(ts.slice(0, pieces.length), axis);
            const stacked = o.stack(ts.slice(pieces.length), axis);
            return [cat, ...o.split(cat, sizes, axis), stacked];
          }, ...pieces, ...same);
          const cat = outs[0]!;
          const shape = [...pieces[0]!.shape];
          shape[axis] = sizes.reduce((s, v) => s + v, 0);
          expect(cat.shape).toEqual(shape);
          // Naive concat: for each output index, find the piece along the axis.
          expect(cat.data).toEqual(Array.from({ length: sizeOfShape(shape) }, (_, i) => {
            const idx = unravel(i, shape);
            let k = idx[axis]!;
            let p = 0;
            while (k >= sizes[p]!) k -= sizes[p++]!;
            idx[axis] = k;
            return pieces[p]!.data[idx.reduce((s, v, j) => s * pieces[p]!.shape[j]! + v, 0)];
          }));
          pieces.forEach((p, i) => expect(outs[1 + i]).toEqual({ shape: p.shape, dtype: 'float32', data: Array.from(p.data) }));
          const stacked = outs[outs.length - 1]!;
          const sshape = [...same[0]!.shape.slice(0, axis), same.length, ...same[0]!.shape.slice(axis)];
          expect(stacked.shape).toEqual(sshape);
          expect(stacked.data).toEqual(Array.from({ length: sizeOfShape(sshape) }, (_, i) => {
            const idx = unravel(i, sshape);
            const [k] = idx.splice(axis, 1);
            return same[k!]!.data[idx.reduce((s, v, j) => s * same[0]!.shape[j]! + v, 0)];
          }));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('take gathers along an axis with indices of any shape; scatterAdd adds colliding indices', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ minRank: 1 }).chain((s) =>
          fc.tuple(
            hostArb(s),
            fc.integer({ min: 0, max: s.length - 1 }),
            shapeArb({ maxRank: 2, maxDim: 4, minDim: 0 }),
          ).chain(([x, axis, is]) =>
            fc.tuple(fc.constant(x), fc.constant(axis), fc.array(fc.integer({ min: 0, max: s[axis]! - 1 }), { minLength: sizeOfShape(is), maxLength: sizeOfShape(is) }).map((d) => ({ shape: is, data: d, dtype: 'int32' as const }))),
          ),
        ),
        async ([x, axis, idx]) => {
          const [tk, sc] = await run((t, i) => {
            const taken = o.take(t!, i!, axis);
            return [taken, o.scatterAdd(taken, i!, x.shape[axis]!, axis)];
          }, x, idx);
          const pre = x.shape.slice(0, axis);
          const post = x.shape.slice(axis + 1);
          const tshape = [...pre, ...idx.shape, ...post];
          expect(tk!.shape).toEqual(tshape);
          const st = stridesOfShape(x.shape);
          const expected = Array.from({ length: sizeOfShape(tshape) }, (_, i) => {
            const ti = unravel(i, tshape);
            const ii = ti.slice(axis, axis + idx.shape.length);
            const k = idx.data[ii.reduce((s, v, j) => s * idx.shape[j]! + v, 0)]!;
            const xi = [...ti.slice(0, axis), k, ...ti.slice(axis + idx.shape.length)];
            return x.data[xi.reduce((s, v, j) => s + v * st[j]!, 0)]!;
          });
          expect(tk!.data).toEqual(expected);
          // scatterAdd(take(x, i), i) multiplies each slice of x by how often its index occurs.
          const counts = new Array<number>(x.shape[axis]!).fill(0);
          for (const k of idx.data) counts[k]!++;
          expect(sc!.shape).toEqual(x.shape);
          closeTo(sc!.data, Array.from(x.data, (v, flat) => v * counts[unravel(flat, x.shape)[axis]!]!), { rtol: 1e-6, atol: 0, label: 'scatterAdd' });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('sliceAxis takes Python ranges: negative bounds count from the end', async () => {
    const outs = await run((x) => [o.sliceAxis(x, 0, -3, -1), o.sliceAxis(x, 0, 1, -1), o.sliceAxis(x, -1, 2, 2), o.sliceAxis(x, 0, 0, 5)], { shape: [5], data: [0, 1, 2, 3, 4] });
    expect(outs.map((t) => t.data)).toEqual([[2, 3], [1, 2, 3], [], [0, 1, 2, 3, 4]]);
  });

  // A GPU kernel cannot throw: only the host backends check indices (take documents they must be in range).
  it.skipIf(backend === 'webgpu')('take and scatterAdd reject an out-of-range index', () => {
    expect(() => tidy(() => o.scatterAdd(upload({ shape: [2], data: [1, 2] }), upload({ shape: [2], data: [0, 5], dtype: 'int32' }), 3))).toThrow(/scatterAdd: index 5 is out of range for size 3/);
    expect(() => tidy(() => o.take(upload({ shape: [3], data: [1, 2, 3] }), upload({ shape: [1], data: [3], dtype: 'int32' })))).toThrow(/take: index 3 is out of range for axis 0 of size 3/);
  });

  it('oneHot, arange, linspace, eye, full and tensor() build what they say', async () => {
    const outs = await run(() => [
      o.oneHot(o.tensor([2, 0], [2], 'int32'), 3),
      o.arange(4),
      o.arange(1, 2, 0.25),
      o.arange(5, 0, -2, 'int32'),
      o.linspace(0, 1, 5),
      o.eye(2),
      o.full([2], 7, 'int32'),
      o.tensor([[1, 2, 3], [4, 5, 6]]),
      o.tensor([true, false]),
      o.zeros([0, 2]),
    ]);
    expect(outs.map((t) => [t.shape, t.dtype, t.data])).toEqual([
      [[2, 3], 'float32', [0, 0, 1, 1, 0, 0]],
      [[4], 'float32', [0, 1, 2, 3]],
      [[4], 'float32', [1, 1.25, 1.5, 1.75]],
      [[3], 'int32', [5, 3, 1]],
      [[5], 'float32', [0, 0.25, 0.5, 0.75, 1]],
      [[2, 2], 'float32', [1, 0, 0, 1]],
      [[2], 'int32', [7, 7]],
      [[2, 3], 'float32', [1, 2, 3, 4, 5, 6]],
      [[2], 'bool', [1, 0]],
      [[0, 2], 'float32', []],
    ]);
    const nested = tidy(() => o.tensor([[1, 2], [3, 4]]));
    expect(await o.toNested(nested)).toEqual([[1, 2], [3, 4]]);
    dispose(nested);
  });

  // ------------------------------------------------------------ integers, bits, comparisons, casts
  const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
  const i32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)));

  it('uint32 arithmetic wraps modulo 2³², bit ops and logical shifts match >>> 0 on the host', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(u32, u32, fc.integer({ min: 0, max: 31 })), { minLength: 1, maxLength: 20 }), async (rows) => {
        const a = { shape: [rows.length], data: rows.map((r) => r[0]), dtype: 'uint32' as const };
        const b = { shape: [rows.length], data: rows.map((r) => r[1]), dtype: 'uint32' as const };
        const s = { shape: [rows.length], data: rows.map((r) => r[2]), dtype: 'uint32' as const };
        const outs = await run((x, y, z) => [o.add(x!, y!), o.sub(x!, y!), o.mul(x!, y!), o.bitwiseAnd(x!, y!), o.bitwiseOr(x!, y!), o.bitwiseXor(x!, y!), o.shiftLeft(x!, z!), o.shiftRight(x!, z!), o.maximum(x!, y!), o.less(x!, y!)], a, b, s);
        const refs = [
          (p: number, q: number) => (p + q) >>> 0,
          (p: number, q: number) => (p - q) >>> 0,
          (p: number, q: number) => Math.imul(p, q) >>> 0,
          (p: number, q: number) => (p & q) >>> 0,
          (p: number, q: number) => (p | q) >>> 0,
          (p: number, q: number) => (p ^ q) >>> 0,
          (p: number, _q: number, r: number) => (p << r) >>> 0,
          (p: number, _q: number, r: number) => p >>> r,
          (p: number, q: number) => Math.max(p, q),
          (p: number, q: number) => Number(p < q),
        ];
        outs.forEach((out, k) => {
          expect(out.dtype).toBe(k === 9 ? 'bool' : 'uint32');
          expect(out.data).toEqual(rows.map(([p, q, r]) => refs[k]!(p, q, r)));
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('int32 arithmetic wraps, shifts right arithmetically, divides toward zero and takes floored mod', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(i32, i32.filter((v) => v !== 0), fc.integer({ min: 0, max: 31 })), { minLength: 1, maxLength: 20 }), async (rows) => {
        const a = { shape: [rows.length], data: rows.map((r) => r[0]), dtype: 'int32' as const };
        const b = { shape: [rows.length], data: rows.map((r) => r[1]), dtype: 'int32' as const };
        const s = { shape: [rows.length], data: rows.map((r) => r[2]), dtype: 'int32' as const };
        const outs = await run((x, y, z) => [o.add(x!, y!), o.sub(x!, y!), o.mul(x!, y!), o.shiftRight(x!, z!), o.shiftLeft(x!, z!), o.div(x!, y!), o.mod(x!, y!), o.neg(x!), o.bitwiseXor(x!, y!)], a, b, s);
        const refs = [
          (p: number, q: number) => (p + q) | 0,
          (p: number, q: number) => (p - q) | 0,
          (p: number, q: number) => Math.imul(p, q),
          (p: number, _q: number, r: number) => p >> r,
          (p: number, _q: number, r: number) => p << r,
          (p: number, q: number) => Math.trunc(p / q) | 0,
          (p: number, q: number) => (((p % q) + q) % q) | 0,
          (p: number) => -p | 0,
          (p: number, q: number) => p ^ q,
        ];
        outs.forEach((out, k) => {
          expect(out.dtype).toBe('int32');
          expect(out.data, `op ${k}`).toEqual(rows.map(([p, q, r]) => refs[k]!(p, q, r)));
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('known integer answers: uint32 0xffffffff + 1 = 0, 0xffffffff² = 1, int32 max + 1 = min, −7 mod 3 = 2, 7 mod −3 = −2, −7 / 2 = −3', async () => {
    const outs = await run(
      (u, i) => [o.add(u!, o.scalar(1, 'uint32')), o.mul(u!, u!), o.add(i!, o.scalar(1, 'int32')), o.mod(o.tensor([-7, 7], [2], 'int32'), o.tensor([3, -3], [2], 'int32')), o.div(o.tensor([-7, 7], [2], 'int32'), o.scalar(2, 'int32'))],
      { shape: [1], data: [0xffffffff], dtype: 'uint32' },
      { shape: [1], data: [2 ** 31 - 1], dtype: 'int32' },
    );
    expect(outs.map((t) => t.data)).toEqual([[0], [1], [-(2 ** 31)], [2, -2], [-3, 3]]);
    const fm = await run1((x, y) => o.mod(x!, y!), { shape: [4], data: [-7.5, 7.5, -7.5, 7.5] }, { shape: [4], data: [2, 2, -2, -2] });
    expect(fm.data).toEqual([0.5, 1.5, -1.5, -0.5]);
  });

  it('comparisons broadcast, return bool, and treat NaN as unordered', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastPairArb().chain(({ a, b }) =>
          fc.tuple(
            ...[a, b].map((s) => fc.array(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constant(NaN)), { minLength: sizeOfShape(s), maxLength: sizeOfShape(s) }).map((data) => ({ shape: s, data }))),
          ),
        ),
        async ([a, b]) => {
          const outs = await run((x, y) => [o.equal(x!, y!), o.notEqual(x!, y!), o.less(x!, y!), o.lessEqual(x!, y!), o.greater(x!, y!), o.greaterEqual(x!, y!)], a!, b!);
          const refs = [(p: number, q: number) => p === q, (p: number, q: number) => p !== q, (p: number, q: number) => p < q, (p: number, q: number) => p <= q, (p: number, q: number) => p > q, (p: number, q: number) => p >= q];
          outs.forEach((out, k) => {
            expect(out.dtype).toBe('bool');
            expect(out.data).toEqual(Array.from({ length: sizeOfShape(out.shape) }, (_, i) => {
              const idx = unravel(i, out.shape);
              return Number(refs[k]!(broadcastRead(a!, idx), broadcastRead(b!, idx)));
            }));
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('logical ops on bool', async () => {
    const outs = await run((a, b) => [o.logicalAnd(a!, b!), o.logicalOr(a!, b!), o.logicalNot(a!)], { shape: [4], data: [0, 0, 1, 1], dtype: 'bool' }, { shape: [4], data: [0, 1, 0, 1], dtype: 'bool' });
    expect(outs.map((t) => [t.dtype, t.data])).toEqual([['bool', [0, 0, 0, 1]], ['bool', [0, 1, 1, 1]], ['bool', [1, 1, 0, 0]]]);
  });

  it('isNaN and isFinite classify NaN, ±∞, ±0, subnormals and the largest float', async () => {
    const data = [NaN, Infinity, -Infinity, 0, -0, 1, -2.5, 3.4028234663852886e38, 1e-45, -1e-45];
    const [nan, fin] = await run((x) => [o.isNaN(x), o.isFinite(x)], { shape: [data.length], data });
    expect(nan!.dtype).toBe('bool');
    expect(nan!.data).toEqual(data.map((v) => Number(Number.isNaN(v))));
    expect(fin!.data).toEqual(data.map((v) => Number(Number.isFinite(v))));
  });

  it('cast truncates float→int toward zero (NaN → 0), wraps between int32 and uint32, and maps non-zero to true', async () => {
    const f = { shape: [7], data: [-1.7, -0.5, 0, 0.5, 2.9, NaN, -3] };
    const [fi, fu, fb, bf] = await run((x) => [o.cast(x, 'int32'), o.cast(o.abs(x), 'uint32'), o.cast(x, 'bool'), o.cast(o.cast(x, 'bool'), 'float32')], f);
    expect(fi!.data).toEqual([-1, 0, 0, 0, 2, 0, -3]);
    expect(fu!.data).toEqual([1, 0, 0, 0, 2, 0, 3]);
    expect(fb!.data).toEqual([1, 1, 0, 1, 1, 1, 1]);
    expect(bf).toEqual({ shape: [7], dtype: 'float32', data: [1, 1, 0, 1, 1, 1, 1] });
    const [iu, ui, ifl] = await run(
      (i, u) => [o.cast(i!, 'uint32'), o.cast(u!, 'int32'), o.cast(i!, 'float32')],
      { shape: [3], data: [-1, 5, -(2 ** 31)], dtype: 'int32' },
      { shape: [3], data: [0xffffffff, 5, 0x80000000], dtype: 'uint32' },
    );
    expect(iu!.data).toEqual([0xffffffff, 5, 0x80000000]);
    expect(ui!.data).toEqual([-1, 5, -(2 ** 31)]);
    expect(ifl!.data).toEqual([-1, 5, -(2 ** 31)]);
  });

  it('bitcast reinterprets the 32 bits', async () => {
    const [bits, back] = await run((x) => [o.bitcast(x, 'uint32'), o.bitcast(o.bitcast(x, 'int32'), 'float32')], { shape: [4], data: [1, -2, 0, -0] });
    expect(bits!.data).toEqual([0x3f800000, 0xc0000000, 0, 0x80000000]);
    expect(back!.data).toEqual([1, -2, 0, -0]);
    expect(Object.is(back!.data[3], -0)).toBe(true);
  });

  // ------------------------------------------------------------ empty tensors
  it('empty tensors flow through element-wise, shape and linear ops', async () => {
    await fc.assert(
      fc.asyncProperty(maybeEmptyShape.filter((s) => sizeOfShape(s) === 0), async (s) => {
        const outs = await run((x) => [o.add(x, 1), o.exp(x), o.reshape(x, [0]), o.transpose(x), o.concat([x, x], 0), o.sum(x), o.flip(x)], { shape: s, data: [] });
        expect(outs.map((t) => t.shape)).toEqual([s, s, [0], [...s].reverse(), [s[0]! * 2, ...s.slice(1)], [], s]);
        expect(outs[5]!.data).toEqual([0]);
      }),
      { numRuns: 10 },
    );
  });
});

/** Index into a (possibly smaller, broadcast) leading shape for a multi-index of the full leading shape. */
function broadcastIndex(shape: readonly number[], idx: readonly number[]): number {
  const off = idx.length - shape.length;
  return shape.reduce((s, d, i) => s * d + (d === 1 ? 0 : idx[off + i]!), 0);
}

/** TensorFlow's padding rule, written out independently of resolvePadding. */
function referencePadding(padding: o.Padding, p: { h: number; w: number; kh: number; kw: number; sh: number; sw: number; dh: number; dw: number }): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const total = (size: number, k: number, s: number, d: number) => Math.max(0, (Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size);
    const th = total(p.h, p.kh, p.sh, p.dh);
    const tw = total(p.w, p.kw, p.sw, p.dw);
    return [th >> 1, th - (th >> 1), tw >> 1, tw - (tw >> 1)];
  }
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (typeof padding[0] === 'number') return [padding[0], padding[0], padding[1] as number, padding[1] as number];
  const [[t, b], [l, r]] = padding as readonly [readonly [number, number], readonly [number, number]];
  return [t, b, l, r];
}

