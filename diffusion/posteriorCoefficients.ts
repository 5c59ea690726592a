/**
 * Number-level coefficients of the true denoising distribution q(z_s | z_t, x) (Eq. 3), per frame
 * (Eqs. 11-15), of the DDIM(η) step, and of the exact denoiser for Gaussian data (MATH.md). Tensor
 * code multiplies these numbers into frames; keeping them scalar lets a learner check them by hand.
 */
import { frameCategories } from './localTime.js';
import { alphaFromLogSnr, checkTime, sigmaFromLogSnr, type Schedule } from './schedule.js';

/** z_s ~ N(zCoef · z_t + xCoef · x, variance · I). */
export type PosteriorCoefficients = {
  readonly zCoef: number;
  readonly xCoef: number;
  readonly variance: number;
};

function checkLogSnrPair(where: string, logSnrS: number, logSnrT: number): void {
  if (!Number.isFinite(logSnrS) || !Number.isFinite(logSnrT)) {
    throw new RangeError(`${where}: logSNRs must be finite, got logSnrS=${logSnrS}, logSnrT=${logSnrT}`);
  }
  if (!(logSnrS >= logSnrT)) {
    throw new RangeError(
      `${where}: s <= t needs logSnrS >= logSnrT (less noise at s), got logSnrS=${logSnrS} < logSnrT=${logSnrT}`,
    );
  }
}

function checkStep(where: string, s: number, t: number): void {
  checkTime(`${where} (s)`, s);
  checkTime(`${where} (t)`, t);
  if (!(s <= t)) throw new RangeError(`${where}: need s <= t, got s=${s} > t=${t}`);
}

/**
 * Eq. 3 in MATH.md's stable form: with c = −expm1(λ_t − λ_s) = 1 − SNR(t)/SNR(s),
 * mean = α_s ((1 − c) z_t / α_t + c x) and variance = c σ_s².
 * expm1 keeps c accurate as s → t, where 1 − SNR(t)/SNR(s) would cancel; 1 − c is taken as
 * exp(λ_t − λ_s) directly, which stays accurate as c → 1. At s = t this gives (1, 0, 0) exactly.
 */
export function posteriorFromLogSnr(logSnrS: number, logSnrT: number): PosteriorCoefficients {
  checkLogSnrPair('posteriorFromLogSnr', logSnrS, logSnrT);
  const logSnrDrop = logSnrT - logSnrS;
  // 0 − (+0) is +0, where −expm1(0) would be −0 and break exact comparisons at s = t.
  const c = 0 - Math.expm1(logSnrDrop);
  const alphaS = alphaFromLogSnr(logSnrS);
  const sigmaS = sigmaFromLogSnr(logSnrS);
  return {
    zCoef: (alphaS * Math.exp(logSnrDrop)) / alphaFromLogSnr(logSnrT),
    xCoef: alphaS * c,
    variance: c * sigmaS * sigmaS,
  };
}

/** Eq. 3 for one frame with local times s ≤ t under a schedule. */
export function posteriorCoefficients(schedule: Schedule, s: number, t: number): PosteriorCoefficients {
  checkStep('posteriorCoefficients', s, t);
  return posteriorFromLogSnr(schedule.logSnr(s), schedule.logSnr(t));
}

const COPY: PosteriorCoefficients = { zCoef: 1, xCoef: 0, variance: 0 };
const FRESH_NOISE: PosteriorCoefficients = { zCoef: 0, xCoef: 0, variance: 1 };

/**
 * Eqs. 11-15, frame by frame: clean frames are copied (Eq. 12, δ(z_s | z_t)), pure-noise frames are
 * fresh N(0, I) (Eq. 13) and window frames use Eq. 3 at their local times (Eq. 15). Eq. 13 takes
 * local time 1 as exactly N(0, I), which a schedule with finite λ_min only approximates.
 * `windowStep` gives the window frames' step (default Eq. 3; the DDIM(η) sampler passes its own).
 */
export function framePosteriorCoefficients(
  schedule: Schedule,
  s: readonly number[],
  t: readonly number[],
  windowStep: (logSnrS: number, logSnrT: number) => PosteriorCoefficients = posteriorFromLogSnr,
): PosteriorCoefficients[] {
  const { clean, noise } = frameCategories(s, t);
  const isClean = new Set(clean);
  const isNoise = new Set(noise);
  return t.map((tk, k) => {
    if (isClean.has(k)) return COPY;
    if (isNoise.has(k)) return FRESH_NOISE;
    return windowStep(schedule.logSnr(s[k]), schedule.logSnr(tk));
  });
}

/** z_s = xCoef · x̂ + epsCoef · ε̂ + √variance · ξ, ξ ~ N(0, I). */
export type DdimEpsCoefficients = {
  readonly xCoef: number;
  readonly epsCoef: number;
  readonly variance: number;
};

function checkEta(where: string, eta: number): void {
  if (!(eta >= 0 && eta <= 1)) throw new RangeError(`${where}: eta must be in [0, 1], got ${String(eta)}`);
}

