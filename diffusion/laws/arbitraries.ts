/**
 * Generators that reach the boundaries: t = 0 and t = 1, W = 1, n_cln = 0 and n_cln = W − 1, s = t,
 * the ends of the logSNR range.
 */
import fc from 'fast-check';
import type { WindowSpec } from '../localTime.js';

/**
 * A double spread evenly over [min, max] (a grid of 2³⁰ + 1 points). fast-check's `fc.double` draws
 * evenly over the floating-point numbers themselves, so on [0, 1] about 92% of its draws are below
 * 1e-6 and 0.5% lie in [0.01, 0.99] (measured, fast-check 4.10), and on [−20, 20] 7% have |λ| > 0.1:
 * alone it almost never reaches the middle of an interval, where the laws' formulas differ most from
 * their bugs. The generators below draw from both: the even grid for the middle, `fc.double` for the
 * tiny values and the edges of the floating-point range.
 */
export function evenDouble(min: number, max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 2 ** 30 }).map((k) => Math.min(max, min + ((max - min) * k) / 2 ** 30));
}

/** Over the interval from min to max: half the draws even, half from `fc.double` (tiny values, edges). */
export function spreadDouble(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(evenDouble(min, max), fc.double({ min, max, noNaN: true }));
}

/** t ∈ [0, 1], with 0 and 1 drawn on purpose. */
export const time = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));
/** t ∈ (0, 1): a frame that is neither clean nor pure noise. */
export const interiorTime = fc.oneof(
  fc.integer({ min: 1, max: 2 ** 30 - 1 }).map((k) => k / 2 ** 30),
  fc.double({ min: 0, max: 1, minExcluded: true, maxExcluded: true, noNaN: true }),
);

/** W from 1 up, with W = 1, n_cln = 0 and n_cln = W − 1 drawn on purpose. */
export function windowSpec(maxWindow: number): fc.Arbitrary<Required<WindowSpec>> {
  return fc
    .oneof(fc.constant(1), fc.integer({ min: 1, max: maxWindow }))
    .chain((window) =>
      fc
        .oneof(fc.constant(0), fc.constant(window - 1), fc.integer({ min: 0, max: window - 1 }))
        .map((cleanFrames) => ({ window, cleanFrames })),
    );
}

/** Two global times s ≤ t, equal ones included. */
export const timeStep = fc.oneof(
  time.map((t) => ({ s: t, t })),
  fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a })),
);

/** One frame's step s_k ≤ t_k, with each category of Eqs. 8-10 and its edges drawn on purpose. */
export const frameStep = fc.oneof(
  fc.constant({ s: 0, t: 0 }), // clean
  fc.constant({ s: 1, t: 1 }), // pure noise
  fc.constant({ s: 0, t: 1 }), // a whole reverse process in one step
  interiorTime.map((s) => ({ s, t: 1 })), // leaving pure noise
  interiorTime.map((t) => ({ s: 0, t })), // becoming clean
  interiorTime.map((t) => ({ s: t, t })), // a zero-length step
  fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a })),
);
export const frameSteps = fc.array(frameStep, { minLength: 1, maxLength: 10 });

/** λ ∈ [−20, 20] with the ends and 0 drawn on purpose. */
export const logSnrValue = fc.oneof(fc.constant(-20), fc.constant(20), fc.constant(0), spreadDouble(-20, 20));

/** λ_s ≥ λ_t (s ≤ t): equal, arbitrary, and tiny steps where naive formulas cancel. */
export const logSnrStep = fc.oneof(
  logSnrValue.map((l) => ({ logSnrS: l, logSnrT: l })),
  fc.tuple(logSnrValue, logSnrValue).map(([a, b]) => (a >= b ? { logSnrS: a, logSnrT: b } : { logSnrS: b, logSnrT: a })),
  fc.tuple(logSnrValue, fc.double({ min: 1e-9, max: 1e-2, noNaN: true })).map(([l, d]) => ({ logSnrS: l, logSnrT: l - d })),
);

export const eta = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));

/** Pixel values k/32 ∈ [−3, 3]: exact in float32, so a tensor adapter sees exactly the law's numbers. */
export const pixel = fc.integer({ min: -96, max: 96 }).map((k) => k / 32);

/** The generators, for writing further laws with the same boundaries. */
export const lawArbitraries = { time, interiorTime, windowSpec, timeStep, frameStep, frameSteps, logSnrValue, logSnrStep, eta, pixel, evenDouble, spreadDouble };
