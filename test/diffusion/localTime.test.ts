import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import {
  BOUNDARY_MAP_NAMES, boundaryLocalTimes, frameCategories, initLocalTimes, linearLocalTimes, LOCAL_TIME_MAP_NAMES, LOCAL_TIME_MAPS, localTimeMap,
  type LocalTimes, localTimes, rescaledInitLocalTimes, standardLocalTimes, type WindowSpec,
} from '../../diffusion/localTime.js';


/** t in [0, 1], with the endpoints drawn on purpose. */
const time = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));

/** Windows from W = 1 up, with n_cln = 0 and n_cln = W − 1 drawn on purpose. */
const windowOptions: fc.Arbitrary<Required<WindowSpec>> = fc
  .integer({ min: 1, max: 12 })
  .chain((window) =>
    fc
      .oneof(fc.constant(0), fc.constant(window - 1), fc.integer({ min: 0, max: window - 1 }))
      .map((cleanFrames) => ({ window, cleanFrames })),
  );

/** Two global times s ≤ t. */
const step = fc.tuple(time, time).map(([a, b]) => (a <= b ? { s: a, t: b } : { s: b, t: a }));

type Family = { readonly name: string; readonly make: (options: WindowSpec) => LocalTimes };
const families: Family[] = [
  { name: 'linear (Eq. 22)', make: linearLocalTimes },
  { name: 'init (Eq. 23)', make: initLocalTimes },
  { name: 'rescaled init (Eq. 37)', make: rescaledInitLocalTimes },
  { name: 'Eq. 20 with g(u) = u^2', make: (options) => localTimes((u) => u * u, options) },
];

const shiftLeft = (times: number[]): number[] => [...times.slice(1), 1];

describe.each(families)('local times, $name', ({ make }) => {
  it('has one local time per frame, each in [0, 1], non-decreasing in the frame index', () => {
    fc.assert(
      fc.property(windowOptions, time, (options, t) => {
        const times = make(options)(t);
        expect(times).toHaveLength(options.window);
        times.forEach((tw, w) => {
          expect(tw).toBeGreaterThanOrEqual(0);
          expect(tw).toBeLessThanOrEqual(1);
          if (w > 0) expect(tw).toBeGreaterThanOrEqual(times[w - 1]);
        });
      }),
    );
  });

  it('is non-decreasing in t for every frame', () => {
    fc.assert(
      fc.property(windowOptions, step, (options, { s, t }) => {
        const map = make(options);
        const before = map(s);
        map(t).forEach((tw, w) => expect(tw).toBeGreaterThanOrEqual(before[w]));
      }),
    );
  });

  it('holds the clean conditioning frames at local time 0 for every t', () => {
    fc.assert(
      fc.property(windowOptions, time, (options, t) => {
        expect(make(options)(t).slice(0, options.cleanFrames)).toEqual(Array(options.cleanFrames).fill(0));
      }),
    );
  });

  it('rejects a bad window, bad cleanFrames, and t outside [0, 1] with the value in the message', () => {
    expect(() => make({ window: 0 })).toThrow(/window must be an integer >= 1, got 0/);
    expect(() => make({ window: 2.5 })).toThrow(/got 2.5/);
    expect(() => make({ window: 4, cleanFrames: 4 })).toThrow(/cleanFrames.*got 4/);
    expect(() => make({ window: 4, cleanFrames: -1 })).toThrow(/cleanFrames.*got -1/);
    expect(() => make({ window: 4, cleanFrames: 0.5 })).toThrow(/cleanFrames/);
    const map = make({ window: 4 });
    expect(() => map(-0.25)).toThrow(/LocalTimes|localTimes/);
    expect(() => map(-0.25)).toThrow(/got -0.25/);
    expect(() => map(1.5)).toThrow(/got 1.5/);
    expect(() => map(Number.NaN)).toThrow(/got NaN/);
  });
});

