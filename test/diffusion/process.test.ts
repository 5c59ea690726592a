import fc from 'fast-check';
import { spreadDouble } from '../../diffusion/laws/arbitraries.js';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import {
  cosineSchedule, diffuse, epsFromV, lossWeighting, logSnrTensor, perFrameMse, trainStep, vFromX, vFromXEps, windowLoss,
  windowLossWeights, xFromEps, xFromV, sampleTrainingTimes, linearLocalTimes, type LossWeightingName, type Model,
} from '../../diffusion/index.js';
import { perFrame } from '../../diffusion/process.js';
import { lossFrameMask, weightsTensor } from '../../diffusion/loss.js';


const time = fc.oneof(fc.constant(0), fc.constant(1), spreadDouble(0, 1));
const schedule = cosineSchedule();

async function values(t: r.Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

function video(seed: number, shape: number[]): r.Tensor {
  return r.normal(r.key(seed), shape);
}

describe('forward process and parameterizations (tensor level)', () => {
  it('conversions round-trip: x and ε recovered from z and v at any per-frame noise level', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(time, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 1000 }), async (times, seed) => {
        const shape = [2, times.length, 3, 2, 1];
        const x = video(seed, shape);
        const eps = video(seed + 1, shape);
        const logSnr = logSnrTensor([times.map(schedule.logSnr), times.map(schedule.logSnr)]);
        const z = diffuse(x, logSnr, eps);
        const v = vFromXEps(x, eps, logSnr);
        const [xs, es, xr, er] = await Promise.all([x, eps, xFromV(z, v, logSnr), epsFromV(z, v, logSnr)].map(values));
        xs!.forEach((xv, i) => expect(xr![i]).toBeCloseTo(xv, 4));
        es!.forEach((ev, i) => expect(er![i]).toBeCloseTo(ev, 4));
        r.dispose([x, eps, logSnr, z, v]);
      }),
      { numRuns: 30 },
    );
  });

  it('diffuse uses each frame\'s own noise level: a frame at t = 0 is (almost) x, at t = 1 (almost) ε', async () => {
    const x = video(1, [1, 2, 4, 4, 1]);
    const eps = video(2, [1, 2, 4, 4, 1]);
    const z = diffuse(x, logSnrTensor([[schedule.logSnr(0), schedule.logSnr(1)]]), eps);
    const [xs, es, zs] = await Promise.all([x, eps, z].map(values));
    // The truncated schedule keeps σ(0) = α(1) = √sigmoid(−15) ≈ 5.5e-4, not 0: the bound is that residue.
    const residue = Math.sqrt(1 / (1 + Math.exp(15)));
    for (let i = 0; i < 16; i++) expect(Math.abs(zs![i]! - xs![i]!)).toBeLessThanOrEqual(residue * Math.abs(es![i]!) + 1e-6);
    for (let i = 16; i < 32; i++) expect(Math.abs(zs![i]! - es![i]!)).toBeLessThanOrEqual(residue * Math.abs(xs![i]!) + 1e-6);
  });

  it('loss identities: ‖v − v̂‖² = (1 + SNR)‖x − x̂‖² and ‖ε − ε̂‖² = SNR‖x − x̂‖², frame by frame', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spreadDouble(-8, 8), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 999 }), async (lambdas, seed) => {
        const shape = [1, lambdas.length, 4, 4, 1];
        const z = video(seed, shape);
        const v = video(seed + 1, shape);
        const vHat = video(seed + 2, shape);
        const logSnr = logSnrTensor([lambdas]);
        const dv = await values(perFrameMse(v, vHat));
        const dx = await values(perFrameMse(xFromV(z, v, logSnr), xFromV(z, vHat, logSnr)));
        const de = await values(perFrameMse(epsFromV(z, v, logSnr), epsFromV(z, vHat, logSnr)));
        lambdas.forEach((l, k) => {
          expect(dv[k]! / ((1 + Math.exp(l)) * dx[k]!)).toBeCloseTo(1, 3);
          expect(de[k]! / (Math.exp(l) * dx[k]!)).toBeCloseTo(1, 3);
        });
      }),
      { numRuns: 25 },
    );
  });

  it('the window loss gives clean conditioning frames and pure-noise frames no weight, and every window frame a(t_k)/(1 + SNR) > 0', () => {
    fc.assert(
      fc.property(fc.array(fc.array(time, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }), fc.constantFrom<LossWeightingName>('v', 'x', 'eps', 'minSnr'), (rows, weighting) => {
        const weights = windowLossWeights(rows, { schedule, weighting });
        rows.forEach((row, b) => row.forEach((t, k) => {
          if (t === 0 || t === 1) expect(weights[b]![k]).toBe(0);
          else {
            expect(weights[b]![k]).toBe(lossWeighting(weighting).vWeight(schedule.logSnr(t)));
            expect(weights[b]![k]).toBeGreaterThan(0);
          }
        }));
      }),
      { examples: [[[[0, 1, 0.5]], 'v'], [[linearLocalTimes({ window: 4, cleanFrames: 3 })(1)], 'v']] },
    );
  });

  it('the window loss is zero for the oracle v recovered from z and x by the conversions, and not for a wrong x', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(time, { minLength: 1, maxLength: 4 }), fc.nat({ max: 1000 }), async (times, seed) => {
        const shape = [2, times.length, 4, 4, 1];
        const x = video(seed, shape);
        const eps = video(seed + 1, shape);
        const rows = [times, [...times].reverse()];
        const logSnr = logSnrTensor(rows.map((row) => row.map(schedule.logSnr)));
        const z = diffuse(x, logSnr, eps);
        const weights = windowLossWeights(rows, { schedule });
        const target = vFromXEps(x, eps, logSnr);
        // v̂ from (z, x) and from (z, ε) via x = (z − σ ε)/α: the conversions must agree with v = α ε − σ x.
        const [fromX, fromEps, wrong] = await Promise.all([
          windowLoss(target, vFromX(z, x, logSnr), weights, times.length),
          windowLoss(target, vFromX(z, xFromEps(z, eps, logSnr), logSnr), weights, times.length),
          windowLoss(target, vFromX(z, r.mul(x, 0.5), logSnr), weights, times.length),
        ].map(values));
        // float32: α z − x rounds by ~1e-7, divided by σ ≥ σ(0) ≈ 5.5e-4 and squared, far below 1e-6.
        expect(fromX![0]).toBeLessThan(1e-6);
        // Via ε the division by α(1) ≈ 5.5e-4 at t = 1 is harmless too: pure-noise frames carry no weight.
        expect(fromEps![0]).toBeLessThan(1e-6);
        if (weights.flat().some((w) => w > 0)) expect(wrong![0]).toBeGreaterThan(1e-4);
        r.dispose([x, eps, logSnr, z, target]);
      }),
      { numRuns: 25 },
    );
  });

  it('Algorithm 1: the training loss is pure (same key, same loss) and differentiable', async () => {
    type P = { w: r.Tensor };
    const model: Model<P> = (p, z) => r.mul(z, p.w);
    const step = trainStep(model, { window: 4, cleanFrames: 1, schedule, linearProbability: 0.5 });
    const x = video(5, [3, 4, 4, 4, 1]);
    const params = { w: r.scalar(0.3) };
    const a = await values(step(params, r.key(7), x));
    const b = await values(step(params, r.key(7), x));
    const c = await values(step(params, r.key(8), x));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const [, g] = r.valueAndGrad((p: P) => step(p, r.key(7), x))(params);
    expect(Number.isFinite((await values(g.w))[0])).toBe(true);
  });

  it('Algorithm 1 picks the linear local times at the rate linearProbability', () => {
    const config = { window: 4, cleanFrames: 0, schedule, linearProbability: 0.8 };
    const { linear } = sampleTrainingTimes(r.key(11), 4000, config);
    const rate = linear.filter(Boolean).length / linear.length;
    // Binomial standard error √(0.8·0.2/4000) ≈ 0.0063; five of them.
    expect(Math.abs(rate - 0.8)).toBeLessThan(0.032);
    expect(sampleTrainingTimes(r.key(11), 50, { ...config, linearProbability: 1 }).linear.every(Boolean)).toBe(true);
    expect(sampleTrainingTimes(r.key(11), 50, { ...config, linearProbability: 0 }).linear.some(Boolean)).toBe(false);
  });

  it('rejects a window whose frames do not match the config', () => {
    const step = trainStep((_p: null, z) => z, { window: 4, cleanFrames: 0, schedule });
    expect(() => step(null, r.key(0), r.zeros([1, 3, 2, 2, 1]))).toThrow(/4 frames/);
    expect(() => trainStep((_p: null, z) => z, { window: 4, cleanFrames: 4, schedule })).toThrow(/cleanFrames/);
  });
});