/**
 * DDIM (Song et al. 2021, Eq. 12) in VDM's variables: z_s = α_s x̂ + √(σ_s² − σ̃²) ε̂ + σ̃ ξ with
 * σ̃² = η² c σ_s², η² times the posterior variance of Eq. 3. η = 0 is the deterministic sampler,
 * η = 1 the ancestral one (equal to Eq. 3 when ε̂ = (z_t − α_t x̂)/σ_t).
 * 1 − η² c is written (1 − η²) + η² SNR(t)/SNR(s): a sum of non-negative terms, no cancellation.
 */
export function ddimEpsFromLogSnr(logSnrS: number, logSnrT: number, eta: number): DdimEpsCoefficients {
  checkLogSnrPair('ddimEpsFromLogSnr', logSnrS, logSnrT);
  checkEta('ddimEpsFromLogSnr', eta);
  const snrRatio = Math.exp(logSnrT - logSnrS);
  const c = 0 - Math.expm1(logSnrT - logSnrS);
  const sigmaS = sigmaFromLogSnr(logSnrS);
  return {
    xCoef: alphaFromLogSnr(logSnrS),
    epsCoef: sigmaS * Math.sqrt(1 - eta * eta + eta * eta * snrRatio),
    variance: eta * eta * c * sigmaS * sigmaS,
  };
}

/**
 * The DDIM(η) step of ddimEpsFromLogSnr with ε̂ = (z_t − α_t x̂)/σ_t substituted, in the shape of
 * Eq. 3: z_s = zCoef · z_t + xCoef · x̂ + √variance · ξ. With r = (1 − η² c) SNR(t)/SNR(s):
 * zCoef = √r α_s/α_t and xCoef = α_s (1 − √r) = α_s c (1 + η² SNR(t)/SNR(s)) / (1 + √r), the last
 * form because α_s − zCoef α_t cancels as s → t. η = 1 reproduces posteriorFromLogSnr; s = t gives
 * (1, 0, 0) exactly.
 */
export function ddimFromLogSnr(logSnrS: number, logSnrT: number, eta: number): PosteriorCoefficients {
  checkLogSnrPair('ddimFromLogSnr', logSnrS, logSnrT);
  checkEta('ddimFromLogSnr', eta);
  const snrRatio = Math.exp(logSnrT - logSnrS);
  const c = 0 - Math.expm1(logSnrT - logSnrS);
  const etaSquared = eta * eta;
  const rootR = Math.sqrt((1 - etaSquared + etaSquared * snrRatio) * snrRatio);
  const alphaS = alphaFromLogSnr(logSnrS);
  const sigmaS = sigmaFromLogSnr(logSnrS);
  return {
    zCoef: (rootR * alphaS) / alphaFromLogSnr(logSnrT),
    xCoef: (alphaS * c * (1 + etaSquared * snrRatio)) / (1 + rootR),
    variance: etaSquared * c * sigmaS * sigmaS,
  };
}

/** DDIM(η) for one frame with local times s ≤ t under a schedule, in the shape of Eq. 3. */
export function ddimCoefficients(schedule: Schedule, s: number, t: number, eta: number): PosteriorCoefficients {
  checkStep('ddimCoefficients', s, t);
  return ddimFromLogSnr(schedule.logSnr(s), schedule.logSnr(t), eta);
}

/** The exact denoisers E[x | z], E[ε | z], E[v | z] for z = α x + σ ε, given α and σ. */
export type GaussianOracle = {
  readonly x: (z: number, alpha: number, sigma: number) => number;
  readonly eps: (z: number, alpha: number, sigma: number) => number;
  readonly v: (z: number, alpha: number, sigma: number) => number;
};

/**
 * MATH.md's oracle: if every pixel of x is independent N(μ, s²), then z ~ N(αμ, D), D = α²s² + σ², and
 * E[x | z] = μ + α s² (z − αμ)/D, E[ε | z] = σ (z − αμ)/D, E[v | z] = σ (α (1 − s²)(z − αμ)/D − μ).
 * A sampler driven by these must produce data with mean μ and variance s², so it tests samplers
 * without a trained model.
 */
export function gaussianOracle({ mean, std }: { readonly mean: number; readonly std: number }): GaussianOracle {
  if (!Number.isFinite(mean) || !(Number.isFinite(std) && std >= 0)) {
    throw new RangeError(`gaussianOracle: need a finite mean and a finite std >= 0, got mean=${mean}, std=${std}`);
  }
  const variance = std * std;
  const whitened = (z: number, alpha: number, sigma: number): number =>
    (z - alpha * mean) / (alpha * alpha * variance + sigma * sigma);
  return {
    x: (z, alpha, sigma) => mean + alpha * variance * whitened(z, alpha, sigma),
    eps: (z, alpha, sigma) => sigma * whitened(z, alpha, sigma),
    v: (z, alpha, sigma) => sigma * (alpha * (1 - variance) * whitened(z, alpha, sigma) - mean),
  };
}
