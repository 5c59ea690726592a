/**
 * conv2d by Winograd F(2×2, 3×3) and F(4×4, 3×3): the transforms against the matrices of Lavin & Gray in float64,
 * their adjoints by the dot-product identity, the convolution against a direct float64 one (one tile
 * and odd sizes included: the boundaries where the padding and overhang live), its gradients against
 * finite differences, the 'auto' dispatch, bad requests, and no leaks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { runProgram, WINOGRAD } from '../../core/winograd.js';
import { memoryStats, tidy, valueAndGrad, type Tensor } from '../../index.js';
import { checkGrad, closeTo, describeBackends, errorMessage, hostArb, read, seedArb, upload, type Host } from './harness.js';

/** Bᵀ and Aᵀ per output tile m, as Lavin & Gray print them (F(4×4, 3×3): points 0, ±1, ±2). */
const MATRICES = {
  2: { bt: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], at: [[1, 1, 1, 0], [0, 1, -1, -1]] },
  4: {
    bt: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    at: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
} as const;
const range = (k: number): number[] => Array.from({ length: k }, (_, i) => i);

/** L·X·Rᵀ for small dense matrices (float64). */
function sandwich(l: readonly (readonly number[])[], x: number[][], r: readonly (readonly number[])[]): number[][] {
  const lx = l.map((row) => x[0]!.map((_, j) => row.reduce((s, v, k) => s + v * x[k]![j]!, 0)));
  return lx.map((row) => r.map((rrow) => rrow.reduce((s, v, k) => s + v * row[k]!, 0)));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

/** Direct 3×3 correlation in float64, NHWC × HWIO with explicit padding. */
function directConv(x: Host, w: Host, [n, h, wd, c]: number[], co: number, [pt, pb, pl, pr]: number[]): number[] {
  const ho = h + pt + pb - 2;
  const wo = wd + pl + pr - 2;
  const out: number[] = [];
  for (let b = 0; b < n; b++)
    for (let y = 0; y < ho; y++)
      for (let xo = 0; xo < wo; xo++)
        for (let oc = 0; oc < co; oc++) {
          let s = 0;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = y - pt + ky;
              const ix = xo - pl + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (let ic = 0; ic < c; ic++) s += x.data[((b * h + iy) * wd + ix) * c + ic]! * w.data[((ky * 3 + kx) * c + ic) * co + oc]!;
            }
          out.push(s);
        }
  return out;
}

