/**
 * The core suite's shared machinery: which backends to run on, a JAX-style gradient checker, and
 * fast-check arbitraries for shapes and values.
 *
 * Every suite is written once and run per backend (`describeBackends`), as TF.js runs one op suite on
 * every backend. `ROLLING_BACKENDS=cpu,webgpu npx vitest run test/core` adds WebGPU once it registers.
 */
import fc from 'fast-check';
import { beforeAll, describe } from 'vitest';
import { dispose, fromArray, getBackend, jvp, memoryStats, setBackend, Tensor, tidy, treeLeaves, vjp, type DType } from '../../index.js';

// ---------------------------------------------------------------- errors and memory

/** The message `fn` throws (run in a scope), or '' when it does not throw. */
export function errorMessage(fn: () => unknown): string {
  try {
    tidy(() => void fn());
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

/** `fn`'s result and the peak bytes of live tensors while it runs (sampled after every primitive). */
export function peakBytes<T>(fn: () => T): { result: T; peak: number } {
  const backend = getBackend();
  const run = backend.run;
  let peak = memoryStats().bytes;
  backend.run = ((...args: Parameters<typeof run>) => {
    const out = run.apply(backend, args);
    peak = Math.max(peak, memoryStats().bytes);
    return out;
  }) as typeof run;
  try {
    return { result: fn(), peak };
  } finally {
    backend.run = run;
  }
}

// ---------------------------------------------------------------- backends

/** Backend names from `ROLLING_BACKENDS` (comma list); 'cpu' always runs, and runs first. */
export function backendsUnderTest(): string[] {
  const env = (typeof process !== 'undefined' ? process.env.ROLLING_BACKENDS : undefined) ?? 'cpu';
  const names = env.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return ['cpu', ...names.filter((n) => n !== 'cpu')].filter((n, i, all) => all.indexOf(n) === i);
}

/** `describe(name)` once per backend under test, with that backend selected before its tests run. */
export function describeBackends(name: string, fn: (backend: string) => void): void {
  describe.each(backendsUnderTest())(`${name} [%s]`, (backend) => {
    beforeAll(async () => {
      await setBackend(backend);
    });
    fn(backend);
  });
}

// ---------------------------------------------------------------- host values

/** A host-side tensor: values in row-major order. Float values are exact float32 numbers. */
export interface Host {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
  readonly dtype?: DType;
}

export function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function upload(h: Host): Tensor {
  const dtype = h.dtype ?? 'float32';
  const arr = dtype === 'float32' ? new Float32Array(h.data) : dtype === 'int32' ? new Int32Array(h.data) : dtype === 'uint32' ? new Uint32Array(h.data) : new Uint8Array(h.data);
  return fromArray(arr, h.shape, dtype);
}

/** A tensor of ones (true for bool): inputs whose values do not matter, for shape and dtype checks. */
export function onesOf(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return upload({ shape, data: new Array<number>(sizeOfShape(shape)).fill(1), dtype });
}

/** Values of a tensor as float64 numbers (exact for every dtype). */
export async function read(t: Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

/** A small deterministic generator (mulberry32), so a failing fast-check case replays exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- gradient checking

/**
 * Inputs and perturbations live on the grid of multiples of 2⁻¹², and the step h = 2⁻⁷ times a
 * direction of multiples of 1/32 is on it too: every perturbed input x ± k·h·t (|x| < 2¹¹) is an exact
 * float32 number, so the finite difference sees exactly the direction we claim. (Without this, rounding
 * the perturbed input to float32 moves it by up to 2⁻²⁴|x|, which divided by h is a relative error of
 * ~1e-5 — the size of what we want to detect.)
 */
export const GRID = 4096;
export const quantize = (v: number): number => Math.round(v * GRID) / GRID;
const STEP = 2 ** -7;

export interface GradCheckOptions {
  /**
   * Relative tolerance against Σ|tᵢ gᵢ| (a scale immune to cancellation in the dot product). The
   * analytic VJP runs in float32, each entry carrying a few ulps (≈1e-7 relative) times the
   * conditioning of the op, and the worst case observed over thousands of generated cases is ~1e-6
   * of the scale: 1e-5 keeps an order of magnitude of headroom, while a wrong factor, sign or dropped
   * term shows up as O(1), and one wrong element among the ≤ 625 we generate as ≳ 1e-3.
   */
  rtol?: number;
  /** Absolute tolerance, for outputs whose gradient is (near) zero. */
  atol?: number;
  /**
   * Relative rounding of each forward output, in units of its magnitude. The forward runs in float32
   * and ops are compositions of a few primitives, each rounding once: 2⁻²⁰ ≈ 8 ulps. The finite
   * difference amplifies that noise by Σ|stencil|/h = 1.5/h ≈ 192, which is accounted for explicitly.
   */
  outputRounding?: number;
  /**
   * Absolute rounding of each forward output. Outputs that come from cancellation (gelu at x ≈ −4 is
   * ½x(1 + erf(x/√2)) with 1 + erf ≈ 6e-5; logSumExp near 0) carry ulps of their O(1) intermediates,
   * not of themselves: 2⁻²² is a few ulps of the |x| ≤ 4 values the arbitraries draw.
   */
  outputAtol?: number;
  /** Seeds the direction and the cotangents. */
  seed?: number;
  /** Step (default 2⁻⁷); stays on the quantization grid only when a power of two ≥ 2⁻⁷. */
  h?: number;
  /** Label for error messages. */
  name?: string;
}

/** The fourth-order central difference: (φ(−2h) − 8φ(−h) + 8φ(h) − φ(2h)) / 12h, truncation O(h⁴). */
const STENCIL: readonly [number, number][] = [
  [-2, 1 / 12],
  [-1, -8 / 12],
  [1, 8 / 12],
  [2, -1 / 12],
];
const STENCIL_ABS = STENCIL.reduce((s, [, w]) => s + Math.abs(w), 0);

type Fn = (...xs: Tensor[]) => unknown;

async function evaluate(f: Fn, inputs: readonly Host[]): Promise<number[][]> {
  const outs = tidy(() => {
    const xs = inputs.map(upload);
    return treeLeaves(f(...xs));
  });
  const values = await Promise.all(outs.map(read));
  dispose(outs);
  return values;
}

/**
 * JAX's `check_grads` for reverse mode, in two parts:
 *   1. for every float input i on its own, the VJP along a random direction tᵢ, ⟨tᵢ, vjp(c)ᵢ⟩, equals
 *      the central finite difference of ⟨c, f(x + ε tᵢ)⟩ (computed in float64 on the host);
 *   2. the dot-product identity ⟨t, vjp(c)⟩ = ⟨J t, c⟩ with all inputs moved at once, J t a finite
 *      difference *vector* reused against two independent cotangents c and c′.
 * Integer and bool inputs are held fixed. Throws an error describing the first mismatch.
 */
export async function checkGrad(f: Fn, inputs: readonly Host[], options: GradCheckOptions = {}): Promise<void> {
  const { rtol = 1e-5, atol = 1e-5, outputRounding = 2 ** -20, outputAtol = 2 ** -22, seed = 1, h = STEP, name = 'f' } = options;
  const rand = rng(seed);
  const xs: Host[] = inputs.map((x) => ((x.dtype ?? 'float32') === 'float32' ? { ...x, data: Array.from(x.data, quantize) } : x));
  const diff = xs.map((x, i) => ((x.dtype ?? 'float32') === 'float32' ? i : -1)).filter((i) => i >= 0);
  const dirs = xs.map((x) => Array.from({ length: x.data.length }, () => Math.round(rand() * 64 - 32) / 32));

  const base = await evaluate(f, xs);
  const cotangents = [0, 1].map(() => base.map((leaf) => leaf.map(() => Math.fround(rand() * 2 - 1))));

  // Analytic VJPs for both cotangents (the pullback is called twice: it must be reusable).
  const grads = tidy(() => {
    const ts = xs.map(upload);
    const [out, pullback] = vjp((...args: Tensor[]) => f(...args), ...ts);
    const shapes = treeLeaves(out).map((t) => t.shape);
    return cotangents.map((c) => {
      const cts = c.map((vals, k) => fromArray(new Float32Array(vals), shapes[k]!, 'float32'));
      const ctTree = rebuild(out, cts);
      return pullback(ctTree as never) as Tensor[];
    });
  });
  const g = await Promise.all(grads.map((gs) => Promise.all(gs.map(read))));
  dispose(grads);

  const perturbed = (which: readonly number[], s: number): Host[] =>
    xs.map((x, i) => (which.includes(i) ? { ...x, data: Array.from(x.data, (v, j) => v + s * h * dirs[i]![j]!) } : x));

  /** J t by the stencil, and the largest |f| seen per output element (for the rounding bound). */
  const jvp = async (which: readonly number[]) => {
    const jt = base.map((leaf) => new Float64Array(leaf.length));
    const mag = base.map((leaf) => Float64Array.from(leaf, Math.abs));
    for (const [s, w] of STENCIL) {
      const ys = await evaluate(f, perturbed(which, s));
      ys.forEach((leaf, k) =>
        leaf.forEach((v, j) => {
          jt[k]![j] += (w * v) / h;
          mag[k]![j] = Math.max(mag[k]![j]!, Math.abs(v));
        }),
      );
    }
    return { jt, mag };
  };

  const compare = (label: string, which: readonly number[], jt: Float64Array[], mag: Float64Array[], ci: number) => {
    const c = cotangents[ci]!;
    let fd = 0;
    let noise = 0;
    jt.forEach((leaf, k) =>
      leaf.forEach((v, j) => {
        fd += c[k]![j]! * v;
        noise += Math.abs(c[k]![j]!) * (outputRounding * mag[k]![j]! + outputAtol);
      }),
    );
    noise *= STENCIL_ABS / h;
    let analytic = 0;
    let scale = 0;
    for (const i of which) {
      g[ci]![i]!.forEach((gv, j) => {
        analytic += dirs[i]![j]! * gv;
        scale += Math.abs(dirs[i]![j]! * gv);
      });
    }
    const err = Math.abs(analytic - fd);
    const tol = atol + rtol * scale + noise;
    if (!(err <= tol)) {
      const shapes = xs.map((x) => `${x.dtype ?? 'float32'}[${x.shape.join(',')}]`).join(', ');
      throw new Error(
        `checkGrad(${name}) ${label}: VJP gives ${analytic}, finite difference ${fd} (|Δ| = ${err.toExponential(3)} > tol ${tol.toExponential(3)}; ` +
          `scale ${scale.toExponential(3)}, noise bound ${noise.toExponential(3)}) for inputs ${shapes}, seed ${seed}`,
      );
    }
  };

  if (diff.length > 1) {
    for (const i of diff) {
      const { jt, mag } = await jvp([i]);
      compare(`input ${i} along a random direction`, [i], jt, mag, 0);
    }
  }
  const { jt, mag } = await jvp(diff);
  compare('dot-product identity ⟨t, vjp(c)⟩ = ⟨J t, c⟩', diff, jt, mag, 0);
  compare('dot-product identity with a second cotangent', diff, jt, mag, 1);
}

/**
 * JAX's `check_jvp` with the transpose check of `check_grads`, for forward mode: with every float
 * input moved at once along a random direction t (integer and bool inputs held, their tangents zero),
 *   1. ⟨c, jvp(t)⟩ equals ⟨c, finite difference of f along t⟩ (float64 on the host), for two
 *      independent random cotangents c (tolerances and noise bound as in `checkGrad`);
 *   2. the transpose identity ⟨vjp(c), t⟩ = ⟨c, jvp(t)⟩ holds between the two analytic modes.
 * Every output leaf must be float32. Throws an error describing the first mismatch.
 */
export async function checkJvp(f: Fn, inputs: readonly Host[], options: GradCheckOptions = {}): Promise<void> {
  const { rtol = 1e-5, atol = 1e-5, outputRounding = 2 ** -20, outputAtol = 2 ** -22, seed = 1, h = STEP, name = 'f' } = options;
  const rand = rng(seed);
  const isFloat = (x: Host) => (x.dtype ?? 'float32') === 'float32';
  const xs: Host[] = inputs.map((x) => (isFloat(x) ? { ...x, data: Array.from(x.data, quantize) } : x));
  const dirs = xs.map((x) => Array.from({ length: x.data.length }, () => (isFloat(x) ? Math.round(rand() * 64 - 32) / 32 : 0)));
  const base = await evaluate(f, xs);
  const cotangents = [0, 1].map(() => base.map((leaf) => leaf.map(() => Math.fround(rand() * 2 - 1))));

  const analytic = tidy(() => {
    const ts = xs.map(upload);
    const tangents = xs.map((x, i) => upload({ ...x, data: dirs[i]! }));
    const [, ty] = jvp((...args: Tensor[]) => f(...args), ts, tangents);
    const [out, pullback] = vjp((...args: Tensor[]) => f(...args), ...ts);
    const shapes = treeLeaves(out).map((t) => t.shape);
    const grads = cotangents.map((c) => pullback(rebuild(out, c.map((vals, k) => fromArray(new Float32Array(vals), shapes[k]!, 'float32'))) as never) as Tensor[]);
    return { jt: treeLeaves(ty), grads };
  });
  const jt = await Promise.all(analytic.jt.map(read));
  const g = await Promise.all(analytic.grads.map((gs) => Promise.all(gs.map(read))));
  dispose(analytic);

  const fd = base.map((leaf) => new Float64Array(leaf.length));
  const mag = base.map((leaf) => Float64Array.from(leaf, Math.abs));
  for (const [s, w] of STENCIL) {
    const ys = await evaluate(f, xs.map((x, i) => ({ ...x, data: Array.from(x.data, (v, j) => v + s * h * dirs[i]![j]!) })));
    ys.forEach((leaf, k) =>
      leaf.forEach((v, j) => {
        fd[k]![j] += (w * v) / h;
        mag[k]![j] = Math.max(mag[k]![j]!, Math.abs(v));
      }),
    );
  }
  const shapes = xs.map((x) => `${x.dtype ?? 'float32'}[${x.shape.join(',')}]`).join(', ');
  cotangents.forEach((c, ci) => {
    let analyticDot = 0;
    let fdDot = 0;
    let scale = 0;
    let noise = 0;
    jt.forEach((leaf, k) =>
      leaf.forEach((v, j) => {
        analyticDot += c[k]![j]! * v;
        fdDot += c[k]![j]! * fd[k]![j]!;
        scale += Math.abs(c[k]![j]! * v);
        noise += Math.abs(c[k]![j]!) * (outputRounding * mag[k]![j]! + outputAtol);
      }),
    );
    noise *= STENCIL_ABS / h;
    const err = Math.abs(analyticDot - fdDot);
    const tol = atol + rtol * scale + noise;
    if (!(err <= tol)) {
      throw new Error(`checkJvp(${name}) cotangent ${ci}: ⟨c, jvp(t)⟩ = ${analyticDot}, finite difference ${fdDot} (|Δ| = ${err.toExponential(3)} > tol ${tol.toExponential(3)}) for inputs ${shapes}, seed ${seed}`);
    }
    let vjpDot = 0;
    let vjpScale = 0;
    g[ci]!.forEach((leaf, i) =>
      leaf.forEach((v, j) => {
        vjpDot += dirs[i]![j]! * v;
        vjpScale += Math.abs(dirs[i]![j]! * v);
      }),
    );
    const gap = Math.abs(vjpDot - analyticDot);
    const bound = atol + rtol * (scale + vjpScale);
    if (!(gap <= bound)) {
      throw new Error(`checkJvp(${name}) transpose identity, cotangent ${ci}: ⟨vjp(c), t⟩ = ${vjpDot} but ⟨c, jvp(t)⟩ = ${analyticDot} (|Δ| = ${gap.toExponential(3)} > tol ${bound.toExponential(3)}) for inputs ${shapes}, seed ${seed}`);
    }
  });
}

/** Put cotangent tensors into the output's tree structure, in `treeLeaves` order. */
function rebuild(tree: unknown, leaves: Tensor[]): unknown {
  let i = 0;
  const walk = (t: unknown): unknown => {
    if (Array.isArray(t)) return t.map(walk);
    if (t !== null && typeof t === 'object' && Object.getPrototypeOf(t) === Object.prototype) {
      return Object.fromEntries(Object.entries(t as Record<string, unknown>).map(([k, v]) => [k, walk(v)]));
    }
    if (t instanceof Tensor) return leaves[i++];
    return t;
  };
  return walk(tree);
}

// ---------------------------------------------------------------- arbitraries

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  /** Dimensions are drawn in [minDim, maxDim], with 1 drawn often (size-1 axes exercise broadcasting). */
  minDim?: number;
  maxDim?: number;
}

export function dimArb({ minDim = 1, maxDim = 5 }: ShapeOptions = {}): fc.Arbitrary<number> {
  const arbs = [fc.integer({ min: minDim, max: maxDim })];
  if (minDim <= 1 && maxDim >= 1) arbs.push(fc.constant(1));
  if (minDim <= 0) arbs.push(fc.constant(0));
  return fc.oneof(...arbs);
}

/** Shapes of rank minRank..maxRank (default 0..4) with dims 1..5, size-1 axes frequent. */
export function shapeArb(options: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4 } = options;
  return fc.array(dimArb(options), { minLength: minRank, maxLength: maxRank });
}

/** A shape that broadcasts to `out`: a suffix of it (maybe empty) with some axes set to 1. */
export function broadcastableTo(out: readonly number[]): fc.Arbitrary<number[]> {
  return fc
    .integer({ min: 0, max: out.length })
    .chain((r) => fc.array(fc.boolean(), { minLength: r, maxLength: r }).map((ones) => out.slice(out.length - r).map((d, i) => (ones[i] ? 1 : d))));
}

/** Two shapes that broadcast together (NumPy rules), and their broadcast shape. */
export function broadcastPairArb(options: ShapeOptions = {}): fc.Arbitrary<{ a: number[]; b: number[]; out: number[] }> {
  return shapeArb(options).chain((out) =>
    fc.tuple(broadcastableTo(out), broadcastableTo(out)).map(([a, b]) => {
      // The broadcast of a and b is `out` with the axes neither operand covers dropped or set to 1.
      const rank = Math.max(a.length, b.length);
      const o = Array.from({ length: rank }, (_, i) => {
        const da = a[a.length - rank + i] ?? 1;
        const db = b[b.length - rank + i] ?? 1;
        return da === 1 ? db : da;
      });
      return { a, b, out: o };
    }),
  );
}

/** Where values may lie: [min, max], and at least `margin` from every point in `avoid` (kinks, poles). */
export interface Domain {
  min: number;
  max: number;
  avoid?: readonly number[];
  margin?: number;
}

export const REALS: Domain = { min: -3, max: 3 };

/** `n` float32 values on the 2⁻¹² grid in a domain (extremes and the grid's small values included). */
export function valuesArb(n: number, domain: Domain = REALS): fc.Arbitrary<number[]> {
  const { min, max, avoid = [], margin = 0.0625 } = domain;
  const lo = Math.ceil(min * GRID);
  const hi = Math.floor(max * GRID);
  return fc.array(fc.integer({ min: lo, max: hi }), { minLength: n, maxLength: n }).map((ints) =>
    ints.map((k) => {
      let v = k / GRID;
      for (const a of avoid) {
        if (Math.abs(v - a) < margin) {
          const up = quantize(a + margin);
          const down = quantize(a - margin);
          v = (v >= a && up <= max) || down < min ? up : down;
        }
      }
      return v;
    }),
  );
}

export function hostArb(shape: readonly number[], domain: Domain = REALS): fc.Arbitrary<Host> {
  return valuesArb(sizeOfShape(shape), domain).map((data) => ({ shape: [...shape], data }));
}

/**
 * `n` pairwise well-separated values (at least `gap` apart), for max/min/argmax/sort-like ops where a
 * tie or a near-tie makes the derivative discontinuous: a shuffled grid with jitter.
 */
export function distinctValuesArb(n: number, gap = 0.125): fc.Arbitrary<number[]> {
  return fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: n, maxLength: n }),
      fc.array(fc.integer({ min: 0, max: Math.floor((gap / 4) * GRID) }), { minLength: n, maxLength: n }),
      fc.integer({ min: -4 * GRID, max: 4 * GRID }),
    )
    .map(([order, jitter, offset]) => {
      const idx = order.map((o, i) => [o, i] as const).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
      const out = new Array<number>(n);
      idx.forEach(([, i], rank) => (out[i] = quantize((rank - n / 2) * gap + jitter[i]! / GRID + offset / GRID)));
      return out;
    });
}

