import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import {
  alphaFromLogSnr,
  cosineSchedule,
  interpolatedCosineSchedule,
  linearLogSnrSchedule,
  resolutionShift,
  type Schedule,
  shiftedCosineSchedule,
  sigmaFromLogSnr,
  stableSigmoid,
} from '../../diffusion/schedule.js';


/** t in [0, 1], with the endpoints drawn on purpose. */
const time = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));

/** logSNR ranges with λ_min < λ_max, the paper's ±15 among them. */
const logSnrRange = fc.oneof(
  fc.constant({ logSnrMin: -15, logSnrMax: 15 }),
  fc
    .tuple(spreadDouble(-30, 10), spreadDouble(0.5, 30))
    .map(([logSnrMin, width]) => ({ logSnrMin, logSnrMax: logSnrMin + width })),
);

const imageSize = fc.constantFrom(8, 16, 32, 64, 128, 256, 512);

/** Every schedule family, with generated parameters. */
const schedule: fc.Arbitrary<Schedule> = fc.oneof(
  logSnrRange.map((range) => cosineSchedule(range)),
  fc
    .tuple(logSnrRange, imageSize, imageSize)
    .map(([range, size, referenceSize]) => shiftedCosineSchedule({ ...range, imageSize: size, referenceSize })),
  fc.tuple(logSnrRange, imageSize, imageSize, imageSize).map(([range, size, a, b]) =>
    interpolatedCosineSchedule({
      ...range,
      imageSize: size,
      lowReferenceSize: Math.min(a, b),
      highReferenceSize: Math.max(a, b),
    }),
  ),
  logSnrRange.map((range) => linearLogSnrSchedule(range)),
);

/** Reference of VDM's `logsnr_schedule_cosine`, written independently of the code under test. */
function vdmCosine(t: number, logSnrMin: number, logSnrMax: number): number {
  const tMin = Math.atan(Math.exp(-0.5 * logSnrMax));
  const tMax = Math.atan(Math.exp(-0.5 * logSnrMin));
  return -2 * Math.log(Math.tan(tMin + t * (tMax - tMin)));
}