describe('linear local times (Eqs. 21-22)', () => {
  it('matches the hand table of the doc comment (W = 4, n_cln = 0)', () => {
    const linear = linearLocalTimes({ window: 4 });
    expect(linear(0)).toEqual([0, 0.25, 0.5, 0.75]);
    expect(linear(0.5)).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect(linear(1)).toEqual([0.25, 0.5, 0.75, 1]);
    const withClean = linearLocalTimes({ window: 4, cleanFrames: 1 });
    expect(withClean(0)).toEqual([0, 0, 1 / 3, 2 / 3]);
    expect(withClean(1)).toEqual([0, 1 / 3, 2 / 3, 1]);
  });

  it('is Eq. 21, (w + t) / W, when there are no clean frames', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), time, (window, t) => {
        expect(linearLocalTimes({ window })(t)).toEqual(Array.from({ length: window }, (_, w) => (w + t) / window));
      }),
    );
  });

  it('frame w at t = 0 equals frame w − 1 at t = 1, exactly, with clean frames too (Section 3.2)', () => {
    fc.assert(
      fc.property(windowOptions, (options) => {
        const linear = linearLocalTimes(options);
        const atZero = linear(0);
        const atOne = linear(1);
        for (let w = 1; w < options.window; w++) expect(atZero[w]).toBe(atOne[w - 1]);
        expect(atOne[options.window - 1]).toBe(1);
      }),
    );
  });

  it('with n_cln clean frames is Eq. 21 on the last W − n_cln frames (Eq. 22)', () => {
    fc.assert(
      fc.property(windowOptions, time, (options, t) => {
        const generated = linearLocalTimes({ window: options.window - options.cleanFrames })(t);
        expect(linearLocalTimes(options)(t).slice(options.cleanFrames)).toEqual(generated);
      }),
    );
  });

  it('is Eq. 20 with g = id', () => {
    fc.assert(
      fc.property(windowOptions, time, (options, t) => {
        expect(localTimes((u) => u, options)(t)).toEqual(linearLocalTimes(options)(t));
      }),
    );
  });

  it('W = 1 is plain diffusion: the one frame has local time t', () => {
    fc.assert(
      fc.property(time, (t) => {
        expect(linearLocalTimes({ window: 1 })(t)).toEqual([t]);
      }),
    );
  });
});

describe('init local times (Eq. 23 with the clean-frame shift)', () => {
  it('matches Eq. 23, clip(w / W + t), when there are no clean frames', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), time, (window, t) => {
        const expected = Array.from({ length: window }, (_, w) => Math.min(1, w / window + t));
        expect(initLocalTimes({ window })(t)).toEqual(expected);
      }),
    );
  });

  it('init(1) is all noise except the clean frames, and init(0) = linear(0) exactly', () => {
    fc.assert(
      fc.property(windowOptions, (options) => {
        const { window, cleanFrames } = options;
        const init = initLocalTimes(options);
        expect(init(1)).toEqual([...Array(cleanFrames).fill(0), ...Array(window - cleanFrames).fill(1)]);
        expect(init(0)).toEqual(linearLocalTimes(options)(0));
      }),
    );
  });

  it('on [0, 1/(W − n_cln)] init(τ) = linear((W − n_cln) τ), so init(1/(W − n_cln)) = linear(1)', () => {
    fc.assert(
      fc.property(windowOptions, fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1)), (options, u) => {
        const generated = options.window - options.cleanFrames;
        const init = initLocalTimes(options)(u / generated);
        const linear = linearLocalTimes(options)(u);
        init.forEach((tw, w) => expect(Math.abs(tw - linear[w])).toBeLessThan(1e-12));
      }),
    );
  });
});

describe('rescaled init local times (Eq. 37)', () => {
  it('matches Eq. 37, w/W + t (1 − w/W), with 0-based w when there are no clean frames', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), time, (window, t) => {
        const got = rescaledInitLocalTimes({ window })(t);
        got.forEach((tw, w) => expect(Math.abs(tw - (w / window + t * (1 - w / window)))).toBeLessThan(1e-14));
      }),
    );
  });

  it('starts from pure noise (clean frames aside) and ends exactly in the rolling state linear(0)', () => {
    fc.assert(
      fc.property(windowOptions, (options) => {
        const { window, cleanFrames } = options;
        const rescaled = rescaledInitLocalTimes(options);
        expect(rescaled(1)).toEqual([...Array(cleanFrames).fill(0), ...Array(window - cleanFrames).fill(1)]);
        expect(rescaled(0)).toEqual(linearLocalTimes(options)(0));
      }),
    );
  });

  it('its end state, shifted by one frame as Algorithm 2 does, is linear(1) = (1/W, …, W/W), where the linear schedule continues', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), (window) => {
        const end = rescaledInitLocalTimes({ window })(0);
        const linear = linearLocalTimes({ window });
        expect(shiftLeft(end)).toEqual(linear(1));
        expect(linear(1)).toEqual(Array.from({ length: window }, (_, w) => (w + 1) / window));
      }),
    );
  });

  it('with clean frames: emitting frame n_cln and appending noise turns the end state into linear(1)', () => {
    fc.assert(
      fc.property(windowOptions, (options) => {
        const { cleanFrames } = options;
        const end = rescaledInitLocalTimes(options)(0);
        const generated = end.slice(cleanFrames);
        const rolled = [...end.slice(0, cleanFrames), ...shiftLeft(generated)];
        expect(rolled).toEqual(linearLocalTimes(options)(1));
      }),
    );
  });

  it('for 0 < s < t < 1 every generated frame is in the window: nothing is clean or pure noise (Appendix G)', () => {
    fc.assert(
      fc.property(windowOptions, step, (options, { s, t }) => {
        // Within 1e-9 of 1, (m + t (M − m)) / M can round to 1.
        fc.pre(0 < s && s < t && t < 1 - 1e-9);
        const rescaled = rescaledInitLocalTimes(options);
        const categories = frameCategories(rescaled(s), rescaled(t));
        expect(categories.noise).toEqual([]);
        expect(categories.clean).toEqual(Array.from({ length: options.cleanFrames }, (_, k) => k));
      }),
    );
  });

  it("the paper's claim at t = 1/W holds only for the first frame", () => {
    const window = 4;
    const atOneOverW = rescaledInitLocalTimes({ window })(1 / window);
    expect(atOneOverW[0]).toBe(1 / window);
    expect(atOneOverW[1]).toBeCloseTo(2 / window - 1 / window ** 2, 15);
    expect(atOneOverW[1]).not.toBeCloseTo(2 / window, 3);
  });
});

