/**
 * Laws of the local-time maps (Eqs. 20-23, 37) and the frame categories (Eqs. 8-10).
 */
import fc from 'fast-check';
import type { WindowSpec } from '../localTime.js';
import { frameSteps, spreadDouble, time, timeStep, windowSpec } from './arbitraries.js';
import type { Law } from './law.js';
import { expectArrayNear, expectNear, expectSameSet, fail, rollingState } from './reference.js';

/** A local-time map: for a window, the local time of every frame at global time t ∈ [0, 1]. */
export type LocalTimeMap = (options: Required<WindowSpec>) => (t: number) => readonly number[];

export interface FrameCategoriesResult {
  readonly clean: readonly number[];
  readonly noise: readonly number[];
  readonly window: readonly number[];
}

export interface LocalTimeImpl {
  /** Eq. 22 (Eq. 21 when n_cln = 0). */
  readonly linearLocalTimes: LocalTimeMap;
  /** Eq. 23, with the n_cln conditioning frames held at 0 and the rest on a window of W − n_cln frames. */
  readonly initLocalTimes: LocalTimeMap;
  /** Eq. 37, the rescaled boundary schedule of Appendix G (0-based frames). */
  readonly rescaledInitLocalTimes?: LocalTimeMap;
  /** Eqs. 8-10: frame indices (0-based) of a step from local times t to s. */
  readonly frameCategories: (s: readonly number[], t: readonly number[]) => FrameCategoriesResult;
}

export interface TolerantLawOptions {
  /** Absolute tolerance for equalities the paper states exactly (default 1e-12 for number-level code). */
  readonly tolerance?: number;
}


