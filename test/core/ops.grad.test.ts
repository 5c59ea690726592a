/**
 * Every differentiable op, backward: for random shapes (broadcasting, size-1 axes, rank 0) and values,
 * the VJP agrees with a float64 central finite difference along a random direction, and satisfies the
 * dot-product identity ⟨t, vjp(c)⟩ = ⟨J t, c⟩ (see `checkGrad`).
 */
import fc from 'fast-check';
import { it } from 'vitest';
import * as o from '../../core/ops.js';
import type { Tensor } from '../../index.js';
import {
  axesArb,
  broadcastableTo,
  broadcastPairArb,
  broadcastRead,
  checkGrad,
  describeBackends,
  distinctValuesArb,
  dimArb,
  type Domain,
  type GradCheckOptions,
  type Host,
  hostArb,
  permArb,
  quantize,
  REALS,
  seedArb,
  shapeArb,
  sizeOfShape,
  unravel,
} from './harness.js';

const NUM_RUNS = 20;

type Fn = (...xs: Tensor[]) => unknown;
interface Case {
  f: Fn;
  inputs: Host[];
  opts?: GradCheckOptions;
}

/** A property: for every generated case, checkGrad passes. */
function gradProperty<T>(name: string, arb: fc.Arbitrary<T>, build: (v: T) => Case, numRuns = NUM_RUNS): void {
  it(`${name}: VJP matches finite differences and the dot-product identity`, async () => {
    await fc.assert(
      fc.asyncProperty(arb, seedArb, async (v, seed) => {
        const { f, inputs, opts } = build(v);
        await checkGrad(f, inputs, { seed, name, ...opts });
      }),
      { numRuns },
    );
  });
}

const unaryArb = (domain: Domain, shape = shapeArb()) => shape.chain((s) => hostArb(s, domain));

/** Two operands that broadcast together, with values in the given domains. */
const binaryArb = (da: Domain, db: Domain = da) =>
  broadcastPairArb().chain(({ a, b }) => fc.tuple(hostArb(a, da), hostArb(b, db)));

/** Values k/4 + offset: two such sets with offsets 0 and 1/8 never come closer than 1/8. */
const gridHostArb = (shape: number[], offset: number) =>
  fc.array(fc.integer({ min: -12, max: 12 }), { minLength: sizeOfShape(shape), maxLength: sizeOfShape(shape) }).map((ks) => ({ shape, data: ks.map((k) => k / 4 + offset) }));

const distinctHostArb = (shape: number[]) => distinctValuesArb(sizeOfShape(shape)).map((data) => ({ shape, data }));

/** A non-empty shape and a valid axis of it. */
const shapeAxisArb = (opts = {}) => shapeArb({ minRank: 1, ...opts }).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 })));

