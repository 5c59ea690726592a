/**
 * Counter-based randomness: Threefry-2x32 known answers, JAX's key derivation bit for bit, the device
 * primitive against the host reference, and the statistics of the samplers.
 *
 * Statistical checks use 5-sigma bounds derived from the sample size, so a correct sampler fails one
 * of them with probability ~6e-7 per check, and the keys are fixed, so the suite is deterministic.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import {
  bernoulli,
  bind,
  dispose,
  foldIn,
  getBackend,
  key,
  keyFromWords,
  normal,
  permutation,
  randint,
  randomBits,
  split,
  threefry2x32Block,
  threefry2x32Ops,
  concat,
  scalar,
  tidy,
  uniform,
  uniformHost,
  type Key,
  type Tensor,
} from '../../index.js';
import { describeBackends, primitivesRun, read, upload } from './harness.js';

async function values(make: () => Tensor): Promise<number[]> {
  const t = tidy(make);
  const v = await read(t);
  dispose(t);
  return v;
}

const mean = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
const variance = (xs: readonly number[]) => {
  const m = mean(xs);
  return xs.reduce((s, v) => s + (v - m) ** 2, 0) / xs.length;
};
function correlation(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** JAX's threefry_2x32(key, counts) on the host: the counts' halves are the two lanes. */
function hostBits(k: Key, n: number): number[] {
  const padded = n + (n % 2);
  const half = padded / 2;
  const out = new Array<number>(padded);
  for (let i = 0; i < half; i++) {
    // JAX's threefry_2x32 pads an odd count with a 0 counter.
    const [a, b] = threefry2x32Block(k.words[0], k.words[1], i, half + i < n ? half + i : 0);
    out[i] = a;
    out[half + i] = b;
  }
  return out.slice(0, n);
}

const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
const N = 100_000;

