/**
 * Laws of a noise schedule (Section 2.1, MATH.md), with its resolution shift.
 */
import fc from 'fast-check';
import { time, timeStep } from './arbitraries.js';
import type { Law } from './law.js';
import { expectNear, fail } from './reference.js';

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
