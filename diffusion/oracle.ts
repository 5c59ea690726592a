/**
 * Exact denoisers for data whose distribution is known, used to test samplers without training.
 */
import { div, mul, square, sub, add, type Tensor } from '../core/index.js';
import { alphaFromLogSnr, sigmaFromLogSnr } from './schedule.js';
import { gaussianOracle, type GaussianOracle, type PosteriorCoefficients } from './posteriorCoefficients.js';
import { alphaSigma } from './process.js';
import { stepCoefficients, type Denoiser, type SamplerConfig } from './sampling.js';

/**
 * MATH.md: for data with every pixel independent N(μ, s²), E[v | z] = σ (α (1 − s²)(z − αμ)/D − μ),
 * D = α² s² + σ². A sampler driven by it must produce frames with mean μ and variance s².
 */
export function gaussianOracleDenoiser(mean: number, std: number): Denoiser {
  const s2 = std * std;
  return (z, logSnr) => {
    const { alpha, sigma } = alphaSigma(logSnr, z.rank);
    const d = add(mul(square(alpha), s2), square(sigma));
    const centred = sub(z, mul(alpha, mean));
    return mul(sigma, sub(div(mul(mul(alpha, 1 - s2), centred), d), mean));
  };
}

/** A denoiser that always predicts x̂ = `image` (broadcast over frames): v̂ = (α z − x̂)/σ. */
export function fixedImageDenoiser(image: Tensor): Denoiser {
  return (z, logSnr) => {
    const { alpha, sigma } = alphaSigma(logSnr, z.rank);
    return div(sub(mul(alpha, z), image), sigma);
  };
}

// ---------------------------------------------------------------------------------------------------
// Exact moments of a sampler driven by the Gaussian oracle (to test samplers at their real step count)
// ---------------------------------------------------------------------------------------------------

/** Mean and variance of every pixel of one frame (pixels of a frame are i.i.d. under the oracle). */
export type Moments = { readonly mean: number; readonly variance: number };

/** A frame's reverse step z_s = zCoef z_t + xCoef x̂ + √variance ξ for its local times s ≤ t (Eqs. 11-15). */
export type FrameStepRule = (s: number, t: number) => PosteriorCoefficients;

/** The per-frame step rule of our sampler under `cfg` (ancestral Eq. 3 or DDIM(η), clean frames copied, Eq. 13's fresh noise). */
export function samplerStepRule(cfg: SamplerConfig): FrameStepRule {
  return (s, t) => stepCoefficients([s], [t], cfg)[0]!;
}

/**
 * One reverse step's effect on a frame's marginal when x̂ is the oracle's E[x | z_t] (MATH.md):
 * x̂ = μ + b (z_t − α_t μ) with b = α_t s² / D_t is affine in z_t, so a Gaussian z_t stays Gaussian,
 * with gain g = zCoef + xCoef b: mean' = g · mean + xCoef (1 − b α_t) μ, variance' = g² · variance
 * + variance of the step. Pixels stay independent, and so do frames: the oracle and each step act
 * on one frame alone, with independent noise.
 */
export function oracleStepMoments(prior: { readonly mean: number; readonly std: number }, z: Moments, c: PosteriorCoefficients, logSnrT: number): Moments {
  return stepMoments(gaussianOracle(prior), z, c, logSnrT);
}

/** `oracleStepMoments` with the oracle built once by the caller (the recursions call it per frame and step). */
function stepMoments(oracle: GaussianOracle, z: Moments, c: PosteriorCoefficients, logSnrT: number): Moments {
  if (c.xCoef === 0) return { mean: c.zCoef * z.mean, variance: c.zCoef * c.zCoef * z.variance + c.variance };
  const [alpha, sigma] = [alphaFromLogSnr(logSnrT), sigmaFromLogSnr(logSnrT)];
  const offset = oracle.x(0, alpha, sigma);
  const slope = oracle.x(1, alpha, sigma) - offset;
  const gain = c.zCoef + c.xCoef * slope;
  return { mean: gain * z.mean + c.xCoef * offset, variance: gain * gain * z.variance + c.variance };
}

/**
 * `denoiseWindow` on moments: T steps of `rule` under the local-time map, global time 1 → 0, every
 * frame's marginal propagated exactly by `oracleStepMoments`. The exact Gaussian recursion: what a
 * sampler driven by the oracle must produce at this step count, discretisation error included.
 */
export function oracleWindowMoments(
  prior: { readonly mean: number; readonly std: number },
  window: readonly Moments[],
  localTimes: (t: number) => readonly number[],
  steps: number,
  rule: FrameStepRule,
  logSnr: (t: number) => number,
): Moments[] {
  const oracle = gaussianOracle(prior);
  let cur = [...window];
  for (let i = steps; i >= 1; i--) {
    const s = localTimes((i - 1) / steps);
    const t = localTimes(i / steps);
    cur = cur.map((m, k) => stepMoments(oracle, m, rule(s[k]!, t[k]!), logSnr(t[k]!)));
  }
  return cur;
}

/**
 * `rollout` (Algorithm 2) on moments: from the window's moments in the rolling state, the moments of
 * each of the `frames` yielded frames (frame n_cln after 0, 1, … shifts, each shift appending a
 * fresh N(0, 1) frame and running `stepsPerFrame` steps of the linear map, Eq. 22).
 */
export function oracleRolloutMoments(
  prior: { readonly mean: number; readonly std: number },
  state: readonly Moments[],
  o: { readonly cleanFrames: number; readonly frames: number; readonly stepsPerFrame: number; readonly linear: (t: number) => readonly number[]; readonly rule: FrameStepRule; readonly logSnr: (t: number) => number },
): Moments[] {
  const out: Moments[] = [];
  let z = [...state];
  for (let f = 0; f < o.frames; f++) {
    if (f > 0) z = oracleWindowMoments(prior, [...z.slice(1), { mean: 0, variance: 1 }], o.linear, o.stepsPerFrame, o.rule, o.logSnr);
    out.push(z[o.cleanFrames]!);
  }
  return out;
}
