/**
 * Loss weightings a(t_k) of Eqs. 5, 18 and 26 as functions of λ = log SNR at a frame's local time.
 *
 * All three predictions measure the same error: for one z, ‖ε − ε̂‖² = SNR ‖x − x̂‖² and
 * ‖v − v̂‖² = (1 + SNR) ‖x − x̂‖² (MATH.md). So one weighting has three equivalent forms, one per
 * loss it multiplies; `xWeight` is the reference:
 * - 'x':      a = 1            (x-MSE)
 * - 'eps':    a = SNR          (ε-MSE, Ho et al. 2020; Section 2.1's a(t) = SNR(t))
 * - 'v':      a = 1 + SNR      (v-MSE; what the paper's Tables 4-6 call "ϵ-loss (x-loss with SNR + 1
 *                               weighting)", i.e. the v-loss)
 * - 'minSnr': a = min(SNR, γ)  (Min-SNR-γ, Hang et al. 2023, γ = 5 by default: ε-MSE weighted by
 *                               min(SNR, γ)/SNR, which caps the weight of low-noise levels. It is a
 *                               minimum: for SNR ≥ γ it is γ in x-MSE units, otherwise plain ε-MSE.)
 */

import { stableSigmoid } from './schedule.js';

export type LossWeightingName = 'x' | 'eps' | 'v' | 'minSnr';

export type LossWeighting = {
  readonly name: LossWeightingName;
  /** a(λ) multiplying ‖x − x̂‖². */
  readonly xWeight: (logSnr: number) => number;
  /** The same weighting multiplying ‖ε − ε̂‖²: xWeight / SNR. */
  readonly epsWeight: (logSnr: number) => number;
  /** The same weighting multiplying ‖v − v̂‖²: xWeight / (1 + SNR). */
  readonly vWeight: (logSnr: number) => number;
};

function checkLogSnr(where: string, logSnr: number): void {
  if (Number.isNaN(logSnr)) throw new RangeError(`${where}: logSnr must be a number, got NaN`);
}

/**
 * The named weighting a(λ) of Eq. 26 (Eq. 5 per frame), in its x-, ε- and v-loss forms. The ε and v
 * forms are written out rather than obtained by dividing xWeight, which turns ∞/∞ or 0/0 for large |λ|.
 */
export function lossWeighting(name: LossWeightingName, { gamma = 5 }: { readonly gamma?: number } = {}): LossWeighting {
  if (!(Number.isFinite(gamma) && gamma > 0)) {
    throw new RangeError(`lossWeighting: gamma must be a positive finite number, got ${String(gamma)}`);
  }
  const forms = ((): Omit<LossWeighting, 'name'> => {
    switch (name) {
      case 'x':
        return { xWeight: () => 1, epsWeight: (l) => Math.exp(-l), vWeight: (l) => stableSigmoid(-l) };
      case 'eps':
        return { xWeight: (l) => Math.exp(l), epsWeight: () => 1, vWeight: (l) => stableSigmoid(l) };
      case 'v':
        return { xWeight: (l) => 1 + Math.exp(l), epsWeight: (l) => 1 + Math.exp(-l), vWeight: () => 1 };
      case 'minSnr':
        return {
          xWeight: (l) => Math.min(Math.exp(l), gamma),
          epsWeight: (l) => Math.min(1, gamma * Math.exp(-l)),
          vWeight: (l) => Math.min(stableSigmoid(l), gamma * stableSigmoid(-l)),
        };
      default:
        throw new RangeError(`lossWeighting: unknown weighting ${JSON.stringify(name)}; use 'x', 'eps', 'v' or 'minSnr'`);
    }
  })();
  const checked =
    (form: string, f: (logSnr: number) => number) =>
    (logSnr: number): number => {
      checkLogSnr(`lossWeighting('${name}').${form}`, logSnr);
      return f(logSnr);
    };
  return {
    name,
    xWeight: checked('xWeight', forms.xWeight),
    epsWeight: checked('epsWeight', forms.epsWeight),
    vWeight: checked('vWeight', forms.vWeight),
  };
}
