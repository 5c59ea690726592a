import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import { initLocalTimes, linearLocalTimes, type LocalTimes } from '../../diffusion/localTime.js';
import { oracleWindowMoments } from '../../diffusion/oracle.js';
import {
  ddimCoefficients,
  ddimEpsFromLogSnr,
  ddimFromLogSnr,
  framePosteriorCoefficients,
  gaussianOracle,
  type PosteriorCoefficients,
  posteriorCoefficients,
  posteriorFromLogSnr,
} from '../../diffusion/posteriorCoefficients.js';
import {
  cosineSchedule,
  linearLogSnrSchedule,
  type Schedule,
  shiftedCosineSchedule,
} from '../../diffusion/schedule.js';


/** t in [0, 1], with the endpoints drawn on purpose. */
const time = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));

/** Two local times s ≤ t, with s = t drawn on purpose. */
const step = fc.oneof(
  time.map((t) => ({ s: t, t })),
  fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a })),
);

const schedule: fc.Arbitrary<Schedule> = fc.constantFrom(
  cosineSchedule(),
  cosineSchedule({ logSnrMin: -20, logSnrMax: 10 }),
  shiftedCosineSchedule({ imageSize: 128 }),
  linearLogSnrSchedule({ logSnrMin: -10, logSnrMax: 10 }),
);

const eta = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));

/** |actual − expected| ≤ relative · |expected| + absolute. */
function expectNear(actual: number, expected: number, relative: number, absolute = 0): void {
  expect(Number.isFinite(actual)).toBe(true);
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.abs(expected) + absolute);
}

/**
 * q(z_s | z_t, x) by conditioning the joint Gaussian of (z_s, z_t) given x, from α and σ alone:
 * z_s = α_s x + σ_s ε_s and z_t = α_{t|s} z_s + σ_{t|s} ε, so Cov(z_s, z_t | x) = α_{t|s} σ_s² and
 * Var(z_t | x) = σ_t². Independent of the code under test, and accurate when s and t are apart.
 */
function gaussianConditioning(alphaS: number, sigmaS: number, alphaT: number, sigmaT: number): PosteriorCoefficients {
  const alphaTGivenS = alphaT / alphaS;
  const covariance = alphaTGivenS * sigmaS * sigmaS;
  const zCoef = covariance / (sigmaT * sigmaT);
  return {
    zCoef,
    // E[z_s | z_t] = α_s x + zCoef (z_t − α_t x)
    xCoef: alphaS - zCoef * alphaT,
    variance: sigmaS * sigmaS - (covariance * covariance) / (sigmaT * sigmaT),
  };
}