describeBackends('random', () => {
  // Random123's known-answer vectors for Threefry-2x32-20 (its kat_vectors file, as JAX's tests use them).
  const KNOWN: [number[], number[], number[]][] = [
    [[0x00000000, 0x00000000], [0x00000000, 0x00000000], [0x6b200159, 0x99ba4efe]],
    [[0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x1cb996fc, 0xbb002be7]],
    [[0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3], [0xc4923a9c, 0x483df7a0]],
  ];

  it('threefry2x32Block reproduces the Random123 known answers', () => {
    for (const [[k0, k1], [x0, x1], expected] of KNOWN) expect(threefry2x32Block(k0!, k1!, x0!, x1!)).toEqual(expected);
  });

  it('the threefry2x32 primitive reproduces the known answers on the backend', async () => {
    const lane = (j: 0 | 1, part: 0 | 1) => upload({ shape: [3], data: KNOWN.map((row) => row[j]![part]!), dtype: 'uint32' });
    const out = await values(() => bind('threefry2x32', [lane(0, 0), lane(0, 1), lane(1, 0), lane(1, 1)], {}));
    expect(out).toEqual([...KNOWN.map((r) => r[2][0]!), ...KNOWN.map((r) => r[2][1]!)]);
  });

  it('the threefry2x32 primitive equals the host block on random keys and counters (with broadcasting)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(u32, u32), fc.array(fc.tuple(u32, u32, u32), { minLength: 1, maxLength: 40 }), async ([k0, k1], rows) => {
        const n = rows.length;
        // k0 is a broadcast scalar, k1 a per-element lane, counters per element.
        const out = await values(() =>
          bind('threefry2x32', [
            upload({ shape: [], data: [k0], dtype: 'uint32' }),
            upload({ shape: [n], data: rows.map((r) => (r[0] ^ k1) >>> 0), dtype: 'uint32' }),
            upload({ shape: [n], data: rows.map((r) => r[1]), dtype: 'uint32' }),
            upload({ shape: [n], data: rows.map((r) => r[2]), dtype: 'uint32' }),
          ], {}),
        );
        const expected = rows.map((r) => threefry2x32Block(k0, (r[0] ^ k1) >>> 0, r[1], r[2]));
        expect(out).toEqual([...expected.map((e) => e[0]), ...expected.map((e) => e[1])]);
      }),
      { numRuns: 30 },
    );
  });

  it('the threefry2x32 primitive equals its definition on uint32 add/xor/shift ops (threefry2x32Ops), bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(u32, u32), fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 24 }), fc.boolean(), async ([k0, k1], rows, scalarKey) => {
        const n = rows.length;
        const lanes = () => [
          upload({ shape: scalarKey ? [] : [n], data: scalarKey ? [k0] : rows.map((r, i) => (k0 + i * 0x9e3779b9) >>> 0), dtype: 'uint32' }),
          upload({ shape: [], data: [k1], dtype: 'uint32' }),
          upload({ shape: [n], data: rows.map((r) => r[0]), dtype: 'uint32' }),
          upload({ shape: [n], data: rows.map((r) => r[1]), dtype: 'uint32' }),
        ] as const;
        const fused = await values(() => bind('threefry2x32', [...lanes()], {}));
        const composed = await values(() => {
          const [a, b] = threefry2x32Ops(...lanes());
          return concat([a, b], 0);
        });
        expect(composed).toEqual(fused);
      }),
      { numRuns: 20 },
    );
  });

  it('threefry2x32Ops reproduces the Random123 known answers and refuses non-uint32 inputs', async () => {
    const lane = (j: 0 | 1, part: 0 | 1) => upload({ shape: [3], data: KNOWN.map((row) => row[j]![part]!), dtype: 'uint32' });
    const out = await values(() => concat(threefry2x32Ops(lane(0, 0), lane(0, 1), lane(1, 0), lane(1, 1)), 0));
    expect(out).toEqual([...KNOWN.map((r) => r[2][0]!), ...KNOWN.map((r) => r[2][1]!)]);
    expect(() => tidy(() => threefry2x32Ops(scalar(1), scalar(1, 'uint32'), scalar(1, 'uint32'), scalar(1, 'uint32')))).toThrow(/k0 must be uint32, got float32/);
  });

  it("uniform(key(0)) is JAX's random.uniform(PRNGKey(0)) = 0.41845703 (an odd count pads with a 0 counter)", async () => {
    // JAX (jax_threefry_partitionable=False): random.uniform(PRNGKey(0)) == 0.41845703,
    // random.uniform(PRNGKey(0), (3,))[2] comes from the padded block (2, 0), not (2, 3).
    expect(await values(() => uniform(key(0), []))).toEqual([0.41845703125]);
    expect(uniformHost(key(0), 1)).toEqual([0.41845703125]);
    const three = await values(() => randomBits(key(0), [3]));
    expect(three[1]).toBe(threefry2x32Block(0, 0, 1, 0)[0]);
    expect(three[2]).toBe(threefry2x32Block(0, 0, 0, 2)[1]);
  });

  it("split(key(0)) equals JAX's random.split(PRNGKey(0))", () => {
    expect(split(key(0)).map((k) => [...k.words])).toEqual([
      [4146024105, 967050713],
      [2718843009, 1272950319],
    ]);
  });

  it('key(seed) holds the high and low 32 bits of the seed, as PRNGKey does', () => {
    expect(key(0).words).toEqual([0, 0]);
    expect(key(42).words).toEqual([0, 42]);
    expect(key(2 ** 32 + 5).words).toEqual([1, 5]);
    expect(keyFromWords(-1, 2 ** 32 + 3).words).toEqual([0xffffffff, 3]);
    expect(() => key(-1)).toThrow(/key: the seed must be a non-negative safe integer/);
  });

  it('split(k, n) follows JAX: the keys are threefry(k, 0..2n) read in pairs', () => {
    fc.assert(
      fc.property(fc.tuple(u32, u32), fc.integer({ min: 1, max: 9 }), ([a, b], n) => {
        const k = keyFromWords(a, b);
        const bits = hostBits(k, 2 * n);
        expect(split(k, n).map((s) => [...s.words])).toEqual(Array.from({ length: n }, (_, i) => [bits[2 * i], bits[2 * i + 1]]));
      }),
      { numRuns: 30 },
    );
  });

  it('randomBits matches the host threefry counter layout (odd and even sizes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(u32, u32), fc.integer({ min: 0, max: 50 }), async ([a, b], n) => {
        const k = keyFromWords(a, b);
        expect(await values(() => randomBits(k, [n]))).toEqual(hostBits(k, n));
      }),
      { numRuns: 20 },
    );
  });

  it('same key, same numbers; different keys, different numbers', async () => {
    const k = key(1234);
    const [a, b] = split(k);
    expect(await values(() => uniform(k, [64]))).toEqual(await values(() => uniform(k, [64])));
    expect(await values(() => normal(k, [8, 8]))).toEqual(await values(() => normal(k, [8, 8])));
    expect(await values(() => uniform(a!, [64]))).not.toEqual(await values(() => uniform(b!, [64])));
    // The shape does not change the stream: a [2, 32] draw is the [64] draw reshaped.
    expect(await values(() => uniform(k, [2, 32]))).toEqual(await values(() => uniform(k, [64])));
  });

  it('split keys give uncorrelated streams (|ρ| < 5/√n), and so do foldIn neighbours', async () => {
    const ks = split(key(7), 4);
    const streams = await Promise.all(ks.map((k) => values(() => uniform(k, [N]))));
    const folded = await Promise.all([0, 1].map((i) => values(() => normal(foldIn(key(7), i), [N]))));
    const bound = 5 / Math.sqrt(N);
    for (let i = 0; i < streams.length; i++) for (let j = i + 1; j < streams.length; j++) expect(Math.abs(correlation(streams[i]!, streams[j]!))).toBeLessThan(bound);
    expect(Math.abs(correlation(folded[0]!, folded[1]!))).toBeLessThan(bound);
    // Nor is a stream correlated with itself shifted by one (the counter layout does not leak).
    expect(Math.abs(correlation(streams[0]!.slice(1), streams[0]!.slice(0, -1)))).toBeLessThan(bound);
  });

  it('normal has mean 0 and variance 1, and is symmetric with Gaussian tails', async () => {
    const x = await values(() => normal(key(11), [N]));
    expect(x.every(Number.isFinite)).toBe(true);
    // SE(mean) = 1/√n, SE(variance) = √(2/n) for a standard normal.
    expect(Math.abs(mean(x))).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(variance(x) - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    // P(|X| > 2) = 0.0455; its SE is √(p(1−p)/n).
    const p = x.filter((v) => Math.abs(v) > 2).length / N;
    expect(Math.abs(p - 0.0455003)).toBeLessThan(5 * Math.sqrt((0.0455 * 0.9545) / N));
  });

  it('uniform lies in [0, 1) with mean 1/2 and variance 1/12, flat over ten bins', async () => {
    const x = await values(() => uniform(key(12), [N]));
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x)).toBeLessThan(1);
    expect(Math.abs(mean(x) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    // Var((U − ½)²) = 1/80 − 1/144 = 1/180.
    expect(Math.abs(variance(x) - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / N));
    const bins = new Array<number>(10).fill(0);
    for (const v of x) bins[Math.floor(v * 10)]!++;
    // χ² with 9 degrees of freedom: P(χ² > 45) ≈ 1e-6.
    const chi2 = bins.reduce((s, c) => s + (c - N / 10) ** 2 / (N / 10), 0);
    expect(chi2).toBeLessThan(45);
  });

  it('uniform(minval, maxval) stays in [minval, maxval), narrow ranges far from zero and float64 bounds included', async () => {
    // Narrow ranges far from zero are where the affine map rounds a draw up to maxval in float32
    // (seed 552, [7.99, 8) did before the clamp); float64 bounds that float32 cannot hold check that
    // the interval is the real one, not the rounded one.
    const width = fc.oneof(fc.double({ min: 0.01, max: 10, noNaN: true }), fc.constantFrom(1e-3, 1e-5, 2e-6), fc.double({ min: 1e-6, max: 1e-2, noNaN: true }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.double({ min: -10, max: 10, noNaN: true }), width, fc.boolean(), async (seed, lo, w, f32Bounds) => {
        const [a, b] = f32Bounds ? [Math.fround(lo), Math.fround(lo + w)] : [lo, lo + w];
        fc.pre(a < b);
        const x = await values(() => uniform(key(seed), [500], a, b));
        const outside = x.filter((v) => !(v >= a && v < b));
        expect(outside).toEqual([]);
      }),
      { numRuns: 30, examples: [[552, 7.990000476837159, 0.01, true]] },
    );
  });

  it('uniform refuses bounds that are out of order, equal or not finite, naming them', () => {
    for (const [a, b] of [[1, 0], [2, 2], [0, Infinity], [NaN, 1]] as const) {
      expect(() => uniform(key(0), [3], a, b)).toThrow(/uniform: need finite minval < maxval, got minval = .*; pass the bounds in that order/);
    }
    expect(() => uniform(key(0), [3], 1 + 1e-12, 1 + 2e-12)).toThrow(/uniform: no float32 lies in \[1\.000000000001, 1\.000000000002\); widen the range/);
  });

  it('uniform is built from the top 23 bits of each word, and uniformHost reproduces it bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(u32, u32), fc.integer({ min: 1, max: 33 }), async ([a, b], n) => {
        const k = keyFromWords(a, b);
        const f = new Float32Array(1);
        const w = new Uint32Array(f.buffer);
        const expected = hostBits(k, n).map((bits) => {
          w[0] = (bits >>> 9) | 0x3f800000;
          return f[0]! - 1;
        });
        expect(await values(() => uniform(k, [n]))).toEqual(expected);
        expect(uniformHost(k, n)).toEqual(expected);
      }),
      { numRuns: 20 },
    );
  });

  it('bernoulli(p) is true at rate p, with a scalar or a broadcast tensor p', async () => {
    for (const p of [0.01, 0.3, 0.5, 0.9]) {
      const x = await values(() => bernoulli(key(13), p, [N]));
      expect(Math.abs(mean(x) - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    const t = tidy(() => bernoulli(key(14), upload({ shape: [2, 1], data: [0.2, 0.7] }), [2, N / 2]));
    expect(t.dtype).toBe('bool');
    const v = await read(t);
    dispose(t);
    const [r0, r1] = [mean(v.slice(0, N / 2)), mean(v.slice(N / 2))];
    expect(Math.abs(r0 - 0.2)).toBeLessThan(5 * Math.sqrt((0.2 * 0.8) / (N / 2)));
    expect(Math.abs(r1 - 0.7)).toBeLessThan(5 * Math.sqrt((0.7 * 0.3) / (N / 2)));
    expect(await values(() => bernoulli(key(15), 0, [100]))).toEqual(new Array(100).fill(0));
    expect(await values(() => bernoulli(key(15), 1, [100]))).toEqual(new Array(100).fill(1));
  });

  it('foldIn gives a different key for every datum, and deterministically', () => {
    const k = key(99);
    const seen = new Set<string>([k.words.join(',')]);
    for (let i = 0; i < 500; i++) {
      const f = foldIn(k, i);
      expect(foldIn(k, i).words).toEqual(f.words);
      seen.add(f.words.join(','));
    }
    expect(seen.size).toBe(501);
    // foldIn follows JAX: threefry(k, [0, data]).
    const [a, b] = threefry2x32Block(k.words[0], k.words[1], 0, 17);
    expect([...foldIn(k, 17).words]).toEqual([a, b]);
  });

  it('randint covers [lo, hi) uniformly, negative bounds included', async () => {
    for (const [lo, hi] of [[0, 5], [-3, 2], [-10, -7]] as const) {
      const x = await values(() => randint(key(16), [N], lo, hi));
      const n = hi - lo;
      const counts = new Array<number>(n).fill(0);
      expect(x.every((v) => Number.isInteger(v) && v >= lo && v < hi)).toBe(true);
      for (const v of x) counts[v - lo]!++;
      for (const c of counts) expect(Math.abs(c / N - 1 / n)).toBeLessThan(5 * Math.sqrt((1 / n) * (1 - 1 / n) / N));
    }
  });

  it('permutation is a deterministic permutation of 0..n−1', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 60 }), async (seed, n) => {
        const p = await values(() => permutation(key(seed), n));
        expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(await values(() => permutation(key(seed), n))).toEqual(p);
      }),
      { numRuns: 20 },
    );
  });

  it('permutation is uniform: over 2,000 keys, element 0 of 4 lands in each position a quarter of the time', async () => {
    // The keys are fixed, so this is a known answer with a statistical margin, not a flaky draw: χ² with
    // 3 degrees of freedom exceeds 30 with probability ~1e-6 for a uniform permutation. An identity, a
    // reversed or an inconsistently sorted "permutation" puts element 0 in one or two places only.
    const N = 2000;
    const counts = [0, 0, 0, 0];
    const perms = tidy(() => Array.from({ length: N }, (_, s) => permutation(key(s), 4)));
    for (const p of perms) counts[[...(await p.toArray())].indexOf(0)]!++;
    for (const p of perms) p.dispose();
    const chi2 = counts.reduce((sum, c) => sum + (c - N / 4) ** 2 / (N / 4), 0);
    expect(chi2).toBeLessThan(30);
  });

  it('draws of rank 0 and of empty shapes have the requested shape', async () => {
    for (const shape of [[], [0], [3, 0], [1]]) {
      const outs = tidy(() => [uniform(key(5), shape), normal(key(5), shape), bernoulli(key(5), 0.5, shape), randomBits(key(5), shape)]);
      for (const t of outs) expect([...t.shape]).toEqual(shape);
      dispose(outs);
    }
    expect(await values(() => uniform(key(5), []))).toEqual([(await values(() => uniform(key(5), [1])))[0]]);
  });

  it('random draws allocate nothing that outlives them', async () => {
    const { memoryStats } = await import('../../index.js');
    const before = memoryStats();
    const t = tidy(() => o.add(normal(key(1), [10]), uniform(key(2), [10])));
    expect(memoryStats().tensors).toBe(before.tensors + 1);
    dispose(t);
    expect(memoryStats()).toEqual(before);
  });

  it('a clamp that cannot bind costs no pass over the draws: [0, 1), [−8, 8) and normal run no min or max kernel; float32(7.99) to 8 does', () => {
    // uniform computes the extremes of its affine map on the host (unit 0 and 1 − 2⁻²³) and clamps
    // only where they can cross a bound; counted at the backend (`bind` calls `run`).
    const clamps = (draw: () => Tensor) => primitivesRun(draw).filter((p) => p === 'min' || p === 'max');
    expect(clamps(() => uniform(key(1), [64]))).toEqual([]);
    expect(clamps(() => uniform(key(1), [64], -8, 8))).toEqual([]);
    expect(clamps(() => normal(key(1), [64]))).toEqual([]);
    expect(clamps(() => uniform(key(1), [64], Math.fround(7.99), 8))).toEqual(['min']);
    // [1, 2): the largest draw, 2 − 2⁻²³, is the largest float32 below 2: no clamp needed.
    expect(clamps(() => uniform(key(1), [64], 1, 2))).toEqual([]);
    // [1e7, 1e7 + 3): float32 spacing 1 there, so the top sixth of the draws would round to maxval.
    expect(clamps(() => uniform(key(1), [64], 1e7, 1e7 + 3))).toEqual(['min']);
    // float32(0.7) and float32(−0.3) lie below the float64 bounds: unit 0 would draw below minval
    // (and over [0.7, 1) the top draw rounds up to 1 as well).
    expect(clamps(() => uniform(key(1), [64], 0.7, 1))).toEqual(['min', 'max']);
    expect(clamps(() => uniform(key(1), [64], -0.3, 1))).toEqual(['max']);
  });

  it('a range holding a single float32 draws it; randint stays below hi where float32 rounds lo + u·(hi − lo) up to hi', async () => {
    expect(await values(() => uniform(key(2), [16], 1, 1 + 2 ** -23))).toEqual(new Array(16).fill(1));
    // At 2²⁰ float32 steps by 1/8, so every u > 1 − 1/16 rounds 2²⁰ + u up to 2²⁰ + 1 = hi (6% of draws).
    expect(await values(() => randint(key(3), [1000], 2 ** 20, 2 ** 20 + 1))).toEqual(new Array(1000).fill(2 ** 20));
  });

  it('every draw names itself and the problem when its arguments are wrong (the whole message)', () => {
    const k = key(0);
    const notKey = 'the key must be a PRNG key from key(seed), split or foldIn, got the number 3; use key(3)';
    expect(() => randomBits(3 as never, [2])).toThrow(new RegExp(`^randomBits: ${notKey.replace(/[()]/g, '\\$&')}$`));
    expect(() => uniformHost(3 as never, 2)).toThrow(new RegExp(`^uniformHost: ${notKey.replace(/[()]/g, '\\$&')}$`));
    for (const n of [0, -1, 1.5]) expect(() => split(k, n)).toThrow(new RegExp(`^split: n must be a positive integer, got ${n}$`));
    expect(split(k, 1)).toHaveLength(1);
    expect(() => foldIn(k, 1.5)).toThrow(/^foldIn: data must be an integer, got 1\.5$/);
    expect(() => randint(k, [2], 3, 3)).toThrow(/^randint: need integers lo < hi, got \[3, 3\)$/);
    expect(() => randint(k, [2], 0.5, 3)).toThrow(/^randint: need integers lo < hi, got \[0\.5, 3\)$/);
    expect(() => randint(k, [2], 0, 2.5)).toThrow(/^randint: need integers lo < hi, got \[0, 2\.5\)$/);
    // Only an array of keys (a split's result) gets the hint; an empty or mixed array does not.
    const prefix = 'uniform: the key must be a PRNG key from key\\(seed\\), split or foldIn, got an array of';
    expect(() => uniform([] as never, [2])).toThrow(new RegExp(`^${prefix} 0$`));
    expect(() => uniform([k, 3] as never, [2])).toThrow(new RegExp(`^${prefix} 2$`));
    expect(() => uniform([k, k] as never, [2])).toThrow(new RegExp(`^${prefix} 2 keys \\(take one of them: split returns an array\\)$`));
  });
});
