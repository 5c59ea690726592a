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
} from '../../../experiments/metrics/metrics.js';
import { mulberry32 } from '../../../experiments/math/random.js';
import { stepMetrics } from '../../../experiments/metrics/evaluate.js';

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

// An independent float64 reference for Eq. 27, sharing no code with metrics.ts: plain arrays, a two-pass
// covariance, classical (largest-pivot) Jacobi rather than metrics.ts's cyclic sweeps, and only the d×d route
// tr((Σ₁Σ₂)^½) = Σ √eig(Σ₁^½ Σ₂ Σ₁^½).

type Matrix = readonly (readonly number[])[];

/** Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric matrix by classical Jacobi: each rotation zeroes the largest off-diagonal entry. */
function referenceEigen(matrix: Matrix): { values: number[]; vectors: number[][] } {
  const d = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = a.map((_, i) => a.map((__, j) => (i === j ? 1 : 0)));
  let norm = 0;
  for (const row of a) for (const x of row) norm += x * x;
  norm = Math.sqrt(norm);
  for (let rotation = 0; rotation < 100 * d * d; rotation++) {
    let p = 0;
    let q = 1;
    let largest = 0;
    for (let i = 0; i < d; i++) {
      for (let j = i + 1; j < d; j++) {
        if (Math.abs(a[i][j]) > largest) {
          largest = Math.abs(a[i][j]);
          p = i;
          q = j;
        }
      }
    }
    if (largest <= 1e-18 * norm) break;
    // The angle that zeroes a_pq: cot 2θ = (a_qq − a_pp) / (2 a_pq), taking the root t = tan θ with |θ| ≤ π/4.
    const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
    const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.hypot(theta, 1));
    const c = 1 / Math.hypot(t, 1);
    const s = t * c;
    for (let k = 0; k < d; k++) {
      const akp = a[k][p];
      const akq = a[k][q];
      a[k][p] = c * akp - s * akq;
      a[k][q] = s * akp + c * akq;
    }
    for (let k = 0; k < d; k++) {
      const apk = a[p][k];
      const aqk = a[q][k];
      a[p][k] = c * apk - s * aqk;
      a[q][k] = s * apk + c * aqk;
    }
    for (let k = 0; k < d; k++) {
      const vkp = v[k][p];
      const vkq = v[k][q];
      v[k][p] = c * vkp - s * vkq;
      v[k][q] = s * vkp + c * vkq;
    }
  }
  return { values: a.map((row, i) => row[i]), vectors: v };
}

/** Indices of the r largest values. */
function largest(values: readonly number[], r: number): number[] {
  return values
    .map((x, k) => [x, k])
    .sort((x, y) => y[0] - x[0])
    .slice(0, r)
    .map(([, k]) => k);
}

function matmul(x: Matrix, y: Matrix): number[][] {
  return x.map((row) => y[0].map((_, j) => row.reduce((s, xik, k) => s + xik * y[k][j], 0)));
}

/**
 * Eq. 27 between feature sets given as rows, and its scale ‖f̄₁ − f̄₂‖² + tr Σ₁ + tr Σ₂. For generic (random)
 * features the covariances have rank r = min(n − 1, d) and Σ₁^½ Σ₂ Σ₁^½ rank min(r₁, r₂); the eigenvalues beyond
 * those are 0 in exact arithmetic and ±ε‖Σ‖ in float64, so they are dropped rather than square-rooted (√ε‖Σ‖
 * each would put ~1e-8 of noise into the reference). Structured features with lower rank need another reference.
 */
/**
 * What float64 allows for Σ √λ over computed eigenvalues: an eigen-solver finds each λ to about
 * δ = c·d·ε·λ_max absolutely, and √ turns that into δ / (2√λ) for λ ≫ δ but √δ for λ ≲ δ, so an
 * eigenvalue near 0 (a nearly singular covariance, which random draws do produce) carries up to √δ
 * of error whichever side computes it. c = 64 covers the Jacobi sweeps of both sides.
 */