describe('posterior q(z_s | z_t, x) (Eq. 3, MATH.md stable form)', () => {
  it('agrees with Gaussian conditioning of the joint (z_s, z_t) given x', () => {
    fc.assert(
      fc.property(schedule, step, (sched, { s, t }) => {
        fc.pre(sched.logSnr(s) - sched.logSnr(t) >= 1e-3);
        const got = posteriorCoefficients(sched, s, t);
        const want = gaussianConditioning(sched.alpha(s), sched.sigma(s), sched.alpha(t), sched.sigma(t));
        expectNear(got.zCoef, want.zCoef, 1e-10, 1e-15);
        expectNear(got.xCoef, want.xCoef, 1e-10, 1e-15);
        expectNear(got.variance, want.variance, 1e-10, 1e-15);
      }),
      { numRuns: 300 },
    );
  });

  it('preserves the marginal: zCoef α_t + xCoef = α_s and zCoef² σ_t² + variance = σ_s², boundaries included', () => {
    fc.assert(
      fc.property(schedule, step, (sched, { s, t }) => {
        const { zCoef, xCoef, variance } = posteriorCoefficients(sched, s, t);
        const [alphaS, sigmaS, alphaT, sigmaT] = [sched.alpha(s), sched.sigma(s), sched.alpha(t), sched.sigma(t)];
        expectNear(zCoef * alphaT + xCoef, alphaS, 1e-14, 1e-15);
        expectNear(zCoef * zCoef * sigmaT * sigmaT + variance, sigmaS * sigmaS, 1e-13, 1e-16);
      }),
    );
  });

  it('stays finite and in range: 0 <= variance <= σ_s², 0 <= xCoef <= α_s, zCoef >= 0', () => {
    fc.assert(
      fc.property(schedule, step, (sched, { s, t }) => {
        const { zCoef, xCoef, variance } = posteriorCoefficients(sched, s, t);
        for (const value of [zCoef, xCoef, variance]) expect(Number.isFinite(value)).toBe(true);
        expect(variance).toBeGreaterThanOrEqual(0);
        expect(variance).toBeLessThanOrEqual(sched.sigma(s) ** 2);
        expect(xCoef).toBeGreaterThanOrEqual(0);
        expect(xCoef).toBeLessThanOrEqual(sched.alpha(s));
        expect(zCoef).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('at s = t returns z_t exactly, with zero variance, for every t including 0 and 1', () => {
    fc.assert(
      fc.property(schedule, time, (sched, t) => {
        expect(posteriorCoefficients(sched, t, t)).toEqual({ zCoef: 1, xCoef: 0, variance: 0 });
      }),
    );
  });

  it('stays accurate as s → t: matches the Taylor series of c = 1 − e^{−δ} to 12 digits for δ ≤ 1e-6', () => {
    fc.assert(
      fc.property(
        spreadDouble(-20, 20),
        fc.double({ min: 1e-300, max: 1e-6, noNaN: true }),
        (logSnrS, drop) => {
          const logSnrT = logSnrS - drop;
          // The difference the code sees; the subtraction above rounds.
          const delta = logSnrS - logSnrT;
          fc.pre(delta > 0);
          const c = delta - (delta * delta) / 2 + (delta * delta * delta) / 6;
          const alphaS = Math.sqrt(1 / (1 + Math.exp(-logSnrS)));
          const sigmaSquaredS = 1 / (1 + Math.exp(logSnrS));
          const got = posteriorFromLogSnr(logSnrS, logSnrT);
          expectNear(got.variance, c * sigmaSquaredS, 1e-12);
          expectNear(got.xCoef, c * alphaS, 1e-12);
          // log zCoef = −δ + log α_s − log α_t, and d log α / dλ = σ² / 2.
          expectNear(got.zCoef, Math.exp(-delta * (1 - sigmaSquaredS / 2)), 0, 5e-16 + delta * delta);
        },
      ),
    );
  });

  it("where MATH.md's naive form cancels (δ = 1e-12), the stable form keeps its digits", () => {
    const logSnrS = 2;
    const logSnrT = 2 - 1e-12;
    const delta = logSnrS - logSnrT;
    const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
    const [alphaS2, sigmaS2, alphaT2, sigmaT2] = [sigmoid(logSnrS), sigmoid(-logSnrS), sigmoid(logSnrT), sigmoid(-logSnrT)];
    const naiveSigmaTGivenS2 = sigmaT2 - (alphaT2 / alphaS2) * sigmaS2;
    const naiveVariance = (naiveSigmaTGivenS2 * sigmaS2) / sigmaT2;
    const exactVariance = (delta - (delta * delta) / 2) * sigmaS2;
    expect(Math.abs(naiveVariance / exactVariance - 1)).toBeGreaterThan(1e-6);
    expect(Math.abs(posteriorFromLogSnr(logSnrS, logSnrT).variance / exactVariance - 1)).toBeLessThan(1e-13);
  });

  it('golden values: λ_s = 0, λ_t = −log 3 gives (√2/3, √2/3, 1/3) (by hand from MATH.md)', () => {
    const got = posteriorFromLogSnr(0, -Math.log(3));
    expectNear(got.zCoef, Math.SQRT2 / 3, 1e-15);
    expectNear(got.xCoef, Math.SQRT2 / 3, 1e-15);
    expectNear(got.variance, 1 / 3, 1e-15);
  });

  it('golden values: cosine on [-15, 15], steps 0.5 → 0.25 and 1 → 0.9 (mpmath, 40 digits)', () => {
    const cosine = cosineSchedule();
    const middle = posteriorCoefficients(cosine, 0.25, 0.5);
    expectNear(middle.zCoef, 0.22449589844943529451, 1e-13);
    expectNear(middle.xCoef, 0.76503109694158241049, 1e-13);
    expectNear(middle.variance, 0.1214430040972466573, 1e-13);
    const first = posteriorCoefficients(cosine, 0.9, 1);
    expectNear(first.zCoef, 0.0034389541306712202248, 1e-12);
    expectNear(first.xCoef, 0.15686956762375951497, 1e-13);
    expectNear(first.variance, 0.97537951560630749208, 1e-13);
  });

  it('rejects s > t, times outside [0, 1], and an increasing logSNR, naming the function', () => {
    const cosine = cosineSchedule();
    expect(() => posteriorCoefficients(cosine, 0.6, 0.5)).toThrow(/posteriorCoefficients: need s <= t, got s=0.6 > t=0.5/);
    expect(() => posteriorCoefficients(cosine, -0.1, 0.5)).toThrow(/posteriorCoefficients \(s\).*got -0.1/);
    expect(() => posteriorCoefficients(cosine, 0.1, Number.NaN)).toThrow(/posteriorCoefficients \(t\).*got NaN/);
    expect(() => posteriorFromLogSnr(1, 2)).toThrow(/posteriorFromLogSnr: .*logSnrS=1 < logSnrT=2/);
    expect(() => posteriorFromLogSnr(Number.POSITIVE_INFINITY, 2)).toThrow(/finite/);
  });
});

describe('per-frame posterior (Eqs. 11-15)', () => {
  const maps: fc.Arbitrary<LocalTimes> = fc
    .tuple(fc.integer({ min: 1, max: 8 }), fc.boolean())
    .chain(([window, init]) =>
      fc.integer({ min: 0, max: window - 1 }).map((cleanFrames) =>
        init ? initLocalTimes({ window, cleanFrames }) : linearLocalTimes({ window, cleanFrames }),
      ),
    );

  it('copies clean frames, draws fresh noise for noise frames, and uses Eq. 3 in the window', () => {
    fc.assert(
      fc.property(schedule, maps, step, (sched, map, { s, t }) => {
        const sTimes = map(s);
        const tTimes = map(t);
        framePosteriorCoefficients(sched, sTimes, tTimes).forEach((coefficients, k) => {
          if (tTimes[k] === 0) expect(coefficients).toEqual({ zCoef: 1, xCoef: 0, variance: 0 });
          else if (sTimes[k] === 1) expect(coefficients).toEqual({ zCoef: 0, xCoef: 0, variance: 1 });
          else expect(coefficients).toEqual(posteriorCoefficients(sched, sTimes[k], tTimes[k]));
        });
      }),
    );
  });
});

describe('DDIM(η) coefficients', () => {
  it('η = 1 is the posterior of Eq. 3', () => {
    fc.assert(
      fc.property(schedule, step, (sched, { s, t }) => {
        const ddim = ddimCoefficients(sched, s, t, 1);
        const posterior = posteriorCoefficients(sched, s, t);
        expectNear(ddim.zCoef, posterior.zCoef, 1e-13, 1e-16);
        expectNear(ddim.xCoef, posterior.xCoef, 1e-13, 1e-16);
        expectNear(ddim.variance, posterior.variance, 1e-13, 1e-16);
      }),
    );
  });

  it('η = 0 is deterministic: z_s = α_s x̂ + σ_s ε̂ with ε̂ = (z_t − α_t x̂) / σ_t', () => {
    fc.assert(
      fc.property(
        schedule,
        step,
        spreadDouble(-3, 3),
        spreadDouble(-3, 3),
        (sched, { s, t }, z, xHat) => {
          const { zCoef, xCoef, variance } = ddimCoefficients(sched, s, t, 0);
          expect(variance).toBe(0);
          const epsHat = (z - sched.alpha(t) * xHat) / sched.sigma(t);
          expectNear(zCoef * z + xCoef * xHat, sched.alpha(s) * xHat + sched.sigma(s) * epsHat, 1e-12, 1e-12);
        },
      ),
    );
  });

  it('the (x̂, ε̂) form and the (z_t, x̂) form are the same step', () => {
    fc.assert(
      fc.property(
        schedule,
        step,
        eta,
        spreadDouble(-3, 3),
        spreadDouble(-3, 3),
        (sched, { s, t }, etaValue, z, xHat) => {
          const [logSnrS, logSnrT] = [sched.logSnr(s), sched.logSnr(t)];
          const epsForm = ddimEpsFromLogSnr(logSnrS, logSnrT, etaValue);
          const zForm = ddimFromLogSnr(logSnrS, logSnrT, etaValue);
          const epsHat = (z - sched.alpha(t) * xHat) / sched.sigma(t);
          expectNear(
            zForm.zCoef * z + zForm.xCoef * xHat,
            epsForm.xCoef * xHat + epsForm.epsCoef * epsHat,
            1e-12,
            1e-11,
          );
          expect(zForm.variance).toBe(epsForm.variance);
        },
      ),
    );
  });

  it('keeps the marginal q(z_s | x) for every η when x̂ = x, and is the identity at s = t', () => {
    fc.assert(
      fc.property(schedule, step, eta, (sched, { s, t }, etaValue) => {
        const { zCoef, xCoef, variance } = ddimCoefficients(sched, s, t, etaValue);
        expectNear(zCoef * sched.alpha(t) + xCoef, sched.alpha(s), 1e-14, 1e-15);
        expectNear(zCoef * zCoef * sched.sigma(t) ** 2 + variance, sched.sigma(s) ** 2, 1e-13, 1e-16);
        expect(ddimCoefficients(sched, t, t, etaValue)).toEqual({ zCoef: 1, xCoef: 0, variance: 0 });
      }),
    );
  });

  it('rejects η outside [0, 1]', () => {
    expect(() => ddimCoefficients(cosineSchedule(), 0.2, 0.4, 1.5)).toThrow(/eta must be in \[0, 1\], got 1.5/);
    expect(() => ddimFromLogSnr(1, 0, -0.1)).toThrow(/ddimFromLogSnr: eta/);
    expect(() => ddimEpsFromLogSnr(1, 0, Number.NaN)).toThrow(/got NaN/);
  });
});

describe('Gaussian oracle (MATH.md)', () => {
  const data = fc.record({
    mean: spreadDouble(-3, 3),
    std: fc.oneof(fc.constant(0), spreadDouble(0, 3)),
  });

  it('for N(0, 1) data: E[x|z] = α z, E[ε|z] = σ z, E[v|z] = 0', () => {
    const oracle = gaussianOracle({ mean: 0, std: 1 });
    fc.assert(
      fc.property(schedule, time, spreadDouble(-5, 5), (sched, t, z) => {
        const [alpha, sigma] = [sched.alpha(t), sched.sigma(t)];
        expectNear(oracle.x(z, alpha, sigma), alpha * z, 1e-14, 1e-15);
        expectNear(oracle.eps(z, alpha, sigma), sigma * z, 1e-14, 1e-15);
        expect(Math.abs(oracle.v(z, alpha, sigma))).toBeLessThan(1e-14);
      }),
    );
  });

  it('is consistent with z = α x + σ ε, x = α z − σ v and ε = σ z + α v', () => {
    fc.assert(
      fc.property(schedule, time, data, spreadDouble(-5, 5), (sched, t, prior, z) => {
        const oracle = gaussianOracle(prior);
        const [alpha, sigma] = [sched.alpha(t), sched.sigma(t)];
        const [x, eps, v] = [oracle.x(z, alpha, sigma), oracle.eps(z, alpha, sigma), oracle.v(z, alpha, sigma)];
        expectNear(alpha * x + sigma * eps, z, 1e-12, 1e-12);
        expectNear(alpha * z - sigma * v, x, 1e-12, 1e-12);
        expectNear(sigma * z + alpha * v, eps, 1e-12, 1e-12);
      }),
    );
  });

  it('is the regression of x on z: E[x|z] = μ + Cov(x, z) / Var(z) · (z − α μ)', () => {
    fc.assert(
      fc.property(data, spreadDouble(0.01, 0.99), fc.double({ min: -5, max: 5 }), (prior, a, z) => {
        fc.pre(Number.isFinite(z));
        const alpha = Math.sqrt(a);
        const sigma = Math.sqrt(1 - a);
        const covariance = alpha * prior.std ** 2;
        const varianceOfZ = alpha * alpha * prior.std ** 2 + sigma * sigma;
        const expected = prior.mean + (covariance / varianceOfZ) * (z - alpha * prior.mean);
        expectNear(gaussianOracle(prior).x(z, alpha, sigma), expected, 1e-12, 1e-12);
      }),
    );
  });

  it('drives an ancestral sampler to the data mean exactly and the data variance as steps grow', () => {
    // z stays Gaussian through every step (all maps are affine), so its moments propagate exactly.
    const sched = cosineSchedule();
    const run = (mean: number, std: number, steps: number): { mean: number; variance: number } => {
      // One frame whose local time is the global time, started from the exact marginal at t = 1.
      const start = { mean: sched.alpha(1) * mean, variance: sched.alpha(1) ** 2 * std ** 2 + sched.sigma(1) ** 2 };
      const [z0] = oracleWindowMoments({ mean, std }, [start], (t) => [t], steps, (s, t) => posteriorCoefficients(sched, s, t), sched.logSnr);
      const [alpha0, sigma0] = [sched.alpha(0), sched.sigma(0)];
      return { mean: z0!.mean / alpha0, variance: (z0!.variance - sigma0 ** 2) / alpha0 ** 2 };
    };
    for (const [mean, std] of [[0.3, 0.5], [-1, 2], [0, 1]] as const) {
      const coarse = run(mean, std, 100);
      const fine = run(mean, std, 1000);
      expectNear(coarse.mean, mean, 1e-12, 1e-12);
      expectNear(fine.mean, mean, 1e-12, 1e-12);
      expectNear(fine.variance, std ** 2, 1e-2);
      expect(Math.abs(fine.variance - std ** 2)).toBeLessThan(Math.abs(coarse.variance - std ** 2) / 5);
    }
  });

  it('rejects a negative or non-finite std', () => {
    expect(() => gaussianOracle({ mean: 0, std: -1 })).toThrow(/gaussianOracle: .*std=-1/);
    expect(() => gaussianOracle({ mean: Number.NaN, std: 1 })).toThrow(/mean=NaN/);
  });
});

describe('frame categories override the window step; every check names its function', () => {
  it('clean frames are copied and pure-noise frames drawn fresh whatever the window step is (Eqs. 12-13)', () => {
    // A window step that is identity-like at s = t (Eq. 3, DDIM) would hide a clean frame sent to it;
    // this one marks every frame it is given.
    const marked = { zCoef: 7, xCoef: 7, variance: 7 };
    const got = framePosteriorCoefficients(cosineSchedule(), [0, 0.2, 1], [0, 0.5, 1], () => marked);
    expect(got).toEqual([{ zCoef: 1, xCoef: 0, variance: 0 }, marked, { zCoef: 0, xCoef: 0, variance: 1 }]);
  });

  it('DDIM keeps the total noise of z_s at σ_s²: epsCoef² + variance = σ_s² for every η and s ≤ t', () => {
    // (σ_s² − σ̃²) from the predicted noise plus σ̃² of fresh noise (Song et al. 2021, Eq. 12).
    fc.assert(
      fc.property(spreadDouble(-12, 12), spreadDouble(0, 12), spreadDouble(0, 1), (logSnrS, drop, eta) => {
        const { epsCoef, variance } = ddimEpsFromLogSnr(logSnrS, logSnrS - drop, eta);
        const sigmaS2 = 1 / (1 + Math.exp(logSnrS));
        expect(Math.abs(epsCoef * epsCoef + variance - sigmaS2)).toBeLessThanOrEqual(1e-12 * sigmaS2);
      }),
      { numRuns: 200 },
    );
  });

  it('the DDIM checks name the function they guard (the whole message)', () => {
    expect(() => ddimEpsFromLogSnr(1, 2, 0)).toThrow(/^ddimEpsFromLogSnr: s <= t needs logSnrS >= logSnrT \(less noise at s\), got logSnrS=1 < logSnrT=2$/);
    expect(() => ddimEpsFromLogSnr(2, 1, 1.5)).toThrow(/^ddimEpsFromLogSnr: eta must be in \[0, 1\], got 1\.5$/);
    expect(() => ddimFromLogSnr(Number.NaN, 1, 0)).toThrow(/^ddimFromLogSnr: logSNRs must be finite, got logSnrS=NaN, logSnrT=1$/);
    expect(() => ddimCoefficients(cosineSchedule(), 0.5, 0.25, 0)).toThrow(/^ddimCoefficients: need s <= t, got s=0\.5 > t=0\.25$/);
    expect(() => ddimCoefficients(cosineSchedule(), 0.5, 2, 0)).toThrow(/^ddimCoefficients \(t\): t must be a number in \[0, 1\], got 2$/);
  });
});
