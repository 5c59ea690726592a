/**
 * Algorithm 1 (diffusion/training.ts) checked from outside: which local times each example gets, the
 * loss recomputed independently in x-space (Eq. 26) from the same draws, an oracle with zero loss, and
 * the standard-diffusion baseline and the rescaled boundary schedule (Eq. 37) through a step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import {
  cosineSchedule, initLocalTimes, linearLocalTimes, lossFromDraws, lossWeighting, rescaledInitLocalTimes, sampleTrainingTimes, standardTrainingDraws, standardTrainStep, trainingDraws, trainStep,
  vFromX, type LocalTimes, type LossWeightingName, type Model, type RollingConfig, type TrainingDraws,
} from '../../diffusion/index.js';

const schedule = cosineSchedule();

/** A model that records the per-frame logSNR it was given and predicts v̂ = 0.5 z. */
function spyModel(): { model: Model<null>; seen: number[][][] } {
  const seen: number[][][] = [];
  const model: Model<null> = (_p, z, logSnr) => {
    const [b, f] = logSnr.shape as [number, number];
    const data = logSnr.toArraySync();
    seen.push(Array.from({ length: b }, (_, i) => Array.from(data.subarray(i * f, (i + 1) * f))));
    return r.mul(z, 0.5);
  };
  return { model, seen };
}

/** logSNR rows as the float32 tensor the step builds from host local times. */
const logSnrRows = (rows: readonly (readonly number[])[]): number[][] => rows.map((row) => row.map((t) => Math.fround(schedule.logSnr(t))));

/** The key trainStep and standardTrainStep hand to the host-side draws: the first half of split(k). */
const timesKey = (k: r.Key): r.Key => r.split(k, 2)[0]!;

const configs: { name: string; config: RollingConfig; boundary: LocalTimes }[] = [
  { name: 'W = 4, n_cln = 1, init (Eq. 23)', config: { window: 4, cleanFrames: 1, schedule }, boundary: initLocalTimes({ window: 4, cleanFrames: 1 }) },
  { name: 'W = 3, n_cln = 0, init (Eq. 23)', config: { window: 3, cleanFrames: 0, schedule }, boundary: initLocalTimes({ window: 3, cleanFrames: 0 }) },
  {
    name: 'W = 4, n_cln = 1, rescaled (Eq. 37)',
    config: { window: 4, cleanFrames: 1, schedule, initSchedule: 'rescaled' },
    boundary: rescaledInitLocalTimes({ window: 4, cleanFrames: 1 }),
  },
  { name: 'W = 4, n_cln = 3 (n_cln = W − 1), init', config: { window: 4, cleanFrames: 3, schedule }, boundary: initLocalTimes({ window: 4, cleanFrames: 3 }) },
];

describe('Algorithm 1: the local times of each example', () => {
  for (const { name, config, boundary } of configs) {
    it(`${name}: example i gets t^lin(t_i) when the Bernoulli picked linear and the boundary map otherwise`, () => {
      const lin = linearLocalTimes(config);
      fc.assert(
        fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom(0, 0.5, 0.8, 1), (seed, p) => {
          const { t, linear, localTimes } = sampleTrainingTimes(r.key(seed), 16, { ...config, linearProbability: p });
          expect(t.length).toBe(16);
          t.forEach((ti, i) => {
            expect(ti >= 0 && ti < 1).toBe(true);
            expect(localTimes[i]).toEqual(linear[i] ? lin(ti) : boundary(ti));
          });
          // The flags themselves: p = 1 and p = 0 leave no choice, so a swap of the branches shows here too.
          if (p === 1) expect(linear.every(Boolean)).toBe(true);
          if (p === 0) expect(linear.some(Boolean)).toBe(false);
        }),
        { numRuns: 20 },
      );
    });
  }

  it('the two branches differ whenever the window generates more than one frame (else a swap would be invisible)', () => {
    for (const { config, boundary } of configs) {
      const lin = linearLocalTimes(config);
      // With M = W − n_cln = 1 both maps are t ↦ (0, …, 0, t): the branch cannot matter there.
      if (config.window - config.cleanFrames === 1) expect(lin(0.5)).toEqual(boundary(0.5));
      else expect(lin(0.5)).not.toEqual(boundary(0.5));
    }
  });

  it('trainStep feeds the model exactly those local times, example by example (p = 1: all linear, p = 0: all boundary)', () => {
    for (const { config, boundary } of configs) {
      const lin = linearLocalTimes(config);
      for (const p of [1, 0, 0.5]) {
        const { model, seen } = spyModel();
        const c = { ...config, linearProbability: p };
        const x = r.normal(r.key(1), [6, config.window, 2, 2, 1]);
        const k = r.key(100 + p * 10);
        r.tidy(() => trainStep(model, c)(null, k, x));
        const draws = sampleTrainingTimes(timesKey(k), 6, c);
        // Independently of the flags: with p = 1 (p = 0) every row must be t^lin (the boundary map).
        const expected = draws.t.map((ti, i) => (p === 1 ? lin(ti) : p === 0 ? boundary(ti) : draws.linear[i] ? lin(ti) : boundary(ti)));
        expect(seen).toEqual([logSnrRows(expected)]);
        x.dispose();
      }
    }
  });
});

