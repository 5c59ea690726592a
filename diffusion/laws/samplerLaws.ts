/**
 * Laws of the samplers (Algorithms 2 and 3), checked with the exact Gaussian oracle of MATH.md.
 */
import fc from 'fast-check';
import { add, dispose, full, key as prngKey, mul, normal, split, tidy, type Key, type Tensor } from '../../core/index.js';
import { fixedImageDenoiser, gaussianOracleDenoiser, oracleRolloutMoments, oracleWindowMoments, type FrameStepRule, type Moments } from '../oracle.js';
import type { WindowSpec } from '../localTime.js';
import type { Denoiser } from '../sampling.js';
import { spreadDouble, windowSpec } from './arbitraries.js';
import type { Law } from './law.js';
import { alphaOf, expectArrayNear, fail, referenceLinear, rollingState, sigmaOf } from './reference.js';
import { expectMoments, expectPooled, frameMoments } from './statistics.js';

export interface SamplerImpl {
  /** λ(t) of the schedule the sampler runs (the laws need α, σ at the rolling state's local times). */
  readonly logSnr: (t: number) => number;
  /**
   * Algorithm 3: from n_cln context frames (when n_cln > 0) and pure noise, denoise the window with the
   * boundary schedule down to global time 0. Returns the window in the rolling state, [B, W, …frame].
   */
  readonly sampleBoundary: (
    denoiser: Denoiser,
    options: Required<WindowSpec> & { readonly context?: Tensor; readonly batch: number; readonly frameShape: readonly number[]; readonly key: Key },
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
    readonly boundary: (spec: Required<WindowSpec>) => { readonly localTimes: (t: number) => readonly number[]; readonly steps: number };
    /** Algorithm 2's uniform steps in t per shift, under the linear local times (Eq. 22). */
    readonly stepsPerFrame: number;
  };
  /** Algorithm 2: from a window in the rolling state, the next `frames` finished frames, [B, frames, …frame]. */
  readonly rollout?: (
    denoiser: Denoiser,
    options: Required<WindowSpec> & { readonly state: Tensor; readonly frames: number; readonly key: Key },
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


async function read(t: Tensor | Promise<Tensor>): Promise<{ data: Float32Array; shape: readonly number[] }> {
  const tensor = await t;
  const data = (await tensor.toArray()) as Float32Array;
  const shape = tensor.shape;
  tensor.dispose();
  return { data, shape };
}

/** The rolling windows every sampler law runs first; the data and seed vary with them. */
const samplerSpecExamples: readonly Required<WindowSpec>[] = [
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

/** What every sampler law shares: the runs and examples, the data, and the helpers that run Algorithm 3 and compute its exact moments. */
function samplerSetting(impl: SamplerImpl, options: SamplerLawOptions) {
  const examples = samplerSpecExamples.map((spec, i) => [spec, samplerDataExamples[i]!] as const);
  const seedExamples = samplerSpecExamples.map((spec, i) => [spec, samplerDataExamples[i]!.seed] as const);
  const numRuns = examples.length + (options.numRuns ?? 1);
  const batch = options.batch ?? 32;
  const frameShape = options.frameShape ?? [8, 8, 1];
  const discretisation = options.discretisation ?? 0.08;
  const pixels = frameShape.reduce((a, b) => a * b, 1);
  const gaussian = fc.record({
    mean: fc.oneof(fc.constant(0), spreadDouble(-1, 1)),
    std: fc.oneof(fc.constant(1), fc.constant(0.5), fc.double({ min: 0.5, max: 1.2, noNaN: true })),
    seed: fc.nat({ max: 1_000_000 }),
  });
  /** Context frames drawn from the data distribution N(μ, s²): [B, n_cln, …frame]. */
  const contextFor = (spec: Required<WindowSpec>, mean: number, std: number, k: Key): Tensor | undefined =>
    spec.cleanFrames > 0 ? tidy(() => add(mul(normal(k, [batch, spec.cleanFrames, ...frameShape]), std), mean)) : undefined;
  const boundary = async (denoiser: Denoiser, spec: Required<WindowSpec>, context: Tensor | undefined, k: Key) =>
    read(impl.sampleBoundary(denoiser, { ...spec, ...(context ? { context } : {}), batch, frameShape, key: k }));
  const sigmaAtZero = sigmaOf(impl.logSnr(0));
  const grid = impl.stepGrid;
  const rule = grid ? referenceStepRule(impl.logSnr, grid.eta) : null;
  /** The grid's boundary map must start every generated frame from pure noise and end in the rolling state. */
  const boundaryGrid = (spec: Required<WindowSpec>) => {
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
  const boundaryMoments = (spec: Required<WindowSpec>, prior: { mean: number; std: number }): Moments[] => {
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
  return { impl, examples, seedExamples, numRuns, batch, frameShape, pixels, gaussian, contextFor, boundary, sigmaAtZero, grid, rule, boundaryMoments, expectNearMarginal, allowances };
}

type SamplerSetting = ReturnType<typeof samplerSetting>;

/** Frames each rollout law rolls out after the boundary. */
const ROLLOUT_FRAMES = 6;

/** sampler (Algorithm 3): the conditioning frames come back unchanged. */
function boundaryKeepsContext(s: SamplerSetting): Law {
  const { examples, numRuns, batch, pixels, gaussian, contextFor, boundary } = s;
  return {
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
  };
}

/** sampler (Algorithm 3) with the Gaussian oracle: every frame of the rolling state has the marginal of its local time. */
function boundaryMarginals(s: SamplerSetting): Law {
  const { impl, examples, numRuns, batch, frameShape, gaussian, contextFor, boundary, grid, boundaryMoments, expectNearMarginal, allowances } = s;
  return {
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
  };
}

/** sampler (Algorithm 3): with a denoiser that always predicts one image, the finished frame is that image. */
function boundaryFixedImage(s: SamplerSetting): Law {
  const { seedExamples, numRuns, batch, frameShape, pixels, boundary, sigmaAtZero } = s;
  return {
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
  };
}

/** sampler (Algorithm 3): the same key gives the same samples. */
function boundaryDeterministic(s: SamplerSetting): Law {
  const { examples, numRuns, gaussian, contextFor, boundary } = s;
  return {
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
  };
}

/** sampler (Algorithm 2) with the Gaussian oracle: rolled-out frames have the data's mean μ and variance s². */
function rolloutMarginals(s: SamplerSetting, rollout: NonNullable<SamplerImpl['rollout']>): Law {
  const { impl, examples, numRuns, batch, frameShape, gaussian, contextFor, grid, rule, boundaryMoments, expectNearMarginal, allowances } = s;
  const frames = ROLLOUT_FRAMES;
  return {
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
  };
}

/** sampler (Algorithm 2): with a denoiser that always predicts one image, every rolled-out frame is that image. */
function rolloutFixedImage(s: SamplerSetting, rollout: NonNullable<SamplerImpl['rollout']>): Law {
  const { impl, seedExamples, numRuns, batch, frameShape, pixels, sigmaAtZero } = s;
  const frames = ROLLOUT_FRAMES;
  return {
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
  };
}

export function samplerLaws(impl: SamplerImpl, options: SamplerLawOptions = {}): Law[] {
  const s = samplerSetting(impl, options);
  return [
    boundaryKeepsContext(s),
    boundaryMarginals(s),
    boundaryFixedImage(s),
    boundaryDeterministic(s),
    ...(impl.rollout ? [rolloutMarginals(s, impl.rollout), rolloutFixedImage(s, impl.rollout)] : []),
  ];
}
