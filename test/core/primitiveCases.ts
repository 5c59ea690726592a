/**
 * Test cases per primitive, shared by the JVP and vmap suites: for each primitive, properties that
 * generate a function reaching it and inputs for it (random shapes with rank 0, size-1 and empty
 * axes, broadcasting, values in the op's domain), or, for primitives whose outputs are integers or
 * bits, a function from a float [4] tensor to such outputs. The table is keyed by primitive: a
 * primitive added to `primitives.ts` without a row here fails to compile.
 */
import fc from 'fast-check';
import * as o from '../../core/ops.js';
import { bind, type Im2ColParams, type Prim, type Tensor } from '../../index.js';
import {
  axesArb,
  broadcastableTo,
  broadcastPairArb,
  broadcastRead,
  dimArb,
  distinctValuesArb,
  type Domain,
  type GradCheckOptions,
  type Host,
  hostArb,
  permArb,
  quantize,
  REALS,
  shapeArb,
  sizeOfShape,
  unravel,
} from './harness.js';

export type Fn = (...xs: Tensor[]) => unknown;
export interface Case {
  f: Fn;
  inputs: Host[];
  opts?: GradCheckOptions;
}
export interface Property {
  name: string;
  cases: fc.Arbitrary<Case>;
}
/** A primitive whose outputs are integers or bits: `f` takes a float [n] tensor to such outputs. */
export interface NoTangent {
  noTangent: (x: Tensor) => Tensor;
}

const property = <T>(name: string, arb: fc.Arbitrary<T>, build: (v: T) => Case): Property => ({ name, cases: arb.map(build) });

const unaryArb = (domain: Domain, shape = shapeArb({ minDim: 0 })) => shape.chain((s) => hostArb(s, domain));
const unary = (name: string, fn: (x: Tensor) => Tensor, domain: Domain): Property[] => [property(name, unaryArb(domain), (x) => ({ f: fn, inputs: [x] }))];
const binaryArb = (da: Domain, db: Domain = da) => broadcastPairArb({ minDim: 0 }).chain(({ a, b }) => fc.tuple(hostArb(a, da), hostArb(b, db)));
const binary = (name: string, fn: (a: Tensor, b: Tensor) => Tensor, da: Domain, db: Domain = da): Property[] => [property(name, binaryArb(da, db), ([a, b]) => ({ f: (x, y) => fn(x!, y!), inputs: [a, b] }))];
/** Values k/4 + offset: two such sets with offsets 0 and 1/8 never tie. */
const gridHostArb = (shape: number[], offset: number) =>
  fc.array(fc.integer({ min: -12, max: 12 }), { minLength: sizeOfShape(shape), maxLength: sizeOfShape(shape) }).map((ks) => ({ shape, data: ks.map((k) => k / 4 + offset) }));
const shapeAxisArb = (opts = {}) => shapeArb({ minRank: 1, ...opts }).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 })));
const intHost = (shape: number[], max: number) =>
  fc.array(fc.integer({ min: 0, max }), { minLength: sizeOfShape(shape), maxLength: sizeOfShape(shape) }).map((data) => ({ shape, data, dtype: 'int32' as const }));

/** im2col parameters with the input shape they fit: stride, dilation and padding drawn. */
const im2colArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 5 }),
    w: fc.integer({ min: 1, max: 5 }),
    c: fc.integer({ min: 1, max: 2 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    pt: fc.integer({ min: 0, max: 1 }),
    pl: fc.integer({ min: 0, max: 1 }),
  })
  .map((r) => {
    const outHeight = Math.floor((r.h + 2 * r.pt - ((r.kh - 1) * r.dh + 1)) / r.sh) + 1;
    const outWidth = Math.floor((r.w + 2 * r.pl - ((r.kw - 1) * r.dw + 1)) / r.sw) + 1;
    const p: Im2ColParams = { kernelHeight: r.kh, kernelWidth: r.kw, strideHeight: r.sh, strideWidth: r.sw, padTop: r.pt, padLeft: r.pl, outHeight, outWidth, dilationHeight: r.dh, dilationWidth: r.dw };
    return { ...r, p };
  })
  .filter(({ p }) => p.outHeight > 0 && p.outWidth > 0);