/** Host-side float64 arrays of a tensor. */
const host = async (t: r.Tensor): Promise<number[]> => Array.from(await t.toArray());

describe('Algorithm 1: the loss', () => {
  for (const weighting of ['v', 'x'] as LossWeightingName[]) {
    it(`equals Eq. 26 recomputed in x-space from the same draws (weighting '${weighting}')`, async () => {
      const config: RollingConfig = { window: 4, cleanFrames: 1, schedule, linearProbability: 0.5, weighting };
      const shape = [5, 4, 3, 2, 1];
      const x = r.normal(r.key(2), shape);
      const k = r.key(31);
      const model: Model<null> = (_p, z) => r.mul(z, 0.5);
      const loss = (await host(trainStep(model, config)(null, k, x)))[0]!;
      // The draws trainStep makes: split(k) = (times, noise); ε ~ N(0, I) from the second key.
      const [kt, keps] = r.split(k, 2) as [r.Key, r.Key];
      const { localTimes } = sampleTrainingTimes(kt, 5, config);
      const [xs, es] = [await host(x), await host(r.normal(keps, shape))];
      const a = lossWeighting(weighting).xWeight;
      const pixels = 6;
      let total = 0;
      for (let b = 0; b < 5; b++) {
        for (let f = 0; f < 4; f++) {
          const t = localTimes[b]![f]!;
          if (!(t > 0 && t < 1)) continue; // Eq. 26's window: clean and pure-noise frames carry no loss
          const l = schedule.logSnr(t);
          const [alpha, sigma] = [Math.sqrt(1 / (1 + Math.exp(-l))), Math.sqrt(1 / (1 + Math.exp(l)))];
          let se = 0;
          for (let p = 0; p < pixels; p++) {
            const i = (b * 4 + f) * pixels + p;
            const z = alpha * xs[i]! + sigma * es[i]!; // Eq. 24
            const xHat = alpha * z - sigma * (0.5 * z); // x̂ from v̂ = 0.5 z
            se += (xs[i]! - xHat) ** 2;
          }
          total += a(l) * (se / pixels);
        }
      }
      // Averaged over the batch and the W − n_cln = 3 generated frames (windowLoss's documented normalisation).
      const expected = total / (5 * 3);
      expect(expected).toBeGreaterThan(0);
      // float32 tensors against float64 host maths: relative 1e-4.
      expect(Math.abs(loss - expected)).toBeLessThan(1e-4 * expected);
      x.dispose();
    });
  }

  it('an oracle that returns the true v, computed from z and the data (v = (α z − x)/σ), has zero loss', async () => {
    type P = { x: r.Tensor };
    const oracleModel: Model<P> = (p, z, logSnr) => vFromX(z, p.x, logSnr);
    for (const { config } of configs) {
      const x = r.normal(r.key(4), [4, config.window, 3, 3, 1]);
      const c = { ...config, linearProbability: 0.5 };
      const zero = (await host(trainStep(oracleModel, c)({ x }, r.key(5), x)))[0]!;
      // float32 rounding of α z − x, divided by σ ≥ σ(0) ≈ 5.5e-4, squared: far below 1e-6.
      expect(zero).toBeLessThan(1e-6);
      // The same model fed the wrong data is not at zero loss: the check can see a bad target.
      const wrong = (await host(trainStep(oracleModel, c)({ x: r.mul(x, 0.5) }, r.key(5), x)))[0]!;
      expect(wrong).toBeGreaterThan(1e-2);
      x.dispose();
    }
  });
});