describeBackends('Winograd F(2×2, 3×3) and F(4×4, 3×3)', () => {
  /** Image sizes from 1×1, padding 0-2 and tile grids from one tile: tiles may reach past the image (zeros there). */
  const inArb = fc.record({ n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }), pt: fc.integer({ min: 0, max: 2 }), pl: fc.integer({ min: 0, max: 2 }), th: fc.integer({ min: 1, max: 3 }), tw: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 1, max: 9 }) });
  const inParams = (tile: 2 | 4, g: { n: number; h: number; w: number; pt: number; pl: number; th: number; tw: number }, adjoint: boolean) =>
    ({ tile, batch: g.n, height: g.h, width: g.w, padTop: g.pt, padLeft: g.pl, tilesHigh: g.th, tilesWide: g.tw, adjoint });

  const convArb = fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      // 1 and 2 are one tile with overhang; odd sizes leave a last tile half outside the output.
      h: fc.integer({ min: 1, max: 7 }),
      w: fc.integer({ min: 1, max: 7 }),
      c: fc.integer({ min: 1, max: 6 }),
      co: fc.integer({ min: 1, max: 5 }),
      pads: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    })
    .filter((p) => p.h + p.pads[0] + p.pads[1] >= 3 && p.w + p.pads[2] + p.pads[3] >= 3);

  for (const tile of [2, 4] as const) {
  const alpha = tile + 2;
  const { bt: BT, at: AT } = MATRICES[tile];

  it(`F(${tile}×${tile}): the data transform is Bᵀ d B of the zero-padded tile and the output transform Aᵀ m A (float64 matrices)`, async () => {
    await fc.assert(
      fc.asyncProperty(inArb.chain((g) => fc.tuple(fc.constant(g), hostArb([g.n, g.h, g.w, g.c]), hostArb([alpha * alpha, g.n * g.th * g.tw, g.c]))), async ([g, x, m]) => {
        const tiles = g.n * g.th * g.tw;
        const v = await read(tidy(() => o.winogradInPrim(upload(x), inParams(tile, g, false))));
        const y = await read(tidy(() => o.winogradOutPrim(upload(m), { tile, batch: g.n, tilesHigh: g.th, tilesWide: g.tw, adjoint: false })));
        const pixel = (b: number, yy: number, xx: number, ch: number): number => (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w ? x.data[((b * g.h + yy) * g.w + xx) * g.c + ch]! : 0);
        for (let b = 0; b < g.n; b++)
          for (let ty = 0; ty < g.th; ty++)
            for (let tx = 0; tx < g.tw; tx++)
              for (let ch = 0; ch < g.c; ch++) {
                const t = (b * g.th + ty) * g.tw + tx;
                const d = range(alpha).map((i) => range(alpha).map((j) => pixel(b, tile * ty + i - g.pt, tile * tx + j - g.pl, ch)));
                const want = sandwich(BT, d, BT).flat();
                // F(4×4)'s sums have up to 10 terms of coefficients up to 5 (Σ|Bᵀ| per row ≤ 10, so ≤ 100
                // per entry): a few float32 ulps of that scale.
                const tol = tile === 2 ? 1e-6 : 2e-5;
                closeTo(want.map((_, e) => v[(e * tiles + t) * g.c + ch]!), want, { rtol: tol, atol: tol, label: 'Bᵀ d B' });
                const mt = range(alpha).map((a) => range(alpha).map((e) => m.data[((alpha * a + e) * tiles + t) * g.c + ch]!));
                const wantY = sandwich(AT, mt, AT).flat();
                const gotY = range(tile).flatMap((r) => range(tile).map((s) => y[((b * tile * g.th + tile * ty + r) * tile * g.tw + tile * tx + s) * g.c + ch]!));
                closeTo(gotY, wantY, { rtol: tol, atol: tol, label: 'Aᵀ m A' });
              }
      }),
      { numRuns: 15 },
    );
  });

  it(`F(${tile}×${tile}): each adjoint is the transpose: ⟨T x, y⟩ = ⟨x, Tᵀ y⟩ for both transforms`, async () => {
    await fc.assert(
      fc.asyncProperty(
        inArb.chain((g) => fc.tuple(fc.constant(g), hostArb([g.n, g.h, g.w, g.c]), hostArb([alpha * alpha, g.n * g.th * g.tw, g.c]), hostArb([g.n, tile * g.th, tile * g.tw, g.c]))),
        async ([g, img, tiles, out]) => {
          const pout = { tile, batch: g.n, tilesHigh: g.th, tilesWide: g.tw, adjoint: false };
          const [tx, tty, to, toy] = await Promise.all(
            tidy(() => [o.winogradInPrim(upload(img), inParams(tile, g, false)), o.winogradInPrim(upload(tiles), inParams(tile, g, true)), o.winogradOutPrim(upload(tiles), pout), o.winogradOutPrim(upload(out), { ...pout, adjoint: true })]).map(read),
          );
          const lhsIn = dot(tx!, tiles.data);
          const rhsIn = dot(img.data, tty!);
          expect(Math.abs(lhsIn - rhsIn)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(lhsIn)) * Math.sqrt(tiles.data.length));
          const lhsOut = dot(to!, out.data);
          const rhsOut = dot(tiles.data, toy!);
          expect(Math.abs(lhsOut - rhsOut)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(lhsOut)) * Math.sqrt(out.data.length));
        },
      ),
      { numRuns: 15 },
    );
  });

  const algorithm = tile === 2 ? 'winograd' : 'winograd4x4';
  it(`F(${tile}×${tile}): conv2d with Winograd equals a direct float64 convolution (explicit and same padding, one tile, odd sizes)`, async () => {
    await fc.assert(
      fc.asyncProperty(convArb.chain((p) => fc.tuple(fc.constant(p), hostArb([p.n, p.h, p.w, p.c]), hostArb([3, 3, p.c, p.co]))), async ([p, x, w]) => {
        const [pt, pb, pl, pr] = p.pads;
        const got = tidy(() => o.conv2d(upload(x), upload(w), { padding: [[pt, pb], [pl, pr]], algorithm }));
        expect(got.shape).toEqual([p.n, p.h + pt + pb - 2, p.w + pl + pr - 2, p.co]);
        // F(2×2): the transformed sums reassociate 9·C products into 16 terms of up to 4 inputs and 4
        // weights: a few ulps of Σ|x||w| (≤ 9·C·3·3 here), so 1e-5 relative.
        // F(4×4): 36 terms whose transforms scale by up to 10 (Bᵀ), 1/4-1/6 (G) and 21 (Aᵀ) per axis,
        // so intermediate sums are up to ~10² larger than the output and the rounding errors with
        // them (Lavin & Gray measure ~10× F(2×2)'s error in float32): 1e-4 relative.
        // Absolute, an output carries the rounding of its whole tile, whatever its own size. Over 60,000
        // draws of this generator on cpu and on wasm, F(2×2) reached 1.4·2⁻²¹·max|x|·max|w|·C (1.6e-5)
        // and over 40,000 F(4×4) 1.8·2⁻¹⁷·max|x|·max|w|·C (3.5e-4). FC_SEED sweeps drew cases past the
        // flat absolute tolerances used before (1e-5, 1e-4) on wasm: seed 13 ×200 an F(2×2) output 1.2e-5
        // off (C = 6), seed 209 ×10 an F(4×4) output of exactly 0 computed as −1.3e-4 (C = 4).
        // 2⁻¹⁹ and 2⁻¹⁵ times max|x|·max|w|·C leave 2.8× and 2.2× headroom.
        const tol = tile === 2 ? 1e-5 : 1e-4;
        const maxAbs = (h: Host) => Math.max(0, ...Array.from(h.data, Math.abs));
        const atol = (tile === 2 ? 2 ** -19 : 2 ** -15) * maxAbs(x) * maxAbs(w) * p.c;
        closeTo(await read(got), directConv(x, w, [p.n, p.h, p.w, p.c], p.co, p.pads), { rtol: tol, atol, label: 'winograd conv2d' });
        got.dispose();
      }),
      { numRuns: 25, examples: [[[{ n: 1, h: 1, w: 1, c: 1, co: 1, pads: [1, 1, 1, 1] }, { shape: [1, 1, 1, 1], data: [2] }, { shape: [3, 3, 1, 1], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] }]]] },
    );
  });

  it(`F(${tile}×${tile}): conv2d with Winograd: gradients of the input and the weights match finite differences`, async () => {
    await fc.assert(
      fc.asyncProperty(convArb.chain((p) => fc.tuple(fc.constant(p), hostArb([p.n, p.h, p.w, p.c]), hostArb([3, 3, p.c, p.co]))), seedArb, async ([p, x, w], seed) => {
        const [pt, pb, pl, pr] = p.pads;
        // conv2d is bilinear, so along any direction the loss is a polynomial of degree ≤ 2 and the
        // fourth-order stencil is exact at any step: h = 2⁻² (still on the inputs' grid) instead of the
        // default 2⁻⁷ divides the rounding noise the difference amplifies (Σ|stencil|/h) by 32. F(4×4)'s
        // outputs carry rounding of their whole 6×6 tile (measured up to 1.8·2⁻¹⁷·max|x|·max|w|·C absolute,
        // ~2⁷ ulps), which at h = 2⁻⁷ broke the default noise bound in ~1 of 300 draws on wasm and once
        // on WebGPU in CI; at 2⁻² none of 1,000 wasm draws did. The tolerances on the VJP are the defaults.
        await checkGrad((xx, ww) => o.conv2d(xx!, ww!, { padding: [[pt, pb], [pl, pr]], algorithm }), [x, w], { seed, h: 2 ** -2, name: `${algorithm} conv2d` });
      }),
      { numRuns: 15 },
    );
  });

  it(`F(${tile}×${tile}): keeping the transformed input for the backward pass or recomputing it gives the same value and gradients, bit for bit`, async () => {
    await fc.assert(
      fc.asyncProperty(convArb.chain((p) => fc.tuple(fc.constant(p), hostArb([p.n, p.h, p.w, p.c]), hostArb([3, 3, p.c, p.co]), hostArb([p.n, p.h + p.pads[0]! + p.pads[1]! - 2, p.w + p.pads[2]! + p.pads[3]! - 2, p.co]))), async ([p, x, w, cotangent]) => {
        const [pt, pb, pl, pr] = p.pads;
        const r = upload(cotangent);
        const loss = ([a, b]: Tensor[]) => o.sum(o.mul(o.conv2d(a!, b!, { padding: [[pt, pb], [pl, pr]], algorithm }), r));
        const run = async (limit: number): Promise<Float32Array[]> => {
          const previous = o.setWinogradKeepLimit(limit);
          try {
            const [xs, ws] = [upload(x), upload(w)];
            const [value, [gx, gw]] = valueAndGrad(loss)([xs, ws]);
            const out = [new Float32Array(await read(value)), new Float32Array(await read(gx!)), new Float32Array(await read(gw!))];
            for (const t of [xs, ws, value, gx!, gw!]) t.dispose();
            return out;
          } finally {
            o.setWinogradKeepLimit(previous);
          }
        };
        const [kept, recomputed] = [await run(Infinity), await run(0)];
        r.dispose();
        kept.forEach((k, i) => expect(Array.from(k), ['value', 'd/dx', 'd/dw'][i]).toEqual(Array.from(recomputed[i]!)));
      }),
      { numRuns: 15 },
    );
  });
  }

  it("'auto' takes F(4×4) for 3×3 outputs of 4×4 and up at any channel count, F(2×2) below with enough channels, im2col otherwise and for other kernels", async () => {
    const k = o.WINOGRAD_MIN_CHANNELS;
    const run = async (shape: number[], wShape: number[], algorithm: o.ConvAlgorithm, stride = 1): Promise<number[]> => {
      const y = tidy(() => o.conv2d(o.sin(o.reshape(o.arange(0, shape.reduce((a, b) => a * b, 1)), shape)), o.cos(o.reshape(o.arange(0, wShape.reduce((a, b) => a * b, 1)), wShape)), { padding: 'same', algorithm, stride }));
      const values = await read(y);
      y.dispose();
      return values;
    };
    const big = [1, 6, 6, k];
    const bigW = [3, 3, k, k];
    const [auto, wino4, wino, i2c] = await Promise.all([run(big, bigW, 'auto'), run(big, bigW, 'winograd4x4'), run(big, bigW, 'winograd'), run(big, bigW, 'im2col')]);
    expect(auto).toEqual(wino4);
    // Not vacuous: the three algorithms round differently somewhere.
    expect(wino).not.toEqual(i2c);
    expect(wino4).not.toEqual(wino);
    // An output smaller than F(4×4)'s tiles takes F(2×2).
    const tiny = [1, 3, 3, k];
    expect(await run(tiny, bigW, 'auto')).toEqual(await run(tiny, bigW, 'winograd'));
    expect(await run(tiny, bigW, 'winograd')).not.toEqual(await run(tiny, bigW, 'winograd4x4'));
    // Few channels: F(4×4) still for a 6×6 output (one channel in, one out: the demo's stem and head),
    // im2col for a 3×3 one (F(2×2) there needs WINOGRAD_MIN_CHANNELS each way).
    const narrow = [1, 6, 6, 1];
    const narrowW = [3, 3, 1, 1];
    expect(await run(narrow, narrowW, 'auto')).toEqual(await run(narrow, narrowW, 'winograd4x4'));
    expect(await run(narrow, narrowW, 'winograd4x4')).not.toEqual(await run(narrow, narrowW, 'im2col'));
    const small = [1, 3, 3, k - 1];
    const smallW = [3, 3, k - 1, k];
    expect(await run(small, smallW, 'auto')).toEqual(await run(small, smallW, 'im2col'));
    expect(await run(small, smallW, 'winograd')).not.toEqual(await run(small, smallW, 'im2col'));
    expect(await run(big, bigW, 'auto', 2)).toEqual(await run(big, bigW, 'im2col', 2));
  });

  it('setConvAlgorithm sets the default of calls that name none, returns the previous one, and refuses unknown names', async () => {
    const x = o.sin(o.reshape(o.arange(0, 2 * 4 * 4 * 3), [2, 4, 4, 3]));
    const w = o.cos(o.reshape(o.arange(0, 3 * 3 * 3 * 2), [3, 3, 3, 2]));
    const values = async (options: o.Conv2dOptions): Promise<number[]> => {
      const y = o.conv2d(x, w, { padding: 'same', ...options });
      const v = await read(y);
      y.dispose();
      return v;
    };
    const [i2c, wino] = [await values({ algorithm: 'im2col' }), await values({ algorithm: 'winograd' })];
    expect(wino).not.toEqual(i2c);
    expect(o.setConvAlgorithm('winograd')).toBe('auto');
    try {
      expect(await values({})).toEqual(wino);
      // A default of 'winograd' leaves the kernels it cannot do to im2col instead of failing.
      expect(await values({ stride: 2 })).toEqual(await values({ stride: 2, algorithm: 'im2col' }));
      expect(o.setConvAlgorithm('im2col')).toBe('winograd');
      expect(await values({})).toEqual(i2c);
    } finally {
      o.setConvAlgorithm('auto');
    }
    expect(errorMessage(() => o.setConvAlgorithm('fast' as 'auto'))).toMatch(/setConvAlgorithm: expected 'auto', 'im2col', 'winograd' or 'winograd4x4', got fast/);
    x.dispose();
    w.dispose();
  });

  it('refuses Winograd where it does not apply, and an unknown algorithm, naming the fix', () => {
    const x = o.zeros([1, 5, 5, 2]);
    expect(errorMessage(() => o.conv2d(x, o.zeros([5, 5, 2, 1]), { algorithm: 'winograd' }))).toMatch(/conv2d: algorithm 'winograd' needs a 3×3 kernel with stride 1 and dilation 1, got 5×5, stride 1×1, dilation 1×1; use 'im2col' or 'auto'/);
    expect(errorMessage(() => o.conv2d(x, o.zeros([3, 3, 2, 1]), { algorithm: 'winograd', stride: 2 }))).toMatch(/stride 2×2/);
    expect(errorMessage(() => o.conv2d(x, o.zeros([3, 3, 2, 1]), { algorithm: 'winograd4x4', dilation: 2 }))).toMatch(/conv2d: algorithm 'winograd4x4' needs a 3×3 kernel with stride 1 and dilation 1, got 3×3, stride 1×1, dilation 2×2/);
    expect(errorMessage(() => o.conv2d(x, o.zeros([3, 3, 2, 1]), { algorithm: 'fft' as 'auto' }))).toMatch(/conv2d: algorithm must be 'auto', 'im2col', 'winograd' or 'winograd4x4', got fft/);
    x.dispose();
  });

  it.each([['kept', Infinity], ['recomputed', 0]] as const)('200 Winograd training steps keep the live tensors flat (transformed input %s)', (_, limit) => {
    const previous = o.setWinogradKeepLimit(limit);
    const x = o.sin(o.reshape(o.arange(0, 2 * 6 * 6 * 3), [2, 6, 6, 3]));
    const step = valueAndGrad(([a, b]: Tensor[]) => o.sum(o.square(o.conv2d(a!, b!, { padding: 'same', algorithm: 'winograd' }))));
    let w = o.cos(o.reshape(o.arange(0, 3 * 3 * 3 * 4), [3, 3, 3, 4]));
    const counts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const next = tidy(() => {
        const [, [, gw]] = step([x, w]);
        return o.sub(w, o.mul(gw!, 1e-4));
      });
      w.dispose();
      w = next;
      counts.push(memoryStats().tensors);
    }
    expect(counts[199]).toBe(counts[9]);
    w.dispose();
    x.dispose();
    o.setWinogradKeepLimit(previous);
  });
});