export const byPrimitive: { [P in Prim]: Property[] | NoTangent } = {
  neg: unary('neg', o.neg, REALS),
  exp: unary('exp', o.exp, REALS),
  log: unary('log', o.log, { min: 0.25, max: 4 }),
  expm1: unary('expm1', o.expm1, REALS),
  log1p: unary('log1p', o.log1p, { min: -0.75, max: 3 }),
  sin: unary('sin', o.sin, { min: -4, max: 4 }),
  cos: unary('cos', o.cos, { min: -4, max: 4 }),
  tanh: unary('tanh', o.tanh, REALS),
  sqrt: unary('sqrt', o.sqrt, { min: 0.25, max: 4 }),
  erf: unary('erf', o.erf, { min: -2.5, max: 2.5 }),
  erfinv: unary('erfinv', o.erfinv, { min: -0.9, max: 0.9 }),
  floor: unary('floor (zero between the jumps)', o.floor, { ...REALS, avoid: [-3, -2, -1, 0, 1, 2, 3] }),
  abs: unary('abs', o.abs, { ...REALS, avoid: [0] }),
  sign: unary('sign (zero away from 0)', o.sign, { ...REALS, avoid: [0] }),
  sigmoid: unary('sigmoid', o.sigmoid, { min: -6, max: 6 }),

  add: [...binary('add', o.add, REALS), property('add with a value that carries no tangent', unaryArb(REALS), (x) => ({ f: (t) => [o.add(t, 2), o.add(o.ones([2, ...x.shape]), t)], inputs: [x] }))],
  sub: [...binary('sub', o.sub, REALS), property('sub from a value that carries no tangent', unaryArb(REALS), (x) => ({ f: (t) => [o.sub(1.5, t), o.sub(t, o.ones([2, ...x.shape]))], inputs: [x] }))],
  mul: binary('mul', o.mul, REALS),
  div: binary('div', o.div, REALS, { ...REALS, avoid: [0], margin: 0.5 }),
  max: [property('maximum', broadcastPairArb().chain(({ a, b }) => fc.tuple(gridHostArb(a, 0), gridHostArb(b, 1 / 8))), ([a, b]) => ({ f: (x, y) => o.maximum(x!, y!), inputs: [a, b] }))],
  min: [property('minimum', broadcastPairArb().chain(({ a, b }) => fc.tuple(gridHostArb(a, 0), gridHostArb(b, 1 / 8))), ([a, b]) => ({ f: (x, y) => o.minimum(x!, y!), inputs: [a, b] }))],
  pow: [
    ...binary('pow (positive base)', o.pow, { min: 0.25, max: 3 }, { min: -2, max: 2 }),
    property('pow (integer exponent, any base)', fc.tuple(unaryArb(REALS), fc.constantFrom(2, 3)), ([x, p]) => ({ f: (t) => o.pow(t, p), inputs: [x] })),
  ],
  // a/b sits at n + f with f in [0.2, 0.8], away from the jumps of mod.
  mod: [
    property(
      'mod',
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
        return { f: (x, y) => o.mod(x!, y!), inputs: [a, b] };
      },
    ),
  ],

  bitand: { noTangent: (x) => o.bitwiseAnd(o.cast(x, 'int32'), o.cast(o.neg(x), 'int32')) },
  bitor: { noTangent: (x) => o.bitwiseOr(o.cast(x, 'int32'), o.cast(o.neg(x), 'int32')) },
  bitxor: { noTangent: (x) => o.bitwiseXor(o.cast(x, 'int32'), o.cast(o.neg(x), 'int32')) },
  shl: { noTangent: (x) => o.shiftLeft(o.cast(x, 'int32'), o.cast(o.abs(x), 'int32')) },
  shr: { noTangent: (x) => o.shiftRight(o.cast(x, 'int32'), o.cast(o.abs(x), 'int32')) },
  eq: { noTangent: (x) => o.equal(x, 1) },
  ne: { noTangent: (x) => o.notEqual(x, 1) },
  lt: { noTangent: (x) => o.less(x, 0) },
  le: { noTangent: (x) => o.lessEqual(x, 0) },
  gt: { noTangent: (x) => o.greater(x, 0) },
  ge: { noTangent: (x) => o.greaterEqual(x, 0) },

  where: [
    property(
      'where',
      shapeArb().chain((out) =>
        fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out)).chain(([cs, as, bs]) =>
          fc.tuple(fc.array(fc.boolean(), { minLength: sizeOfShape(cs), maxLength: sizeOfShape(cs) }).map((c) => ({ shape: cs, data: c.map(Number), dtype: 'bool' as const })), hostArb(as), hostArb(bs)),
        ),
      ),
      ([c, a, b]) => ({ f: (cc, aa, bb) => [o.where(cc!, aa!, bb!), o.where(cc!, aa!, 0), o.where(cc!, 1, bb!)], inputs: [c, a, b] }),
    ),
  ],
  cast: [
    property('cast (float→int→float is piecewise constant; float→float is the identity)', unaryArb({ ...REALS, avoid: [-3, -2, -1, 0, 1, 2, 3] }), (x) => ({
      // (cast returns a float32 input as it is: the float32 → float32 primitive is bound directly.)
      f: (t) => [o.mul(t, o.cast(o.cast(t, 'int32'), 'float32')), bind('cast', [t], { dtype: 'float32' })],
      inputs: [x],
    })),
  ],
  bitcast: { noTangent: (x) => o.bitcast(x, 'uint32') },
  sum: [property('sum over random axes, keepDims or not', shapeArb({ minDim: 0 }).chain((s) => fc.tuple(hostArb(s), fc.option(axesArb(s.length), { nil: undefined }), fc.boolean())), ([x, axes, keep]) => ({ f: (t) => o.sum(t, axes, keep), inputs: [x] }))],
  reduceMax: [
    property('max and min over random axes (distinct values)', shapeArb().chain((s) => fc.tuple(distinctValuesArb(sizeOfShape(s)).map((data) => ({ shape: s, data })), fc.option(axesArb(s.length), { nil: undefined }), fc.boolean())), ([x, axes, keep]) => ({
      f: (t) => [o.max(t, axes, keep), o.min(t, axes, keep)],
      inputs: [x],
    })),
  ],
  argmax: { noTangent: (x) => o.argmax(x) },
  cumsum: [property('cumsum, forward and reverse', shapeAxisArb({ minDim: 0 }).chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis), fc.boolean())), ([x, axis, reverse]) => ({ f: (t) => o.cumsum(t, axis, { reverse }), inputs: [x] }))],
  matmul: [
    property(
      'matmul primitive with transpose flags and a broadcast batch of 1',
      fc
        .record({ batch: fc.integer({ min: 1, max: 3 }), aOne: fc.boolean(), bOne: fc.boolean(), m: dimArb({ minDim: 0 }), k: dimArb({ minDim: 0 }), n: dimArb(), transA: fc.boolean(), transB: fc.boolean() })
        .chain(({ batch, aOne, bOne, m, k, n, transA, transB }) =>
          fc.tuple(hostArb([aOne ? 1 : batch, ...(transA ? [k, m] : [m, k])]), hostArb([bOne ? 1 : batch, ...(transB ? [n, k] : [k, n])]), fc.constant(transA), fc.constant(transB)),
        ),
      ([a, b, transA, transB]) => ({ f: (x, y) => o.matmulPrim(x!, y!, transA, transB), inputs: [a, b] }),
    ),
    property(
      'matmul (vectors, batched with broadcast leading axes)',
      fc.record({ lead: broadcastPairArb({ maxRank: 2, maxDim: 3 }), m: dimArb(), k: dimArb(), n: dimArb(), aVec: fc.boolean(), bVec: fc.boolean() }).chain(({ lead, m, k, n, aVec, bVec }) =>
        fc.tuple(hostArb(aVec ? [k] : [...lead.a, m, k]), hostArb(bVec ? [k] : [...lead.b, k, n])),
      ),
      ([a, b]) => ({ f: (x, y) => o.matmul(x!, y!), inputs: [a, b] }),
    ),
  ],
  im2col: [property('im2col (stride, dilation, padding)', im2colArb.chain((r) => fc.tuple(fc.constant(r.p), hostArb([r.n, r.h, r.w, r.c]))), ([p, x]) => ({ f: (t) => o.im2colPrim(t, p), inputs: [x] }))],
  winogradIn: [
    property('winogradIn (F(2×2) and F(4×4), forward and adjoint, implicit padding)', fc.record({ tile: fc.constantFrom(2 as const, 4 as const), n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 4 }), w: fc.integer({ min: 1, max: 4 }), pt: fc.integer({ min: 0, max: 2 }), pl: fc.integer({ min: 0, max: 2 }), th: fc.integer({ min: 1, max: 2 }), tw: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }), adjoint: fc.boolean() }).chain((r) =>
      fc.tuple(fc.constant(r), hostArb(r.adjoint ? [(r.tile + 2) ** 2, r.n * r.th * r.tw, r.c] : [r.n, r.h, r.w, r.c])),
    ), ([r, x]) => ({ f: (t) => o.winogradInPrim(t, { tile: r.tile, batch: r.n, height: r.h, width: r.w, padTop: r.pt, padLeft: r.pl, tilesHigh: r.th, tilesWide: r.tw, adjoint: r.adjoint }), inputs: [x] })),
  ],
  winogradOut: [
    property('winogradOut (F(2×2) and F(4×4), forward and adjoint)', fc.record({ tile: fc.constantFrom(2 as const, 4 as const), n: fc.integer({ min: 1, max: 2 }), th: fc.integer({ min: 1, max: 2 }), tw: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }), adjoint: fc.boolean() }).chain((r) =>
      fc.tuple(fc.constant(r), hostArb(r.adjoint ? [r.n, r.tile * r.th, r.tile * r.tw, r.c] : [(r.tile + 2) ** 2, r.n * r.th * r.tw, r.c])),
    ), ([r, x]) => ({ f: (t) => o.winogradOutPrim(t, { tile: r.tile, batch: r.n, tilesHigh: r.th, tilesWide: r.tw, adjoint: r.adjoint }), inputs: [x] })),
  ],
  col2im: [
    property('col2im (stride, dilation, padding)', im2colArb.chain((r) => fc.tuple(fc.constant(r), hostArb([r.n, r.p.outHeight, r.p.outWidth, r.kh * r.kw * r.c]))), ([r, x]) => ({
      f: (t) => o.col2imPrim(t, { ...r.p, height: r.h, width: r.w }),
      inputs: [x],
    })),
  ],
  transpose: [property('transpose', shapeArb({ minDim: 0 }).chain((s) => fc.tuple(hostArb(s), permArb(s.length))), ([x, perm]) => ({ f: (t) => bind('transpose', [t], { perm }), inputs: [x] }))],
  broadcast: [property('broadcastTo', shapeArb({ minDim: 0 }).chain((out) => fc.tuple(broadcastableTo(out).chain((s) => hostArb(s)), fc.constant(out))), ([x, out]) => ({ f: (t) => o.broadcastTo(t, out), inputs: [x] }))],
  slice: [
    property(
      'slice',
      shapeArb().chain((s) => fc.tuple(hostArb(s), fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: d - b }))))))),
      ([x, spec]) => ({ f: (t) => bind('slice', [t], { begin: spec.map(([b]) => b), size: spec.map(([, n]) => n) }), inputs: [x] }),
    ),
  ],
  pad: [
    property('pad (the constant carries no tangent)', shapeArb({ minDim: 0 }).chain((s) => fc.tuple(hostArb(s), fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))), fc.double({ min: -2, max: 2, noNaN: true }))), ([x, paddings, value]) => ({
      f: (t) => o.pad(t, paddings as [number, number][], value),
      inputs: [x],
    })),
  ],
  concat: [
    property(
      'concat (pieces of different lengths; some without a tangent)',
      shapeAxisArb({ minDim: 0 }).chain(([s, axis]) => fc.tuple(fc.constant(axis), fc.constant(s), fc.array(dimArb({ minDim: 0 }).chain((d) => hostArb(s.map((v, i) => (i === axis ? d : v)))), { minLength: 1, maxLength: 3 }))),
      ([axis, s, pieces]) => ({ f: (...ts) => o.concat([...ts, o.ones(s)], axis), inputs: pieces }),
    ),
  ],
  flip: [property('flip', shapeArb({ minDim: 0 }).chain((s) => fc.tuple(hostArb(s), fc.option(axesArb(s.length), { nil: undefined }))), ([x, axes]) => ({ f: (t) => o.flip(t, axes), inputs: [x] }))],
  gather: [
    property(
      'take (repeated indices of any rank)',
      shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis), shapeArb({ maxRank: 2, maxDim: 4 }).chain((is) => intHost(is, s[axis]! - 1)))),
      ([x, axis, idx]) => ({ f: (t, i) => o.take(t, i!, axis), inputs: [x, idx] }),
    ),
  ],
  scatterAdd: [
    property(
      'scatterAdd (colliding indices)',
      fc
        .record({ pre: shapeArb({ maxRank: 2, maxDim: 3 }), idx: shapeArb({ maxRank: 2, maxDim: 4 }), post: shapeArb({ maxRank: 2, maxDim: 3 }), size: fc.integer({ min: 1, max: 4 }) })
        .chain(({ pre, idx, post, size }) => fc.tuple(hostArb([...pre, ...idx, ...post]), intHost(idx, size - 1), fc.constant(size), fc.constant(pre.length))),
      ([u, idx, size, axis]) => ({ f: (t, i) => o.scatterAdd(t, i!, size, axis), inputs: [u, idx] }),
    ),
  ],
  threefry2x32: { noTangent: (x) => { const k = o.cast(o.abs(x), 'uint32'); return bind('threefry2x32', [k, k, k, k], {}); } },
  reshape: [property('reshape', shapeArb({ minDim: 0 }).chain((s) => hostArb(s)), (x) => ({ f: (t) => o.reshape(t, [-1]), inputs: [x] }))],
};

