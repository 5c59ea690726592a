/**
 * Evaluation metrics on typed arrays, independent of the tensor core: MSE, PSNR, SSIM, and the paper's
 * Fréchet Spectral Distance (FSD, Eq. 27). All arithmetic is in float64.
 *
 * FVD is deliberately absent. The paper reports FVD for BAIR and Kinetics, but FVD is defined by the
 * features of a specific pretrained I3D network (Kinetics-400 weights); those weights cannot be obtained
 * here, and an FVD on any other features would be a different number under the same name.
 */

import { fft2 } from '../math/fft.js';

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: arrays have lengths ${a.length} and ${b.length}; they must match`);
  if (a.length === 0) throw new Error(`${what}: arrays are empty`);
}

/** Mean squared error over all elements. */
export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkSameLength(a, b, 'mse');
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return sum / a.length;
}

/** Peak signal-to-noise ratio in dB, 10 log10(maxVal² / MSE); Infinity for identical inputs. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, maxVal = 1): number {
  const error = mse(a, b);
  return error === 0 ? Infinity : 10 * Math.log10((maxVal * maxVal) / error);
}

export interface SsimOptions {
  /** The dynamic range L of the data (C1 = (K1 L)², C2 = (K2 L)²); default 1 for images in [0, 1]. */
  readonly dataRange?: number;
  readonly sigma?: number;
  readonly k1?: number;
  readonly k2?: number;
}

/** Normalised Gaussian taps of radius floor(3.5 σ + 0.5): 11 taps for σ = 1.5, as scipy's `gaussian_filter` with skimage's truncate=3.5. */
function gaussianTaps(sigma: number): Float64Array {
  const radius = Math.floor(3.5 * sigma + 0.5);
  const taps = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    taps[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
    sum += taps[i + radius];
  }
  for (let i = 0; i < taps.length; i++) taps[i] /= sum;
  return taps;
}

/** Separable 'valid' filtering of one channel of an HWC image: output `[h - 2r, w - 2r]`. */
function filterValid(
  image: (index: number) => number,
  h: number,
  w: number,
  taps: Float64Array,
): Float64Array {
  const k = taps.length;
  const oh = h - k + 1;
  const ow = w - k + 1;
  const rows = new Float64Array(h * ow);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < ow; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += taps[t] * image(i * w + j + t);
      rows[i * ow + j] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += taps[t] * rows[(i + t) * ow + j];
      out[i * ow + j] = s;
    }
  }
  return out;
}

/**
 * Structural similarity of two `[h, w, channels]` images (Wang, Bovik, Sheikh, Simoncelli 2004): Gaussian
 * window 11×11 with σ = 1.5, K1 = 0.01, K2 = 0.03, population (not sample) covariances, averaged over the
 * positions where the window fits inside the image and then over channels. This equals skimage's
 * `structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 * data_range=L, channel_axis=-1)`, whose reflect-padded borders are cropped before the mean.
 */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  h: number,
  w: number,
  channels = 1,
  opts: SsimOptions = {},
): number {
  checkSameLength(a, b, 'ssim');
  if (a.length !== h * w * channels) {
    throw new Error(`ssim: arrays have length ${a.length} but [${h}, ${w}, ${channels}] needs ${h * w * channels}`);
  }
  const taps = gaussianTaps(opts.sigma ?? 1.5);
  if (h < taps.length || w < taps.length) {
    throw new Error(`ssim: image ${h}x${w} is smaller than the ${taps.length}x${taps.length} Gaussian window`);
  }
  const range = opts.dataRange ?? 1;
  const c1 = ((opts.k1 ?? 0.01) * range) ** 2;
  const c2 = ((opts.k2 ?? 0.03) * range) ** 2;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    const x = (p: number): number => a[p * channels + c];
    const y = (p: number): number => b[p * channels + c];
    const muX = filterValid(x, h, w, taps);
    const muY = filterValid(y, h, w, taps);
    const xx = filterValid((p) => x(p) * x(p), h, w, taps);
    const yy = filterValid((p) => y(p) * y(p), h, w, taps);
    const xy = filterValid((p) => x(p) * y(p), h, w, taps);
    let sum = 0;
    for (let p = 0; p < muX.length; p++) {
      const mx = muX[p];
      const my = muY[p];
      const vx = xx[p] - mx * mx;
      const vy = yy[p] - my * my;
      const cov = xy[p] - mx * my;
      sum += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
    total += sum / muX.length;
  }
  return total / channels;
}

/** Channel `channel` of `count` frames stored `[count, h, w, channels]`, as `[count, h, w]`. */
export function selectChannel(
  frames: ArrayLike<number>,
  count: number,
  h: number,
  w: number,
  channels: number,
  channel: number,
): Float64Array {
  if (frames.length !== count * h * w * channels) {
    throw new Error(`selectChannel: length ${frames.length} does not match [${count}, ${h}, ${w}, ${channels}]`);
  }
  if (!(channel >= 0 && channel < channels)) throw new Error(`selectChannel: channel ${channel} is not in [0, ${channels})`);
  const out = new Float64Array(count * h * w);
  for (let p = 0; p < out.length; p++) out[p] = frames[p * channels + channel];
  return out;
}

/**
 * FSD features: the magnitudes |X[k_y, k_x]| of the unnormalised 2-D DFT of each `[h, w]` frame, over the full
 * h×w grid of frequencies, flattened row-major (NumPy's `np.abs(np.fft.fft2(x)).reshape(n, -1)`). The paper
 * (Sec. 5.1) says only "spatial-spectral magnitudes computed using a 2-D DFT"; the full grid, rather than the
 * non-redundant half of a real field's Hermitian spectrum, is our choice: it counts each ±k pair twice, which
 * scales the distance but not its ordering. Magnitudes discard phase, so the features (and FSD) are
 * invariant to circular shifts of the frames. Returns `[count, h * w]`.
 */
export function spectralFeatures(frames: ArrayLike<number>, count: number, h: number, w: number): Float64Array {
  const d = h * w;
  if (frames.length !== count * d) {
    throw new Error(`spectralFeatures: length ${frames.length} does not match [${count}, ${h}, ${w}]`);
  }
  const out = new Float64Array(count * d);
  const re = new Float64Array(d);
  const im = new Float64Array(d);
  for (let s = 0; s < count; s++) {
    for (let p = 0; p < d; p++) {
      re[p] = frames[s * d + p];
      im[p] = 0;
    }
    fft2(re, im, h, w);
    for (let p = 0; p < d; p++) out[s * d + p] = Math.hypot(re[p], im[p]);
  }
  return out;
}

interface CentredFeatures {
  readonly mean: Float64Array;
  /** `[n, d]`, centred and scaled by 1/√(n−1), so that Σ = XᵀX. */
  readonly x: Float64Array;
}

function centre(features: Float64Array, n: number, d: number, what: string): CentredFeatures {
  if (n < 2) throw new Error(`${what}: a covariance needs at least 2 samples, got ${n}`);
  const mean = new Float64Array(d);
  for (let s = 0; s < n; s++) for (let p = 0; p < d; p++) mean[p] += features[s * d + p];
  for (let p = 0; p < d; p++) mean[p] /= n;
  const scale = 1 / Math.sqrt(n - 1);
  const x = new Float64Array(n * d);
  for (let s = 0; s < n; s++) for (let p = 0; p < d; p++) x[s * d + p] = (features[s * d + p] - mean[p]) * scale;
  return { mean, x };
}

function squaredDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

function squaredNorm(a: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return sum;
}

/**
 * Eigen-decomposition of a symmetric `[n, n]` matrix (row-major; the input is not changed) by cyclic Jacobi
 * rotations. Returns the eigenvalues and, row-major, a matrix whose columns are the matching eigenvectors.
 * O(n³) per sweep; meant for the small matrices of the brute-force FSD.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: length ${matrix.length} is not ${n}x${n}`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += a[i * n + j] ** 2;
    }
    if (off <= 1e-32 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        // Rutishauser's rotation: tan θ is the smaller root of t² + 2ζt − 1 = 0, ζ = (a_qq − a_pp) / (2 a_pq).
        const zeta = (aqq - app) / (2 * apq);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/**
 * Singular values of a row-major `[rows, cols]` matrix by one-sided (Hestenes) Jacobi: rotations make the
 * columns of the smaller side mutually orthogonal, and their norms are the singular values. Unlike
 * √eig(MMᵀ) this does not square the condition number, so small singular values keep their accuracy,
 * which is what makes FSD vanish to round-off on identical sets. Returns min(rows, cols) values, unsorted.
 */
export function singularValues(matrix: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (matrix.length !== rows * cols) throw new Error(`singularValues: length ${matrix.length} is not ${rows}x${cols}`);
  // Columns of the working matrix are contiguous: `k` columns of length `m`, with k ≤ m.
  const transposed = cols > rows;
  const k = transposed ? rows : cols;
  const m = transposed ? cols : rows;
  const a = new Float64Array(k * m);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (transposed) a[i * m + j] = matrix[i * cols + j];
      else a[j * m + i] = matrix[i * cols + j];
    }
  }
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < k; p++) {
      const op = p * m;
      for (let q = p + 1; q < k; q++) {
        const oq = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = a[op + i];
          const y = a[oq + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = a[op + i];
          const y = a[oq + i];
          a[op + i] = c * x - s * y;
          a[oq + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const values = new Float64Array(k);
  for (let p = 0; p < k; p++) {
    let sum = 0;
    for (let i = 0; i < m; i++) sum += a[p * m + i] ** 2;
    values[p] = Math.sqrt(sum);
  }
  return values;
}

/** Σ = XᵀX for X `[n, d]`, as a row-major `[d, d]` matrix. */
function covarianceOf(x: Float64Array, n: number, d: number): Float64Array {
  const sigma = new Float64Array(d * d);
  for (let s = 0; s < n; s++) {
    const row = s * d;
    for (let i = 0; i < d; i++) {
      const xi = x[row + i];
      if (xi === 0) continue;
      for (let j = i; j < d; j++) sigma[i * d + j] += xi * x[row + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) sigma[i * d + j] = sigma[j * d + i];
  return sigma;
}

function matmulSquare(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
    }
  }
  return out;
}

/**
 * √λ for the eigenvalues of a d×d symmetric PSD matrix, with those at or below d·ε·λ_max set to 0. Jacobi
 * finds eigenvalues only to about d·ε·λ_max absolutely, so an exact zero comes out as ±ε-sized noise whose
 * square root, √ε·√λ_max ≈ 1e-8·√λ_max, would dominate the error of everything else; a true eigenvalue below the
 * threshold loses no more than that by being dropped. Rank-deficient covariances are the rule, not the exception:
 * DFT magnitudes of real frames repeat every ±k column, so FSD's Σ has rank below d for any number of samples.
 */
function resolvedSquareRoots(values: Float64Array, d: number): Float64Array {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, value);
  const threshold = d * Number.EPSILON * largest;
  return values.map((value) => (value > threshold ? Math.sqrt(value) : 0));
}

/** tr((Σ₁Σ₂)^½) from d×d matrices, as Σ √eig(Σ₁^½ Σ₂ Σ₁^½) (a symmetric PSD matrix similar to Σ₁Σ₂). */
function traceSqrtProductDense(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number): number {
  const sigma1 = covarianceOf(x1, n1, d);
  const sigma2 = covarianceOf(x2, n2, d);
  const e = symmetricEigen(sigma1, d);
  const roots = resolvedSquareRoots(e.values, d);
  const root = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const r = roots[k];
    if (r === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = e.vectors[i * d + k] * r;
      for (let j = 0; j < d; j++) root[i * d + j] += vik * e.vectors[j * d + k];
    }
  }
  const product = matmulSquare(matmulSquare(root, sigma2, d), root, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) {
      const avg = 0.5 * (product[i * d + j] + product[j * d + i]);
      product[i * d + j] = avg;
      product[j * d + i] = avg;
    }
  }
  let sum = 0;
  for (const r of resolvedSquareRoots(symmetricEigen(product, d).values, d)) sum += r;
  return sum;
}