describe('frame categories (Eqs. 8-10)', () => {
  const localTimeValue = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));
  const pairs = fc.array(
    fc.tuple(localTimeValue, localTimeValue).map(([a, b]) => (a <= b ? [a, b] : [b, a])),
    { maxLength: 20 },
  );

  it('partitions the frames 0 … K − 1, each category by its own equation', () => {
    fc.assert(
      fc.property(pairs, (frames) => {
        const s = frames.map(([sk]) => sk);
        const t = frames.map(([, tk]) => tk);
        const { clean, noise, window } = frameCategories(s, t);
        expect([...clean, ...noise, ...window].sort((a, b) => a - b)).toEqual(frames.map((_, k) => k));
        clean.forEach((k) => expect([s[k], t[k]]).toEqual([0, 0]));
        noise.forEach((k) => expect([s[k], t[k]]).toEqual([1, 1]));
        window.forEach((k) => {
          expect(s[k]).toBeLessThan(1);
          expect(t[k]).toBeGreaterThan(0);
          expect(t[k]).toBeGreaterThanOrEqual(s[k]);
        });
      }),
    );
  });

  it('for every local-time map and s < t, window frames satisfy Eq. 10 strictly (t_k > s_k)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...families), windowOptions, step, ({ make }, options, { s, t }) => {
        // Closer than this, (w + s) and (w + t) can round to the same double.
        fc.pre(t - s > 1e-9);
        const map = make(options);
        const sTimes = map(s);
        const tTimes = map(t);
        const { window } = frameCategories(sTimes, tTimes);
        window.forEach((k) => expect(tTimes[k]).toBeGreaterThan(sTimes[k]));
      }),
    );
  });

  it('hand-checked steps: init W = 4 from t = 0.5 to s = 0.25, linear W = 4, n_cln = 1 likewise', () => {
    const init = initLocalTimes({ window: 4 });
    expect(init(0.5)).toEqual([0.5, 0.75, 1, 1]);
    expect(init(0.25)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(frameCategories(init(0.25), init(0.5))).toEqual({ clean: [], noise: [3], window: [0, 1, 2] });
    const linear = linearLocalTimes({ window: 4, cleanFrames: 1 });
    expect(frameCategories(linear(0.25), linear(0.5))).toEqual({ clean: [0], noise: [], window: [1, 2, 3] });
  });

  it('rejects mismatched lengths, values outside [0, 1] and s_k > t_k, naming the frame', () => {
    expect(() => frameCategories([0], [0, 1])).toThrow(/same length, got 1 and 2/);
    expect(() => frameCategories([0, 0.5], [0, 0.25])).toThrow(/s\[1\]=0.5 > t\[1\]=0.25/);
    expect(() => frameCategories([0], [1.5])).toThrow(/t\[0\]=1.5/);
    expect(() => frameCategories([Number.NaN], [1])).toThrow(/s\[0\]=NaN/);
  });
});

