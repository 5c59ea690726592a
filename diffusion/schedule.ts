/**
 * Noise schedules as functions of the (local) diffusion time t ∈ [0, 1], written like VDM:
 * everything is derived from λ(t) = log SNR(t) (Eq. 2), and α, σ follow from λ for a
 * variance-preserving process (α² + σ² = 1, Section 2.1).
 *
 * In rolling diffusion the schedule is unchanged; only its argument becomes a frame's local time
 * t_k (Eq. 7), so every function here takes one number and returns one number.
 */

/** A variance-preserving schedule over t ∈ [0, 1]: λ strictly decreasing from logSnrMax to logSnrMin. */
export type Schedule = {
  readonly name: string;
  /** λ(t) = log SNR(t) = log(α_t² / σ_t²) (Eq. 2). */
  readonly logSnr: (t: number) => number;
  readonly alpha: (t: number) => number;
  readonly sigma: (t: number) => number;
  /** λ(1): the noisiest level the schedule reaches. */
  readonly logSnrMin: number;
  /** λ(0): the cleanest level the schedule reaches. */
  readonly logSnrMax: number;
};

export type LogSnrRange = { readonly logSnrMin?: number; readonly logSnrMax?: number };

/** The logistic function on numbers, evaluated on the side where exp cannot overflow. */
export function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * α² = sigmoid(λ) (Eq. 2 with α² + σ² = 1). Computing σ from sigmoid(−λ) instead of √(1 − α²) keeps
 * full relative precision for large λ, where 1 − α² would cancel to 0.
 */
export function alphaFromLogSnr(logSnr: number): number {
  return Math.sqrt(stableSigmoid(logSnr));
}

/** σ² = sigmoid(−λ) (Eq. 2 with α² + σ² = 1); see alphaFromLogSnr for why not √(1 − α²). */
export function sigmaFromLogSnr(logSnr: number): number {
  return Math.sqrt(stableSigmoid(-logSnr));
}

/** Throws unless t is a number in [0, 1]; NaN fails both comparisons and is rejected too. */
export function checkTime(where: string, t: number): void {
  if (!(t >= 0 && t <= 1)) {
    throw new RangeError(`${where}: t must be a number in [0, 1], got ${String(t)}`);
  }
}

function checkLogSnrRange(where: string, logSnrMin: number, logSnrMax: number): void {
  if (!Number.isFinite(logSnrMin) || !Number.isFinite(logSnrMax)) {
    throw new RangeError(
      `${where}: logSnrMin and logSnrMax must be finite, got logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax}`,
    );
  }
  if (!(logSnrMin < logSnrMax)) {
    throw new RangeError(
      `${where}: logSnrMin must be < logSnrMax, got logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax}`,
    );
  }
}

/** Beyond |λ| = 600 the exp(±λ/2) inside the cosine's angles overflows. */
function checkCosineRange(where: string, logSnrMin: number, logSnrMax: number): void {
  checkLogSnrRange(where, logSnrMin, logSnrMax);
  if (logSnrMin < -600 || logSnrMax > 600) {
    throw new RangeError(
      `${where}: the cosine needs logSNR within [-600, 600], got logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax}`,
    );
  }
}

function checkSize(where: string, label: string, size: number): void {
  if (!(Number.isFinite(size) && size > 0)) {
    throw new RangeError(`${where}: ${label} must be a positive finite number, got ${String(size)}`);
  }
}

/**
 * Wraps a raw λ(t) into a Schedule. The endpoints are pinned and the interior clamped to
 * [logSnrMin, logSnrMax] because atan/tan/log round a few ulps off λ_max and λ_min, and the range is
 * the contract every caller (the posterior at t = 0 and t = 1, the clean and noise frames of Eqs. 8-9)
 * relies on. Clamping cannot break monotonicity, only flatten a few ulps.
 */
