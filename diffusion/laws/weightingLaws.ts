/**
 * Laws of the loss weightings a(λ) (Eqs. 5, 18, 26).
 */
import fc from 'fast-check';
import type { LossWeightingName } from '../lossWeighting.js';
import { spreadDouble } from './arbitraries.js';
import type { Law } from './law.js';
import { expectNear, fail, referenceVWeight, referenceXWeight } from './reference.js';

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

const weightLogSnr = fc.oneof(fc.constant(-30), fc.constant(30), fc.constant(0), spreadDouble(-30, 30));

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
