/**
 * The CPU backend's hand-tuned kernels against the plainest possible loops: matmul (packed GEMM and
 * the direct path) for every transpose combination, odd sizes, sizes that do not fill a tile, batch
 * broadcasting and k = 0; and sum / max over random sets of axes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../backends/cpu/index.js';
import { sizeOf, stridesOf, type BackendBuffer } from '../../core/index.js';

const backend = createCpuBackend();

function upload(values: Float32Array): BackendBuffer {
  return backend.upload(values, 'float32');
}

function run(prim: 'matmul' | 'sum' | 'reduceMax' | 'im2col' | 'col2im' | 'transpose', inputs: { values: Float32Array; shape: number[] }[], params: never, outShape: number[]): Float32Array {
  const buffers = inputs.map((x) => upload(x.values));
  const out = backend.run(prim, inputs.map((x, i) => ({ buffer: buffers[i]!, shape: x.shape, dtype: 'float32' as const })), params, { shape: outShape, dtype: 'float32' });
  const values = backend.readSync!(out, 'float32', sizeOf(outShape)) as Float32Array;
  for (const b of [...buffers, out]) backend.free(b);
  return values;
}

/** Small integers keep every product and sum exact in float32, so results must match bit for bit. */
function values(seed: number, n: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s >>> 28) - 8;
  }
  return v;
}

function naiveMatmul(a: Float32Array, b: Float32Array, batch: number, batchA: number, batchB: number, m: number, n: number, k: number, transA: boolean, transB: boolean): Float32Array {
  const out = new Float32Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = batchA === 1 ? 0 : t * m * k;
    const bo = batchB === 1 ? 0 : t * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + (transA ? p * m + i : i * k + p)]! * b[bo + (transB ? j * k + p : p * n + j)]!;
        out[(t * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

const dim = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 140 }));