function sqrtSumConditioning(values: readonly number[]): number {
  const top = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const delta = 64 * values.length * Number.EPSILON * top;
  return values.reduce((s, v) => s + Math.min(Math.sqrt(delta), delta / (2 * Math.sqrt(Math.abs(v)))), 0);
}

function referenceFrechet(set1: Matrix, set2: Matrix): { value: number; scale: number; tolerance: number } {
  const d = set1[0].length;
  const stats = (set: Matrix) => {
    const n = set.length;
    const mean = Array.from({ length: d }, (_, p) => set.reduce((s, f) => s + f[p], 0) / n);
    const cov = mean.map((_, i) =>
      mean.map((__, j) => set.reduce((s, f) => s + (f[i] - mean[i]) * (f[j] - mean[j]), 0) / (n - 1)),
    );
    return { mean, cov, rank: Math.min(n - 1, d) };
  };
  const one = stats(set1);
  const two = stats(set2);
  const e1 = referenceEigen(one.cov);
  const kept = largest(e1.values, one.rank);
  const root = one.cov.map((_, i) =>
    one.cov.map((__, j) => kept.reduce((s, k) => s + e1.vectors[i][k] * Math.sqrt(Math.max(0, e1.values[k])) * e1.vectors[j][k], 0)),
  );
  const product = matmul(matmul(root, two.cov), root);
  const e = referenceEigen(product.map((row, i) => row.map((x, j) => 0.5 * (x + product[j][i]))));
  let cross = 0;
  for (const k of largest(e.values, Math.min(one.rank, two.rank))) cross += Math.sqrt(Math.max(0, e.values[k]));
  let scale = 0;
  for (let p = 0; p < d; p++) scale += (one.mean[p] - two.mean[p]) ** 2 + one.cov[p][p] + two.cov[p][p];
  // The cross term enters twice (2 tr √…), and both Σ₁^½ and the product's eigenvalues pass through √.
  const tolerance = 1e-13 * scale + 2 * (sqrtSumConditioning(e.values) + sqrtSumConditioning(e1.values) * Math.sqrt(Math.max(...two.cov.map((row, i) => row[i]))));
  return { value: scale - 2 * cross, scale, tolerance };
}

/**
 * |X[k_y, k_x]| of each `[h, w]` frame by the O((hw)²) DFT sum, as rows, one column per pair {k, −k}. A real
 * frame has |X[−k]| = |X[k]| exactly, so the full-grid features repeat each pair's column, and their covariances
 * have rank below min(n − 1, d) however many samples there are. Eq. 27 is unchanged when each pair is kept once
 * and scaled by √2 (means, traces and Σ₁Σ₂'s non-zero eigenvalues all agree), which leaves no exact zero
 * eigenvalue for `referenceFrechet` to misjudge.
 */
function referenceSpectralFeatures(set: FrameSet, h: number, w: number): number[][] {
  const columns: { ky: number; kx: number; weight: number }[] = [];
  for (let ky = 0; ky < h; ky++) {
    for (let kx = 0; kx < w; kx++) {
      const partner = ((h - ky) % h) * w + ((w - kx) % w);
      const index = ky * w + kx;
      if (partner === index) columns.push({ ky, kx, weight: 1 });
      else if (partner > index) columns.push({ ky, kx, weight: Math.SQRT2 });
    }
  }
  const rows: number[][] = [];
  for (let s = 0; s < set.n; s++) {
    rows.push(
      columns.map(({ ky, kx, weight }) => {
        let re = 0;
        let im = 0;
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            const angle = -2 * Math.PI * ((ky * i) / h + (kx * j) / w);
            const x = set.data[s * h * w + i * w + j];
            re += x * Math.cos(angle);
            im += x * Math.sin(angle);
          }
        }
        return weight * Math.hypot(re, im);
      }),
    );
  }
  return rows;
}

