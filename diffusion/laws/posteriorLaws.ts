/**
 * Laws of the posterior q(z_s | z_t, x) (Eq. 3), DDIM, and the per-frame posterior (Eqs. 11-15).
 */
import fc from 'fast-check';
import type { PosteriorCoefficients } from '../posteriorCoefficients.js';
import { eta, frameSteps, logSnrStep } from './arbitraries.js';
import type { Law } from './law.js';
import { alphaOf, expectNear, fail, sigmaOf } from './reference.js';

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