describe('the transforms as linear programs (core/winograd.ts)', () => {
  // Each program against its matrix in float64 (no rounding): Bᵀ's rows, B = Bᵀ's columns, Aᵀ's rows, A = Aᵀ's columns.
  const transposed = (mat: readonly (readonly number[])[]): number[][] => mat[0]!.map((_, j) => mat.map((row) => row[j]!));
  for (const tile of [2, 4] as const) {
    const { bt, b, at, a } = WINOGRAD[tile];
    const cases = [['Bᵀ', bt, MATRICES[tile].bt], ['B', b, transposed(MATRICES[tile].bt)], ['Aᵀ', at, MATRICES[tile].at], ['A', a, transposed(MATRICES[tile].at)]] as const;
    for (const [name, program, matrix] of cases) {
      it(`F(${tile}×${tile}) ${name}: the program computes the matrix's rows, every coefficient a power of two`, () => {
        expect(program.outputs.length).toBe(matrix.length);
        expect(program.inputs).toBe(matrix[0]!.length);
        for (const step of program.steps) for (const [, c] of step) expect(Math.log2(Math.abs(c)) % 1).toBe(0);
        fc.assert(
          fc.property(fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: program.inputs, maxLength: program.inputs }), (x) => {
            const got = runProgram(program, (i) => x[i]!, (v) => v);
            matrix.forEach((row, q) => expect(got[q]).toBeCloseTo(row.reduce((acc, m, i) => acc + m * x[i]!, 0), 9));
          }),
          { numRuns: 50 },
        );
      });
    }
  }

  it('F(4×4) shares work: Bᵀ in 12 additions instead of 18, Aᵀ in 10 instead of 14', () => {
    const { bt, at } = WINOGRAD[4];
    const terms = (p: typeof bt): number => p.steps.reduce((n, s) => n + s.length - 1, 0);
    expect(terms(bt)).toBe(12); // additions; the direct rows (5 written 4 + 1) take 6 × 3 = 18
    expect(terms(at)).toBe(10); // the direct rows take 4 + 3 + 3 + 4 = 14
  });
});
