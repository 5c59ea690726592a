import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  frechetDistance,
  frechetDistanceBruteForce,
  fsdBruteForce,
  fsdFromArrays,
  mse,
  psnr,
  selectChannel,
  singularValues,
  spectralFeatures,
  ssim,
  symmetricEigen,
} from '../../experiments/metrics';
import { mulberry32 } from '../../experiments/kolmogorov';

interface FrameSet {
  readonly data: Float64Array;
  readonly n: number;
}

function randomFrames(seed: number, n: number, h: number, w: number): FrameSet {
  const rng = mulberry32(seed);
  return { data: Float64Array.from({ length: n * h * w }, () => 4 * rng() - 2), n };
}

/** ‖f̄₁ − f̄₂‖² + tr Σ₁ + tr Σ₂ on the spectral features: the natural scale of an FSD value. */
function fsdScale(a: FrameSet, b: FrameSet, h: number, w: number): number {
  const d = h * w;
  const fa = spectralFeatures(a.data, a.n, h, w);
  const fb = spectralFeatures(b.data, b.n, h, w);
  let total = 0;
  for (let p = 0; p < d; p++) {
    let ma = 0;
    let mb = 0;
    for (let s = 0; s < a.n; s++) ma += fa[s * d + p] / a.n;
    for (let s = 0; s < b.n; s++) mb += fb[s * d + p] / b.n;
    total += (ma - mb) ** 2;
    for (let s = 0; s < a.n; s++) total += (fa[s * d + p] - ma) ** 2 / (a.n - 1);
    for (let s = 0; s < b.n; s++) total += (fb[s * d + p] - mb) ** 2 / (b.n - 1);
  }
  return total;
}

function circularShift(set: FrameSet, h: number, w: number, dy: number, dx: number): FrameSet {
  const out = new Float64Array(set.data.length);
  for (let s = 0; s < set.n; s++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        out[s * h * w + ((i + dy) % h) * w + ((j + dx) % w)] = set.data[s * h * w + i * w + j];
      }
    }
  }
  return { data: out, n: set.n };
}

const sides = fc.constantFrom(2, 4, 8);
const smallSets = fc.record({
  h: sides,
  w: sides,
  n1: fc.integer({ min: 2, max: 8 }),
  n2: fc.integer({ min: 2, max: 8 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

describe('MSE and PSNR', () => {
  it('known values', () => {
    expect(mse([0, 0, 0, 0], [1, 1, 1, 1])).toBe(1);
    expect(mse([1, 2, 3], [1, 2, 5])).toBeCloseTo(4 / 3, 15);
    expect(psnr([0, 0], [1, 1], 1)).toBeCloseTo(0, 12);
    expect(psnr([0, 0], [0.1, 0.1], 1)).toBeCloseTo(20, 10);
    expect(psnr([0, 0], [25.5, 25.5], 255)).toBeCloseTo(20, 10);
    expect(psnr([0.3, 0.4], [0.3, 0.4])).toBe(Infinity);
    expect(() => mse([1], [1, 2])).toThrow(/lengths 1 and 2/);
  });
});

describe('SSIM', () => {
  const h = 16;
  const w = 20;
  const a = new Float64Array(h * w);
  const b = new Float64Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      a[i * w + j] = 0.5 + 0.4 * Math.sin(0.3 * i + 0.7 * j);
      b[i * w + j] = Math.min(1, Math.max(0, a[i * w + j] + 0.1 * Math.cos(1.3 * i * j + 0.5 * i)));
    }
  }

  it('ssim: matches skimage (gaussian_weights, σ=1.5, population covariance) on a fixed pair', () => {
    // Golden value from skimage's algorithm (scipy gaussian_filter, mode 'reflect', truncate 3.5, border 5 cropped).
    expect(ssim(a, b, h, w, 1)).toBeCloseTo(0.9607113207703353, 12);
  });

  it('ssim: 1 on identical images, below 1 on noisy ones, symmetric', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(1, 3), (seed, channels) => {
        const rng = mulberry32(seed);
        const x = Float64Array.from({ length: 12 * 14 * channels }, () => rng());
        const y = x.map((v) => Math.min(1, Math.max(0, v + 0.2 * (rng() - 0.5))));
        expect(ssim(x, x, 12, 14, channels)).toBeCloseTo(1, 12);
        const s = ssim(x, y, 12, 14, channels);
        expect(s).toBeLessThan(1);
        expect(s).toBeGreaterThan(-1);
        expect(ssim(y, x, 12, 14, channels)).toBeCloseTo(s, 14);
      }),
      { numRuns: 20 },
    );
  });

  it('ssim: constant images give (2ab + C1)/(a² + b² + C1)', () => {
    const x = new Float64Array(11 * 11).fill(0.2);
    const y = new Float64Array(11 * 11).fill(0.6);
    const c1 = 0.01 ** 2;
    expect(ssim(x, y, 11, 11)).toBeCloseTo((2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1), 12);
    expect(ssim(x.map((v) => v * 255), y.map((v) => v * 255), 11, 11, 1, { dataRange: 255 })).toBeCloseTo(
      (2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1),
      12,
    );
  });

  it('ssim: channels are interleaved (HWC) and averaged', () => {
    const both = new Float64Array(h * w * 2);
    const other = new Float64Array(h * w * 2);
    for (let p = 0; p < h * w; p++) {
      both[2 * p] = a[p];
      both[2 * p + 1] = a[p];
      other[2 * p] = b[p];
      other[2 * p + 1] = a[p];
    }
    expect(ssim(both, other, h, w, 2)).toBeCloseTo((ssim(a, b, h, w) + 1) / 2, 12);
  });

  it('ssim: images smaller than the window are refused', () => {
    expect(() => ssim(new Float64Array(100), new Float64Array(100), 10, 10)).toThrow(/smaller than the 11x11/);
  });
});