describe('cpu kernels: matmul', () => {
  it('matmul: every transpose combination, batch broadcasting and size equals the triple loop', () => {
    fc.assert(
      fc.property(
        dim, dim, dim, fc.boolean(), fc.boolean(),
        fc.constantFrom<[number, number]>([1, 1], [3, 3], [1, 3], [3, 1]),
        fc.integer(),
        (m, n, k, transA, transB, [batchA, batchB], seed) => {
          const batch = Math.max(batchA, batchB);
          const a = values(seed, batchA * m * k);
          const b = values(seed ^ 0x5bd1e995, batchB * k * n);
          const got = run('matmul', [
            { values: a, shape: transA ? [batchA, k, m] : [batchA, m, k] },
            { values: b, shape: transB ? [batchB, n, k] : [batchB, k, n] },
          ], { transA, transB } as never, [batch, m, n]);
          expect(got).toEqual(naiveMatmul(a, b, batch, batchA, batchB, m, n, k, transA, transB));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('matmul: sizes that span several KC/MC/NC blocks equal the triple loop', () => {
    for (const [m, n, k, transA, transB] of [
      [97, 1030, 300, false, false],
      [193, 65, 517, true, false],
      [101, 1027, 259, false, true],
      [5, 7, 1000, true, true],
    ] as const) {
      const a = values(m, m * k);
      const b = values(n, k * n);
      const got = run('matmul', [
        { values: a, shape: transA ? [1, k, m] : [1, m, k] },
        { values: b, shape: transB ? [1, n, k] : [1, k, n] },
      ], { transA, transB } as never, [1, m, n]);
      expect(got).toEqual(naiveMatmul(a, b, 1, 1, 1, m, n, k, transA, transB));
    }
  });

  it('matmul: k = 0 gives zeros, even in a reused buffer', () => {
    // Leave garbage in the pool first, so a kernel that forgets to clear would be caught.
    const junk = upload(new Float32Array(64).fill(7));
    backend.free(junk);
    const got = run('matmul', [{ values: new Float32Array(0), shape: [2, 4, 0] }, { values: new Float32Array(0), shape: [1, 0, 5] }], { transA: false, transB: false } as never, [2, 4, 5]);
    expect(got).toEqual(new Float32Array(40));
  });
});

function naiveReduce(x: Float32Array, shape: number[], axes: number[], kind: 'sum' | 'max'): Float32Array {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const out = new Float32Array(sizeOf(outShape)).fill(kind === 'sum' ? 0 : -Infinity);
  const outStrides = stridesOf(outShape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    let d = 0;
    for (let ax = 0; ax < shape.length; ax++) if (!axes.includes(ax)) o += idx[ax]! * outStrides[d++]!;
    out[o] = kind === 'sum' ? out[o]! + x[i]! : Math.max(out[o]!, x[i]!);
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      if (++idx[ax]! < shape[ax]!) break;
      idx[ax] = 0;
    }
  }
  return out;
}

describe('cpu kernels: reductions', () => {
  it('sum and max over a random set of axes equal the plain loop', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        fc.constantFrom<'sum' | 'max'>('sum', 'max'),
        fc.integer(),
        (shape, pick, kind, seed) => {
          const axes = shape.map((_, i) => i).filter((i) => pick[i]);
          const x = values(seed, sizeOf(shape));
          const got = run(kind === 'sum' ? 'sum' : 'reduceMax', [{ values: x, shape }], { axes } as never, shape.filter((_, i) => !axes.includes(i)));
          expect(got).toEqual(naiveReduce(x, shape, axes, kind));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sum over large leading, middle and trailing axes equals the plain loop', () => {
    for (const [shape, axes] of [
      [[300, 70], [0]],
      [[70, 300], [1]],
      [[9, 130, 11], [1]],
      [[9, 130, 11], [0, 2]],
      [[4, 5, 6, 7], [0, 1, 3]],
    ] as [number[], number[]][]) {
      const x = values(shape.length, sizeOf(shape));
      const got = run('sum', [{ values: x, shape }], { axes } as never, shape.filter((_, i) => !axes.includes(i)));
      expect(got).toEqual(naiveReduce(x, shape, axes, 'sum'));
    }
  });
});

describe('cpu kernels: im2col, col2im, transpose', () => {
  const conv = fc.record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    c: fc.integer({ min: 1, max: 5 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    pt: fc.integer({ min: 0, max: 2 }),
    pl: fc.integer({ min: 0, max: 2 }),
    pb: fc.integer({ min: 0, max: 2 }),
    pr: fc.integer({ min: 0, max: 2 }),
    seed: fc.integer(),
  });

  it('im2col equals the patch-by-patch definition, and col2im is its adjoint', () => {
    fc.assert(
      fc.property(conv, ({ n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, seed }) => {
        const outHeight = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
        const outWidth = Math.floor((w + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
        fc.pre(outHeight > 0 && outWidth > 0);
        const p = { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight, outWidth, dilationHeight: dh, dilationWidth: dw };
        const x = values(seed, n * h * w * c);
        const colShape = [n, outHeight, outWidth, kh * kw * c];
        const cols = run('im2col', [{ values: x, shape: [n, h, w, c] }], p as never, colShape);
        const expected = new Float32Array(sizeOf(colShape));
        let o = 0;
        for (let b = 0; b < n; b++)
          for (let y = 0; y < outHeight; y++)
            for (let xo = 0; xo < outWidth; xo++)
              for (let ky = 0; ky < kh; ky++)
                for (let kx = 0; kx < kw; kx++)
                  for (let ch = 0; ch < c; ch++, o++) {
                    const iy = y * sh - pt + ky * dh;
                    const ix = xo * sw - pl + kx * dw;
                    expected[o] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[((b * h + iy) * w + ix) * c + ch]! : 0;
                  }
        expect(cols).toEqual(expected);
        // ⟨im2col(x), g⟩ = ⟨x, col2im(g)⟩, exactly, on small integers.
        const g = values(seed ^ 0x9e3779b9, expected.length);
        const back = run('col2im', [{ values: g, shape: colShape }], { ...p, height: h, width: w } as never, [n, h, w, c]);
        let lhs = 0;
        let rhs = 0;
        for (let i = 0; i < g.length; i++) lhs += cols[i]! * g[i]!;
        for (let i = 0; i < x.length; i++) rhs += x[i]! * back[i]!;
        expect(rhs).toBe(lhs);
      }),
      { numRuns: 200 },
    );
  });

  it('transpose by a random permutation moves every element to its permuted index', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
          fc.tuple(fc.constant(shape), fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length })),
        ),
        fc.integer(),
        ([shape, perm], seed) => {
          fc.pre(sizeOf(shape) <= 20000);
          const x = values(seed, sizeOf(shape));
          const outShape = perm.map((p) => shape[p]!);
          const got = run('transpose', [{ values: x, shape }], { perm } as never, outShape);
          const outStrides = stridesOf(outShape);
          const expected = new Float32Array(x.length);
          const idx = new Array<number>(shape.length).fill(0);
          for (let i = 0; i < x.length; i++) {
            let o = 0;
            perm.forEach((p, k) => (o += idx[p]! * outStrides[k]!));
            expected[o] = x[i]!;
            for (let ax = shape.length - 1; ax >= 0; ax--) {
              if (++idx[ax]! < shape[ax]!) break;
              idx[ax] = 0;
            }
          }
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('max over an axis holding a NaN is NaN there and only there', () => {
    const x = values(3, 12);
    x[5] = NaN;
    const got = run('reduceMax', [{ values: x, shape: [3, 4] }], { axes: [1] } as never, [3]);
    expect(Number.isNaN(got[1])).toBe(true);
    expect(got[0]).toBe(Math.max(...x.slice(0, 4)));
    expect(got[2]).toBe(Math.max(...x.slice(8, 12)));
    const cols = run('reduceMax', [{ values: x, shape: [3, 4] }], { axes: [0] } as never, [4]);
    expect(Number.isNaN(cols[1])).toBe(true);
    expect([0, 2, 3].every((j) => cols[j] === Math.max(x[j]!, x[4 + j]!, x[8 + j]!))).toBe(true);
  });
});
