/**
 * Complex fast Fourier transforms on typed arrays, independent of the tensor core.
 *
 * Radix-2, iterative (bit-reversal permutation, then the butterfly stages, two at a time where possible so
 * that each pass over memory does the work of two), in place on a pair of separate real/imaginary
 * Float64Arrays. Sizes must be powers of two. A 2-D transform runs the 1-D transform down all columns at
 * once, transposes, does the same again, and transposes back, so every inner loop has unit stride. Conventions follow NumPy:
 * the forward transform is unnormalised, X[k] = Σ_j x[j] e^{-2πi jk/n}, and the inverse divides by n,
 * so `ifft(fft(x)) = x`. Two-dimensional arrays are row-major `[h, w]` (index `i * w + j`).
 */

interface Plan {
  readonly n: number;
  readonly bitReverse: Uint32Array;
  // cos/sin of 2πk/n for k < n/2; a pass of span m reads every (n/m)-th entry.
  readonly cos: Float64Array;
  readonly sin: Float64Array;
}

// Plans are pure functions of n; memoising them keeps the twiddles of a hot loop from being recomputed.
const plans = new Map<number, Plan>();

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

function assertPowerOfTwo(n: number, what: string): void {
  if (!isPowerOfTwo(n)) {
    throw new Error(
      `${what}: length ${n} is not a power of two; this radix-2 FFT needs sizes 1, 2, 4, 8, ... ` +
        `(pad or resample the data to a power-of-two size)`,
    );
  }
}

function plan(n: number): Plan {
  const cached = plans.get(n);
  if (cached !== undefined) return cached;
  const bits = Math.round(Math.log2(n));
  const bitReverse = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
    bitReverse[i] = r;
  }
  const half = Math.max(1, n >> 1);
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let k = 0; k < half; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = Math.sin((2 * Math.PI * k) / n);
  }
  const p: Plan = { n, bitReverse, cos, sin };
  plans.set(n, p);
  return p;
}

function checkPair(re: Float64Array, im: Float64Array, what: string): void {
  if (re.length !== im.length) {
    throw new Error(`${what}: real part has length ${re.length} but imaginary part has length ${im.length}`);
  }
}

/** In-place forward DFT, X[k] = Σ_j x[j] e^{-2πi jk/n}. */
export function fft(re: Float64Array, im: Float64Array): void {
  checkPair(re, im, 'fft');
  assertPowerOfTwo(re.length, 'fft');
  transformColumns(re, im, plan(re.length), 1, -1);
}

/** In-place inverse DFT with the 1/n factor, so that `ifft(fft(x)) = x`. */
export function ifft(re: Float64Array, im: Float64Array): void {
  checkPair(re, im, 'ifft');
  assertPowerOfTwo(re.length, 'ifft');
  const n = re.length;
  transformColumns(re, im, plan(n), 1, 1);
  const scale = 1 / n;
  for (let i = 0; i < n; i++) {
    re[i] *= scale;
    im[i] *= scale;
  }
}

/**
 * `count` transforms of length p.n at once, along the slow axis of a row-major `[p.n, count]` block: each
 * butterfly combines two whole rows with one twiddle, so the inner loop is long and has unit stride.
 */
function transformColumns(re: Float64Array, im: Float64Array, p: Plan, count: number, sign: number): void {
  const n = p.n;
  const rev = p.bitReverse;
  for (let i = 0; i < n; i++) {
    const r = rev[i];
    if (r > i) {
      const a = i * count;
      const b = r * count;
      for (let j = 0; j < count; j++) {
        const tr = re[a + j];
        re[a + j] = re[b + j];
        re[b + j] = tr;
        const ti = im[a + j];
        im[a + j] = im[b + j];
        im[b + j] = ti;
      }
    }
  }
  let size = 2;
  while (size <= n) {
    if (2 * size <= n) {
      radix4Pass(re, im, p, count, sign, size);
      size *= 4;
    } else {
      radix2Pass(re, im, p, count, sign, size);
      size *= 2;
    }
  }
}

/** One radix-2 butterfly stage combining blocks of `size / 2` rows into blocks of `size`. */
function radix2Pass(re: Float64Array, im: Float64Array, p: Plan, count: number, sign: number, size: number): void {
  const n = p.n;
  const halfSize = size >> 1;
  const step = n / size;
  for (let k = 0; k < halfSize; k++) {
    const wr = p.cos[k * step];
    const wi = sign * p.sin[k * step];
    for (let start = 0; start < n; start += size) {
      const a = (start + k) * count;
      const b = a + halfSize * count;
      for (let j = 0; j < count; j++) {
        const br = re[b + j];
        const bi = im[b + j];
        const xr = br * wr - bi * wi;
        const xi = br * wi + bi * wr;
        re[b + j] = re[a + j] - xr;
        im[b + j] = im[a + j] - xi;
        re[a + j] += xr;
        im[a + j] += xi;
      }
    }
  }
}

/**
 * Two radix-2 stages (block sizes `size` and `2 size`) fused into one pass over memory: the second stage's
 * twiddle for row k + size/2 is that of row k times e^{±iπ/2}, a swap of real and imaginary parts.
 */