/** tr((Σ₁Σ₂)^½) = Σ svd(X₁X₂ᵀ) (MATH.md): Σ₁Σ₂ and MMᵀ share their non-zero eigenvalues. */
function traceSqrtProductLowRank(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number): number {
  const m = new Float64Array(n1 * n2);
  for (let i = 0; i < n1; i++) {
    for (let j = 0; j < n2; j++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += x1[i * d + p] * x2[j * d + p];
      m[i * n2 + j] = s;
    }
  }
  let sum = 0;
  for (const sv of singularValues(m, n1, n2)) sum += sv;
  return sum;
}

function checkFeatures(features: ArrayLike<number>, n: number, d: number, what: string, which: string): void {
  if (features.length !== n * d) {
    throw new Error(`${what}: ${which} set has length ${features.length} but [${n}, ${d}] needs ${n * d}`);
  }
}

/**
 * How `frechetDistance` computes tr((Σ₁Σ₂)^½): `'lowRank'` as Σ svd(X₁X₂ᵀ) on the n1×n2 sample product,
 * `'dense'` from the d×d covariances, `'auto'` (the default) whichever is smaller. Both are exact in exact
 * arithmetic for any sizes; forcing one lets tests check each on every shape.
 */
export type TraceSqrtMethod = 'auto' | 'dense' | 'lowRank';