function makeSchedule(
  name: string,
  logSnrMin: number,
  logSnrMax: number,
  rawLogSnr: (t: number) => number,
): Schedule {
  const logSnrAt = (where: string, t: number): number => {
    checkTime(`${name}.${where}`, t);
    if (t === 0) return logSnrMax;
    if (t === 1) return logSnrMin;
    return Math.min(logSnrMax, Math.max(logSnrMin, rawLogSnr(t)));
  };
  return {
    name,
    logSnr: (t) => logSnrAt('logSnr', t),
    alpha: (t) => alphaFromLogSnr(logSnrAt('alpha', t)),
    sigma: (t) => sigmaFromLogSnr(logSnrAt('sigma', t)),
    logSnrMin,
    logSnrMax,
  };
}

/**
 * The truncated cosine λ(t) = −2 log tan(t_min + t (t_max − t_min)) with t_min = atan(exp(−λ_max/2)),
 * t_max = atan(exp(−λ_min/2)) (VDM's `logsnr_schedule_cosine`; Hoogeboom et al. 2023, simple
 * diffusion, Sec. 3.1), so that λ(0) = λ_max and λ(1) = λ_min (MATH.md).
 */
function cosineLogSnr(logSnrMin: number, logSnrMax: number): (t: number) => number {
  const tMin = Math.atan(Math.exp(-logSnrMax / 2));
  // t_max − t_min by atan a − atan b = atan((a − b) / (1 + ab)), with a − b through expm1: both
  // angles can sit near π/2 (a very negative range), where subtracting them would cancel.
  const span = Math.atan(
    (Math.exp(-logSnrMin / 2) * -Math.expm1((logSnrMin - logSnrMax) / 2)) /
      (1 + Math.exp(-(logSnrMin + logSnrMax) / 2)),
  );
  // tan(π/2 − u) = 1 / tan(u): past π/4 the angle is measured from π/2 (π/2 − t_max = atan(e^{λ_min/2})),
  // because near π/2 the angle itself has too few significant bits left for tan to resolve λ.
  const complementOfTMax = Math.atan(Math.exp(logSnrMin / 2));
  return (t) => {
    const angle = tMin + t * span;
    if (angle <= Math.PI / 4) return -2 * Math.log(Math.tan(angle));
    return 2 * Math.log(Math.tan(complementOfTMax + (1 - t) * span));
  };
}

/** Truncated cosine schedule (VDM; simple diffusion Sec. 3.1); λ(0) = λ_max, λ(1) = λ_min exactly. */
export function cosineSchedule({ logSnrMin = -15, logSnrMax = 15 }: LogSnrRange = {}): Schedule {
  checkCosineRange('cosineSchedule', logSnrMin, logSnrMax);
  return makeSchedule(
    `cosine(logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax})`,
    logSnrMin,
    logSnrMax,
    cosineLogSnr(logSnrMin, logSnrMax),
  );
}

/** The resolution shift 2 log(d_ref / d) of simple diffusion (Hoogeboom et al. 2023, Sec. 3.1). */
export function resolutionShift(imageSize: number, referenceSize: number): number {
  return 2 * Math.log(referenceSize / imageSize);
}

export type ShiftedCosineOptions = LogSnrRange & {
  /** d: side of the images (frames) being diffused. */
  readonly imageSize: number;
  /** d_ref: side at which the unshifted cosine schedule is considered right (64 in simple diffusion). */
  readonly referenceSize?: number;
};

/**
 * Shifted cosine λ(t) = λ_cos(t) + 2 log(d_ref / d) (simple diffusion, Sec. 3.1; MATH.md).
 *
 * Decision: the shifted λ is NOT clipped back into [logSnrMin, logSnrMax]. The shift moves the whole
 * range to [λ_min + shift, λ_max + shift], as in simple diffusion; clipping would make λ constant over
 * a stretch of t near one end (training and sampling steps that change nothing) and would break
 * strict decrease. `logSnrMin`/`logSnrMax` of the result report the shifted range.
 */