describe('standard local times', () => {
  it('hold clean frames at 0, put every generated frame at t, and reject bad inputs', async () => {
    const { standardLocalTimes } = await import('../../diffusion/index.js');
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), time, (window, t) => {
      const cleanFrames = window - 1;
      expect(standardLocalTimes({ window, cleanFrames })(t)).toEqual([...new Array(cleanFrames).fill(0), t]);
    }));
    expect(() => standardLocalTimes({ window: 3, cleanFrames: 1 })(1.5)).toThrow(/t must be a number in \[0, 1\]/);
    expect(() => standardLocalTimes({ window: 2, cleanFrames: 5 })).toThrow(/cleanFrames/);
  });
});

describe('the per-frame logSNR: its layout and its shape checks', () => {
  it('logSnrTensor lays rows out as [batch, frames]; no rows is [0, 0]; ragged rows are refused', async () => {
    expect(await values(logSnrTensor([[1, 2, 3], [4, 5, 6]]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(logSnrTensor([[1, 2, 3], [4, 5, 6]]).shape).toEqual([2, 3]);
    expect(logSnrTensor([]).shape).toEqual([0, 0]);
    expect(() => logSnrTensor([[1, 2], [3]])).toThrow(/^logSnrTensor: row 1 has 1 frames, row 0 has 2$/);
    expect(() => perFrame(r.ones([3]), 5)).toThrow(/^perFrame: expected per-frame values of shape \[batch, frames\], got \[3\]$/);
  });

  it('one number per frame (a rank-2 video) is diffused frame by frame; a [1, frames] logSNR is shared by the batch', async () => {
    const x = r.tensor([[1, -2], [0.5, 3]]);
    const eps = r.tensor([[0.25, 1], [-1, 2]]);
    const lambdas = [0.5, -1];
    const z = await values(diffuse(x, logSnrTensor([lambdas]), eps));
    const xs = [1, -2, 0.5, 3];
    const es = [0.25, 1, -1, 2];
    const expected = xs.map((v, i) => {
      const l = lambdas[i % 2]!;
      return Math.sqrt(1 / (1 + Math.exp(-l))) * v + Math.sqrt(1 / (1 + Math.exp(l))) * es[i]!;
    });
    z.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    expect(z).toEqual(await values(diffuse(x, logSnrTensor([lambdas, lambdas]), eps)));
  });

  it('every conversion refuses a logSNR that is not [batch or 1, frames] for its video, naming itself (the whole message)', () => {
    const x = r.zeros([2, 3, 2, 2, 1]);
    const ops: [string, (l: r.Tensor) => unknown][] = [
      ['diffuse', (l) => diffuse(x, l, x)],
      ['vFromXEps', (l) => vFromXEps(x, x, l)],
      ['xFromV', (l) => xFromV(x, x, l)],
      ['epsFromV', (l) => epsFromV(x, x, l)],
      ['vFromX', (l) => vFromX(x, x, l)],
      ['xFromEps', (l) => xFromEps(x, x, l)],
    ];
    for (const [name, op] of ops) {
      for (const bad of [[3], [2, 4], [3, 3], [2, 3, 1]]) {
        expect(() => op(r.zeros(bad)), `${name} ${bad}`).toThrow(new RegExp(`^${name}: logSnr \\[${bad}\\] must be \\[batch, frames\\] \\(or \\[1, frames\\]\\) for the video \\[2,3,2,2,1\\]$`));
      }
      expect(() => op(r.zeros([1, 3])), name).not.toThrow();
      expect(() => op(r.zeros([2, 3])), name).not.toThrow();
    }
    expect(() => diffuse(r.zeros([3]), r.zeros([1, 3]), r.zeros([3]))).toThrow(/^diffuse: logSnr \[1,3\] must be \[batch, frames\] \(or \[1, frames\]\) for the video \[3\]$/);
  });
});

describe('the window loss: which frames count, with what weight, and its shape checks', () => {
  it('perFrameMse: one number per frame ([B, F]) is its own squared error; a rank-1 target is refused', async () => {
    expect(await values(perFrameMse(r.tensor([[1, 2], [3, 4]]), r.tensor([[0, 0], [3, 6]])))).toEqual([1, 4, 0, 4]);
    expect(() => perFrameMse(r.ones([3]), r.ones([3]))).toThrow(/^perFrameMse: expected \[batch, frames, …\], got \[3\]$/);
  });

  it('lossFrameMask: only window frames (0 < t_k < 1) carry loss, not clean (0) or pure-noise (1) frames', () => {
    expect(lossFrameMask([0, 1e-9, 0.5, 1 - 1e-9, 1])).toEqual([0, 1, 1, 1, 0]);
  });

  it('Min-SNR-γ weights are min(SNR, γ)/(1 + SNR) on the v-MSE, with the γ asked for', () => {
    const times = [[0, 0.2, 0.5, 1]];
    for (const gamma of [1, 5]) {
      const w = windowLossWeights(times, { schedule, weighting: 'minSnr', gamma })[0]!;
      const expected = times[0]!.map((t) => {
        if (t === 0 || t === 1) return 0;
        const snr = Math.exp(schedule.logSnr(t));
        return Math.min(snr, gamma) / (1 + snr);
      });
      w.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    }
  });

  it('windowLoss refuses weights that are not [batch][frames] (host rows or a tensor); no weights is a [0, 0] tensor', () => {
    const v = r.zeros([2, 3, 2, 2, 1]);
    const message = /^windowLoss: weights must be \[2\]\[3\] to match the prediction \[2,3,2,2,1\]$/;
    for (const bad of [[[1, 1, 1]], [[1, 1, 1], [1, 1]], [[1, 1], [1, 1, 1]], [[1, 1, 1], [1, 1, 1], [1, 1, 1]]]) {
      expect(() => windowLoss(v, v, bad, 3), JSON.stringify(bad)).toThrow(message);
    }
    for (const shape of [[6], [1, 3], [2, 2], [2, 3, 1]]) expect(() => windowLoss(v, v, r.ones(shape), 3), String(shape)).toThrow(message);
    expect(() => windowLoss(v, v, [[1, 1, 1], [1, 1, 1]], 3)).not.toThrow();
    expect(() => windowLoss(v, v, r.ones([2, 3]), 3)).not.toThrow();
    expect(weightsTensor([]).shape).toEqual([0, 0]);
  });
});