/**
 * The Fréchet distance between Gaussians fitted to two feature sets `[n1, d]` and `[n2, d]` (Eq. 27 on any
 * features): ‖f̄₁ − f̄₂‖² + ‖X₁‖²_F + ‖X₂‖²_F − 2 Σ svd(X₁X₂ᵀ), exact without forming d×d matrices, so it
 * works with fewer samples than features. When d is smaller than both sample counts the d×d form is cheaper
 * and is used instead. Covariances use the unbiased 1/(n−1). The result is clamped at 0 (the true value is a
 * squared distance; only round-off can make it negative).
 */
export function frechetDistance(
  features1: ArrayLike<number>,
  n1: number,
  features2: ArrayLike<number>,
  n2: number,
  d: number,
  opts: { readonly method?: TraceSqrtMethod } = {},
): number {
  checkFeatures(features1, n1, d, 'frechetDistance', 'first');
  checkFeatures(features2, n2, d, 'frechetDistance', 'second');
  const a = centre(Float64Array.from(features1), n1, d, 'frechetDistance');
  const b = centre(Float64Array.from(features2), n2, d, 'frechetDistance');
  const method = opts.method ?? 'auto';
  const dense = method === 'dense' || (method === 'auto' && d < Math.min(n1, n2));
  const cross = dense ? traceSqrtProductDense(a.x, n1, b.x, n2, d) : traceSqrtProductLowRank(a.x, n1, b.x, n2, d);
  return Math.max(0, squaredDistance(a.mean, b.mean) + squaredNorm(a.x) + squaredNorm(b.x) - 2 * cross);
}

