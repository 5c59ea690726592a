import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import { lossWeighting, type LossWeightingName } from '../../diffusion/lossWeighting.js';
import { alphaFromLogSnr, sigmaFromLogSnr } from '../../diffusion/schedule.js';


const names: LossWeightingName[] = ['x', 'eps', 'v', 'minSnr'];
const logSnr = fc.oneof(fc.constantFrom(-15, 0, 15), spreadDouble(-30, 30));
const value = spreadDouble(-3, 3);

function expectRelative(actual: number, expected: number, relative: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.abs(expected));
}

describe('loss weightings', () => {
  it('ε- and v-errors are x-errors scaled by SNR and 1 + SNR for the same z (MATH.md)', () => {
    // Beyond |λ| ≈ 10 rounding in z swamps the tiny α(x − x̂)/σ or σ(ε − ε̂) being measured.
    const moderateLogSnr = fc.oneof(fc.constantFrom(-10, 0, 10), spreadDouble(-10, 10));
    fc.assert(
      fc.property(moderateLogSnr, value, value, value, (l, x, xHat, eps) => {
        const alpha = alphaFromLogSnr(l);
        const sigma = sigmaFromLogSnr(l);
        const z = alpha * x + sigma * eps;
        const epsHat = (z - alpha * xHat) / sigma;
        const v = alpha * eps - sigma * x;
        const vHat = alpha * epsHat - sigma * xHat;
        const xError = (x - xHat) ** 2;
        fc.pre(xError > 1e-6);
        expectRelative((eps - epsHat) ** 2, Math.exp(l) * xError, 1e-6);
        expectRelative((v - vHat) ** 2, (1 + Math.exp(l)) * xError, 1e-6);
      }),
    );
  });

  it.each(names)("'%s': the x-, ε- and v-forms weigh the same error equally", (name) => {
    const weighting = lossWeighting(name);
    fc.assert(
      fc.property(logSnr, (l) => {
        const snr = Math.exp(l);
        expectRelative(weighting.epsWeight(l) * snr, weighting.xWeight(l), 1e-13);
        expectRelative(weighting.vWeight(l) * (1 + snr), weighting.xWeight(l), 1e-13);
      }),
    );
  });

  it.each(names)("'%s': every form is finite and positive even at λ = ±700", (name) => {
    const weighting = lossWeighting(name);
    for (const l of [-700, 700]) {
      for (const form of [weighting.epsWeight, weighting.vWeight]) {
        expect(Number.isFinite(form(l))).toBe(true);
        expect(form(l)).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('names: x is 1, eps is SNR, v is 1 + SNR in x-MSE units; eps and v are 1 in their own', () => {
    fc.assert(
      fc.property(logSnr, (l) => {
        expect(lossWeighting('x').xWeight(l)).toBe(1);
        expect(lossWeighting('eps').xWeight(l)).toBe(Math.exp(l));
        expect(lossWeighting('eps').epsWeight(l)).toBe(1);
        expect(lossWeighting('v').xWeight(l)).toBe(1 + Math.exp(l));
        expect(lossWeighting('v').vWeight(l)).toBe(1);
      }),
    );
  });

  it('minSnr is the minimum min(SNR, γ), γ = 5 by default (Hang et al. 2023)', () => {
    const minSnr = lossWeighting('minSnr');
    expect(minSnr.xWeight(0)).toBe(1);
    expect(minSnr.xWeight(Math.log(10))).toBe(5);
    expect(minSnr.epsWeight(0)).toBe(1);
    expectRelative(minSnr.epsWeight(Math.log(10)), 0.5, 1e-15);
    fc.assert(
      fc.property(logSnr, spreadDouble(0.1, 20), (l, gamma) => {
        const weight = lossWeighting('minSnr', { gamma }).xWeight(l);
        expect(weight).toBeLessThanOrEqual(gamma);
        expect(weight).toBeLessThanOrEqual(Math.exp(l));
        expect(weight === gamma || weight === Math.exp(l)).toBe(true);
      }),
    );
  });

  it('rejects a bad gamma, an unknown name and a NaN logSNR', () => {
    expect(() => lossWeighting('minSnr', { gamma: 0 })).toThrow(/gamma must be a positive finite number, got 0/);
    expect(() => lossWeighting('l1' as unknown as LossWeightingName)).toThrow(/unknown weighting "l1"/);
    expect(() => lossWeighting('v').xWeight(Number.NaN)).toThrow(/lossWeighting\('v'\).xWeight: logSnr must be a number/);
    // Each form names itself, not only xWeight.
    expect(() => lossWeighting('eps').epsWeight(Number.NaN)).toThrow(/^lossWeighting\('eps'\)\.epsWeight: logSnr must be a number/);
    expect(() => lossWeighting('minSnr').vWeight(Number.NaN)).toThrow(/^lossWeighting\('minSnr'\)\.vWeight: logSnr must be a number/);
  });
});