describeBackends('ops VJPs', () => {
  // ------------------------------------------------------------ element-wise, unary
  const unary: [string, (x: Tensor) => Tensor, Domain][] = [
    ['neg', o.neg, REALS],
    ['exp', o.exp, REALS],
    ['log', o.log, { min: 0.25, max: 4 }],
    ['expm1', o.expm1, REALS],
    ['log1p', o.log1p, { min: -0.75, max: 3 }],
    ['sin', o.sin, { min: -4, max: 4 }],
    ['cos', o.cos, { min: -4, max: 4 }],
    ['tanh', o.tanh, REALS],
    ['sqrt', o.sqrt, { min: 0.25, max: 4 }],
    ['rsqrt', o.rsqrt, { min: 0.25, max: 4 }],
    ['erf', o.erf, { min: -2.5, max: 2.5 }],
    // erfinv′ = √π/2 e^{erfinv²} grows without bound at ±1; 0.9 keeps the fifth derivative (the
    // stencil's truncation term) small.
    ['erfinv', o.erfinv, { min: -0.9, max: 0.9 }],
    ['abs', o.abs, { ...REALS, avoid: [0] }],
    ['sign', o.sign, { ...REALS, avoid: [0] }],
    ['floor', o.floor, { ...REALS, avoid: [-3, -2, -1, 0, 1, 2, 3] }],
    ['ceil', o.ceil, { ...REALS, avoid: [-3, -2, -1, 0, 1, 2, 3] }],
    ['sigmoid', o.sigmoid, { min: -6, max: 6 }],
    ['square', o.square, REALS],
    ['reciprocal', o.reciprocal, { ...REALS, avoid: [0], margin: 0.5 }],
    ['relu', o.relu, { ...REALS, avoid: [0] }],
    ['gelu', o.gelu, { min: -4, max: 4 }],
    ['geluTanh', o.geluTanh, { min: -4, max: 4 }],
    ['silu', o.silu, { min: -4, max: 4 }],
    ['softplus', o.softplus, { min: -6, max: 6, avoid: [0] }],
    ['logSigmoid', o.logSigmoid, { min: -6, max: 6, avoid: [0] }],
    ['clip', (x) => o.clip(x, -1, 1.5), { ...REALS, avoid: [-1, 1.5] }],
  ];
  for (const [name, fn, domain] of unary) gradProperty(name, unaryArb(domain), (x) => ({ f: fn, inputs: [x] }));

  // softplus and logSigmoid use |x|, whose kink at 0 they smooth over: check the point itself too.
  gradProperty('softplus and logSigmoid at 0', seedArb, () => ({ f: (x) => [o.softplus(x), o.logSigmoid(x)], inputs: [{ shape: [3], data: [0, 0, 0] }] }), 3);

  // ------------------------------------------------------------ element-wise, binary with broadcasting
  gradProperty('add', binaryArb(REALS), ([a, b]) => ({ f: o.add, inputs: [a, b] }));
  gradProperty('sub', binaryArb(REALS), ([a, b]) => ({ f: o.sub, inputs: [a, b] }));
  gradProperty('mul', binaryArb(REALS), ([a, b]) => ({ f: o.mul, inputs: [a, b] }));
  gradProperty('div', binaryArb(REALS, { min: -3, max: 3, avoid: [0], margin: 0.5 }), ([a, b]) => ({ f: o.div, inputs: [a, b] }));
  gradProperty('pow (positive base)', binaryArb({ min: 0.25, max: 3 }, { min: -2, max: 2 }), ([a, b]) => ({ f: o.pow, inputs: [a, b] }));
  gradProperty('pow (integer exponent, any base)', fc.tuple(unaryArb(REALS), fc.constantFrom(2, 3)), ([x, p]) => ({ f: (t) => o.pow(t, p), inputs: [x] }));
  gradProperty('add, sub, mul, div with a number', unaryArb({ ...REALS, avoid: [0], margin: 0.5 }), (x) => ({
    f: (t) => [o.add(t, 2), o.sub(1.5, t), o.mul(t, -3), o.div(t, 4), o.div(2, t)],
    inputs: [x],
  }));
  const maxMinArb = broadcastPairArb().chain(({ a, b }) => fc.tuple(gridHostArb(a, 0), gridHostArb(b, 1 / 8)));
  gradProperty('maximum', maxMinArb, ([a, b]) => ({ f: o.maximum, inputs: [a, b] }));
  gradProperty('minimum', maxMinArb, ([a, b]) => ({ f: o.minimum, inputs: [a, b] }));
  gradProperty(
    'mod',
    // b broadcasts into a; each a/b sits at n + f with f in [0.2, 0.8], away from the jumps of mod.
    shapeArb().chain((out) =>
      broadcastableTo(out).chain((bs) =>
        fc.tuple(
          fc.constant(out),
          hostArb(bs, { min: -2, max: 2, avoid: [0], margin: 1.25 }),
          fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }), fc.double({ min: 0.2, max: 0.8, noNaN: true })), { minLength: sizeOfShape(out), maxLength: sizeOfShape(out) }),
        ),
      ),
    ),
    ([out, b, nf]) => {
      const a: Host = { shape: out, data: nf.map(([n, fr], i) => quantize(broadcastRead(b, unravel(i, out)) * (n + fr))) };
      return { f: o.mod, inputs: [a, b] };
    },
  );
  gradProperty('where', shapeArb().chain((out) =>
    fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out)).chain(([cs, as, bs]) =>
      fc.tuple(fc.array(fc.boolean(), { minLength: sizeOfShape(cs), maxLength: sizeOfShape(cs) }).map((c) => ({ shape: cs, data: c.map(Number), dtype: 'bool' as const })), hostArb(as), hostArb(bs)),
    ),
  ), ([c, a, b]) => ({ f: (cc, aa, bb) => o.where(cc!, aa!, bb!), inputs: [c, a, b] }));
  gradProperty('cast (float→int→float is piecewise constant; float→float is the identity)', unaryArb({ ...REALS, avoid: [-3, -2, -1, 0, 1, 2, 3] }), (x) => ({
    f: (t) => [o.mul(t, o.cast(o.cast(t, 'int32'), 'float32')), o.cast(t, 'float32')],
    inputs: [x],
  }));

  // ------------------------------------------------------------ reductions
  const reduceArb = (values: (s: number[]) => fc.Arbitrary<Host>) =>
    shapeArb().chain((s) => fc.tuple(values(s), fc.option(axesArb(s.length), { nil: undefined }), fc.boolean()));
  const reductions: [string, (x: Tensor, axes: number[] | undefined, keep: boolean) => Tensor, (s: number[]) => fc.Arbitrary<Host>][] = [
    ['sum', o.sum, (s) => hostArb(s)],
    ['mean', o.mean, (s) => hostArb(s)],
    ['variance', o.variance, (s) => hostArb(s)],
    ['logSumExp', o.logSumExp, (s) => hostArb(s)],
    ['max', o.max, distinctHostArb],
    ['min', o.min, distinctHostArb],
  ];
  for (const [name, fn, values] of reductions) {
    gradProperty(`${name} over random axes, keepDims or not`, reduceArb(values), ([x, axes, keep]) => ({ f: (t) => fn(t, axes, keep), inputs: [x] }));
  }
  gradProperty('cumsum, forward and reverse', shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis), fc.boolean())), ([x, axis, reverse]) => ({
    f: (t) => o.cumsum(t, axis, { reverse }),
    inputs: [x],
  }));
  gradProperty('softmax', shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis))), ([x, axis]) => ({ f: (t) => o.softmax(t, axis), inputs: [x] }));
  gradProperty('logSoftmax', shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis))), ([x, axis]) => ({ f: (t) => o.logSoftmax(t, axis), inputs: [x] }));

  // ------------------------------------------------------------ linear algebra
  gradProperty(
    'matmul (rank 1, rank 2, batched with broadcast leading axes)',
    fc
      .record({ lead: broadcastPairArb({ maxRank: 2, maxDim: 3 }), m: dimArb(), k: dimArb(), n: dimArb(), aVec: fc.boolean(), bVec: fc.boolean() })
      .chain(({ lead, m, k, n, aVec, bVec }) => {
        const as = aVec ? [k] : [...lead.a, m, k];
        const bs = bVec ? [k] : [...lead.b, k, n];
        return fc.tuple(hostArb(as), hostArb(bs));
      }),
    ([a, b]) => ({ f: o.matmul, inputs: [a, b] }),
  );
  gradProperty(
    'matmulPrim with transpose flags and a broadcast batch of 1',
    fc
      .record({ batch: fc.integer({ min: 1, max: 3 }), aOne: fc.boolean(), bOne: fc.boolean(), m: dimArb(), k: dimArb(), n: dimArb(), transA: fc.boolean(), transB: fc.boolean() })
      .chain(({ batch, aOne, bOne, m, k, n, transA, transB }) =>
        fc.tuple(
          hostArb([aOne ? 1 : batch, ...(transA ? [k, m] : [m, k])]),
          hostArb([bOne ? 1 : batch, ...(transB ? [n, k] : [k, n])]),
          fc.constant(transA),
          fc.constant(transB),
        ),
      ),
    ([a, b, transA, transB]) => ({ f: (x, y) => o.matmulPrim(x!, y!, transA, transB), inputs: [a, b] }),
  );
  const paddingArb: fc.Arbitrary<o.Padding> = fc.oneof(
    fc.constant('same' as const),
    fc.constant('valid' as const),
    fc.integer({ min: 0, max: 2 }),
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    fc.tuple(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))),
  );
  gradProperty(
    'conv2d (stride, same/valid/explicit padding, dilation)',
    fc
      .record({
        n: fc.integer({ min: 1, max: 2 }),
        h: fc.integer({ min: 1, max: 6 }),
        w: fc.integer({ min: 1, max: 6 }),
        c: fc.integer({ min: 1, max: 3 }),
        co: fc.integer({ min: 1, max: 3 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        stride: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }))),
        dilation: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 2 }), fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }))),
        padding: paddingArb,
      })
      .filter(({ h, w, kh, kw, stride, dilation, padding }) => {
        const [sh, sw] = typeof stride === 'number' ? [stride, stride] : stride;
        const [dh, dw] = typeof dilation === 'number' ? [dilation, dilation] : dilation;
        const [pt, pb, pl, pr] = o.resolvePadding(padding, h, w, kh, kw, sh, sw, dh, dw);
        return h + pt + pb >= (kh - 1) * dh + 1 && w + pl + pr >= (kw - 1) * dw + 1;
      })
      .chain((p) => fc.tuple(fc.constant(p), hostArb([p.n, p.h, p.w, p.c]), hostArb([p.kh, p.kw, p.c, p.co]))),
    // Bilinear, so the fourth-order stencil is exact at any step: h = 2⁻² keeps the rounding noise of
    // 'auto''s Winograd F(4×4) (tile-wide, see test/core/winograd.test.ts) 32× below the default step's.
    ([p, x, w]) => ({ f: (xx, ww) => o.conv2d(xx!, ww!, { stride: p.stride, padding: p.padding, dilation: p.dilation }), inputs: [x, w], opts: { h: 2 ** -2 } }),
  );

  // ------------------------------------------------------------ shapes
  gradProperty('reshape (including -1)', shapeArb().chain((s) => fc.tuple(hostArb(s), factorArb(sizeOfShape(s)), fc.boolean())), ([x, target, infer]) => ({
    f: (t) => o.reshape(t, infer && target.length > 0 && target[0]! > 0 ? [-1, ...target.slice(1)] : target),
    inputs: [x],
  }));
  gradProperty('transpose', shapeArb().chain((s) => fc.tuple(hostArb(s), fc.option(permArb(s.length), { nil: undefined }))), ([x, perm]) => ({ f: (t) => o.transpose(t, perm), inputs: [x] }));
  gradProperty('matrixTranspose', shapeArb({ minRank: 2 }).chain((s) => hostArb(s)), (x) => ({ f: o.matrixTranspose, inputs: [x] }));
  gradProperty('broadcastTo', shapeArb().chain((out) => fc.tuple(broadcastableTo(out).chain((s) => hostArb(s)), fc.constant(out))), ([x, out]) => ({ f: (t) => o.broadcastTo(t, out), inputs: [x] }));
  gradProperty('expandDims', shapeArb({ maxRank: 3 }).chain((s) => fc.tuple(hostArb(s), fc.integer({ min: -(s.length + 1), max: s.length }))), ([x, axis]) => ({ f: (t) => o.expandDims(t, axis), inputs: [x] }));
  gradProperty(
    'squeeze (all size-1 axes, or some)',
    shapeArb().chain((s) => fc.tuple(hostArb(s), fc.option(fc.subarray(s.flatMap((d, i) => (d === 1 ? [i] : []))), { nil: undefined }))),
    ([x, axes]) => ({ f: (t) => o.squeeze(t, axes), inputs: [x] }),
  );
  gradProperty(
    'slice (negative begins, -1 sizes, empty sizes)',
    shapeArb().chain((s) =>
      fc.tuple(
        hostArb(s),
        fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: -1, max: d - b }), fc.boolean(), fc.constant(d))))),
      ),
    ),
    ([x, spec]) => ({
      f: (t) => o.slice(t, spec.map(([b, , neg, d]) => (neg ? b - d : b)), spec.map(([, size]) => size)),
      inputs: [x],
    }),
  );
  gradProperty(
    'sliceAxis',
    shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis), fc.integer({ min: 0, max: s[axis]! }), fc.integer({ min: 0, max: s[axis]! }))),
    ([x, axis, i, j]) => ({ f: (t) => o.sliceAxis(t, axis, Math.min(i, j), Math.max(i, j)), inputs: [x] }),
  );
  gradProperty(
    'concat (pieces of different lengths along the axis)',
    shapeAxisArb().chain(([s, axis]) =>
      fc.tuple(fc.constant(axis), fc.array(dimArb().chain((d) => hostArb(s.map((v, i) => (i === axis ? d : v)))), { minLength: 1, maxLength: 3 })),
    ),
    ([axis, pieces]) => ({ f: (...ts) => o.concat(ts, axis), inputs: pieces }),
  );
  gradProperty(
    'stack',
    shapeArb({ maxRank: 3 }).chain((s) => fc.tuple(fc.integer({ min: -(s.length + 1), max: s.length }), fc.array(hostArb(s), { minLength: 1, maxLength: 3 }))),
    ([axis, pieces]) => ({ f: (...ts) => o.stack(ts, axis), inputs: pieces }),
  );
  gradProperty(
    'split (sizes or equal pieces)',
    shapeAxisArb().chain(([s, axis]) =>
      fc.tuple(hostArb(s), fc.constant(axis), fc.oneof(partitionArb(s[axis]!), fc.constantFrom(...divisors(s[axis]!)))),
    ),
    ([x, axis, sizes]) => ({ f: (t) => o.split(t, sizes, axis), inputs: [x] }),
  );
  gradProperty(
    'pad (with a constant)',
    shapeArb().chain((s) => fc.tuple(hostArb(s), fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))), fc.double({ min: -2, max: 2, noNaN: true }))),
    ([x, paddings, value]) => ({ f: (t) => o.pad(t, paddings as [number, number][], value), inputs: [x] }),
  );
  gradProperty('flip', shapeArb().chain((s) => fc.tuple(hostArb(s), fc.option(axesArb(s.length), { nil: undefined }))), ([x, axes]) => ({ f: (t) => o.flip(t, axes), inputs: [x] }));
  gradProperty(
    'take (repeated indices of any rank)',
    shapeAxisArb().chain(([s, axis]) =>
      fc.tuple(
        hostArb(s),
        fc.constant(axis),
        shapeArb({ maxRank: 2, maxDim: 4 }).chain((is) =>
          fc.array(fc.integer({ min: 0, max: s[axis]! - 1 }), { minLength: sizeOfShape(is), maxLength: sizeOfShape(is) }).map((data) => ({ shape: is, data, dtype: 'int32' as const })),
        ),
      ),
    ),
    ([x, axis, idx]) => ({ f: (t, i) => o.take(t, i!, axis), inputs: [x, idx] }),
  );
  gradProperty(
    'scatterAdd (colliding indices)',
    fc
      .record({ pre: shapeArb({ maxRank: 2, maxDim: 3 }), idx: shapeArb({ maxRank: 2, maxDim: 4 }), post: shapeArb({ maxRank: 2, maxDim: 3 }), size: fc.integer({ min: 1, max: 4 }) })
      .chain(({ pre, idx, post, size }) =>
        fc.tuple(
          hostArb([...pre, ...idx, ...post]),
          fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: sizeOfShape(idx), maxLength: sizeOfShape(idx) }).map((data) => ({ shape: idx, data, dtype: 'int32' as const })),
          fc.constant(size),
          fc.constant(pre.length),
        ),
      ),
    ([u, idx, size, axis]) => ({ f: (t, i) => o.scatterAdd(t, i!, size, axis), inputs: [u, idx] }),
  );
  gradProperty('tile', shapeArb({ maxRank: 3 }).chain((s) => fc.tuple(hostArb(s), fc.tuple(...s.map(() => fc.integer({ min: 1, max: 3 }))))), ([x, reps]) => ({ f: (t) => o.tile(t, reps), inputs: [x] }));
  // ------------------------------------------------------------ empty tensors
  // Nothing to differentiate, but every backward pass must still run and return empty cotangents of
  // the right shapes (dimension-0 axes anywhere, broadcasting against them included).
  const emptyArb = broadcastPairArb({ minDim: 0 }).filter(({ out }) => sizeOfShape(out) === 0).chain(({ a, b, out }) => fc.tuple(hostArb(a), hostArb(b), fc.constant(out), fc.option(axesArb(out.length), { nil: undefined })));
  gradProperty('empty tensors through element-wise ops, reductions, shape ops', emptyArb, ([a, b, out, axes]) => ({
    f: (x, y) => {
      const z = o.mul(o.add(x!, y!), o.exp(y!));
      return [z, o.sum(z, axes, true), o.transpose(z), o.reshape(z, [-1]), o.concat([z, z], 0), o.pad(z, out.map(() => [1, 0] as [number, number])), o.broadcastTo(x!, out), o.flip(z)];
    },
    inputs: [a, b],
  }), 10);
  gradProperty('matmul and take with an empty dimension', fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).filter(([m, k, n]) => m * k * n === 0).chain(([m, k, n]) => fc.tuple(hostArb([m, k]), hostArb([k, n]))), ([a, b]) => ({
    f: (x, y) => [o.matmul(x!, y!), o.take(y!, o.tensor([], [0], 'int32'), 1)],
    inputs: [a, b],
  }), 10);

  gradProperty('repeat', shapeAxisArb({ maxRank: 3 }).chain(([s, axis]) => fc.tuple(hostArb(s), fc.integer({ min: 1, max: 3 }), fc.constant(axis))), ([x, n, axis]) => ({ f: (t) => o.repeat(t, n, axis), inputs: [x] }));
});

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** A random shape with `n` elements (rank 0..4, with size-1 axes). */
function factorArb(n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.nat(), { maxLength: 3 }).map((choices) => {
    const out: number[] = [];
    let rest = n;
    for (const c of choices) {
      const ds = divisors(rest);
      const d = ds[c % ds.length]!;
      out.push(d);
      rest /= d;
    }
    if (rest !== 1 || out.length === 0 || choices.length % 2 === 1) out.push(rest);
    return n === 1 && choices.length === 0 ? [] : out;
  });
}

/** Positive-or-zero sizes adding up to n. */
function partitionArb(n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: n }), { maxLength: 3 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), n];
    return points.slice(1).map((p, i) => p - points[i]!);
  });
}