/** Eq. 27 with the d×d covariances formed explicitly, tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½); a reference for small d. */
export function frechetDistanceBruteForce(
  features1: ArrayLike<number>,
  n1: number,
  features2: ArrayLike<number>,
  n2: number,
  d: number,
): number {
  checkFeatures(features1, n1, d, 'frechetDistanceBruteForce', 'first');
  checkFeatures(features2, n2, d, 'frechetDistanceBruteForce', 'second');
  const a = centre(Float64Array.from(features1), n1, d, 'frechetDistanceBruteForce');
  const b = centre(Float64Array.from(features2), n2, d, 'frechetDistanceBruteForce');
  const sigma1 = covarianceOf(a.x, n1, d);
  const sigma2 = covarianceOf(b.x, n2, d);
  let trace = 0;
  for (let i = 0; i < d; i++) trace += sigma1[i * d + i] + sigma2[i * d + i];
  const cross = traceSqrtProductDense(a.x, n1, b.x, n2, d);
  return Math.max(0, squaredDistance(a.mean, b.mean) + trace - 2 * cross);
}

/**
 * Fréchet Spectral Distance (Eq. 27) between `nReal` and `nGen` single-channel frames of shape `[h, w]`
 * (power-of-two sides), on the DFT-magnitude features of `spectralFeatures`. For Kolmogorov flow the paper
 * reports FSD on the horizontal velocity (Sec. 5.1, Fig. 4); use `selectChannel(..., 0)` on (u, v) frames.
 */
export function fsdFromArrays(
  real: ArrayLike<number>,
  nReal: number,
  gen: ArrayLike<number>,
  nGen: number,
  h: number,
  w: number,
): number {
  const d = h * w;
  return frechetDistance(spectralFeatures(real, nReal, h, w), nReal, spectralFeatures(gen, nGen, h, w), nGen, d);
}

/** `fsdFromArrays` through d×d covariance matrices; a reference for tests on small frames. */
export function fsdBruteForce(
  real: ArrayLike<number>,
  nReal: number,
  gen: ArrayLike<number>,
  nGen: number,
  h: number,
  w: number,
): number {
  const d = h * w;
  return frechetDistanceBruteForce(spectralFeatures(real, nReal, h, w), nReal, spectralFeatures(gen, nGen, h, w), nGen, d);
}