function randomRows(rng: () => number, n: number, d: number, spread: number, offset: number): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => spread * (4 * rng() - 2) + offset));
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

  it('ssim: scale invariance on non-constant images: ssim(kx, ky, range k) = ssim(x, y, range 1)', () => {
    // Scaling by k scales the means by k and the (co)variances by k², and C1 = (K1 L)², C2 = (K2 L)²
    // by k² with L: numerator and denominator both gain k⁴. A constant image has no (co)variance, so
    // only this catches a C2 whose L is not squared. Tolerance 1e-10: float64 sums of 121 taps.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom(1, 3),
        fc.oneof(fc.constantFrom(0.01, 2, 255), fc.double({ min: 0.01, max: 1000, noNaN: true })),
        (seed, channels, k) => {
          const rng = mulberry32(seed);
          const x = Float64Array.from({ length: 12 * 13 * channels }, () => rng());
          const y = x.map((v) => Math.min(1, Math.max(0, v + 0.3 * (rng() - 0.5))));
          const unit = ssim(x, y, 12, 13, channels);
          const scaled = ssim(x.map((v) => k * v), y.map((v) => k * v), 12, 13, channels, { dataRange: k });
          expect(Math.abs(scaled - unit)).toBeLessThan(1e-10);
        },
      ),
      { numRuns: 30 },
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

describe('stepMetrics: the numbers every evaluation reports', () => {
  // [clips, frames, H, W, C] in [−1, 1], so the peak-to-peak range is 2: PSNR = 10 log10(2² / MSE) and
  // SSIM's constants use L = 2. Real frames are 0, generated frame f of clip b the constant c[b][f]
  // (float32, as the arrays hold it): MSE c², PSNR 10 log10(4/c²), and (constant images, no
  // variance) SSIM = C1/(c² + C1) with C1 = (0.01 · 2)². Each value is the mean over clips.
  const c = [[0.1, 0.25, -0.5], [-0.4, 0.8, 1]].map((row) => row.map(Math.fround));
  const [clips, frames, h, w, ch] = [2, 3, 16, 16, 3];
  const fs = h * w * ch;
  const real = new Float32Array(clips * frames * fs);
  const generated = new Float32Array(clips * frames * fs);
  for (let b = 0; b < clips; b++) for (let f = 0; f < frames; f++) generated.fill(c[b]![f]!, (b * frames + f) * fs, (b * frames + f + 1) * fs);
  const meanOverClips = (fn: (v: number) => number, f: number) => (fn(c[0]![f]!) + fn(c[1]![f]!)) / 2;

  it('real 0 against generated c: MSE c², PSNR 10 log10(4/c²), SSIM C1/(c² + C1) with C1 = 0.02², per step', () => {
    const c1 = (0.01 * 2) ** 2;
    const rows = stepMetrics(real, generated, clips, frames, h, w, ch);
    expect(rows.map((row) => row.step)).toEqual([1, 2, 3]);
    rows.forEach((row, f) => {
      expect(row.mse).toBeCloseTo(meanOverClips((v) => v * v, f), 12);
      expect(row.psnr).toBeCloseTo(meanOverClips((v) => 10 * Math.log10(4 / (v * v)), f), 10);
      expect(row.ssim).toBeCloseTo(meanOverClips((v) => c1 / (v * v + c1), f), 10);
      expect(row.fsd).not.toBeNull();
      expect(row.fsd!).toBeGreaterThan(0);
    });
  });

  it('identical clips: MSE 0, PSNR Infinity, SSIM 1, FSD 0; small or odd-sized frames have no SSIM / FSD', () => {
    for (const row of stepMetrics(generated, generated, clips, frames, h, w, ch)) {
      expect(row.mse).toBe(0);
      expect(row.psnr).toBe(Infinity);
      expect(row.ssim).toBeCloseTo(1, 12);
      expect(row.fsd).toBeCloseTo(0, 9);
    }
    // 10×10 is smaller than SSIM's 11×11 window; 12×12 is not a power of two (FSD's FFT); one clip has no covariance.
    expect(stepMetrics(new Float32Array(100), new Float32Array(100), 1, 1, 10, 10, 1)[0]).toMatchObject({ ssim: null, fsd: null });
    expect(stepMetrics(new Float32Array(288), new Float32Array(288), 2, 1, 12, 12, 1)[0]!.fsd).toBeNull();
    expect(stepMetrics(new Float32Array(256), new Float32Array(256), 1, 1, 16, 16, 1)[0]!.fsd).toBeNull();
  });

  it('SSIM needs both sides at least 11 (the window): 11×11, 11×16 and 16×11 have it, 10×16, 16×10 and 10×10 do not', () => {
    const value = Math.fround(0.3);
    const c1 = (0.01 * 2) ** 2;
    const ssimOf = (height: number, width: number) =>
      stepMetrics(new Float32Array(height * width), new Float32Array(height * width).fill(value), 1, 1, height, width, 1)[0]!.ssim;
    for (const [height, width] of [[11, 11], [11, 16], [16, 11]] as const) expect(ssimOf(height, width)).toBeCloseTo(c1 / (value * value + c1), 12);
    for (const [height, width] of [[10, 16], [16, 10], [10, 10]] as const) expect(ssimOf(height, width)).toBeNull();
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

  it('frechetDistance: the low-rank and d×d routes, forced or automatic, match an independent float64 reference for n < d, n = d and n > d', () => {
    const shapes = { lowRank: 0, dense: 0 };
    fc.assert(
      fc.property(
        fc.record({
          d: fc.integer({ min: 1, max: 16 }),
          n1: fc.integer({ min: 2, max: 16 }),
          n2: fc.integer({ min: 2, max: 16 }),
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        }),
        ({ d, n1, n2, seed }) => {
          const rng = mulberry32(seed);
          const set1 = randomRows(rng, n1, d, 1, 0);
          const set2 = randomRows(rng, n2, d, 1.5, 0.3);
          const reference = referenceFrechet(set1, set2);
          shapes[d < Math.min(n1, n2) ? 'dense' : 'lowRank']++;
          // Measured worst over 3000 random draws, relative to ‖f̄₁ − f̄₂‖² + tr Σ₁ + tr Σ₂: 2.5e-14 by the low-rank
          // route, 3.8e-14 by the d×d route (on rank-deficient covariances too, d ≥ n, where it was 1.2e-8 before
          // its eigenvalues at round-off level were set to 0 instead of square-rooted).
          for (const method of ['auto', 'dense', 'lowRank'] as const) {
            const value = frechetDistance(set1.flat(), n1, set2.flat(), n2, d, { method });
            expect(Math.abs(value - reference.value)).toBeLessThanOrEqual(reference.tolerance);
          }
        },
      ),
      { numRuns: 80 },
    );
    expect(shapes.lowRank).toBeGreaterThan(0);
    expect(shapes.dense).toBeGreaterThan(0);
  });

  it('fsd: equals an independent reference (O(n²) DFT magnitudes, Jacobi eigenvalues of Σ₁^½ Σ₂ Σ₁^½) on both trace routes', () => {
    const shapes = { lowRank: 0, dense: 0 };
    const frameSets = fc.record({
      h: fc.constantFrom(2, 4),
      w: fc.constantFrom(2, 4),
      n1: fc.integer({ min: 2, max: 20 }),
      n2: fc.integer({ min: 2, max: 20 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    fc.assert(
      fc.property(frameSets, ({ h, w, n1, n2, seed }) => {
        const a = randomFrames(seed, n1, h, w);
        const b = randomFrames(seed + 7, n2, h, w);
        const reference = referenceFrechet(referenceSpectralFeatures(a, h, w), referenceSpectralFeatures(b, h, w));
        shapes[h * w < Math.min(n1, n2) ? 'dense' : 'lowRank']++;
        // Measured worst over 400 draws up to 4×8 frames and 30 samples: 8e-15 of the scale, by either route;
        // but a nearly singular covariance (h = w = 2, n1 = n2 = 5, seed 1512599552, in 1 of ~3000 draws) is
        // 3.4e-12 off at scale 12.2 on both sides' √ of a near-zero eigenvalue: the tolerance adds that term.
        // fsdBruteForce is the d×d route whatever the shape; the FFT's round-off is far below this.
        expect(Math.abs(fsdFromArrays(a.data, a.n, b.data, b.n, h, w) - reference.value)).toBeLessThanOrEqual(reference.tolerance);
        expect(Math.abs(fsdBruteForce(a.data, a.n, b.data, b.n, h, w) - reference.value)).toBeLessThanOrEqual(reference.tolerance);
      }),
      {
        numRuns: 60,
        // d < n with repeated ±k columns (rank-deficient covariances on the d×d route), and n < d (low-rank route).
        examples: [[{ h: 2, w: 4, n1: 12, n2: 10, seed: 1 }], [{ h: 4, w: 4, n1: 20, n2: 18, seed: 2 }], [{ h: 4, w: 4, n1: 3, n2: 5, seed: 3 }]],
      },
    );
    expect(shapes.lowRank).toBeGreaterThan(0);
    expect(shapes.dense).toBeGreaterThan(0);
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

  it('every input check names the function, what is wrong and what was expected', () => {
    // Stryker (test/MUTATION.md) found these checks untested: removing one, or emptying its message,
    // survived.
    const z = (n: number) => new Float64Array(n);
    expect(() => mse([], [])).toThrow(/^mse: arrays are empty$/);
    expect(() => psnr([1], [1, 2])).toThrow(/^mse: arrays have lengths 1 and 2/);
    expect(() => ssim(z(121), z(120), 11, 11)).toThrow(/^ssim: arrays have lengths 121 and 120/);
    expect(() => ssim(z(242), z(242), 11, 11)).toThrow(/^ssim: arrays have length 242 but \[11, 11, 1\] needs 121$/);
    expect(() => ssim(z(242), z(242), 11, 11, 3)).toThrow(/^ssim: arrays have length 242 but \[11, 11, 3\] needs 363$/);
    expect(() => ssim(z(10 * 20), z(10 * 20), 10, 20)).toThrow(/^ssim: image 10x20 is smaller than the 11x11 Gaussian window$/);
    expect(() => ssim(z(20 * 10), z(20 * 10), 20, 10)).toThrow(/^ssim: image 20x10 is smaller/);
    expect(() => selectChannel(z(23), 2, 2, 2, 3, 0)).toThrow(/^selectChannel: length 23 does not match \[2, 2, 2, 3\]$/);
    expect(() => selectChannel(z(24), 2, 2, 2, 3, 3)).toThrow(/^selectChannel: channel 3 is not in \[0, 3\)$/);
    expect(() => selectChannel(z(24), 2, 2, 2, 3, -1)).toThrow(/^selectChannel: channel -1 is not in \[0, 3\)$/);
    expect(Array.from(selectChannel(Float64Array.from({ length: 24 }, (_, i) => i), 2, 2, 2, 3, 2))).toEqual([2, 5, 8, 11, 14, 17, 20, 23]);
    expect(() => symmetricEigen(z(5), 2)).toThrow(/^symmetricEigen: length 5 is not 2x2$/);
    expect(() => singularValues(z(5), 2, 3)).toThrow(/^singularValues: length 5 is not 2x3$/);
    for (const [fn, name] of [[frechetDistance, 'frechetDistance'], [frechetDistanceBruteForce, 'frechetDistanceBruteForce']] as const) {
      expect(() => fn(z(5), 2, z(6), 2, 3)).toThrow(new RegExp(`^${name}: first set has length 5 but \\[2, 3\\] needs 6$`));
      expect(() => fn(z(6), 2, z(7), 2, 3)).toThrow(new RegExp(`^${name}: second set has length 7 but \\[2, 3\\] needs 6$`));
      expect(() => fn(z(3), 1, z(6), 2, 3)).toThrow(new RegExp(`^${name}: a covariance needs at least 2 samples, got 1$`));
      expect(() => fn(z(6), 2, z(3), 1, 3)).toThrow(new RegExp(`^${name}: a covariance needs at least 2 samples, got 1$`));
    }
  });

  it('selectChannel: picks one channel of interleaved frames', () => {
    const frames = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]);
    expect(Array.from(selectChannel(frames, 2, 1, 2, 2, 0))).toEqual([1, 2, 3, 4]);
    expect(Array.from(selectChannel(frames, 2, 1, 2, 2, 1))).toEqual([10, 20, 30, 40]);
  });
});