export function shiftedCosineSchedule({
  imageSize,
  referenceSize = 64,
  logSnrMin = -15,
  logSnrMax = 15,
}: ShiftedCosineOptions): Schedule {
  const where = 'shiftedCosineSchedule';
  checkCosineRange(where, logSnrMin, logSnrMax);
  checkSize(where, 'imageSize', imageSize);
  checkSize(where, 'referenceSize', referenceSize);
  const shift = resolutionShift(imageSize, referenceSize);
  const cosine = cosineLogSnr(logSnrMin, logSnrMax);
  return makeSchedule(
    `shiftedCosine(imageSize=${imageSize}, referenceSize=${referenceSize}, logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax})`,
    logSnrMin + shift,
    logSnrMax + shift,
    (t) => cosine(t) + shift,
  );
}

export type InterpolatedCosineOptions = LogSnrRange & {
  readonly imageSize: number;
  /** Reference side of the schedule used at t = 1 (noisy end); the smaller one, e.g. 32. */
  readonly lowReferenceSize: number;
  /** Reference side of the schedule used at t = 0 (clean end); the larger one, e.g. 256. */
  readonly highReferenceSize: number;
};

/**
 * Interpolated cosine λ(t) = t λ_shift,low(t) + (1 − t) λ_shift,high(t) (simple diffusion, Sec. 3.1,
 * "interpolating schedules"; 32 and 256 for 512² images there): the noisy end follows the schedule
 * shifted for a low reference resolution, the clean end the one for a high reference resolution.
 * Requiring lowReferenceSize ≤ highReferenceSize keeps λ strictly decreasing: dλ/dt = λ_cos'(t) +
 * 2 log(low / high) < 0.
 */
export function interpolatedCosineSchedule({
  imageSize,
  lowReferenceSize,
  highReferenceSize,
  logSnrMin = -15,
  logSnrMax = 15,
}: InterpolatedCosineOptions): Schedule {
  const where = 'interpolatedCosineSchedule';
  checkCosineRange(where, logSnrMin, logSnrMax);
  checkSize(where, 'imageSize', imageSize);
  checkSize(where, 'lowReferenceSize', lowReferenceSize);
  checkSize(where, 'highReferenceSize', highReferenceSize);
  if (!(lowReferenceSize <= highReferenceSize)) {
    throw new RangeError(
      `${where}: lowReferenceSize must be <= highReferenceSize, got ${lowReferenceSize} > ${highReferenceSize}`,
    );
  }
  const shiftLow = resolutionShift(imageSize, lowReferenceSize);
  const shiftHigh = resolutionShift(imageSize, highReferenceSize);
  const cosine = cosineLogSnr(logSnrMin, logSnrMax);
  return makeSchedule(
    `interpolatedCosine(imageSize=${imageSize}, lowReferenceSize=${lowReferenceSize}, highReferenceSize=${highReferenceSize}, logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax})`,
    logSnrMin + shiftLow,
    logSnrMax + shiftHigh,
    (t) => t * (cosine(t) + shiftLow) + (1 - t) * (cosine(t) + shiftHigh),
  );
}

/**
 * λ(t) = (1 − t) λ_max + t λ_min: logSNR linear in t. Written as a convex combination, not
 * λ_max + t (λ_min − λ_max), so both endpoints come out exact.
 */
export function linearLogSnrSchedule({ logSnrMin = -15, logSnrMax = 15 }: LogSnrRange = {}): Schedule {
  checkLogSnrRange('linearLogSnrSchedule', logSnrMin, logSnrMax);
  return makeSchedule(
    `linearLogSnr(logSnrMin=${logSnrMin}, logSnrMax=${logSnrMax})`,
    logSnrMin,
    logSnrMax,
    (t) => (1 - t) * logSnrMax + t * logSnrMin,
  );
}