describe('the local-time map registry', () => {
  it('names every map once, each row building the map of its name', () => {
    expect(LOCAL_TIME_MAP_NAMES).toEqual(['linear', 'init', 'rescaled', 'standard']);
    const named = { linear: linearLocalTimes, init: initLocalTimes, rescaled: rescaledInitLocalTimes, standard: standardLocalTimes };
    fc.assert(
      fc.property(windowOptions, time, fc.constantFrom(...LOCAL_TIME_MAP_NAMES), (spec, t, name) => {
        expect(localTimeMap(name, spec)(t)).toEqual(named[name](spec)(t));
        expect(LOCAL_TIME_MAPS[name].make).toBe(named[name]);
      }),
    );
    expect(() => localTimeMap('cubic' as never, { window: 2 })).toThrow(/unknown map 'cubic'; the maps are linear, init, rescaled, standard/);
  });

  it('a row marked boundary runs from pure noise at t = 1 to the rolling state linear(0) at t = 0, and only those rows are marked', () => {
    const endsInRollingState = (spec: Required<WindowSpec>, map: LocalTimes) =>
      map(1).every((tw, w) => tw === (w < spec.cleanFrames ? 0 : 1)) && map(0).every((tw, w) => Math.abs(tw - linearLocalTimes(spec)(0)[w]!) <= 1e-12);
    expect(BOUNDARY_MAP_NAMES).toEqual(['init', 'rescaled']);
    fc.assert(
      fc.property(windowOptions, (spec) => {
        for (const name of BOUNDARY_MAP_NAMES) expect(endsInRollingState(spec, localTimeMap(name, spec)), name).toBe(true);
      }),
    );
    // The others fail it as soon as a frame is generated after the first: linear(1) is not pure noise, standard(0) is all clean.
    for (const name of LOCAL_TIME_MAP_NAMES.filter((n) => !LOCAL_TIME_MAPS[n].boundary)) {
      expect(endsInRollingState({ window: 4, cleanFrames: 1 }, localTimeMap(name, { window: 4, cleanFrames: 1 })), name).toBe(false);
    }
  });

  it('boundaryLocalTimes is the registry row named by initSchedule, Eq. 23 by default, and refuses a map that is not a boundary map', () => {
    const spec = { window: 5, cleanFrames: 2 };
    expect(boundaryLocalTimes(spec)(0.3)).toEqual(initLocalTimes(spec)(0.3));
    expect(boundaryLocalTimes({ ...spec, initSchedule: 'rescaled' })(0.3)).toEqual(rescaledInitLocalTimes(spec)(0.3));
    expect(() => boundaryLocalTimes({ ...spec, initSchedule: 'linear' as never })).toThrow(/initSchedule must be one of init, rescaled, got 'linear'/);
  });
});

describe('standard local times and the checks every map shares', () => {
  it('standard diffusion in the window: clean frames at 0, every generated frame at the global t', () => {
    fc.assert(
      fc.property(windowOptions, time, (options, t) => {
        expect(standardLocalTimes(options)(t)).toEqual([...Array(options.cleanFrames).fill(0), ...Array(options.window - options.cleanFrames).fill(t)]);
      }),
      { numRuns: 50 },
    );
  });

  it('each map names itself in its errors (the whole message)', () => {
    const makers: [string, (o: WindowSpec) => LocalTimes][] = [
      ['linearLocalTimes', linearLocalTimes],
      ['initLocalTimes', initLocalTimes],
      ['rescaledInitLocalTimes', rescaledInitLocalTimes],
      ['standardLocalTimes', standardLocalTimes],
      ['localTimes', (o) => localTimes((u) => u, o)],
    ];
    for (const [name, make] of makers) {
      expect(() => make({ window: 0 }), name).toThrow(new RegExp(`^${name}: window must be an integer >= 1, got 0$`));
      expect(() => make({ window: 3, cleanFrames: 3 }), name).toThrow(new RegExp(`^${name}: cleanFrames must be an integer with 0 <= cleanFrames < window \\(3\\), got 3$`));
      expect(() => make({ window: 3 })(1.5), name).toThrow(new RegExp(`^${name}: t must be a number in \\[0, 1\\], got 1.5$`));
    }
  });

  it('frameCategories refuses a local time outside [0, 1] on either side, in s or in t, before comparing s and t', () => {
    const range = (s: number, t: number) => new RegExp(`^frameCategories: local times must be in \\[0, 1\\], got s\\[0\\]=${s}, t\\[0\\]=${t}$`);
    expect(() => frameCategories([-0.5], [0.5])).toThrow(range(-0.5, 0.5));
    expect(() => frameCategories([1.5], [1])).toThrow(range(1.5, 1));
    expect(() => frameCategories([0], [-0.5])).toThrow(range(0, -0.5));
    expect(() => frameCategories([0], [1.5])).toThrow(range(0, 1.5));
  });
});