describe('the standard-diffusion baseline and the rescaled boundary schedule through a training step', () => {
  it('standardTrainStep: clean frames at 0 and every generated frame at the one t_i = U(0, 1) drawn from the step\'s key', () => {
    for (const [window, cleanFrames] of [[4, 1], [3, 0], [4, 3], [1, 0]] as const) {
      const { model, seen } = spyModel();
      const x = r.normal(r.key(6), [5, window, 2, 2, 1]);
      const k = r.key(7 + window + cleanFrames);
      const loss = r.tidy(() => standardTrainStep(model, { window, cleanFrames, schedule })(null, k, x));
      const t = r.uniformHost(timesKey(k), 5);
      expect(seen).toEqual([logSnrRows(t.map((ti) => Array.from({ length: window }, (_, w) => (w < cleanFrames ? 0 : ti))))]);
      expect(Number.isFinite(loss.toArraySync()[0]!)).toBe(true);
      r.dispose([x, loss]);
    }
  });

  it("initSchedule 'rescaled' with p = 0: every example gets Eq. 37's local times, none of which is clean or pure noise inside the window", () => {
    const { model, seen } = spyModel();
    const config: RollingConfig = { window: 4, cleanFrames: 1, schedule, linearProbability: 0, initSchedule: 'rescaled' };
    const x = r.normal(r.key(8), [8, 4, 2, 2, 1]);
    const k = r.key(9);
    r.tidy(() => trainStep(model, config)(null, k, x));
    const { t } = sampleTrainingTimes(timesKey(k), 8, config);
    const rescaled = rescaledInitLocalTimes({ window: 4, cleanFrames: 1 });
    expect(seen).toEqual([logSnrRows(t.map(rescaled))]);
    // Unlike Eq. 23, Eq. 37 keeps every generated frame strictly inside (0, 1) for t ∈ (0, 1).
    t.filter((ti) => ti > 0).forEach((ti) => rescaled(ti).slice(1).forEach((tk) => expect(tk > 0 && tk < 1).toBe(true)));
    x.dispose();
  });
});

describe('Algorithm 1 in two halves: the draws and the loss given them (what a jitted training step compiles)', () => {
  const tiny: Model<r.Tensor> = (p, z) => r.mul(z, p);
  const batchArb = fc.record({ b: fc.integer({ min: 1, max: 3 }), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), p: fc.constantFrom(0, 0.5, 1) });

  it('trainingDraws + lossFromDraws is trainStep, and standardTrainingDraws + lossFromDraws is standardTrainStep, bit for bit', () => {
    fc.assert(
      fc.property(batchArb, fc.constantFrom(...configs), ({ b, seed, p }, { config }) => {
        r.tidy(() => {
          const c = { ...config, linearProbability: p };
          const x = r.normal(r.key(seed), [b, c.window, 2, 2, 1]);
          const k = r.key(seed + 1);
          const param = r.scalar(0.3);
          const whole = trainStep(tiny, c)(param, k, x).toArraySync()[0];
          const halves = lossFromDraws(tiny, param, x, trainingDraws(k, x, c), c).toArraySync()[0];
          expect(halves).toBe(whole);
          const standard = standardTrainStep(tiny, c)(param, k, x).toArraySync()[0];
          expect(lossFromDraws(tiny, param, x, standardTrainingDraws(k, x, c), c).toArraySync()[0]).toBe(standard);
        });
      }),
      { numRuns: 20 },
    );
  });

  it('jit(valueAndGrad(lossFromDraws)) traces once for steps with new draws and equals the eager step bit for bit', () => {
    const c = { window: 4, cleanFrames: 1, schedule, linearProbability: 0.5 };
    const vg = r.valueAndGrad((param: r.Tensor, x: r.Tensor, draws: TrainingDraws) => lossFromDraws(tiny, param, x, draws, c));
    const jitted = r.jit(vg);
    const param = r.scalar(0.3);
    for (let step = 0; step < 5; step++) {
      r.tidy(() => {
        const x = r.normal(r.key(100 + step), [2, 4, 2, 2, 1]);
        const draws = trainingDraws(r.foldIn(r.key(7), step), x, c);
        const [loss, grad] = vg(param, x, draws);
        const [jl, jg] = jitted(param, x, draws);
        expect(jl.toArraySync()[0]).toBe(loss.toArraySync()[0]);
        expect(jg.toArraySync()[0]).toBe(grad.toArraySync()[0]);
      });
    }
    expect(jitted.stats().traces).toBe(1);
    jitted.clear();
    param.dispose();
  });

  it('lossFromDraws refuses a batch whose second axis is not the window, and windowLoss weights of the wrong shape', () => {
    const c = { window: 4, cleanFrames: 1, schedule };
    r.tidy(() => {
      const x = r.zeros([2, 4, 2, 2, 1]);
      const draws = trainingDraws(r.key(1), x, c);
      expect(() => lossFromDraws(tiny, r.scalar(1), r.zeros([2, 3, 2, 2, 1]), draws, c)).toThrow(/training loss: the batch must be \[batch, 4 frames, …\], got \[2,3,2,2,1\]/);
      expect(() => lossFromDraws(tiny, r.scalar(1), x, { ...draws, weights: r.zeros([2, 3]) }, c)).toThrow(/windowLoss: weights must be \[2\]\[4\]/);
    });
  });
});