export function localTimeLaws(impl: LocalTimeImpl, options: TolerantLawOptions = {}): Law[] {
  const tol = options.tolerance ?? 1e-12;
  const maps: { label: string; make: LocalTimeMap }[] = [
    { label: 'linear local times (Eq. 22)', make: impl.linearLocalTimes },
    { label: 'init local times (Eq. 23)', make: impl.initLocalTimes },
    ...(impl.rescaledInitLocalTimes ? [{ label: 'rescaled init local times (Eq. 37)', make: impl.rescaledInitLocalTimes }] : []),
  ];
  const laws: Law[] = [];
  for (const { label, make } of maps) {
    laws.push(
      {
        name: `${label}: one local time per frame, each in [0, 1]`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          if (times.length !== spec.window) fail(`got ${times.length} local times for a window of ${spec.window}`);
          times.forEach((tw, w) => {
            if (!(tw >= 0 && tw <= 1)) fail(`frame ${w} has local time ${tw} outside [0, 1] (all: [${times}])`);
          });
        }),
      },
      {
        name: `${label}: older frames are never noisier (non-decreasing along the window)`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          times.forEach((tw, w) => {
            if (w > 0 && !(tw >= times[w - 1]!)) fail(`frame ${w} (${tw}) is cleaner than frame ${w - 1} (${times[w - 1]}): [${times}]`);
          });
        }),
      },
      {
        name: `${label}: every frame gets noisier as the global time grows`,
        property: fc.property(windowSpec(16), timeStep, (spec, { s, t }) => {
          const map = make(spec);
          const before = map(s);
          map(t).forEach((tw, w) => {
            if (!(tw >= before[w]!)) fail(`frame ${w}: local time ${before[w]} at t=${s} but ${tw} at t=${t}`);
          });
        }),
      },
      {
        name: `${label}: the clean conditioning frames stay at local time 0 for every t`,
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const times = make(spec)(t);
          for (let w = 0; w < spec.cleanFrames; w++) if (times[w] !== 0) fail(`conditioning frame ${w} has local time ${times[w]} at t=${t}: [${times}]`);
        }),
      },
      {
        name: `${label}: at t = 0 the window is in the rolling state (0, …, 0, 0/M, …, (M − 1)/M)`,
        property: fc.property(windowSpec(16), (spec) => {
          expectArrayNear(`local times at t = 0`, make(spec)(0), rollingState(spec), tol);
        }),
      },
    );
  }

  const linear = impl.linearLocalTimes;
  laws.push(
    {
      name: 'linear local times (Eq. 22): moving the window is consistent, frame w at t = 0 equals frame w − 1 at t = 1',
      property: fc.property(windowSpec(16), (spec) => {
        const map = linear(spec);
        expectArrayNear('linear(0) without its first frame vs linear(1) without its last', map(0).slice(1), map(1).slice(0, -1), tol);
      }),
    },
    {
      name: 'linear local times (Eq. 22): every generated frame advances by 1/(W − n_cln) per unit of global time',
      property: fc.property(windowSpec(16), time, (spec, t) => {
        const map = linear(spec);
        const at0 = map(0);
        const atT = map(t);
        const generated = spec.window - spec.cleanFrames;
        for (let w = spec.cleanFrames; w < spec.window; w++) {
          expectNear(`frame ${w}: t_w(${t}) − t_w(0)`, atT[w]! - at0[w]!, t / generated, 0, tol);
        }
      }),
    },
    {
      name: 'linear local times (Eq. 22): at t = 1 the newest frame is pure noise and no other is',
      property: fc.property(windowSpec(16), (spec) => {
        const times = linear(spec)(1);
        if (times[spec.window - 1] !== 1) fail(`the last frame has local time ${times[spec.window - 1]} at t = 1: [${times}]`);
        times.slice(0, -1).forEach((tw, w) => {
          if (!(tw < 1)) fail(`frame ${w} is pure noise at t = 1: [${times}]`);
        });
      }),
    },
    {
      name: 'init local times (Eq. 23): at t = 1 every generated frame is pure noise (Algorithm 3 starts from N(0, I))',
      property: fc.property(windowSpec(16), (spec) => {
        const expected = Array.from({ length: spec.window }, (_, w) => (w < spec.cleanFrames ? 0 : 1));
        expectArrayNear('init local times at t = 1', impl.initLocalTimes(spec)(1), expected, 0);
      }),
    },
    {
      name: 'init local times (Eq. 23): on [0, 1/M] they are the linear ones, t^init(τ) = t^lin(M τ)',
      property: fc.property(windowSpec(16), time, (spec, u) => {
        const generated = spec.window - spec.cleanFrames;
        const tau = u / generated;
        expectArrayNear(`init(${tau}) vs linear(${generated}·${tau})`, impl.initLocalTimes(spec)(tau), linear(spec)(Math.min(1, generated * tau)), 1e3 * tol);
      }),
    },
  );
  if (impl.rescaledInitLocalTimes) {
    const rescaled = impl.rescaledInitLocalTimes;
    laws.push(
      {
        name: 'rescaled init local times (Eq. 37): at t = 1 every generated frame is pure noise',
        property: fc.property(windowSpec(16), (spec) => {
          const expected = Array.from({ length: spec.window }, (_, w) => (w < spec.cleanFrames ? 0 : 1));
          expectArrayNear('rescaled init local times at t = 1', rescaled(spec)(1), expected, 0);
        }),
      },
      {
        name: 'rescaled init local times (Eq. 37): 1 − t_w = (1 − t)(1 − m/M) for generated frame m',
        property: fc.property(windowSpec(16), time, (spec, t) => {
          const generated = spec.window - spec.cleanFrames;
          const times = rescaled(spec)(t);
          for (let w = spec.cleanFrames; w < spec.window; w++) {
            expectNear(`frame ${w}: 1 − t_w`, 1 - times[w]!, (1 - t) * (1 - (w - spec.cleanFrames) / generated), 0, 4 * tol);
          }
        }),
      },
    );
  }

  const categories = impl.frameCategories;
  const split3 = (steps: readonly { s: number; t: number }[]) => categories(steps.map((x) => x.s), steps.map((x) => x.t));
  laws.push(
    {
      name: 'frame categories (Eqs. 8-10): clean, noise and window partition the frames',
      property: fc.property(frameSteps, (steps) => {
        const { clean, noise, window } = split3(steps);
        expectSameSet('clean ∪ noise ∪ window', [...clean, ...noise, ...window], steps.map((_, k) => k));
      }),
    },
    {
      name: 'frame categories (Eq. 8): the clean frames are exactly those with s_k = t_k = 0',
      property: fc.property(frameSteps, (steps) => {
        expectSameSet('clean', split3(steps).clean, steps.flatMap((x, k) => (x.s === 0 && x.t === 0 ? [k] : [])));
      }),
    },
    {
      name: 'frame categories (Eq. 9): the noise frames are exactly those with s_k = t_k = 1',
      property: fc.property(frameSteps, (steps) => {
        expectSameSet('noise', split3(steps).noise, steps.flatMap((x, k) => (x.s === 1 && x.t === 1 ? [k] : [])));
      }),
    },
    {
      name: 'frame categories of a linear step: the conditioning frames are copied and every generated frame is denoised',
      property: fc.property(windowSpec(16), spreadDouble(1e-9, 1 - 1e-9), fc.integer({ min: 1, max: 1000 }), (spec, t, steps) => {
        const map = linear(spec);
        const s = Math.max(0, t - 1 / steps);
        const { clean, noise, window } = categories(map(s), map(t));
        expectSameSet('clean', clean, Array.from({ length: spec.cleanFrames }, (_, k) => k));
        expectSameSet('noise', noise, []);
        expectSameSet('window', window, Array.from({ length: spec.window - spec.cleanFrames }, (_, m) => spec.cleanFrames + m));
      }),
    },
  );
  return laws;
}