function radix4Pass(re: Float64Array, im: Float64Array, p: Plan, count: number, sign: number, size: number): void {
  const n = p.n;
  const q = size >> 1;
  const span = 2 * size;
  const stepW = n / size;
  const stepV = n / span;
  for (let k = 0; k < q; k++) {
    const wr = p.cos[k * stepW];
    const wi = sign * p.sin[k * stepW];
    const vr = p.cos[k * stepV];
    const vi = sign * p.sin[k * stepV];
    for (let start = 0; start < n; start += span) {
      const r0 = (start + k) * count;
      const r1 = r0 + q * count;
      const r2 = r1 + q * count;
      const r3 = r2 + q * count;
      for (let j = 0; j < count; j++) {
        const x0r = re[r0 + j];
        const x0i = im[r0 + j];
        const b1r = re[r1 + j];
        const b1i = im[r1 + j];
        const x2r = re[r2 + j];
        const x2i = im[r2 + j];
        const b3r = re[r3 + j];
        const b3i = im[r3 + j];
        const x1r = b1r * wr - b1i * wi;
        const x1i = b1r * wi + b1i * wr;
        const x3r = b3r * wr - b3i * wi;
        const x3i = b3r * wi + b3i * wr;
        const t0r = x0r + x1r;
        const t0i = x0i + x1i;
        const t1r = x0r - x1r;
        const t1i = x0i - x1i;
        const t2r = x2r + x3r;
        const t2i = x2i + x3i;
        const t3r = x2r - x3r;
        const t3i = x2i - x3i;
        const ur = t2r * vr - t2i * vi;
        const ui = t2r * vi + t2i * vr;
        const zr = t3r * vr - t3i * vi;
        const zi = t3r * vi + t3i * vr;
        // (sign · i) z
        const sr = -sign * zi;
        const si = sign * zr;
        re[r0 + j] = t0r + ur;
        im[r0 + j] = t0i + ui;
        re[r2 + j] = t0r - ur;
        im[r2 + j] = t0i - ui;
        re[r1 + j] = t1r + sr;
        im[r1 + j] = t1i + si;
        re[r3 + j] = t1r - sr;
        im[r3 + j] = t1i - si;
      }
    }
  }
}

/**
 * Scratch for the transposes between the two passes, reused across calls because freshly allocated memory
 * is slow to touch on these machines.
 */
let scratchRe = new Float64Array(0);
let scratchIm = new Float64Array(0);

function transpose(src: Float64Array, dst: Float64Array, h: number, w: number): void {
  for (let i = 0; i < h; i++) {
    const row = i * w;
    for (let j = 0; j < w; j++) dst[j * h + i] = src[row + j];
  }
}

function transform2d(re: Float64Array, im: Float64Array, h: number, w: number, sign: number, what: string): void {
  checkPair(re, im, what);
  if (re.length !== h * w) {
    throw new Error(`${what}: arrays have length ${re.length} but the shape [${h}, ${w}] needs ${h * w}`);
  }
  assertPowerOfTwo(h, `${what} (height)`);
  assertPowerOfTwo(w, `${what} (width)`);
  transformColumns(re, im, plan(h), w, sign);
  if (scratchRe.length < h * w) {
    scratchRe = new Float64Array(h * w);
    scratchIm = new Float64Array(h * w);
  }
  const tRe = scratchRe.subarray(0, h * w);
  const tIm = scratchIm.subarray(0, h * w);
  transpose(re, tRe, h, w);
  transpose(im, tIm, h, w);
  transformColumns(tRe, tIm, plan(w), h, sign);
  transpose(tRe, re, w, h);
  transpose(tIm, im, w, h);
}

/** In-place forward 2-D DFT of a row-major `[h, w]` complex array (NumPy's `fft2`). */
export function fft2(re: Float64Array, im: Float64Array, h: number, w: number): void {
  transform2d(re, im, h, w, -1, 'fft2');
}

/** In-place inverse 2-D DFT with the 1/(h w) factor (NumPy's `ifft2`). */
export function ifft2(re: Float64Array, im: Float64Array, h: number, w: number): void {
  transform2d(re, im, h, w, 1, 'ifft2');
  const scale = 1 / (h * w);
  for (let i = 0; i < re.length; i++) {
    re[i] *= scale;
    im[i] *= scale;
  }
}

export interface ComplexField {
  readonly re: Float64Array;
  readonly im: Float64Array;
}

/** The full (h w) complex spectrum of a real row-major `[h, w]` field; the input is not changed. */
export function realFft2(field: ArrayLike<number>, h: number, w: number): ComplexField {
  if (field.length !== h * w) {
    throw new Error(`realFft2: field has length ${field.length} but the shape [${h}, ${w}] needs ${h * w}`);
  }
  const re = Float64Array.from(field);
  const im = new Float64Array(h * w);
  fft2(re, im, h, w);
  return { re, im };
}

/**
 * The real part of the inverse 2-D DFT of a spectrum; for a Hermitian spectrum (that of a real field)
 * the imaginary part is round-off and is dropped. The inputs are not changed.
 */
export function realIfft2(spectrum: ComplexField, h: number, w: number): Float64Array {
  const re = Float64Array.from(spectrum.re);
  const im = Float64Array.from(spectrum.im);
  ifft2(re, im, h, w);
  return re;
}

/** Signed integer frequency of DFT bin `index` of an n-point transform (NumPy's `fftfreq(n) * n`). */
export function frequencyIndex(index: number, n: number): number {
  return index < n / 2 ? index : index - n;
}