/** Compositions that exercise several rules at once (ops users call). */
export const compositions: Property[] = [
  ...unary('gelu', o.gelu, { min: -4, max: 4 }),
  ...unary('softplus', o.softplus, { min: -6, max: 6, avoid: [0] }),
  property('softmax and logSoftmax', shapeAxisArb().chain(([s, axis]) => fc.tuple(hostArb(s), fc.constant(axis))), ([x, axis]) => ({ f: (t) => [o.softmax(t, axis), o.logSoftmax(t, axis)], inputs: [x] })),
  property('logSumExp and variance', shapeArb().chain((s) => fc.tuple(hostArb(s), fc.option(axesArb(s.length), { nil: undefined }))), ([x, axes]) => ({ f: (t) => [o.logSumExp(t, axes), o.variance(t, axes)], inputs: [x] })),
  property(
    'conv2d (im2col and matmul; its custom pullback is bypassed by jvp)',
    im2colArb.filter((r) => r.pt === r.pl).chain((r) => fc.tuple(fc.constant(r), hostArb([r.n, r.h, r.w, r.c]), hostArb([r.kh, r.kw, r.c, 2]))),
    ([r, x, w]) => ({ f: (xx, ww) => o.conv2d(xx!, ww!, { stride: [r.sh, r.sw], dilation: [r.dh, r.dw], padding: [r.pt, r.pl] }), inputs: [x, w] }),
  ),
];