describe('Algorithm 1: the config and the batch it accepts', () => {
  const model: Model<null> = (_p, z) => r.mul(z, 0.5);

  it('every config check names the field, what is wrong and what was expected; the edges of each range are accepted', () => {
    const base = { schedule, window: 4, cleanFrames: 1 };
    const checks: ((c: RollingConfig) => unknown)[] = [
      (c) => trainStep(model, c),
      (c) => standardTrainStep(model, c),
      (c) => sampleTrainingTimes(r.key(1), 2, c),
      // A batch of the config's window (one frame for the invalid windows, which the config check refuses first).
      (c) => r.tidy(() => trainingDraws(r.key(1), r.zeros([1, Number.isInteger(c.window) && c.window >= 1 ? c.window : 1, 1]), c).eps),
    ];
    for (const check of checks) {
      for (const window of [0, -1, 2.5]) {
        expect(() => check({ ...base, window, cleanFrames: 0 })).toThrow(`rolling config: window must be an integer ≥ 1, got ${window}`);
      }
      for (const cleanFrames of [-1, 1.5, 4]) {
        expect(() => check({ ...base, cleanFrames })).toThrow(`rolling config: cleanFrames must be an integer in [0, window − 1] = [0, 3], got ${cleanFrames}`);
      }
      expect(() => check({ ...base, window: 1, cleanFrames: 0 })).not.toThrow();
      expect(() => check({ ...base, cleanFrames: 3 })).not.toThrow();
    }
    for (const check of [checks[0]!, checks[2]!, checks[3]!]) {
      for (const linearProbability of [-0.1, 1.1, NaN]) {
        expect(() => check({ ...base, linearProbability })).toThrow(`rolling config: linearProbability must be in [0, 1], got ${linearProbability}`);
      }
      for (const linearProbability of [0, 1]) expect(() => check({ ...base, linearProbability })).not.toThrow();
    }
  });

  it('linearProbability 0 never picks t^lin, even for a Bernoulli draw of exactly 0', () => {
    // key(5529654) was found by search: its Bernoulli key draws exactly 0 (probability 2⁻²³ per draw),
    // the one draw where u < p and u ≤ p disagree at p = 0: 0 < 0 is false, so the boundary map.
    const k = r.key(5529654);
    expect(r.uniformHost(r.split(k, 2)[1]!, 1)).toEqual([0]);
    const config: RollingConfig = { window: 4, cleanFrames: 1, schedule, linearProbability: 0 };
    const { t, linear, localTimes } = sampleTrainingTimes(k, 1, config);
    expect(linear).toEqual([false]);
    expect(localTimes).toEqual([initLocalTimes(config)(t[0]!)]);
  });

  it('a batch of one number per frame [B, W] has the loss of the same numbers as [B, W, 1, 1, 1]', () => {
    const config: RollingConfig = { window: 4, cleanFrames: 1, schedule, linearProbability: 0.5 };
    r.tidy(() => {
      const x = r.normal(r.key(2), [3, 4]);
      const loss = (batch: r.Tensor) => trainStep(model, config)(null, r.key(3), batch).toArraySync()[0]!;
      const perFrame = loss(x);
      expect(Number.isFinite(perFrame)).toBe(true);
      expect(perFrame).toBeCloseTo(loss(r.reshape(x, [3, 4, 1, 1, 1])), 6);
    });
  });
});