describe('linear algebra', () => {
  it('symmetricEigen: A V = V diag(λ) and VᵀV = I', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (n, seed) => {
        const rng = mulberry32(seed);
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = 2 * rng() - 1;
        const { values, vectors } = symmetricEigen(a, n);
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < n; k++) {
            let av = 0;
            let vtv = 0;
            for (let j = 0; j < n; j++) {
              av += a[i * n + j] * vectors[j * n + k];
              vtv += vectors[j * n + i] * vectors[j * n + k];
            }
            expect(Math.abs(av - values[k] * vectors[i * n + k])).toBeLessThan(1e-12);
            expect(Math.abs(vtv - (i === k ? 1 : 0))).toBeLessThan(1e-12);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('singularValues: squares are the eigenvalues of MᵀM, and Σσ² = ‖M‖²_F', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (rows, cols, seed) => {
          const rng = mulberry32(seed);
          const m = Float64Array.from({ length: rows * cols }, () => 2 * rng() - 1);
          const sv = Array.from(singularValues(m, rows, cols)).sort((x, y) => x - y);
          expect(sv.length).toBe(Math.min(rows, cols));
          const gram = new Float64Array(cols * cols);
          for (let i = 0; i < cols; i++) {
            for (let j = 0; j < cols; j++) {
              for (let r = 0; r < rows; r++) gram[i * cols + j] += m[r * cols + i] * m[r * cols + j];
            }
          }
          const eig = Array.from(symmetricEigen(gram, cols).values)
            .sort((x, y) => x - y)
            .slice(cols - sv.length);
          for (let k = 0; k < sv.length; k++) expect(Math.abs(sv[k] ** 2 - Math.max(0, eig[k]))).toBeLessThan(1e-12);
          let frob = 0;
          for (const x of m) frob += x * x;
          expect(sv.reduce((s, x) => s + x * x, 0)).toBeCloseTo(frob, 12);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('Fréchet distance and FSD (Eq. 27)', () => {
  it('frechetDistance: in one dimension it is (μ₁ − μ₂)² + (σ₁ − σ₂)²', () => {
    const x = [1, 2, 3, 6];
    const y = [0, 4, -1];
    const mean = (v: number[]): number => v.reduce((s, t) => s + t, 0) / v.length;
    const sd = (v: number[]): number => Math.sqrt(v.reduce((s, t) => s + (t - mean(v)) ** 2, 0) / (v.length - 1));
    const expected = (mean(x) - mean(y)) ** 2 + (sd(x) - sd(y)) ** 2;
    expect(frechetDistance(x, 4, y, 3, 1)).toBeCloseTo(expected, 12);
    expect(frechetDistanceBruteForce(x, 4, y, 3, 1)).toBeCloseTo(expected, 12);
  });

  it('fsd: matches NumPy (np.abs(fft2), np.cov, Σ np.linalg.svd(X₁X₂ᵀ)) on a fixed pair of sets', () => {
    const make = (n: number, off: number): Float64Array => {
      const out = new Float64Array(n * 16);
      for (let k = 0; k < n; k++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 4; j++) {
            out[k * 16 + i * 4 + j] = Math.sin(0.9 * k + 0.37 * i * (k + 1 + off) + 0.11 * j * j) + 0.05 * k;
          }
        }
      }
      return out;
    };
    const value = fsdFromArrays(make(3, 0), 3, make(5, 2), 5, 4, 4);
    expect(Math.abs(value - 63.945199930383794)).toBeLessThan(1e-11 * 63.9);
    // scipy.linalg.sqrtm(Σ₁Σ₂) on this rank-deficient product gives 63.94519964055242, off by 5e-9 relative.
    expect(Math.abs(value - 63.94519964055242)).toBeLessThan(1e-8 * 63.9);
  });

  it('fsd: zero (to 1e-9 relative) on identical sets', () => {
    fc.assert(
      fc.property(smallSets, ({ h, w, n1, seed }) => {
        const a = randomFrames(seed, n1, h, w);
        const value = fsdFromArrays(a.data, a.n, a.data, a.n, h, w);
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1e-9 * fsdScale(a, a, h, w));
      }),
      { numRuns: 60 },
    );
  });

  it('fsd: symmetric in its two sets', () => {
    fc.assert(
      fc.property(smallSets, ({ h, w, n1, n2, seed }) => {
        const a = randomFrames(seed, n1, h, w);
        const b = randomFrames(seed + 1, n2, h, w);
        const ab = fsdFromArrays(a.data, a.n, b.data, b.n, h, w);
        const ba = fsdFromArrays(b.data, b.n, a.data, a.n, h, w);
        expect(Math.abs(ab - ba)).toBeLessThanOrEqual(1e-10 * fsdScale(a, b, h, w));
      }),
      { numRuns: 60 },
    );
  });

  it('fsd: invariant to circular spatial shifts of the frames', () => {
    fc.assert(
      fc.property(smallSets, fc.nat(), fc.nat(), ({ h, w, n1, n2, seed }, dy, dx) => {
        const a = randomFrames(seed, n1, h, w);
        const b = randomFrames(seed + 1, n2, h, w);
        const shifted = circularShift(a, h, w, dy % h, dx % w);
        const before = fsdFromArrays(a.data, a.n, b.data, b.n, h, w);
        const after = fsdFromArrays(shifted.data, shifted.n, b.data, b.n, h, w);
        expect(Math.abs(before - after)).toBeLessThanOrEqual(1e-10 * fsdScale(a, b, h, w));
      }),
      { numRuns: 60 },
    );
  });

  it('fsd: the low-rank form equals the d×d formula tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½)', () => {
    fc.assert(
      fc.property(
        fc.record({
          h: fc.constantFrom(2, 4),
          w: fc.constantFrom(2, 4),
          n1: fc.integer({ min: 2, max: 12 }),
          n2: fc.integer({ min: 2, max: 12 }),
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        }),
        ({ h, w, n1, n2, seed }) => {
          const a = randomFrames(seed, n1, h, w);
          const b = randomFrames(seed + 7, n2, h, w);
          const fast = fsdFromArrays(a.data, a.n, b.data, b.n, h, w);
          const slow = fsdBruteForce(a.data, a.n, b.data, b.n, h, w);
          // The d×d route takes square roots of round-off-sized eigenvalues, so it is good to ~1e-8 relative.
          expect(Math.abs(fast - slow)).toBeLessThanOrEqual(1e-6 * fsdScale(a, b, h, w));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('fsd: grows when the generated set is rescaled away from the real one', () => {
    const a = randomFrames(1, 16, 8, 8);
    const b = randomFrames(2, 16, 8, 8);
    const base = fsdFromArrays(a.data, 16, b.data, 16, 8, 8);
    const scaled = fsdFromArrays(a.data, 16, b.data.map((v) => 3 * v), 16, 8, 8);
    expect(scaled).toBeGreaterThan(base);
  });

  it('fsd: input errors name what is wrong', () => {
    expect(() => fsdFromArrays(new Float64Array(16), 1, new Float64Array(16), 1, 4, 4)).toThrow(/at least 2 samples/);
    expect(() => fsdFromArrays(new Float64Array(10), 2, new Float64Array(32), 2, 4, 4)).toThrow(/does not match/);
    expect(() => fsdFromArrays(new Float64Array(24), 2, new Float64Array(24), 2, 3, 4)).toThrow(/power of two/);
  });

  it('selectChannel: picks one channel of interleaved frames', () => {
    const frames = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]);
    expect(Array.from(selectChannel(frames, 2, 1, 2, 2, 0))).toEqual([1, 2, 3, 4]);
    expect(Array.from(selectChannel(frames, 2, 1, 2, 2, 1))).toEqual([10, 20, 30, 40]);
  });
});
