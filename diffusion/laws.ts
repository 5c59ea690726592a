/**
 * A conformance kit: the laws of Rolling Diffusion (and of the diffusion maths under it) as reusable
 * fast-check properties over an implementation, so that any implementation, ours or a port, can be
 * checked against the paper instead of against a particular codebase.
 *
 * Each `…Laws(impl)` takes an implementation behind a small adapter interface and returns named
 * properties; `checkLaws` runs them and reports, per law, whether it held and a counterexample if not.
 * The adapters use plain numbers and nested arrays wherever the law is about numbers, so that a
 * PyTorch or JAX implementation can be wrapped in a few lines (or the laws ported, one property each,
 * to Hypothesis): local-time maps are `(window, cleanFrames) → t → number[]`, a loss is
 * `(x, ε, v̂, local times) → loss per example`, an embedding is `logSNR [B][F] → vectors [B][F][D]`.
 * Only the sampler laws need tensors: a sampler drives a denoiser `(z, logSnr) → v̂`.
 *
 * The laws state what the paper and MATH.md state, never how our code computes it; they are proven to
 * catch the schedule bugs found in public implementations (test/diffusion/mutants.test.ts): a local-time
 * map shifted by a frame, clean frames in the loss, an embedding normalised by the batch maximum,
 * min-SNR written as a max, the resolution shift applied twice, ε- and v-losses confused, and more.
 *
 * Generators deliberately reach the boundaries: t = 0 and t = 1, W = 1, n_cln = 0 and n_cln = W − 1,
 * s = t, the ends of the logSNR range.
 */
import fc from 'fast-check';
import { add, dispose, full, key as prngKey, mul, normal, split, tensor, tidy, type Key, type Tensor } from '../core/index.js';
import { frameCategories, initLocalTimes, linearLocalTimes, rescaledInitLocalTimes } from './localTime.js';
import { windowLoss, windowLossWeights } from './loss.js';
import { lossWeighting, type LossWeightingName } from './lossWeighting.js';
import { fixedImageDenoiser, gaussianOracleDenoiser, oracleRolloutMoments, oracleWindowMoments, type FrameStepRule, type Moments } from './oracle.js';
import { ddimFromLogSnr, framePosteriorCoefficients, posteriorFromLogSnr, type PosteriorCoefficients } from './posteriorCoefficients.js';
import { diffuse, epsFromV, logSnrTensor, vFromXEps, xFromV } from './process.js';
import { collectFrames, rollout, sampleBoundary, type Denoiser, type SamplerConfig, type WindowSpec } from './sampling.js';
import type { Schedule } from './schedule.js';
import { boundaryLocalTimes } from './training.js';

// ---------------------------------------------------------------------------------------------------
// Laws and running them
// ---------------------------------------------------------------------------------------------------

/** A named property. `numRuns` overrides the runner's default (the sampler laws are expensive). */
export interface Law {
  readonly name: string;
  readonly property: fc.IProperty<unknown> | fc.IAsyncProperty<unknown>;
  /** Runs, the `examples` included (fast-check counts them in numRuns). */
  readonly numRuns?: number;
  /**
   * Inputs always run first (fast-check's `examples`, one array of arguments each): the cases a few
   * random runs would reach only by chance, such as the rolling windows of the sampler laws.
   */
  readonly examples?: readonly (readonly unknown[])[];
}

export interface LawResult {
  readonly name: string;
  readonly ok: boolean;
  /** The shrunk failing input, as fast-check prints it. */
  readonly counterexample?: string;
  /** What the law saw (the message of the error the property threw). */
  readonly error?: string;
}

export interface CheckOptions {
  /** Runs per law unless the law sets its own (default 100, fast-check's). */
  readonly numRuns?: number;
  /** Seed for reproducible runs; fast-check picks one when absent. */
  readonly seed?: number;
}