describe('schedules', () => {
  it('alpha^2 + sigma^2 = 1 at every t, endpoints included', () => {
    fc.assert(
      fc.property(schedule, time, (sched, t) => {
        const a = sched.alpha(t);
        const s = sched.sigma(t);
        expect(Math.abs(a * a + s * s - 1)).toBeLessThan(1e-15);
        expect(a).toBeGreaterThan(0);
        expect(s).toBeGreaterThan(0);
      }),
    );
  });

  it('logSNR is finite, within [logSnrMin, logSnrMax], and ends exactly at both', () => {
    fc.assert(
      fc.property(schedule, time, (sched, t) => {
        const l = sched.logSnr(t);
        expect(Number.isFinite(l)).toBe(true);
        expect(l).toBeGreaterThanOrEqual(sched.logSnrMin);
        expect(l).toBeLessThanOrEqual(sched.logSnrMax);
        expect(sched.logSnr(0)).toBe(sched.logSnrMax);
        expect(sched.logSnr(1)).toBe(sched.logSnrMin);
      }),
    );
  });

  it('logSNR is non-increasing everywhere and strictly decreasing across gaps of 1e-9', () => {
    fc.assert(
      fc.property(schedule, time, time, (sched, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(sched.logSnr(lo)).toBeGreaterThanOrEqual(sched.logSnr(hi));
        if (hi - lo >= 1e-9) expect(sched.logSnr(lo)).toBeGreaterThan(sched.logSnr(hi));
      }),
      { numRuns: 500 },
    );
  });

  it('logSNR is strictly decreasing between neighbouring steps of a 1000-step sampler', () => {
    const schedules = [
      cosineSchedule(),
      shiftedCosineSchedule({ imageSize: 128 }),
      interpolatedCosineSchedule({ imageSize: 512, lowReferenceSize: 32, highReferenceSize: 256 }),
      linearLogSnrSchedule(),
    ];
    for (const sched of schedules) {
      for (let i = 0; i < 1000; i++) {
        expect(sched.logSnr(i / 1000)).toBeGreaterThan(sched.logSnr((i + 1) / 1000));
      }
    }
  });

  it('cosine: matches the VDM formula in the interior of the default range, where that formula is accurate', () => {
    const cosine = cosineSchedule();
    fc.assert(
      fc.property(spreadDouble(1e-6, 1 - 1e-6), (t) => {
        expect(cosine.logSnr(t)).toBeCloseTo(vdmCosine(t, -15, 15), 10);
      }),
    );
  });

  it('cosine: golden values (mpmath, 50 digits) for ranges where the plain VDM formula loses digits', () => {
    // [logSnrMin, logSnrMax, t, λ(t)]
    const golden: [number, number, number, number][] = [
      [-30, -29.5, 0.001, -29.500442447370167356],
      [-30, -29.5, 0.3, -29.637328204814671268],
      [-30, -29.5, 0.5, -29.734415521362207269],
      [-30, -29.5, 0.9, -29.943986664229361159],
      [-30, -29.5, 0.999, -29.999432029821790142],
      [-40, -10, 0.001, -10.002001060557144669],
      [-40, -10, 0.3, -10.71336506142020805],
      [-40, -10, 0.5, -11.386316448879880093],
      [-40, -10, 0.9, -14.605194643036252773],
      [-40, -10, 0.999, -23.814929715245757058],
      [10, 40, 0.001, 23.814929715245757058],
      [10, 40, 0.3, 12.407971723191201821],
      [10, 40, 0.5, 11.386316448879880093],
      [10, 40, 0.9, 10.210726713928645834],
      [10, 40, 0.999, 10.002001060557144669],
      [-100, 100, 0.001, 12.912343502450350493],
      [-100, 100, 0.3, 1.3485509552536331908],
      [-100, 100, 0.5, 0],
      [-100, 100, 0.9, -3.6854600694022260603],
      [-100, 100, 0.999, -12.912343502450350493],
      [-20, -19.999, 0.001, -19.999000999750290317],
      [-20, -19.999, 0.3, -19.999299947503499645],
      [-20, -19.999, 0.5, -19.999499937500000298],
      [-20, -19.999, 0.9, -19.999899977496999755],
      [-20, -19.999, 0.999, -19.999998999750208453],
    ];
    for (const [logSnrMin, logSnrMax, t, logSnr] of golden) {
      expect(Math.abs(cosineSchedule({ logSnrMin, logSnrMax }).logSnr(t) - logSnr)).toBeLessThan(1e-12);
    }
  });

  it('cosine: golden values (mpmath, 40 digits) for logSNR in [-15, 15]', () => {
    const cosine = cosineSchedule();
    const golden: [number, number, number, number][] = [
      [0.1, 3.679740434982345479, 0.98761902675485278894, 0.15687146965524792665],
      [0.25, 1.7611832477357733967, 0.92377366908374464696, 0.38293890936748153776],
      [0.5, 0, Math.SQRT1_2, Math.SQRT1_2],
      [0.75, -1.7611832477357733967, 0.38293890936748153776, 0.92377366908374464696],
      [0.9, -3.679740434982345479, 0.15687146965524792665, 0.98761902675485278894],
      [0.999, -12.310059661377936643, 0.0021227728776547100968, 0.99999774691511675103],
    ];
    for (const [t, logSnr, alpha, sigma] of golden) {
      expect(Math.abs(cosine.logSnr(t) - logSnr)).toBeLessThan(1e-12);
      expect(Math.abs(cosine.alpha(t) - alpha)).toBeLessThan(1e-14);
      expect(Math.abs(cosine.sigma(t) - sigma)).toBeLessThan(1e-14);
    }
    expect(cosineSchedule({ logSnrMin: -10, logSnrMax: 20 }).logSnr(0.3)).toBeCloseTo(1.3584022209049621993, 12);
  });

  it('cosine: the symmetric range is antisymmetric about t = 1/2', () => {
    const cosine = cosineSchedule();
    fc.assert(
      fc.property(time, (t) => {
        expect(Math.abs(cosine.logSnr(t) + cosine.logSnr(1 - t))).toBeLessThan(1e-11);
      }),
    );
  });

  it('shifted cosine: adds 2 log(d_ref / d) without clipping, and is the cosine at d = d_ref', () => {
    fc.assert(
      fc.property(logSnrRange, imageSize, imageSize, time, (range, size, referenceSize, t) => {
        const cosine = cosineSchedule(range);
        const shifted = shiftedCosineSchedule({ ...range, imageSize: size, referenceSize });
        const shift = 2 * Math.log(referenceSize / size);
        expect(shifted.logSnr(t)).toBeCloseTo(cosine.logSnr(t) + shift, 12);
        expect(shifted.logSnrMin).toBeCloseTo(range.logSnrMin + shift, 12);
        expect(shifted.logSnrMax).toBeCloseTo(range.logSnrMax + shift, 12);
        const unshifted = shiftedCosineSchedule({ ...range, imageSize: size, referenceSize: size }).logSnr(t);
        // === rather than toBe: λ_min = −0 shifts by +0 to +0, the same number.
        expect(unshifted === cosine.logSnr(t)).toBe(true);
      }),
    );
    expect(resolutionShift(128, 64)).toBeCloseTo(-2 * Math.LN2, 15);
    expect(shiftedCosineSchedule({ imageSize: 128 }).logSnr(0.5)).toBeCloseTo(-2 * Math.LN2, 14);
  });

  it('interpolated cosine: t λ_low(t) + (1 − t) λ_high(t), λ_high at t = 0, λ_low at t = 1', () => {
    fc.assert(
      fc.property(logSnrRange, imageSize, imageSize, imageSize, time, (range, size, a, b, t) => {
        const lowReferenceSize = Math.min(a, b);
        const highReferenceSize = Math.max(a, b);
        const low = shiftedCosineSchedule({ ...range, imageSize: size, referenceSize: lowReferenceSize });
        const high = shiftedCosineSchedule({ ...range, imageSize: size, referenceSize: highReferenceSize });
        const interpolated = interpolatedCosineSchedule({ ...range, imageSize: size, lowReferenceSize, highReferenceSize });
        expect(interpolated.logSnr(t)).toBeCloseTo(t * low.logSnr(t) + (1 - t) * high.logSnr(t), 11);
        expect(interpolated.logSnr(0)).toBeCloseTo(high.logSnr(0), 12);
        expect(interpolated.logSnr(1)).toBeCloseTo(low.logSnr(1), 12);
      }),
    );
  });

  it('linear logSNR: (1 − t) λ_max + t λ_min', () => {
    fc.assert(
      fc.property(logSnrRange, time, (range, t) => {
        const expected = (1 - t) * range.logSnrMax + t * range.logSnrMin;
        expect(linearLogSnrSchedule(range).logSnr(t)).toBeCloseTo(expected, 12);
      }),
    );
    expect(linearLogSnrSchedule().logSnr(0.25)).toBe(7.5);
  });

  it('alpha and sigma keep full relative precision where 1 − alpha^2 cancels', () => {
    fc.assert(
      fc.property(spreadDouble(-700, 700), (l) => {
        const a = alphaFromLogSnr(l);
        const s = sigmaFromLogSnr(l);
        expect(Math.abs(a * a + s * s - 1)).toBeLessThan(1e-15);
        // log(α²/σ²) = λ must survive: it only can if the smaller of the two is not rounded to 0.
        expect(Math.log((a * a) / (s * s))).toBeCloseTo(l, 8);
      }),
    );
    expect(sigmaFromLogSnr(40)).toBeGreaterThan(0);
    expect(Math.sqrt(1 - alphaFromLogSnr(40) ** 2)).toBe(0);
    expect(stableSigmoid(-800)).toBe(0);
    expect(stableSigmoid(800)).toBe(1);
  });

  it('t outside [0, 1] or NaN throws an error naming the schedule, the function and the value', () => {
    const cosine = cosineSchedule();
    for (const bad of [-0.1, 1.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => cosine.logSnr(bad)).toThrow(/cosine.*logSnr.*\[0, 1\]/);
      expect(() => cosine.alpha(bad)).toThrow(`cosine(logSnrMin=-15, logSnrMax=15).alpha: t must be a number in [0, 1], got ${bad}`);
      expect(() => cosine.sigma(bad)).toThrow(/\.sigma: .*got/);
    }
    expect(() => linearLogSnrSchedule().logSnr(2)).toThrow(/linearLogSnr.*got 2/);
  });

  it('a range with logSnrMin >= logSnrMax, or non-finite, throws', () => {
    expect(() => cosineSchedule({ logSnrMin: 5, logSnrMax: 5 })).toThrow(/cosineSchedule: logSnrMin must be < logSnrMax/);
    expect(() => cosineSchedule({ logSnrMin: 6, logSnrMax: 5 })).toThrow(/logSnrMin=6, logSnrMax=5/);
    expect(() => linearLogSnrSchedule({ logSnrMin: 1, logSnrMax: 0 })).toThrow(/linearLogSnrSchedule/);
    expect(() => cosineSchedule({ logSnrMax: Number.POSITIVE_INFINITY })).toThrow(/finite/);
    expect(() => cosineSchedule({ logSnrMin: -700 })).toThrow(/within \[-600, 600\]/);
    expect(() => shiftedCosineSchedule({ imageSize: 0 })).toThrow(/shiftedCosineSchedule: imageSize/);
    expect(() => shiftedCosineSchedule({ imageSize: 64, referenceSize: Number.NaN })).toThrow(/referenceSize/);
    expect(() =>
      interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 256, highReferenceSize: 32 }),
    ).toThrow(/lowReferenceSize must be <= highReferenceSize/);
  });

  it('every range and size check gives its whole message, and the boundary values are accepted', () => {
    const exact = (fn: () => unknown, message: string) => {
      let got = '';
      try {
        fn();
      } catch (e) {
        got = (e as Error).message;
      }
      expect(got).toBe(message);
    };
    const cosine = cosineSchedule();
    exact(() => cosine.logSnr(-0.1), 'cosine(logSnrMin=-15, logSnrMax=15).logSnr: t must be a number in [0, 1], got -0.1');
    exact(() => cosine.sigma(Number.NaN), 'cosine(logSnrMin=-15, logSnrMax=15).sigma: t must be a number in [0, 1], got NaN');
    exact(() => shiftedCosineSchedule({ imageSize: 32 }).logSnr(2), 'shiftedCosine(imageSize=32, referenceSize=64, logSnrMin=-15, logSnrMax=15).logSnr: t must be a number in [0, 1], got 2');
    exact(() => interpolatedCosineSchedule({ imageSize: 512, lowReferenceSize: 32, highReferenceSize: 256 }).alpha(-1), 'interpolatedCosine(imageSize=512, lowReferenceSize=32, highReferenceSize=256, logSnrMin=-15, logSnrMax=15).alpha: t must be a number in [0, 1], got -1');
    exact(() => linearLogSnrSchedule({ logSnrMin: 1, logSnrMax: 0 }), 'linearLogSnrSchedule: logSnrMin must be < logSnrMax, got logSnrMin=1, logSnrMax=0');
    exact(() => linearLogSnrSchedule({ logSnrMin: Number.NaN }), 'linearLogSnrSchedule: logSnrMin and logSnrMax must be finite, got logSnrMin=NaN, logSnrMax=15');
    exact(() => cosineSchedule({ logSnrMax: 600.5 }), 'cosineSchedule: the cosine needs logSNR within [-600, 600], got logSnrMin=-15, logSnrMax=600.5');
    exact(() => cosineSchedule({ logSnrMin: -600.5 }), 'cosineSchedule: the cosine needs logSNR within [-600, 600], got logSnrMin=-600.5, logSnrMax=15');
    exact(() => shiftedCosineSchedule({ imageSize: 0 }), 'shiftedCosineSchedule: imageSize must be a positive finite number, got 0');
    exact(() => shiftedCosineSchedule({ imageSize: 64, referenceSize: Number.POSITIVE_INFINITY }), 'shiftedCosineSchedule: referenceSize must be a positive finite number, got Infinity');
    exact(() => shiftedCosineSchedule({ imageSize: 64, logSnrMin: 3, logSnrMax: 2 }), 'shiftedCosineSchedule: logSnrMin must be < logSnrMax, got logSnrMin=3, logSnrMax=2');
    exact(() => interpolatedCosineSchedule({ imageSize: -1, lowReferenceSize: 32, highReferenceSize: 256 }), 'interpolatedCosineSchedule: imageSize must be a positive finite number, got -1');
    exact(() => interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 0, highReferenceSize: 256 }), 'interpolatedCosineSchedule: lowReferenceSize must be a positive finite number, got 0');
    exact(() => interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 32, highReferenceSize: Number.NaN }), 'interpolatedCosineSchedule: highReferenceSize must be a positive finite number, got NaN');
    exact(() => interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 256, highReferenceSize: 32 }), 'interpolatedCosineSchedule: lowReferenceSize must be <= highReferenceSize, got 256 > 32');
    exact(() => interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 32, highReferenceSize: 256, logSnrMin: 700 }), 'interpolatedCosineSchedule: logSnrMin must be < logSnrMax, got logSnrMin=700, logSnrMax=15');
    // The bounds themselves are legal: |λ| = 600 for the cosine, equal reference sizes (no interpolation).
    const wide = cosineSchedule({ logSnrMin: -600, logSnrMax: 600 });
    expect([wide.logSnr(0), wide.logSnr(1)]).toEqual([600, -600]);
    const flat = interpolatedCosineSchedule({ imageSize: 64, lowReferenceSize: 128, highReferenceSize: 128 });
    const shifted = shiftedCosineSchedule({ imageSize: 64, referenceSize: 128 });
    for (const t of [0, 0.3, 0.7, 1]) expect(flat.logSnr(t)).toBeCloseTo(shifted.logSnr(t), 12);
  });
});