/** A seed for checkGrad's direction and cotangents, so shrinking replays the same check. */
export const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** Distinct sorted axes of a tensor of rank r (possibly none). */
export function axesArb(rank: number): fc.Arbitrary<number[]> {
  return fc.subarray(Array.from({ length: rank }, (_, i) => i));
}

/** A permutation of 0..r-1. */
export function permArb(rank: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer(), { minLength: rank, maxLength: rank }).map((keys) =>
    keys.map((k, i) => [k, i] as const).sort((p, q) => p[0] - q[0] || p[1] - q[1]).map(([, i]) => i),
  );
}

// ---------------------------------------------------------------- host references

export function stridesOfShape(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** The multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = flat % shape[i]!;
    flat = Math.floor(flat / shape[i]!);
  }
  return idx;
}

/** Read `h` at the multi-index `idx` of a shape it broadcasts to (a naive index loop's read). */
export function broadcastRead(h: Host, idx: readonly number[]): number {
  const off = idx.length - h.shape.length;
  let flat = 0;
  for (let i = 0; i < h.shape.length; i++) flat = flat * h.shape[i]! + (h.shape[i] === 1 ? 0 : idx[off + i]!);
  return h.data[flat]!;
}

/** Assert two arrays agree elementwise within |a − b| ≤ atol + rtol |b| (NaN equals NaN). */
export function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, { rtol = 1e-6, atol = 1e-6, label = '' } = {}): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length} ≠ expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${label}: element ${i}: got ${a}, expected ${e} (|Δ| = ${Math.abs(a - e)}, tol ${atol + rtol * Math.abs(e)})`);
    }
  }
}

/**
 * The primitives a computation runs on the current backend, in order (counted at `run`, which every
 * `bind` reaches); the computation's tensors are freed.
 */
export function primitivesRun(compute: () => Tensor | Tensor[]): string[] {
  const backend = getBackend();
  const run = backend.run;
  const seen: string[] = [];
  backend.run = function (this: typeof backend, ...args: Parameters<typeof run>) {
    seen.push(args[0]);
    return run.apply(this, args);
  } as typeof run;
  try {
    dispose(tidy(compute));
  } finally {
    backend.run = run;
  }
  return seen;
}
