/** The explainer's panel-1 numbers, checked in Node against the diffusion package (no browser). */
import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import { cosineSchedule, frameCategories, initLocalTimes, linearLocalTimes, LOCAL_TIME_MAP_NAMES, rescaledInitLocalTimes, standardLocalTimes } from '../../diffusion/index.js';
import { globalLocalTimes, localTimeRows, previousTime, type LocalTimeSettings } from '../../web/src/localTimeTable.js';


const windowAndClean = fc.integer({ min: 1, max: 24 }).chain((window) => fc.record({ window: fc.constant(window), cleanFrames: fc.integer({ min: 0, max: window - 1 }) }));
const time = spreadDouble(0, 1);

describe('web: local-time table', () => {
  it('the table rows are the library maps, their logSNR and Eqs. 8-10 for the step t → t − 1/T', () => {
    const schedule = cosineSchedule();
    const maps = { linear: linearLocalTimes, init: initLocalTimes, rescaled: rescaledInitLocalTimes, standard: standardLocalTimes } as const;
    fc.assert(
      fc.property(windowAndClean, time, fc.integer({ min: 1, max: 64 }), fc.constantFrom<LocalTimeSettings['map']>(...LOCAL_TIME_MAP_NAMES), ({ window, cleanFrames }, t, steps, map) => {
        const rows = localTimeRows({ window, cleanFrames, t, steps, map }, schedule);
        const local = maps[map]({ window, cleanFrames });
        const expectedT = local(t);
        const expectedS = local(previousTime(t, steps));
        const categories = frameCategories(expectedS, expectedT);
        expect(rows.map((r) => r.localTime)).toEqual(expectedT);
        expect(rows.map((r) => r.nextLocalTime)).toEqual(expectedS);
        expect(rows.map((r) => r.logSnr)).toEqual(expectedT.map((tw) => schedule.logSnr(tw)));
        for (const category of ['clean', 'noise', 'window'] as const) {
          expect(rows.filter((r) => r.category === category).map((r) => r.frame)).toEqual(categories[category]);
        }
      }),
    );
  });

  it('global view: all generated frames are noise at t = 1 and all frames are finished at t = 0 but the last window', () => {
    fc.assert(
      fc.property(windowAndClean, fc.integer({ min: 0, max: 12 }), ({ window, cleanFrames }, shifts) => {
        const { frames, map } = globalLocalTimes(window, cleanFrames, shifts);
        expect(frames).toBe(window + shifts);
        expect(map(1)).toEqual(Array.from({ length: frames }, (_, k) => (k < cleanFrames ? 0 : 1)));
        // At t = 0 the last window is in the rolling state linear(0), everything before it finished.
        const end = map(0);
        expect(end.slice(0, shifts)).toEqual(new Array<number>(shifts).fill(0));
        expect(end.slice(shifts)).toEqual(linearLocalTimes({ window, cleanFrames })(0));
      }),
    );
  });

  it('global view: local times are continuous in the global time across every window shift', () => {
    fc.assert(
      fc.property(windowAndClean, fc.integer({ min: 1, max: 8 }), ({ window, cleanFrames }, shifts) => {
        const { map } = globalLocalTimes(window, cleanFrames, shifts);
        const stages = shifts + 1;
        const eps = 1e-9;
        for (let stage = 1; stage < stages; stage++) {
          const boundary = 1 - stage / stages;
          const before = map(boundary + eps);
          const after = map(boundary - eps);
          before.forEach((v, k) => expect(Math.abs(v - after[k]!)).toBeLessThan(1e-6));
        }
      }),
    );
  });

  it('global view: every frame only ever gets less noisy as the global time runs down', () => {
    fc.assert(
      fc.property(windowAndClean, fc.integer({ min: 0, max: 8 }), ({ window, cleanFrames }, shifts) => {
        const { frames, map } = globalLocalTimes(window, cleanFrames, shifts);
        let previous = map(1);
        for (let i = 1; i <= 200; i++) {
          const next = map(1 - i / 200);
          for (let k = 0; k < frames; k++) expect(next[k]!).toBeLessThanOrEqual(previous[k]! + 1e-12);
          previous = next;
        }
      }),
      { numRuns: 40 },
    );
  });
});