/** Runs every law (one after another) and reports each; never throws for a failing law. */
export async function checkLaws(laws: readonly Law[], options: CheckOptions = {}): Promise<LawResult[]> {
  const results: LawResult[] = [];
  for (const law of laws) {
    const details = await fc.check(law.property, {
      numRuns: law.numRuns ?? options.numRuns ?? 100,
      ...(law.examples ? { examples: law.examples as unknown[] } : {}),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    if (!details.failed) {
      results.push({ name: law.name, ok: true });
      continue;
    }
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    results.push({
      name: law.name,
      ok: false,
      ...(details.counterexample === null ? {} : { counterexample: fc.stringify(details.counterexample) }),
      error: error.split('\n')[0],
    });
  }
  return results;
}

/** Runs the laws and throws one error listing every law that failed, with its counterexample. */
export async function assertLaws(laws: readonly Law[], options: CheckOptions = {}): Promise<void> {
  const failed = (await checkLaws(laws, options)).filter((r) => !r.ok);
  if (failed.length > 0) {
    const lines = failed.map((r) => `- ${r.name}\n    counterexample: ${r.counterexample ?? '(none)'}\n    ${r.error ?? ''}`);
    throw new Error(`${failed.length} law(s) failed:\n${lines.join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Reference maths (MATH.md), written out here so that a law never trusts the code it checks
// ---------------------------------------------------------------------------------------------------

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
/** α = √sigmoid(λ), σ = √sigmoid(−λ) for a variance-preserving process. */
const alphaOf = (logSnr: number): number => Math.sqrt(sigmoid(logSnr));
const sigmaOf = (logSnr: number): number => Math.sqrt(sigmoid(-logSnr));

function fail(message: string): never {
  throw new Error(message);
}

/** |actual − expected| ≤ rel·|expected| + abs, or a descriptive failure. */
function expectNear(what: string, actual: number, expected: number, rel: number, abs = rel): void {
  if (!(Math.abs(actual - expected) <= rel * Math.abs(expected) + abs)) {
    fail(`${what}: got ${actual}, expected ${expected} (|diff| = ${Math.abs(actual - expected)})`);
  }
}

function expectArrayNear(what: string, actual: readonly number[], expected: readonly number[], tolerance: number): void {
  if (actual.length !== expected.length) fail(`${what}: got ${actual.length} values [${actual}], expected ${expected.length} [${expected}]`);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]!) <= tolerance)) fail(`${what}: entry ${i} is ${a}, expected ${expected[i]} (all: [${actual}] vs [${expected}])`);
  });
}

function expectSameSet(what: string, actual: readonly number[], expected: readonly number[]): void {
  const a = [...actual].sort((x, y) => x - y);
  const e = [...expected].sort((x, y) => x - y);
  if (a.length !== e.length || a.some((v, i) => v !== e[i])) fail(`${what}: got {${a}}, expected {${e}}`);
}

// ---------------------------------------------------------------------------------------------------
// Generators that reach the boundaries
// ---------------------------------------------------------------------------------------------------

/** t ∈ [0, 1], with 0 and 1 drawn on purpose. */
const time = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));
/** t ∈ (0, 1): a frame that is neither clean nor pure noise. */
const interiorTime = fc.double({ min: 0, max: 1, minExcluded: true, maxExcluded: true, noNaN: true });

/** W from 1 up, with W = 1, n_cln = 0 and n_cln = W − 1 drawn on purpose. */
function windowSpec(maxWindow: number): fc.Arbitrary<WindowSpec> {
  return fc
    .oneof(fc.constant(1), fc.integer({ min: 1, max: maxWindow }))
    .chain((window) =>
      fc
        .oneof(fc.constant(0), fc.constant(window - 1), fc.integer({ min: 0, max: window - 1 }))
        .map((cleanFrames) => ({ window, cleanFrames })),
    );
}

/** Two global times s ≤ t, equal ones included. */
const timeStep = fc.oneof(
  time.map((t) => ({ s: t, t })),
  fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a })),
);

/** One frame's step s_k ≤ t_k, with each category of Eqs. 8-10 and its edges drawn on purpose. */
const frameStep = fc.oneof(
  fc.constant({ s: 0, t: 0 }), // clean
  fc.constant({ s: 1, t: 1 }), // pure noise
  fc.constant({ s: 0, t: 1 }), // a whole reverse process in one step
  interiorTime.map((s) => ({ s, t: 1 })), // leaving pure noise
  interiorTime.map((t) => ({ s: 0, t })), // becoming clean
  interiorTime.map((t) => ({ s: t, t })), // a zero-length step
  fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a })),
);
const frameSteps = fc.array(frameStep, { minLength: 1, maxLength: 10 });

/** λ ∈ [−20, 20] with the ends and 0 drawn on purpose. */
const logSnrValue = fc.oneof(fc.constant(-20), fc.constant(20), fc.constant(0), fc.double({ min: -20, max: 20, noNaN: true }));

/** λ_s ≥ λ_t (s ≤ t): equal, arbitrary, and tiny steps where naive formulas cancel. */
const logSnrStep = fc.oneof(
  logSnrValue.map((l) => ({ logSnrS: l, logSnrT: l })),
  fc.tuple(logSnrValue, logSnrValue).map(([a, b]) => (a >= b ? { logSnrS: a, logSnrT: b } : { logSnrS: b, logSnrT: a })),
  fc.tuple(logSnrValue, fc.double({ min: 1e-9, max: 1e-2, noNaN: true })).map(([l, d]) => ({ logSnrS: l, logSnrT: l - d })),
);

const eta = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

/** Pixel values k/32 ∈ [−3, 3]: exact in float32, so a tensor adapter sees exactly the law's numbers. */
const pixel = fc.integer({ min: -96, max: 96 }).map((k) => k / 32);

/** The generators, for writing further laws with the same boundaries. */
export const lawArbitraries = { time, interiorTime, windowSpec, timeStep, frameStep, frameSteps, logSnrValue, logSnrStep, eta, pixel };

// ---------------------------------------------------------------------------------------------------
// Local times (Eqs. 20-23, 37) and frame categories (Eqs. 8-10)
// ---------------------------------------------------------------------------------------------------

/** A local-time map: for a window, the local time of every frame at global time t ∈ [0, 1]. */
export type LocalTimeMap = (options: WindowSpec) => (t: number) => readonly number[];

export interface FrameCategoriesResult {
  readonly clean: readonly number[];
  readonly noise: readonly number[];
  readonly window: readonly number[];
}

export interface LocalTimeImpl {
  /** Eq. 22 (Eq. 21 when n_cln = 0). */
  readonly linearLocalTimes: LocalTimeMap;
  /** Eq. 23, with the n_cln conditioning frames held at 0 and the rest on a window of W − n_cln frames. */
  readonly initLocalTimes: LocalTimeMap;
  /** Eq. 37, the rescaled boundary schedule of Appendix G (0-based frames). */
  readonly rescaledInitLocalTimes?: LocalTimeMap;
  /** Eqs. 8-10: frame indices (0-based) of a step from local times t to s. */
  readonly frameCategories: (s: readonly number[], t: readonly number[]) => FrameCategoriesResult;
}

export interface TolerantLawOptions {
  /** Absolute tolerance for equalities the paper states exactly (default 1e-12 for number-level code). */
  readonly tolerance?: number;
}

/** The rolling state linear(0): (0, …, 0, 0/M, 1/M, …, (M − 1)/M), M = W − n_cln (Algorithm 2's start). */
function rollingState({ window, cleanFrames }: WindowSpec): number[] {
  const generated = window - cleanFrames;
  return Array.from({ length: window }, (_, w) => (w < cleanFrames ? 0 : (w - cleanFrames) / generated));
}

export function localTimeLaws(impl: LocalTimeImpl, options: TolerantLawOptions = {}): Law[] {
  const tol = options.tolerance ?? 1e-12;
  const maps: { label: string; make: LocalTimeMap }[] = [
    { label: 'linear local times (Eq. 22)', make: impl.linearLocalTimes },
    { label: 'init local times (Eq. 23)', make: impl.initLocalTimes },
    ...(impl.rescaledInitLocalTimes ? [{ label: 'rescaled init local times (Eq. 37)', make: impl.rescaledInitLocalTimes }] : []),
  ];
  const laws: Law[] = [];
  for (const { label, make } of maps) {
    laws.push(
      {
        name: `${label}: one local time per frame, each in [0, 1]`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          if (times.length !== spec.window) fail(`got ${times.length} local times for a window of ${spec.window}`);
          times.forEach((tw, w) => {
            if (!(tw >= 0 && tw <= 1)) fail(`frame ${w} has local time ${tw} outside [0, 1] (all: [${times}])`);
          });
        }),
      },
      {
        name: `${label}: older frames are never noisier (non-decreasing along the window)`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          times.forEach((tw, w) => {
            if (w > 0 && !(tw >= times[w - 1]!)) fail(`frame ${w} (${tw}) is cleaner than frame ${w - 1} (${times[w - 1]}): [${times}]`);
          });
        }),
      },
      {
        name: `${label}: every frame gets noisier as the global time grows`,
        property: fc.property(windowSpec(16), timeStep, (spec, { s, t }) => {
          const map = make(spec);
          const before = map(s);
          map(t).forEach((tw, w) => {
            if (!(tw >= before[w]!)) fail(`frame ${w}: local time ${before[w]} at t=${s} but ${tw} at t=${t}`);
          });
        }),
      },
      {
        name: `${label}: the clean conditioning frames stay at local time 0 for every t`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          for (let w = 0; w < spec.cleanFrames; w++) if (times[w] !== 0) fail(`conditioning frame ${w} has local time ${times[w]} at t=${t}: [${times}]`);
        }),
      },
      {
        name: `${label}: at t = 0 the window is in the rolling state (0, …, 0, 0/M, …, (M − 1)/M)`,
        property: fc.property(windowSpec(16), (spec) => {
          expectArrayNear(`local times at t = 0`, make(spec)(0), rollingState(spec), tol);
        }),
      },
    );
  }

  const linear = impl.linearLocalTimes;
  laws.push(
    {
      name: 'linear local times (Eq. 22): moving the window is consistent, frame w at t = 0 equals frame w − 1 at t = 1',
      property: fc.property(windowSpec(16), (spec) => {
        const map = linear(spec);
        expectArrayNear('linear(0) without its first frame vs linear(1) without its last', map(0).slice(1), map(1).slice(0, -1), tol);
      }),
    },
    {
      name: 'linear local times (Eq. 22): every generated frame advances by 1/(W − n_cln) per unit of global time',
      property: fc.property(windowSpec(16), time, (spec, t) => {
        const map = linear(spec);
        const at0 = map(0);
        const atT = map(t);
        const generated = spec.window - spec.cleanFrames;
        for (let w = spec.cleanFrames; w < spec.window; w++) {
          expectNear(`frame ${w}: t_w(${t}) − t_w(0)`, atT[w]! - at0[w]!, t / generated, 0, tol);
        }
      }),
    },
    {
      name: 'linear local times (Eq. 22): at t = 1 the newest frame is pure noise and no other is',
      property: fc.property(windowSpec(16), (spec) => {
        const times = linear(spec)(1);
        if (times[spec.window - 1] !== 1) fail(`the last frame has local time ${times[spec.window - 1]} at t = 1: [${times}]`);
        times.slice(0, -1).forEach((tw, w) => {
          if (!(tw < 1)) fail(`frame ${w} is pure noise at t = 1: [${times}]`);
        });
      }),
    },
    {
      name: 'init local times (Eq. 23): at t = 1 every generated frame is pure noise (Algorithm 3 starts from N(0, I))',
      property: fc.property(windowSpec(16), (spec) => {
        const expected = Array.from({ length: spec.window }, (_, w) => (w < spec.cleanFrames ? 0 : 1));
        expectArrayNear('init local times at t = 1', impl.initLocalTimes(spec)(1), expected, 0);
      }),
    },
    {
      name: 'init local times (Eq. 23): on [0, 1/M] they are the linear ones, t^init(τ) = t^lin(M τ)',
      property: fc.property(windowSpec(16), time, (spec, u) => {
        const generated = spec.window - spec.cleanFrames;
        const tau = u / generated;
        expectArrayNear(`init(${tau}) vs linear(${generated}·${tau})`, impl.initLocalTimes(spec)(tau), linear(spec)(Math.min(1, generated * tau)), 1e3 * tol);
      }),
    },
  );
  if (impl.rescaledInitLocalTimes) {
    const rescaled = impl.rescaledInitLocalTimes;
    laws.push(
      {
        name: 'rescaled init local times (Eq. 37): at t = 1 every generated frame is pure noise',
        property: fc.property(windowSpec(16), (spec) => {
          const expected = Array.from({ length: spec.window }, (_, w) => (w < spec.cleanFrames ? 0 : 1));
          expectArrayNear('rescaled init local times at t = 1', rescaled(spec)(1), expected, 0);
        }),
      },
      {
        name: 'rescaled init local times (Eq. 37): 1 − t_w = (1 − t)(1 − m/M) for generated frame m',
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const generated = spec.window - spec.cleanFrames;
          const times = rescaled(spec)(t);
          for (let w = spec.cleanFrames; w < spec.window; w++) {
            expectNear(`frame ${w}: 1 − t_w`, 1 - times[w]!, (1 - t) * (1 - (w - spec.cleanFrames) / generated), 0, 4 * tol);
          }
        }),
      },
    );
  }

  const categories = impl.frameCategories;
  const split3 = (steps: readonly { s: number; t: number }[]) => categories(steps.map((x) => x.s), steps.map((x) => x.t));
  laws.push(
    {
      name: 'frame categories (Eqs. 8-10): clean, noise and window partition the frames',
      property: fc.property(frameSteps, (steps) => {
        const { clean, noise, window } = split3(steps);
        expectSameSet('clean ∪ noise ∪ window', [...clean, ...noise, ...window], steps.map((_, k) => k));
      }),
    },
    {
      name: 'frame categories (Eq. 8): the clean frames are exactly those with s_k = t_k = 0',
      property: fc.property(frameSteps, (steps) => {
        expectSameSet('clean', split3(steps).clean, steps.flatMap((x, k) => (x.s === 0 && x.t === 0 ? [k] : [])));
      }),
    },
    {
      name: 'frame categories (Eq. 9): the noise frames are exactly those with s_k = t_k = 1',
      property: fc.property(frameSteps, (steps) => {
        expectSameSet('noise', split3(steps).noise, steps.flatMap((x, k) => (x.s === 1 && x.t === 1 ? [k] : [])));
      }),
    },
    {
      name: 'frame categories of a linear step: the conditioning frames are copied and every generated frame is denoised',
      property: fc.property(windowSpec(16), fc.double({ min: 1e-9, max: 1 - 1e-9, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (spec, t, steps) => {
        const map = linear(spec);
        const s = Math.max(0, t - 1 / steps);
        const { clean, noise, window } = categories(map(s), map(t));
        expectSameSet('clean', clean, Array.from({ length: spec.cleanFrames }, (_, k) => k));
        expectSameSet('noise', noise, []);
        expectSameSet('window', window, Array.from({ length: spec.window - spec.cleanFrames }, (_, m) => spec.cleanFrames + m));
      }),
    },
  );
  return laws;
}

// ---------------------------------------------------------------------------------------------------
// Schedules (Section 2.1, MATH.md)
// ---------------------------------------------------------------------------------------------------

export interface ScheduleImpl {
  /** λ(t) = log SNR(t) = log(α_t² / σ_t²). */
  readonly logSnr: (t: number) => number;
  readonly alpha: (t: number) => number;
  readonly sigma: (t: number) => number;
  /** λ(1) and λ(0) when the schedule is clipped to a finite range; they must then be hit exactly. */
  readonly logSnrMin?: number;
  readonly logSnrMax?: number;
  /** The same schedule with the resolution shift of simple diffusion for images of side `imageSize`. */
  readonly shifted?: (imageSize: number, referenceSize: number) => { readonly logSnr: (t: number) => number };
}

const imageSide = fc.oneof(fc.constantFrom(8, 16, 32, 64, 128, 256, 512), fc.integer({ min: 1, max: 1024 }));

export function scheduleLaws(impl: ScheduleImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-9;
  const laws: Law[] = [
    {
      name: 'schedule: variance preserving, α² + σ² = 1 at every t',
      property: fc.property(time, (t) => {
        const a = impl.alpha(t);
        const s = impl.sigma(t);
        expectNear(`α(${t})² + σ(${t})²`, a * a + s * s, 1, 0, tol);
        if (!(a >= 0 && s >= 0)) fail(`α(${t}) = ${a} and σ(${t}) = ${s} must be non-negative`);
      }),
    },
    {
      name: 'schedule: λ(t) is finite and equals log(α² / σ²)',
      property: fc.property(time, (t) => {
        const l = impl.logSnr(t);
        if (!Number.isFinite(l)) fail(`λ(${t}) = ${l} is not finite`);
        expectNear(`2 log α(${t}) − 2 log σ(${t})`, 2 * Math.log(impl.alpha(t)) - 2 * Math.log(impl.sigma(t)), l, tol, tol);
      }),
    },
    {
      name: 'schedule: noise only grows with t (λ and α non-increasing, σ non-decreasing)',
      property: fc.property(timeStep, ({ s, t }) => {
        if (!(impl.logSnr(s) >= impl.logSnr(t))) fail(`λ(${s}) = ${impl.logSnr(s)} < λ(${t}) = ${impl.logSnr(t)}`);
        if (!(impl.alpha(s) >= impl.alpha(t))) fail(`α(${s}) = ${impl.alpha(s)} < α(${t}) = ${impl.alpha(t)}`);
        if (!(impl.sigma(s) <= impl.sigma(t))) fail(`σ(${s}) = ${impl.sigma(s)} > σ(${t}) = ${impl.sigma(t)}`);
      }),
    },
    {
      name: 'schedule: t = 0 is the cleanest level and t = 1 the noisiest, λ(0) > λ(1)',
      property: fc.property(fc.constant(null), () => {
        const l0 = impl.logSnr(0);
        const l1 = impl.logSnr(1);
        if (!(l0 > l1)) fail(`λ(0) = ${l0} is not above λ(1) = ${l1}`);
        if (impl.logSnrMax !== undefined && l0 !== impl.logSnrMax) fail(`λ(0) = ${l0}, expected logSnrMax = ${impl.logSnrMax}`);
        if (impl.logSnrMin !== undefined && l1 !== impl.logSnrMin) fail(`λ(1) = ${l1}, expected logSnrMin = ${impl.logSnrMin}`);
      }),
    },
  ];
  if (impl.shifted) {
    const shifted = impl.shifted;
    laws.push(
      {
        name: 'shifted schedule: λ_shifted(t) = λ(t) + 2 log(d_ref / d), applied once',
        property: fc.property(time, imageSide, imageSide, (t, d, dRef) => {
          expectNear(`λ_shifted(${t}) − λ(${t}) for d=${d}, d_ref=${dRef}`, shifted(d, dRef).logSnr(t) - impl.logSnr(t), 2 * Math.log(dRef / d), tol, tol);
        }),
      },
      {
        name: 'shifted schedule: larger images get more noise, and the reference size is unshifted',
        property: fc.property(time, imageSide, imageSide, (t, d, dRef) => {
          const l = impl.logSnr(t);
          const ls = shifted(d, dRef).logSnr(t);
          if (d > dRef && !(ls < l)) fail(`d=${d} > d_ref=${dRef} but λ_shifted(${t}) = ${ls} ≥ λ(${t}) = ${l}`);
          if (d < dRef && !(ls > l)) fail(`d=${d} < d_ref=${dRef} but λ_shifted(${t}) = ${ls} ≤ λ(${t}) = ${l}`);
          expectNear(`λ at the reference size (d = d_ref = ${dRef})`, shifted(dRef, dRef).logSnr(t), l, tol, tol);
        }),
      },
    );
  }
  return laws;
}

// ---------------------------------------------------------------------------------------------------
// Posterior q(z_s | z_t, x) (Eq. 3), DDIM, and the per-frame posterior (Eqs. 11-15)
// ---------------------------------------------------------------------------------------------------

export interface PosteriorImpl {
  /** Eq. 3 between logSNRs λ_s ≥ λ_t (s ≤ t). */
  readonly posterior: (logSnrS: number, logSnrT: number) => PosteriorCoefficients;
  /** DDIM(η) written in the shape of Eq. 3, with ε̂ = (z_t − α_t x̂) / σ_t substituted. */
  readonly ddim?: (logSnrS: number, logSnrT: number, eta: number) => PosteriorCoefficients;
  /** Eqs. 11-15: one set of coefficients per frame for a step from local times t to s, under λ = logSnr. */
  readonly framePosterior?: {
    readonly logSnr: (t: number) => number;
    readonly coefficients: (s: readonly number[], t: readonly number[]) => readonly PosteriorCoefficients[];
  };
}

/**
 * The three identities that pin Eq. 3 down (MATH.md): with z_t ~ N(α_t x, σ_t²) the posterior must give
 * z_s ~ N(α_s x, σ_s²) (mean and variance of the marginal), and its covariance with z_t, zCoef σ_t², must
 * be the forward process's α_{t|s} σ_s².
 */
function expectPosteriorIdentities(what: string, c: PosteriorCoefficients, logSnrS: number, logSnrT: number, tol: number, withCovariance: boolean): void {
  const [aS, sS, aT, sT] = [alphaOf(logSnrS), sigmaOf(logSnrS), alphaOf(logSnrT), sigmaOf(logSnrT)];
  expectNear(`${what}: marginal mean zCoef·α_t + xCoef = α_s`, c.zCoef * aT + c.xCoef, aS, tol, 0);
  expectNear(`${what}: marginal variance zCoef²σ_t² + variance = σ_s²`, c.zCoef * c.zCoef * sT * sT + c.variance, sS * sS, tol, 0);
  if (withCovariance) expectNear(`${what}: covariance zCoef·σ_t² = α_{t|s}σ_s²`, c.zCoef * sT * sT, (aT / aS) * sS * sS, tol, 0);
}

export function posteriorLaws(impl: PosteriorImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-9;
  const at = ({ logSnrS, logSnrT }: { logSnrS: number; logSnrT: number }) => `λ_s=${logSnrS}, λ_t=${logSnrT}`;
  const laws: Law[] = [
    {
      name: 'posterior (Eq. 3): maps the marginal at t to the marginal at s, zCoef·α_t + xCoef = α_s',
      property: fc.property(logSnrStep, (p) => {
        const c = impl.posterior(p.logSnrS, p.logSnrT);
        expectNear(`${at(p)}: zCoef·α_t + xCoef`, c.zCoef * alphaOf(p.logSnrT) + c.xCoef, alphaOf(p.logSnrS), tol, 0);
      }),
    },
    {
      name: 'posterior (Eq. 3): its variance completes the marginal, zCoef²σ_t² + variance = σ_s²',
      property: fc.property(logSnrStep, (p) => {
        const c = impl.posterior(p.logSnrS, p.logSnrT);
        const sT = sigmaOf(p.logSnrT);
        expectNear(`${at(p)}: zCoef²σ_t² + variance`, c.zCoef * c.zCoef * sT * sT + c.variance, sigmaOf(p.logSnrS) ** 2, tol, 0);
      }),
    },
    {
      name: 'posterior (Eq. 3): covariance with z_t is the forward process\'s, zCoef·σ_t² = α_{t|s}σ_s²',
      property: fc.property(logSnrStep, (p) => {
        const c = impl.posterior(p.logSnrS, p.logSnrT);
        const expected = (alphaOf(p.logSnrT) / alphaOf(p.logSnrS)) * sigmaOf(p.logSnrS) ** 2;
        expectNear(`${at(p)}: zCoef·σ_t²`, c.zCoef * sigmaOf(p.logSnrT) ** 2, expected, tol, 0);
      }),
    },
    {
      name: 'posterior (Eq. 3): variance in [0, σ_s²], and a zero-length step s = t is the identity (1, 0, 0)',
      property: fc.property(logSnrStep, (p) => {
        const c = impl.posterior(p.logSnrS, p.logSnrT);
        if (!(c.variance >= 0 && c.variance <= sigmaOf(p.logSnrS) ** 2 * (1 + tol))) fail(`${at(p)}: variance ${c.variance} outside [0, σ_s² = ${sigmaOf(p.logSnrS) ** 2}]`);
        const id = impl.posterior(p.logSnrS, p.logSnrS);
        expectNear(`s = t: zCoef`, id.zCoef, 1, 0, tol);
        expectNear(`s = t: xCoef`, id.xCoef, 0, 0, tol);
        expectNear(`s = t: variance`, id.variance, 0, 0, tol);
      }),
    },
  ];
  if (impl.ddim) {
    const ddim = impl.ddim;
    laws.push(
      {
        name: 'DDIM(η): preserves the marginal for every η (mean α_s, variance σ_s²)',
        property: fc.property(logSnrStep, eta, (p, e) => {
          expectPosteriorIdentities(`DDIM(η=${e}) at ${at(p)}`, ddim(p.logSnrS, p.logSnrT, e), p.logSnrS, p.logSnrT, tol, false);
        }),
      },
      {
        name: 'DDIM(η): η = 1 is the ancestral posterior and η = 0 is deterministic',
        property: fc.property(logSnrStep, (p) => {
          const one = ddim(p.logSnrS, p.logSnrT, 1);
          const post = impl.posterior(p.logSnrS, p.logSnrT);
          expectNear(`${at(p)}: DDIM(1) zCoef`, one.zCoef, post.zCoef, tol, 1e-15);
          expectNear(`${at(p)}: DDIM(1) xCoef`, one.xCoef, post.xCoef, tol, 1e-15);
          expectNear(`${at(p)}: DDIM(1) variance`, one.variance, post.variance, tol, 1e-300);
          const zero = ddim(p.logSnrS, p.logSnrT, 0);
          if (zero.variance !== 0) fail(`${at(p)}: DDIM(0) has variance ${zero.variance}, expected 0`);
        }),
      },
      {
        name: 'DDIM(η): its variance is η² times the posterior variance',
        property: fc.property(logSnrStep, eta, (p, e) => {
          expectNear(`${at(p)}, η=${e}: variance`, ddim(p.logSnrS, p.logSnrT, e).variance, e * e * impl.posterior(p.logSnrS, p.logSnrT).variance, tol, 1e-300);
        }),
      },
    );
  }
  if (impl.framePosterior) {
    const { logSnr, coefficients } = impl.framePosterior;
    laws.push({
      name: 'per-frame posterior (Eqs. 11-15): clean frames are copied, noise frames are fresh N(0, I), window frames follow Eq. 3',
      property: fc.property(frameSteps, (steps) => {
        const cs = coefficients(steps.map((x) => x.s), steps.map((x) => x.t));
        if (cs.length !== steps.length) fail(`${cs.length} coefficients for ${steps.length} frames`);
        steps.forEach(({ s, t }, k) => {
          const c = cs[k]!;
          const got = `(${c.zCoef}, ${c.xCoef}, ${c.variance})`;
          if (s === 0 && t === 0) {
            if (c.zCoef !== 1 || c.xCoef !== 0 || c.variance !== 0) fail(`clean frame ${k} (s=t=0) has ${got}, expected the copy (1, 0, 0) of Eq. 12`);
          } else if (s === 1 && t === 1) {
            if (c.zCoef !== 0 || c.xCoef !== 0 || c.variance !== 1) fail(`noise frame ${k} (s=t=1) has ${got}, expected fresh noise (0, 0, 1) of Eq. 13`);
          } else {
            expectPosteriorIdentities(`window frame ${k} (s=${s}, t=${t})`, c, logSnr(s), logSnr(t), tol, true);
          }
        });
      }),
    });
  }
  return laws;
}

// ---------------------------------------------------------------------------------------------------
// Forward process and parameterizations (MATH.md), element-wise
// ---------------------------------------------------------------------------------------------------

/** An element-wise map of two equally long arrays and a logSNR per element (sync or async). */
export type ElementwiseFn = (a: readonly number[], b: readonly number[], logSnr: readonly number[]) => readonly number[] | Promise<readonly number[]>;

export interface ProcessImpl {
  /** (x, ε, λ) → z. */
  readonly diffuse: ElementwiseFn;
  /** (x, ε, λ) → v, the model's target. */
  readonly vFromXEps: ElementwiseFn;
  /** (z, v, λ) → x. */
  readonly xFromV: ElementwiseFn;
  /** (z, v, λ) → ε. */
  readonly epsFromV: ElementwiseFn;
}

const elementCase = fc.array(fc.tuple(pixel, pixel, fc.oneof(fc.constant(-15), fc.constant(15), fc.constant(0), fc.double({ min: -15, max: 15, noNaN: true }))), {
  minLength: 1,
  maxLength: 8,
});

/** Laws of the forward process. `tolerance` is absolute (default 1e-5, right for float32 tensors). */
export function processLaws(impl: ProcessImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const columns = (c: readonly (readonly [number, number, number])[]) => ({ a: c.map((e) => e[0]), b: c.map((e) => e[1]), l: c.map((e) => e[2]) });
  return [
    {
      name: 'forward process (Eq. 7): z = α x + σ ε',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const z = await impl.diffuse(x, eps, l);
        expectArrayNear('z', z, x.map((xi, i) => alphaOf(l[i]!) * xi + sigmaOf(l[i]!) * eps[i]!), tol);
      }),
    },
    {
      name: 'v-parameterization: v = α ε − σ x',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const v = await impl.vFromXEps(x, eps, l);
        expectArrayNear('v', v, x.map((xi, i) => alphaOf(l[i]!) * eps[i]! - sigmaOf(l[i]!) * xi), tol);
      }),
    },
    {
      name: 'v-parameterization: x = α z − σ v and ε = σ z + α v recover the data and the noise',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const z = await impl.diffuse(x, eps, l);
        const v = await impl.vFromXEps(x, eps, l);
        expectArrayNear('x from (z, v)', await impl.xFromV(z, v, l), x, tol);
        expectArrayNear('ε from (z, v)', await impl.epsFromV(z, v, l), eps, tol);
      }),
    },
    {
      name: 'errors (MATH.md): ‖v − v̂‖² = (1 + SNR)‖x − x̂‖² and ‖ε − ε̂‖² = SNR‖x − x̂‖², as x − x̂ = σ(v̂ − v), ε − ε̂ = α(v − v̂)',
      property: fc.asyncProperty(elementCase, fc.array(pixel, { minLength: 8, maxLength: 8 }), async (c, vHatAll) => {
        const { a: x, b: eps, l } = columns(c);
        const vHat = vHatAll.slice(0, x.length);
        const z = await impl.diffuse(x, eps, l);
        const v = await impl.vFromXEps(x, eps, l);
        const xHat = await impl.xFromV(z, vHat, l);
        const epsHat = await impl.epsFromV(z, vHat, l);
        expectArrayNear('x − x̂', x.map((xi, i) => xi - xHat[i]!), vHat.map((vh, i) => sigmaOf(l[i]!) * (vh - v[i]!)), tol);
        expectArrayNear('ε − ε̂', eps.map((e, i) => e - epsHat[i]!), vHat.map((vh, i) => alphaOf(l[i]!) * (v[i]! - vh)), tol);
      }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Loss weightings a(λ) (Eqs. 5, 18, 26) and the window loss (Eq. 26)
// ---------------------------------------------------------------------------------------------------

/** The paper's weightings a(λ) in x-loss units: 1, SNR, 1 + SNR, min(SNR, γ) (Min-SNR-γ, Hang et al. 2023). */
function referenceXWeight(name: LossWeightingName, gamma: number, logSnr: number): number {
  switch (name) {
    case 'x':
      return 1;
    case 'eps':
      return Math.exp(logSnr);
    case 'v':
      return 1 + Math.exp(logSnr);
    case 'minSnr':
      return Math.min(Math.exp(logSnr), gamma);
  }
}

/** The same weighting multiplying ‖v − v̂‖²: a(λ) / (1 + SNR), written without overflow. */
function referenceVWeight(name: LossWeightingName, gamma: number, logSnr: number): number {
  switch (name) {
    case 'x':
      return sigmoid(-logSnr);
    case 'eps':
      return sigmoid(logSnr);
    case 'v':
      return 1;
    case 'minSnr':
      return Math.min(sigmoid(logSnr), gamma * sigmoid(-logSnr));
  }
}

export interface WeightingImpl {
  readonly name: LossWeightingName;
  /** γ of Min-SNR-γ (default 5). */
  readonly gamma?: number;
  /** a(λ) multiplying ‖x − x̂‖². */
  readonly xWeight: (logSnr: number) => number;
  /** The same weighting multiplying ‖ε − ε̂‖². */
  readonly epsWeight: (logSnr: number) => number;
  /** The same weighting multiplying ‖v − v̂‖². */
  readonly vWeight: (logSnr: number) => number;
}

const weightLogSnr = fc.oneof(fc.constant(-30), fc.constant(30), fc.constant(0), fc.double({ min: -30, max: 30, noNaN: true }));

export function weightingLaws(impl: WeightingImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-9;
  const gamma = impl.gamma ?? 5;
  const label = `loss weighting '${impl.name}'`;
  const laws: Law[] = [
    {
      name: `${label}: a(λ) is the paper's weighting (x: 1, eps: SNR, v: 1 + SNR, minSnr: min(SNR, γ))`,
      property: fc.property(weightLogSnr, (l) => {
        expectNear(`a(${l})`, impl.xWeight(l), referenceXWeight(impl.name, gamma, l), tol, 0);
      }),
    },
    {
      name: `${label}: its ε-form is the same weighting, epsWeight · SNR = a(λ) (‖ε − ε̂‖² = SNR‖x − x̂‖²)`,
      property: fc.property(weightLogSnr, (l) => {
        expectNear(`epsWeight(${l}) · SNR`, impl.epsWeight(l) * Math.exp(l), referenceXWeight(impl.name, gamma, l), tol, 0);
      }),
    },
    {
      name: `${label}: its v-form is the same weighting, vWeight · (1 + SNR) = a(λ) (‖v − v̂‖² = (1 + SNR)‖x − x̂‖²)`,
      property: fc.property(weightLogSnr, (l) => {
        expectNear(`vWeight(${l})`, impl.vWeight(l), referenceVWeight(impl.name, gamma, l), tol, 0);
      }),
    },
    {
      name: `${label}: weights are positive, finite, and never fall as the noise level falls`,
      property: fc.property(weightLogSnr, weightLogSnr, (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        for (const l of [lo, hi]) {
          const w = impl.xWeight(l);
          if (!(w > 0 && Number.isFinite(w))) fail(`a(${l}) = ${w}`);
        }
        if (!(impl.xWeight(hi) >= impl.xWeight(lo) * (1 - tol))) fail(`a(${hi}) = ${impl.xWeight(hi)} < a(${lo}) = ${impl.xWeight(lo)}: cleaner levels weigh less`);
      }),
    },
  ];
  if (impl.name === 'minSnr') {
    laws.push({
      name: `${label}: Min-SNR-γ caps the weight, a(λ) ≤ γ and a(λ) ≤ SNR`,
      property: fc.property(weightLogSnr, (l) => {
        const w = impl.xWeight(l);
        if (!(w <= gamma * (1 + tol))) fail(`a(${l}) = ${w} > γ = ${gamma}`);
        if (!(w <= Math.exp(l) * (1 + tol))) fail(`a(${l}) = ${w} > SNR = ${Math.exp(l)}`);
      }),
    });
  }
  return laws;
}

/** One training example batch as plain arrays: B examples of W frames of P pixels. */
export interface LossInput {
  readonly window: number;
  readonly cleanFrames: number;
  /** Local time of every frame, [B][W]; the first n_cln are 0. */
  readonly localTimes: readonly (readonly number[])[];
  /** Data, noise and the model's v-prediction, [B][W][P]. */
  readonly x: readonly (readonly (readonly number[])[])[];
  readonly eps: readonly (readonly (readonly number[])[])[];
  readonly vHat: readonly (readonly (readonly number[])[])[];
}

export interface LossImpl {
  /** λ(t) of the schedule the loss evaluates at each local time. */
  readonly logSnr: (t: number) => number;
  /** The weighting a(t_k) the loss claims to use, and its γ for Min-SNR. */
  readonly weighting: LossWeightingName;
  readonly gamma?: number;
  /**
   * Eq. 26 for a v-predicting model: from x, ε (so z = α x + σ ε and v = α ε − σ x at each frame's
   * local time) and v̂, the loss of each example, [B]. Any positive normalisation is allowed.
   */
  readonly perExampleLoss: (input: LossInput) => readonly number[] | Promise<readonly number[]>;
}

type Frames = number[][][];

interface LossCase {
  readonly window: number;
  readonly cleanFrames: number;
  readonly localTimes: number[][];
  readonly x: Frames;
  readonly eps: Frames;
  readonly noise: Frames;
}

/** Local times of generated frames: clean (0), pure noise (1) and interior ones all drawn on purpose. */
const generatedLocalTime = fc.oneof(fc.constant(0), fc.constant(1), interiorTime, interiorTime);

function lossCase(maxBatch: number): fc.Arbitrary<LossCase> {
  return fc
    .tuple(windowSpec(6), fc.integer({ min: 1, max: maxBatch }), fc.integer({ min: 1, max: 4 }))
    .chain(([spec, batch, pixels]) => {
      const frames = (): fc.Arbitrary<Frames> =>
        fc.array(fc.array(fc.array(pixel, { minLength: pixels, maxLength: pixels }), { minLength: spec.window, maxLength: spec.window }), {
          minLength: batch,
          maxLength: batch,
        });
      const times = fc.array(
        fc.array(generatedLocalTime, { minLength: spec.window - spec.cleanFrames, maxLength: spec.window - spec.cleanFrames }).map((g) => [
          ...new Array<number>(spec.cleanFrames).fill(0),
          ...g,
        ]),
        { minLength: batch, maxLength: batch },
      );
      return fc.record({ localTimes: times, x: frames(), eps: frames(), noise: frames() }).map((r) => ({ ...spec, ...r }));
    });
}

export function lossLaws(impl: LossImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const gamma = impl.gamma ?? 5;
  /** v = α ε − σ x per frame, in float64. */
  const target = (c: LossCase): Frames =>
    c.x.map((ex, b) =>
      ex.map((frame, k) => {
        const l = impl.logSnr(c.localTimes[b]![k]!);
        return frame.map((xi, p) => alphaOf(l) * c.eps[b]![k]![p]! - sigmaOf(l) * xi);
      }),
    );
  const lossOf = async (c: LossCase, vHat: Frames): Promise<number[]> => {
    const out = await impl.perExampleLoss({ window: c.window, cleanFrames: c.cleanFrames, localTimes: c.localTimes, x: c.x, eps: c.eps, vHat });
    if (out.length !== c.x.length) fail(`${out.length} losses for a batch of ${c.x.length}`);
    return [...out];
  };
  /** v̂ = v, except on the frames `which` selects, where v̂ = v + noise (+ `shift`). */
  const perturbed = (c: LossCase, v: Frames, which: (b: number, k: number) => boolean, shift = 0): Frames =>
    v.map((ex, b) => ex.map((frame, k) => (which(b, k) ? frame.map((vi, p) => vi + c.noise[b]![k]![p]! + shift) : frame)));
  const unchangedWhen = (frameTime: number, what: string): Law['property'] =>
    fc.asyncProperty(lossCase(3), async (c) => {
      const v = target(c);
      const base = await lossOf(c, perturbed(c, v, () => true));
      const moved = await lossOf(c, perturbed(c, v, (b, k) => c.localTimes[b]![k] !== frameTime, 0));
      // Only the frames at `frameTime` differ between the two predictions (they are exact in `moved`).
      base.forEach((l, b) => expectNear(`example ${b}: loss with ${what} predicted wrongly vs exactly`, l, moved[b]!, tol, tol));
    });

  return [
    {
      name: 'loss (Eq. 26): a perfect v-prediction (v̂ = α ε − σ x) has zero loss',
      property: fc.asyncProperty(lossCase(3), async (c) => {
        (await lossOf(c, target(c))).forEach((l, b) => expectNear(`example ${b}: loss`, l, 0, 0, tol));
      }),
    },
    {
      name: 'loss (Eq. 26): the loss is non-negative and grows with the error',
      property: fc.asyncProperty(lossCase(3), async (c) => {
        const v = target(c);
        const one = await lossOf(c, perturbed(c, v, () => true));
        const two = await lossOf(c, v.map((ex, b) => ex.map((frame, k) => frame.map((vi, p) => vi + 2 * c.noise[b]![k]![p]!))));
        one.forEach((l, b) => {
          if (!(l >= -tol)) fail(`example ${b}: loss ${l} < 0`);
          if (!(two[b]! >= l - tol)) fail(`example ${b}: doubling the error lowered the loss from ${l} to ${two[b]}`);
        });
      }),
    },
    {
      name: 'loss (Eq. 26, App. A): clean frames, conditioning frames included, carry no loss',
      property: unchangedWhen(0, 'the clean frames (t_k = 0)'),
    },
    {
      name: 'loss (Eq. 26, App. A): pure-noise frames (t_k = 1) carry no loss',
      property: unchangedWhen(1, 'the pure-noise frames (t_k = 1)'),
    },
    {
      name: `loss (Eq. 26): a window frame's v-error is weighted by a(t_k)/(1 + SNR) for the '${impl.weighting}' weighting`,
      property: fc.asyncProperty(lossCase(3), async (c) => {
        const v = target(c);
        const base = await lossOf(c, v);
        for (let b = 0; b < c.x.length; b++) {
          const window = c.localTimes[b]!.flatMap((t, k) => (t > 0 && t < 1 ? [k] : []));
          // The cost of a unit v-error on frame k alone, divided by the weight the paper gives it, must
          // be the same for every window frame (the normalisation is free, the ratios are not).
          let ratio: number | null = null;
          for (const k of window) {
            const loss = (await lossOf(c, perturbed(c, v, (bb, kk) => bb === b && kk === k, 1)))[b]! - base[b]!;
            const weight = referenceVWeight(impl.weighting, gamma, impl.logSnr(c.localTimes[b]![k]!));
            const perPixelError = c.noise[b]![k]!.reduce((s, n) => s + (n + 1) ** 2, 0) / c.noise[b]![k]!.length;
            if (perPixelError === 0) continue;
            const r = loss / (weight * perPixelError);
            if (!(r > 0 && Number.isFinite(r))) fail(`example ${b}, frame ${k} (t=${c.localTimes[b]![k]}): an error there costs ${loss}, expected a positive multiple of a weight ${weight}`);
            if (ratio === null) ratio = r;
            else expectNear(`example ${b}, frame ${k} (t=${c.localTimes[b]![k]}): cost / (weight · error) relative to the first window frame`, r, ratio, 100 * tol, 0);
          }
        }
      }),
    },
    {
      name: 'loss: each example\'s loss depends on that example alone, not on the rest of the batch',
      property: fc.asyncProperty(lossCase(4), async (c) => {
        const v = target(c);
        const vHat = perturbed(c, v, () => true);
        const together = await lossOf(c, vHat);
        for (let b = 0; b < c.x.length; b++) {
          const alone = await impl.perExampleLoss({
            window: c.window,
            cleanFrames: c.cleanFrames,
            localTimes: [c.localTimes[b]!],
            x: [c.x[b]!],
            eps: [c.eps[b]!],
            vHat: [vHat[b]!],
          });
          expectNear(`example ${b}: loss in the batch vs alone`, together[b]!, alone[0]!, tol, tol);
        }
      }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Noise-level embeddings (the model's conditioning, Eq. 6: each frame is told its own noise level)
// ---------------------------------------------------------------------------------------------------

export type EmbeddingVectors = readonly (readonly (readonly number[])[])[];

export interface EmbeddingImpl {
  /** logSNR per frame [B][F] → a conditioning vector per frame [B][F][D]. */
  readonly embed: (logSnr: readonly (readonly number[])[]) => EmbeddingVectors | Promise<EmbeddingVectors>;
  /** The logSNR range the laws draw from (default the truncated cosine's [−15, 15]). */
  readonly logSnrRange?: readonly [number, number];
}

function expectVectorsNear(what: string, a: EmbeddingVectors, b: EmbeddingVectors, tol: number): void {
  if (a.length !== b.length) fail(`${what}: ${a.length} vs ${b.length} examples`);
  a.forEach((ex, i) => ex.forEach((vec, k) => expectArrayNear(`${what}, example ${i}, frame ${k}`, vec, b[i]![k]!, tol)));
}

export function embeddingLaws(impl: EmbeddingImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const [lo, hi] = impl.logSnrRange ?? [-15, 15];
  const level = fc.oneof(fc.constant(lo), fc.constant(hi), fc.double({ min: lo, max: hi, noNaN: true }));
  const batch = (minB: number) =>
    fc.integer({ min: 1, max: 6 }).chain((frames) => fc.array(fc.array(level, { minLength: frames, maxLength: frames }), { minLength: minB, maxLength: 4 }));
  return [
    {
      name: 'embedding: each example\'s conditioning ignores the rest of the batch',
      property: fc.asyncProperty(batch(2), async (rows) => {
        const together = await impl.embed(rows);
        for (let b = 0; b < rows.length; b++) expectVectorsNear(`example ${b} in the batch vs alone`, [together[b]!], await impl.embed([rows[b]!]), tol);
      }),
    },
    {
      name: 'embedding: each frame\'s conditioning depends on its own noise level alone',
      property: fc.asyncProperty(batch(1), async (rows) => {
        const together = await impl.embed(rows);
        for (let k = 0; k < rows[0]!.length; k++) {
          expectVectorsNear(`frame ${k} in the window vs alone`, [[together[0]![k]!]], await impl.embed([[rows[0]![k]!]]), tol);
        }
      }),
    },
    {
      name: 'embedding: distinct noise levels get distinct conditioning',
      property: fc.asyncProperty(level, fc.double({ min: 0.05, max: hi - lo, noNaN: true }), async (a, gap) => {
        const b = a + gap <= hi ? a + gap : a - gap;
        if (b < lo) return;
        const e = await impl.embed([[a], [b]]);
        const ea = e[0]![0]!;
        const eb = e[1]![0]!;
        const distance = Math.max(...ea.map((x, i) => Math.abs(x - eb[i]!)));
        if (!(distance > 10 * tol)) fail(`λ = ${a} and λ = ${b} are embedded ${distance} apart`);
      }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Samplers, checked with the exact Gaussian oracle of MATH.md
// ---------------------------------------------------------------------------------------------------

export interface SamplerImpl {
  /** λ(t) of the schedule the sampler runs (the laws need α, σ at the rolling state's local times). */
  readonly logSnr: (t: number) => number;
  /**
   * Algorithm 3: from n_cln context frames (when n_cln > 0) and pure noise, denoise the window with the
   * boundary schedule down to global time 0. Returns the window in the rolling state, [B, W, …frame].
   */
  readonly sampleBoundary: (
    denoiser: Denoiser,
    options: WindowSpec & { readonly context?: Tensor; readonly batch: number; readonly frameShape: readonly number[]; readonly key: Key },
  ) => Tensor | Promise<Tensor>;
  /**
   * How the sampler discretises time, so that the laws can compute with the exact Gaussian recursion
   * (MATH.md's oracle pushed through every step) the moments it must produce at its real step count,
   * discretisation error included, and test its samples against those with statistical tolerance
   * alone. Without it the laws compare with the data's moments and allow `discretisation` on the
   * variance (and the N(0, I) start's bias on the mean). The laws check the grid against the paper: the boundary map starts from pure noise and
   * ends in the rolling state.
   */
  readonly stepGrid?: {
    /** DDIM's η of every window step: 1 for the ancestral sampler (Eq. 3), 0 for deterministic DDIM. */
    readonly eta: number;
    /** Algorithm 3's local-time map (Eq. 23 or 37) and its number of uniform steps in t from 1 to 0. */
    readonly boundary: (spec: WindowSpec) => { readonly localTimes: (t: number) => readonly number[]; readonly steps: number };
    /** Algorithm 2's uniform steps in t per shift, under the linear local times (Eq. 22). */
    readonly stepsPerFrame: number;
  };
  /** Algorithm 2: from a window in the rolling state, the next `frames` finished frames, [B, frames, …frame]. */
  readonly rollout?: (
    denoiser: Denoiser,
    options: WindowSpec & { readonly state: Tensor; readonly frames: number; readonly key: Key },
  ) => Tensor | Promise<Tensor>;
}

export interface SamplerLawOptions {
  /**
   * Random runs per law on top of the fixed examples (default 1). Every sampler law first runs the
   * rolling windows W = 1; W = 4, n_cln = 0; W = 4, n_cln = 3; W = 3, n_cln = 1, which a few random
   * draws of `windowSpec` would reach only by chance (W = 1 comes up 64% of the time).
   */
  readonly numRuns?: number;
  /** Examples per run and the frame shape (default 32 of [8, 8, 1]: 2048 pixels per frame). */
  readonly batch?: number;
  readonly frameShape?: readonly number[];
  /**
   * Allowed discretisation error of the variance, relative to it (default 0.08). Samplers plug in
   * E[x | z] and ignore Var(x | z), so a finite number of steps leaves the variance short by O(1/T),
   * with a large constant: uniform steps in t take big steps in λ near t = 0 (dλ/dt ≈ −5.7e3 there
   * for λ_max = 15). For our ancestral sampler over a whole reverse process of 100 steps the
   * shortfall is 4.5% at s = 1, 6.9% at s = 0.5 and 23% at s = 0.1 (the exact Gaussian recursion),
   * which is why the data's s is drawn from [0.5, 1.2]. With a `stepGrid` this bounds the recursion's
   * variance, a number, and the samples are held to the recursion by statistics alone; without one it
   * is added to the statistical tolerance of the variance. The mean gets no discretisation allowance:
   * E[x̂] = μ at every step, so a sampler keeps the data mean exactly but for its N(0, I) start
   * (mean 0 instead of α(1) μ). Every step is affine, z_τ = A z_1 + terms independent of z_1, so that
   * error is A α(1) μ at local time τ, with |A| ≤ sd(z_τ) because Var(z_τ) ≥ A² Var(z_1) = A². The
   * laws allow α(1) |μ| standard deviations for it: 5.5e-4 |μ| for λ_min = −15, but 0.08 |μ| for
   * λ_min = −5, so a schedule with a higher λ_min must not fail for it.
   */
  readonly discretisation?: number;
}

/** Mean and unbiased variance of frame `f` of a [B, F, …] array. */
function frameMoments(data: ArrayLike<number>, batch: number, frames: number, f: number): { mean: number; variance: number; n: number } {
  const per = data.length / (batch * frames);
  let sum = 0;
  let n = 0;
  for (let b = 0; b < batch; b++) for (let p = 0; p < per; p++, n++) sum += data[(b * frames + f) * per + p]!;
  const mean = sum / n;
  let ss = 0;
  for (let b = 0; b < batch; b++) for (let p = 0; p < per; p++) ss += (data[(b * frames + f) * per + p]! - mean) ** 2;
  return { mean, variance: ss / (n - 1), n };
}

/**
 * Five standard errors for n samples of N(mean, variance), plus `varianceAllowance` · variance on the
 * variance and `meanAllowance` standard deviations on the mean (both 0 when the expected moments come
 * from the exact recursion).
 */
function expectMoments(what: string, got: { mean: number; variance: number; n: number }, mean: number, variance: number, varianceAllowance = 0, meanAllowance = 0): void {
  const meanTol = 5 * Math.sqrt(variance / got.n) + meanAllowance * Math.sqrt(variance);
  const varTol = 5 * variance * Math.sqrt(2 / (got.n - 1)) + varianceAllowance * variance;
  if (!(Math.abs(got.mean - mean) <= meanTol)) fail(`${what}: mean ${got.mean}, expected ${mean} ± ${meanTol}`);
  if (!(Math.abs(got.variance - variance) <= varTol)) fail(`${what}: variance ${got.variance}, expected ${variance} ± ${varTol}`);
}

/**
 * Frames `firstFrame` … frames − 1 of a [B, frames, …] array, with different expected moments
 * (`expected[f]` for frame f), pooled: every pixel standardised by its frame's expected mean and
 * standard deviation, the lot checked to be N(0, 1) (per-frame checks alone have few pixels). The
 * allowances are `expectMoments`', in standardised units.
 */
function expectPooled(
  what: string,
  data: ArrayLike<number>,
  batch: number,
  frames: number,
  expected: readonly Moments[],
  { firstFrame = 0, varianceAllowance = 0, meanAllowance = 0 }: { firstFrame?: number; varianceAllowance?: number; meanAllowance?: number } = {},
): void {
  const per = data.length / (batch * frames);
  let sum = 0;
  let sq = 0;
  for (let b = 0; b < batch; b++) {
    for (let f = firstFrame; f < frames; f++) {
      const { mean, variance } = expected[f]!;
      for (let p = 0; p < per; p++) {
        const z = (data[(b * frames + f) * per + p]! - mean) / Math.sqrt(variance);
        sum += z;
        sq += z * z;
      }
    }
  }
  const n = batch * (frames - firstFrame) * per;
  const m = sum / n;
  expectMoments(`${what} (standardised, pooled)`, { mean: m, variance: (sq - n * m * m) / (n - 1), n }, 0, 1, varianceAllowance, meanAllowance);
}

/**
 * The sampler's per-frame step written out from MATH.md, never taken from the code under test:
 * clean frames copied (Eq. 12), pure-noise frames fresh (Eq. 13), window frames by DDIM(η) in the form
 * z_s = α_s x̂ + √(σ_s² − σ̃²) (z_t − α_t x̂)/σ_t + σ̃ ξ, σ̃² = η² c σ_s², c = −expm1(λ_t − λ_s)
 * (η = 1 is Eq. 3's posterior).
 */
function referenceStepRule(logSnr: (t: number) => number, eta: number): FrameStepRule {
  return (s, t) => {
    if (t === 0) return { zCoef: 1, xCoef: 0, variance: 0 };
    if (s === 1) return { zCoef: 0, xCoef: 0, variance: 1 };
    const [ls, lt] = [logSnr(s), logSnr(t)];
    const c = -Math.expm1(lt - ls);
    const extra = eta * eta * c * sigmaOf(ls) ** 2;
    const zCoef = Math.sqrt(Math.max(sigmaOf(ls) ** 2 - extra, 0)) / sigmaOf(lt);
    return { zCoef, xCoef: alphaOf(ls) - zCoef * alphaOf(lt), variance: extra };
  };
}

/** Eq. 22 written out: t_w = clip((w − n_cln + t) / (W − n_cln)), clean frames at 0. */
function referenceLinear({ window, cleanFrames }: WindowSpec): (t: number) => number[] {
  return (t) => Array.from({ length: window }, (_, w) => Math.min(1, Math.max(0, (w - cleanFrames + t) / (window - cleanFrames))));
}

async function read(t: Tensor | Promise<Tensor>): Promise<{ data: Float32Array; shape: readonly number[] }> {
  const tensor = await t;
  const data = (await tensor.toArray()) as Float32Array;
  const shape = tensor.shape;
  tensor.dispose();
  return { data, shape };
}

/** The rolling windows every sampler law runs first; the data and seed vary with them. */
const samplerSpecExamples: readonly WindowSpec[] = [
  { window: 1, cleanFrames: 0 },
  { window: 4, cleanFrames: 0 },
  { window: 4, cleanFrames: 3 },
  { window: 3, cleanFrames: 1 },
];
const samplerDataExamples = [
  { mean: 0.3, std: 0.5, seed: 11 },
  { mean: 0, std: 1, seed: 12 },
  { mean: -0.7, std: 1.2, seed: 13 },
  { mean: 1, std: 0.5, seed: 14 },
];

export function samplerLaws(impl: SamplerImpl, options: SamplerLawOptions = {}): Law[] {
  const examples = samplerSpecExamples.map((spec, i) => [spec, samplerDataExamples[i]!] as const);
  const seedExamples = samplerSpecExamples.map((spec, i) => [spec, samplerDataExamples[i]!.seed] as const);
  const numRuns = examples.length + (options.numRuns ?? 1);
  const batch = options.batch ?? 32;
  const frameShape = options.frameShape ?? [8, 8, 1];
  const discretisation = options.discretisation ?? 0.08;
  const pixels = frameShape.reduce((a, b) => a * b, 1);
  const gaussian = fc.record({
    mean: fc.oneof(fc.constant(0), fc.double({ min: -1, max: 1, noNaN: true })),
    std: fc.oneof(fc.constant(1), fc.constant(0.5), fc.double({ min: 0.5, max: 1.2, noNaN: true })),
    seed: fc.nat({ max: 1_000_000 }),
  });
  /** Context frames drawn from the data distribution N(μ, s²): [B, n_cln, …frame]. */
  const contextFor = (spec: WindowSpec, mean: number, std: number, k: Key): Tensor | undefined =>
    spec.cleanFrames > 0 ? tidy(() => add(mul(normal(k, [batch, spec.cleanFrames, ...frameShape]), std), mean)) : undefined;
  const boundary = async (denoiser: Denoiser, spec: WindowSpec, context: Tensor | undefined, k: Key) =>
    read(impl.sampleBoundary(denoiser, { ...spec, ...(context ? { context } : {}), batch, frameShape, key: k }));
  const sigmaAtZero = sigmaOf(impl.logSnr(0));
  const grid = impl.stepGrid;
  const rule = grid ? referenceStepRule(impl.logSnr, grid.eta) : null;
  /** The grid's boundary map must start every generated frame from pure noise and end in the rolling state. */
  const boundaryGrid = (spec: WindowSpec) => {
    const g = grid!.boundary(spec);
    const [atOne, atZero] = [g.localTimes(1), g.localTimes(0)];
    const state = rollingState(spec);
    atOne.forEach((t, w) => {
      if (t !== (w < spec.cleanFrames ? 0 : 1)) fail(`stepGrid: the boundary map at t = 1 gives frame ${w} local time ${t}, expected ${w < spec.cleanFrames ? 0 : 1}`);
    });
    expectArrayNear('stepGrid: the boundary map at t = 0 vs the rolling state', atZero, state, 1e-12);
    return g;
  };
  /** Exact moments of the window after Algorithm 3 on the grid (context frames drawn from the data). */
  const boundaryMoments = (spec: WindowSpec, prior: { mean: number; std: number }): Moments[] => {
    const g = boundaryGrid(spec);
    const start = Array.from({ length: spec.window }, (_, w) => (w < spec.cleanFrames ? { mean: prior.mean, variance: prior.std ** 2 } : { mean: 0, variance: 1 }));
    return oracleWindowMoments(prior, start, g.localTimes, g.steps, rule!, impl.logSnr);
  };
  /** α(1) |μ|: the N(0, I) start's bias on a frame's mean, in its standard deviations (see `discretisation`). */
  const alphaAtOne = alphaOf(impl.logSnr(1));
  const startBias = (dataMean: number): number => alphaAtOne * Math.abs(dataMean);
  /**
   * The recursion against the marginal it approximates: the mean to 1e-3 standard deviations plus the
   * bias of the N(0, I) start, α(1) |μ| times the recursion's standard deviation (a bound for any
   * λ_min, reached by deterministic DDIM), the variance to the `discretisation` allowance.
   */
  const expectNearMarginal = (what: string, exact: Moments, mean: number, variance: number, dataMean: number) => {
    const meanTol = 1e-3 * Math.sqrt(variance) + startBias(dataMean) * Math.sqrt(exact.variance);
    if (!(Math.abs(exact.mean - mean) <= meanTol)) fail(`${what}: the exact recursion's mean ${exact.mean} is not the marginal's ${mean} (± ${meanTol})`);
    if (!(Math.abs(exact.variance - variance) <= discretisation * variance)) {
      fail(`${what}: the exact recursion's variance ${exact.variance} is more than ${discretisation} · ${variance} from the marginal's (discretisation)`);
    }
  };
  /**
   * What samples may miss their expected moments by beyond statistics. Against the exact recursion,
   * which has the discretisation and the start in it, nothing. Against the data's marginals (no
   * `stepGrid`), `discretisation` on the variance, and on the mean the start's bias for a frame whose
   * standard deviation that variance allowance lets reach √(1 + discretisation) times the marginal's.
   */
  const allowances = (exact: boolean, dataMean: number) =>
    exact ? { variance: 0, mean: 0 } : { variance: discretisation, mean: startBias(dataMean) * Math.sqrt(1 + discretisation) };

  const laws: Law[] = [
    {
      name: 'sampler (Algorithm 3): the conditioning frames come back unchanged',
      numRuns, examples,
      property: fc.asyncProperty(windowSpec(4), gaussian, async (spec, g) => {
        if (spec.cleanFrames === 0) return;
        const [kc, ks] = split(prngKey(g.seed), 2) as [Key, Key];
        const context = contextFor(spec, g.mean, g.std, kc)!;
        const expected = (await context.toArray()) as Float32Array;
        const { data } = await boundary(gaussianOracleDenoiser(g.mean, g.std), spec, context, ks);
        context.dispose();
        const per = pixels * spec.window;
        for (let b = 0; b < batch; b++) {
          for (let i = 0; i < spec.cleanFrames * pixels; i++) {
            const got = data[b * per + i]!;
            const want = expected[b * spec.cleanFrames * pixels + i]!;
            if (!(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)))) fail(`example ${b}, context value ${i}: ${got}, was ${want}`);
          }
        }
      }),
    },
    {
      name: 'sampler (Algorithm 3) with the Gaussian oracle: every frame of the rolling state has the marginal of its local time',
      numRuns, examples,
      property: fc.asyncProperty(windowSpec(4), gaussian, async (spec, g) => {
        const [kc, ks] = split(prngKey(g.seed), 2) as [Key, Key];
        const context = contextFor(spec, g.mean, g.std, kc);
        const { data, shape } = await boundary(gaussianOracleDenoiser(g.mean, g.std), spec, context, ks);
        context?.dispose();
        if (shape[0] !== batch || shape[1] !== spec.window) fail(`the window came back as [${shape}], expected [${batch}, ${spec.window}, ${frameShape}]`);
        const generated = spec.window - spec.cleanFrames;
        const exact = grid ? boundaryMoments(spec, g) : null;
        const allow = allowances(exact !== null, g.mean);
        const expected: Moments[] = [];
        for (let w = 0; w < spec.window; w++) {
          const l = impl.logSnr(w < spec.cleanFrames ? 0 : (w - spec.cleanFrames) / generated);
          const a = alphaOf(l);
          const s = sigmaOf(l);
          const marginal = w < spec.cleanFrames ? { mean: g.mean, variance: g.std * g.std } : { mean: a * g.mean, variance: a * a * g.std * g.std + s * s };
          const what = `frame ${w} (local time ${Math.max(w - spec.cleanFrames, 0)}/${generated})`;
          if (exact && w >= spec.cleanFrames) expectNearMarginal(what, exact[w]!, marginal.mean, marginal.variance, g.mean);
          expected.push(exact ? exact[w]! : marginal);
          if (w >= spec.cleanFrames) expectMoments(what, frameMoments(data, batch, spec.window, w), expected[w]!.mean, expected[w]!.variance, allow.variance, allow.mean);
        }
        expectPooled('the generated frames', data, batch, spec.window, expected, { firstFrame: spec.cleanFrames, varianceAllowance: allow.variance, meanAllowance: allow.mean });
      }),
    },
    {
      name: 'sampler (Algorithm 3): with a denoiser that always predicts one image, the finished frame is that image',
      numRuns, examples: seedExamples,
      property: fc.asyncProperty(windowSpec(4), fc.nat({ max: 1_000_000 }), async (spec, seed) => {
        const [ki, ks] = split(prngKey(seed), 2) as [Key, Key];
        const image = tidy(() => mul(normal(ki, [1, 1, ...frameShape]), 0.5));
        const img = (await image.toArray()) as Float32Array;
        const context = spec.cleanFrames > 0 ? tidy(() => mul(full([batch, spec.cleanFrames, ...frameShape], 1), image)) : undefined;
        const { data } = await boundary(fixedImageDenoiser(image), spec, context, ks);
        dispose([image, ...(context ? [context] : [])]);
        const per = pixels * spec.window;
        const tolerance = 6 * sigmaAtZero + 1e-4;
        for (let b = 0; b < batch; b++) {
          for (let p = 0; p < pixels; p++) {
            const got = data[b * per + spec.cleanFrames * pixels + p]!;
            if (!(Math.abs(got - img[p]!) <= tolerance)) fail(`example ${b}, pixel ${p} of the finished frame: ${got}, expected ${img[p]} ± ${tolerance}`);
          }
        }
      }),
    },
    {
      name: 'sampler (Algorithm 3): the same key gives the same samples',
      numRuns, examples,
      property: fc.asyncProperty(windowSpec(4), gaussian, async (spec, g) => {
        const run = async () => {
          const [kc, ks] = split(prngKey(g.seed), 2) as [Key, Key];
          const context = contextFor(spec, g.mean, g.std, kc);
          const out = await boundary(gaussianOracleDenoiser(g.mean, g.std), spec, context, ks);
          context?.dispose();
          return out.data;
        };
        const [a, b] = [await run(), await run()];
        for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) fail(`value ${i} differs between two runs with one key: ${a[i]} vs ${b[i]}`);
      }),
    },
  ];
  if (impl.rollout) {
    const rollout = impl.rollout;
    const frames = 6;
    laws.push(
      {
        name: 'sampler (Algorithm 2) with the Gaussian oracle: rolled-out frames have the data\'s mean μ and variance s²',
        numRuns, examples,
        property: fc.asyncProperty(windowSpec(4), gaussian, async (spec, g) => {
          const [kc, ks, kr] = split(prngKey(g.seed), 3) as [Key, Key, Key];
          const oracle = gaussianOracleDenoiser(g.mean, g.std);
          const context = contextFor(spec, g.mean, g.std, kc);
          const state = await impl.sampleBoundary(oracle, { ...spec, ...(context ? { context } : {}), batch, frameShape, key: ks });
          context?.dispose();
          const { data, shape } = await read(rollout(oracle, { ...spec, state, frames, key: kr }));
          state.dispose();
          if (shape[0] !== batch || shape[1] !== frames) fail(`the rollout came back as [${shape}], expected [${batch}, ${frames}, ${frameShape}]`);
          const variance = g.std * g.std;
          const exact = grid
            ? oracleRolloutMoments(g, boundaryMoments(spec, g), { cleanFrames: spec.cleanFrames, frames, stepsPerFrame: grid.stepsPerFrame, linear: referenceLinear(spec), rule: rule!, logSnr: impl.logSnr })
            : null;
          const expected = exact ?? new Array<Moments>(frames).fill({ mean: g.mean, variance });
          const allow = allowances(exact !== null, g.mean);
          // Frames come out at local time 0, whose marginal is the data's up to σ(0)² ≈ 3e-7.
          exact?.forEach((m, f) => expectNearMarginal(`rolled-out frame ${f}`, m, g.mean, variance, g.mean));
          for (const f of [0, 1, frames - 1]) expectMoments(`rolled-out frame ${f}`, frameMoments(data, batch, frames, f), expected[f]!.mean, expected[f]!.variance, allow.variance, allow.mean);
          expectPooled('all rolled-out frames', data, batch, frames, expected, { varianceAllowance: allow.variance, meanAllowance: allow.mean });
        }),
      },
      {
        name: 'sampler (Algorithm 2): with a denoiser that always predicts one image, every rolled-out frame is that image',
        numRuns, examples: seedExamples,
        property: fc.asyncProperty(windowSpec(4), fc.nat({ max: 1_000_000 }), async (spec, seed) => {
          const [ki, ks, kr] = split(prngKey(seed), 3) as [Key, Key, Key];
          const image = tidy(() => mul(normal(ki, [1, 1, ...frameShape]), 0.5));
          const img = (await image.toArray()) as Float32Array;
          const denoiser = fixedImageDenoiser(image);
          const context = spec.cleanFrames > 0 ? tidy(() => mul(full([batch, spec.cleanFrames, ...frameShape], 1), image)) : undefined;
          const state = await impl.sampleBoundary(denoiser, { ...spec, ...(context ? { context } : {}), batch, frameShape, key: ks });
          const { data } = await read(rollout(denoiser, { ...spec, state, frames, key: kr }));
          dispose([state, image, ...(context ? [context] : [])]);
          const tolerance = 6 * sigmaAtZero + 1e-4;
          data.forEach((v, i) => {
            if (!(Math.abs(v - img[i % pixels]!) <= tolerance)) fail(`rolled-out value ${i}: ${v}, expected ${img[i % pixels]} ± ${tolerance}`);
          });
        }),
      },
    );
  }
  return laws;
}

// ---------------------------------------------------------------------------------------------------
// This package's own implementation behind the adapters: what test/diffusion/laws.test.ts checks, and
// the worked example for wrapping another implementation (tensors in, plain arrays out).
// ---------------------------------------------------------------------------------------------------

/** Plain numbers [B][F][P] → a float32 tensor [B, F, P]. */
function framesTensor(frames: readonly (readonly (readonly number[])[])[]): Tensor {
  const b = frames.length;
  const f = frames[0]?.length ?? 0;
  const p = frames[0]?.[0]?.length ?? 0;
  return tensor(Float32Array.from(frames.flatMap((ex) => ex.flatMap((fr) => [...fr]))), [b, f, p]);
}

/** Runs `f` on fresh tensors, reads its result and frees everything. */
async function readNumbers(f: () => Tensor): Promise<number[]> {
  const out = tidy(f);
  const data = await out.toArray();
  out.dispose();
  return Array.from(data);
}

export const ourLocalTimeImpl: LocalTimeImpl = { linearLocalTimes, initLocalTimes, rescaledInitLocalTimes, frameCategories };

/** A schedule with its resolution-shifted variants, for `scheduleLaws`. */
export function ourScheduleImpl(schedule: Schedule, shifted?: (imageSize: number, referenceSize: number) => Schedule): ScheduleImpl {
  return {
    logSnr: schedule.logSnr,
    alpha: schedule.alpha,
    sigma: schedule.sigma,
    logSnrMin: schedule.logSnrMin,
    logSnrMax: schedule.logSnrMax,
    ...(shifted ? { shifted } : {}),
  };
}

/** Eq. 3, DDIM and the per-frame posterior of Eqs. 11-15 under `schedule`. */
export function ourPosteriorImpl(schedule: Schedule): PosteriorImpl {
  return {
    posterior: posteriorFromLogSnr,
    ddim: ddimFromLogSnr,
    framePosterior: { logSnr: schedule.logSnr, coefficients: (s, t) => framePosteriorCoefficients(schedule, s, t) },
  };
}

/** The tensor-level forward process: elements become one row [1, n] with one logSNR per "frame". */
function elementwise(f: (a: Tensor, b: Tensor, logSnr: Tensor) => Tensor): ElementwiseFn {
  return (a, b, l) => {
    const row = (values: readonly number[]) => tensor(Float32Array.from(values), [1, values.length]);
    return readNumbers(() => f(row(a), row(b), row(l)));
  };
}

export const ourProcessImpl: ProcessImpl = {
  diffuse: elementwise((x, eps, l) => diffuse(x, l, eps)),
  vFromXEps: elementwise(vFromXEps),
  xFromV: elementwise(xFromV),
  epsFromV: elementwise(epsFromV),
};

export function ourWeightingImpl(name: LossWeightingName, gamma = 5): WeightingImpl {
  return { ...lossWeighting(name, { gamma }), gamma };
}

/**
 * The window loss of Eq. 26 (`windowLoss` with `windowLossWeights`) run on the whole batch at once, so
 * that anything coupling the examples would show: example b's loss is the batch loss with every other
 * example's weights zeroed, times B (windowLoss averages over the batch).
 */
export function ourLossImpl({ schedule, weighting = 'v', gamma = 5 }: { schedule: Schedule; weighting?: LossWeightingName; gamma?: number }): LossImpl {
  return {
    logSnr: schedule.logSnr,
    weighting,
    gamma,
    perExampleLoss: async ({ window, cleanFrames, localTimes, x, eps, vHat }) => {
      const weights = windowLossWeights(localTimes, { schedule, weighting, gamma });
      const losses: number[] = [];
      for (let b = 0; b < x.length; b++) {
        const only = weights.map((row, i) => row.map((w) => (i === b ? w : 0)));
        const [loss] = await readNumbers(() => {
          const logSnr = logSnrTensor(localTimes.map((row) => row.map((t) => schedule.logSnr(t))));
          const v = vFromXEps(framesTensor(x), framesTensor(eps), logSnr);
          return mul(windowLoss(v, framesTensor(vHat), only, window - cleanFrames), x.length);
        });
        losses.push(loss!);
      }
      return losses;
    },
  };
}

/** A tensor embedding `logSnr [B, F] → [B, F, D]` behind the array adapter. */
export function tensorEmbeddingImpl(embed: (logSnr: Tensor) => Tensor, logSnrRange?: readonly [number, number]): EmbeddingImpl {
  return {
    embed: async (rows) => {
      const b = rows.length;
      const f = rows[0]?.length ?? 0;
      const out = tidy(() => embed(tensor(Float32Array.from(rows.flatMap((r) => [...r])), [b, f])));
      const d = out.shape[2]!;
      const data = await out.toArray();
      out.dispose();
      return Array.from({ length: b }, (_, i) => Array.from({ length: f }, (_, k) => Array.from(data.subarray((i * f + k) * d, (i * f + k + 1) * d))));
    },
    ...(logSnrRange ? { logSnrRange } : {}),
  };
}

export type OurSamplerOptions = SamplerConfig & {
  /** Steps of Algorithm 3 over the whole boundary schedule (default 100). */
  readonly steps?: number;
  /** Steps per generated frame in Algorithm 2 (default 100: with W = 1 that is the whole reverse process). */
  readonly stepsPerFrame?: number;
  readonly initSchedule?: 'init' | 'rescaled';
};

export function ourSamplerImpl(options: OurSamplerOptions): SamplerImpl {
  const { steps = 100, stepsPerFrame = 100, ...config } = options;
  return {
    logSnr: config.schedule.logSnr,
    stepGrid: {
      eta: (config.sampler ?? 'ddpm') === 'ddim' ? (config.eta ?? 0) : 1,
      // The map `sampleBoundary` itself runs, so the grid describes the sampler; the laws check it against the paper.
      boundary: (spec) => ({ localTimes: boundaryLocalTimes({ ...spec, initSchedule: config.initSchedule }), steps }),
      stepsPerFrame,
    },
    sampleBoundary: (denoiser, o) => sampleBoundary(denoiser, { ...config, ...o, steps }),
    rollout: (denoiser, o) => collectFrames(rollout(denoiser, { ...config, ...o, stepsPerFrame })),
  };
}
