import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import { primitivesRun } from '../core/harness.js';
import {
  collectFrames, cosineSchedule, ddimFromLogSnr, denoiseStep, denoiseWindow, fixedImageDenoiser, gaussianOracleDenoiser, initLocalTimes,
  linearLocalTimes, oracleRolloutMoments, oracleStepMoments, oracleWindowMoments, posterior, posteriorFromLogSnr, rescaledInitLocalTimes, rollout, sampleBoundary,
  samplerStepRule, standardLocalTimes, standardRollout, stepCoefficients, type Denoiser, type Moments, type SamplerConfig,
} from '../../diffusion/index.js';

const schedule = cosineSchedule();

function moments(a: ArrayLike<number>): { mean: number; variance: number } {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i]!;
  m /= a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - m) ** 2;
  return { mean: m, variance: v / (a.length - 1) };
}

/**
 * Statistical tolerance only: the expected moments come from the exact Gaussian recursion at the
 * sampler's real step count (oracleWindowMoments / oracleRolloutMoments), discretisation error
 * included, so nothing but sampling noise separates them from the samples. For n independent
 * N(m, v) pixels the sample mean has standard error √(v/n) and the sample variance v√(2/(n − 1));
 * the tolerance is five of them (a false failure has probability below 1e-6 per check).
 */
function expectMoments(what: string, a: ArrayLike<number>, expected: Moments): void {
  const n = a.length;
  const { mean, variance } = moments(a);
  expect(Math.abs(mean - expected.mean), `${what}: mean ${mean}, exact ${expected.mean}`).toBeLessThan(5 * Math.sqrt(expected.variance / n));
  expect(Math.abs(variance - expected.variance), `${what}: variance ${variance}, exact ${expected.variance}`).toBeLessThan(5 * expected.variance * Math.sqrt(2 / (n - 1)));
}

/**
 * Frames with different exact moments pooled: each pixel standardised by its frame's exact mean and
 * standard deviation must be N(0, 1), checked to five standard errors of all n pixels together (the
 * per-frame checks alone would have few pixels each).
 */
function expectPooledStandardNormal(what: string, frames: readonly ArrayLike<number>[], expected: readonly Moments[]): void {
  const z: number[] = [];
  frames.forEach((a, f) => {
    const { mean, variance } = expected[f]!;
    for (let i = 0; i < a.length; i++) z.push((a[i]! - mean) / Math.sqrt(variance));
  });
  expectMoments(`${what} (pooled, standardised)`, z, { mean: 0, variance: 1 });
}

/** The values of frame f of a [B, F, …] array. */
function frameOf(data: ArrayLike<number>, batch: number, frames: number, f: number): number[] {
  const per = data.length / (batch * frames);
  const out: number[] = [];
  for (let b = 0; b < batch; b++) for (let p = 0; p < per; p++) out.push(data[(b * frames + f) * per + p]!);
  return out;
}

/** σ at local time 0 of the truncated cosine schedule (λ_max = 15). */
const SIGMA0 = Math.sqrt(1 / (1 + Math.exp(15)));
const MU = 0.3;
const STD = 0.5;
const PRIOR = { mean: MU, std: STD };
const oracle = gaussianOracleDenoiser(MU, STD);
const NOISE: Moments = { mean: 0, variance: 1 };

/** What Algorithm 3 must produce with the oracle: the window's exact moments after `steps` steps. */
function boundaryMoments(cfg: SamplerConfig, window: number, cleanFrames: number, steps: number, context: Moments, initSchedule: 'init' | 'rescaled' = 'init'): Moments[] {
  const map = initSchedule === 'rescaled' ? rescaledInitLocalTimes({ window, cleanFrames }) : initLocalTimes({ window, cleanFrames });
  const start = Array.from({ length: window }, (_, w) => (w < cleanFrames ? context : NOISE));
  return oracleWindowMoments(PRIOR, start, map, steps, samplerStepRule(cfg), schedule.logSnr);
}

describe('the exact Gaussian recursion the sampling tests compare against', () => {
  it('keeps the data mean exactly (to the N(0, I) start, |α(1) μ| ≈ 2e-4) and approaches s² as the steps grow', () => {
    for (const cfg of [{ schedule, sampler: 'ddpm' }, { schedule, sampler: 'ddim', eta: 0 }, { schedule, sampler: 'ddim', eta: 0.5 }] as SamplerConfig[]) {
      const [coarse, fine] = [200, 2000].map((steps) => boundaryMoments(cfg, 2, 0, steps, NOISE)[0]!);
      // Why the mean needs no discretisation allowance: E[x̂] = μ whatever the step, so only the start
      // (mean 0 instead of α(1) μ = 5.5e-4 μ, then scaled by at most s) can move it.
      expect(Math.abs(coarse!.mean - MU)).toBeLessThan(schedule.alpha(1) * MU);
      expect(Math.abs(fine!.mean - MU)).toBeLessThan(schedule.alpha(1) * MU);
      // The variance is short by O(1/T) (x̂ ignores Var(x | z)): 3.7% at 200 steps for ancestral, s = 0.5.
      expect(coarse!.variance).toBeLessThan(STD * STD);
      expect(Math.abs(fine!.variance - STD * STD)).toBeLessThan(Math.abs(coarse!.variance - STD * STD) / 5);
    }
  });
});

describe('the moment recursions by hand', () => {
  it('one step: a frame the step copies or replaces (x̂ unused) scales its mean by zCoef and its variance by zCoef², plus the fresh noise', () => {
    // Off the origin and away from 1, so zCoef² v differs from zCoef² / v and from zCoef v.
    expect(oracleStepMoments(PRIOR, { mean: 2, variance: 0.25 }, { zCoef: 3, xCoef: 0, variance: 0.5 }, 0.7)).toEqual({ mean: 6, variance: 9 * 0.25 + 0.5 });
    expect(oracleStepMoments(PRIOR, { mean: 2, variance: 0.25 }, { zCoef: 0, xCoef: 0, variance: 1 }, 0.7)).toEqual({ mean: 0, variance: 1 });
  });

  it('one step with x̂: at λ = 0 (α = σ = 1/√2) the oracle\'s x̂ = μ + b (z − αμ), b = α s² / (α² s² + σ²), is affine in z', () => {
    const alpha = Math.SQRT1_2;
    const b = (alpha * STD * STD) / (alpha * alpha * STD * STD + alpha * alpha);
    const c = { zCoef: 0.4, xCoef: 0.7, variance: 0.05 };
    const gain = c.zCoef + c.xCoef * b;
    const got = oracleStepMoments(PRIOR, { mean: 1.5, variance: 0.8 }, c, 0);
    expect(got.mean).toBeCloseTo(gain * 1.5 + c.xCoef * MU * (1 - b * alpha), 14);
    expect(got.variance).toBeCloseTo(gain * gain * 0.8 + c.variance, 14);
  });

  it('a rollout yields `frames` frames: the state\'s frame n_cln as it is, then after each shift (a fresh N(0, 1) frame appended) the window\'s steps', () => {
    // A rule that ignores x̂ and the times (z ← z/2 plus noise of variance 0.1), so the answer is by hand.
    const rule = () => ({ zCoef: 0.5, xCoef: 0, variance: 0.1 });
    const state: Moments[] = [{ mean: 1, variance: 1 }, { mean: 2, variance: 2 }, { mean: 3, variance: 3 }];
    const out = oracleRolloutMoments(PRIOR, state, { cleanFrames: 1, frames: 3, stepsPerFrame: 1, linear: (t) => [t, t, t], rule, logSnr: schedule.logSnr });
    // Frame 1 of the state first, (2, 2). After shift 1 the window is [(2, 2), (3, 3), (0, 1)] stepped once: [(1, 0.6), (1.5, 0.85), (0, 0.35)].
    // After shift 2: [(1.5, 0.85), (0, 0.35), (0, 1)] stepped once: [(0.75, 0.3125), (0, 0.1875), (0, 0.35)].
    const expected = [{ mean: 2, variance: 2 }, { mean: 1.5, variance: 0.85 }, { mean: 0, variance: 0.1875 }];
    expect(out).toHaveLength(3);
    out.forEach((m, i) => {
      expect(m.mean).toBeCloseTo(expected[i]!.mean, 14);
      expect(m.variance).toBeCloseTo(expected[i]!.variance, 14);
    });
    expect(oracleRolloutMoments(PRIOR, state, { cleanFrames: 1, frames: 0, stepsPerFrame: 1, linear: (t) => [t, t, t], rule, logSnr: schedule.logSnr })).toEqual([]);
  });
});

describe('sampling is exact for a known data distribution (Gaussian oracle)', () => {
  for (const cfg of [{ schedule, sampler: 'ddpm' }, { schedule, sampler: 'ddim', eta: 0 }, { schedule, sampler: 'ddim', eta: 0.5 }] as SamplerConfig[]) {
    it(`${cfg.sampler}${cfg.sampler === 'ddim' ? `(η = ${cfg.eta})` : ''}: a window denoised from pure noise has the exact moments of its step count`, async () => {
      // Standard diffusion in a window of 2 frames with no clean frames: every frame at the same t.
      const z = sampleBoundary(oracle, { ...cfg, window: 2, cleanFrames: 0, batch: 16, frameShape: [16, 16, 1], steps: 200, key: r.key(1) });
      const data = await z.toArray();
      const exact = boundaryMoments(cfg, 2, 0, 200, NOISE);
      // After Algorithm 3 frame 0 is at local time 0 (a finished sample) and frame 1 at 1/2.
      expectMoments('frame 0', frameOf(data, 16, 2, 0), exact[0]!);
      expectMoments('frame 1', frameOf(data, 16, 2, 1), exact[1]!);
      z.dispose();
    });
  }

  /** W = 1; n_cln = 0; n_cln = W − 1; and one in between, each with both boundary schedules (Eqs. 23, 37). */
  const rollingConfigs = [
    { window: 1, cleanFrames: 0 },
    { window: 4, cleanFrames: 0 },
    { window: 4, cleanFrames: 3 },
    { window: 3, cleanFrames: 1 },
  ];
  for (const initSchedule of ['init', 'rescaled'] as const) {
    for (const { window, cleanFrames } of rollingConfigs) {
      it(`the boundary sampler (Algorithm 3, ${initSchedule === 'init' ? 'Eq. 23' : 'Eq. 37'}), W = ${window}, n_cln = ${cleanFrames}: context untouched, every generated frame at its exact moments`, async () => {
        const cfg: SamplerConfig = { schedule, sampler: 'ddpm' };
        const batch = 16;
        const context = cleanFrames ? r.full([batch, cleanFrames, 8, 8, 1], 0.7) : undefined;
        const steps = 25 * (window - cleanFrames);
        const z = sampleBoundary(oracle, { ...cfg, window, cleanFrames, context, batch, frameShape: [8, 8, 1], steps, initSchedule, key: r.key(2) });
        expect(z.shape).toEqual([batch, window, 8, 8, 1]);
        const data = await z.toArray();
        for (let w = 0; w < cleanFrames; w++) frameOf(data, batch, window, w).forEach((v) => expect(v).toBe(Math.fround(0.7)));
        const exact = boundaryMoments(cfg, window, cleanFrames, steps, { mean: 0.7, variance: 0 }, initSchedule);
        const generated = Array.from({ length: window - cleanFrames }, (_, m) => m + cleanFrames);
        generated.forEach((w) => expectMoments(`frame ${w}`, frameOf(data, batch, window, w), exact[w]!));
        expectPooledStandardNormal('generated frames', generated.map((w) => frameOf(data, batch, window, w)), generated.map((w) => exact[w]!));
        r.dispose([z, ...(context ? [context] : [])]);
      });
    }
  }

  /** Algorithm 3 then Algorithm 2 with the oracle: the sampled frames and their exact moments. */
  const rolloutAgainstRecursion = async (o: { window: number; cleanFrames: number; stepsPerFrame: number; frames: number; cfg: SamplerConfig; batch?: number; seed?: number }) => {
    const { window, cleanFrames, stepsPerFrame, frames, cfg } = o;
    const batch = o.batch ?? 4;
    const context = cleanFrames ? r.add(r.mul(r.normal(r.key(30), [batch, cleanFrames, 8, 8, 1]), STD), MU) : undefined;
    const steps = stepsPerFrame * (window - cleanFrames);
    const state = sampleBoundary(oracle, { ...cfg, window, cleanFrames, context, batch, frameShape: [8, 8, 1], steps, key: r.key(o.seed ?? 3) });
    context?.dispose();
    const before = r.memoryStats().tensors;
    const perFrame: number[][] = [];
    for await (const frame of rollout(oracle, { ...cfg, window, cleanFrames, state, frames, stepsPerFrame, key: r.key((o.seed ?? 3) + 1) })) {
      expect(frame.shape).toEqual([batch, 8, 8, 1]);
      perFrame.push(Array.from(await frame.toArray()));
      frame.dispose();
    }
    // The rollout frees every intermediate window: only the state we made remains.
    expect(r.memoryStats().tensors).toBe(before);
    state.dispose();
    // Context frames are drawn from the data distribution itself: N(μ, s²).
    const exactState = boundaryMoments(cfg, window, cleanFrames, steps, { mean: MU, variance: STD * STD });
    const exact = oracleRolloutMoments(PRIOR, exactState, { cleanFrames, frames, stepsPerFrame, linear: linearLocalTimes({ window, cleanFrames }), rule: samplerStepRule(cfg), logSnr: schedule.logSnr });
    return { perFrame, exact };
  };

  it('a 64-frame rollout (Algorithm 2, DDIM η = 0, W = 4) driven by the oracle yields frames at their exact moments, which are μ and s² to 3.5%', async () => {
    const { perFrame, exact } = await rolloutAgainstRecursion({ window: 4, cleanFrames: 0, stepsPerFrame: 25, frames: 64, cfg: { schedule, sampler: 'ddim', eta: 0 } });
    expect(perFrame.length).toBe(64);
    [0, 1, 15, 31, 47, 63].forEach((f) => expectMoments(`frame ${f}`, perFrame[f]!, exact[f]!));
    expectPooledStandardNormal('all frames', perFrame, exact);
    // The recursion itself: the mean exact, the variance short by discretisation only (3.0% at 100
    // steps over a frame's life, the bound being that, rounded up; it is not a statistical tolerance).
    exact.forEach((m) => {
      expect(Math.abs(m.mean - MU)).toBeLessThan(1e-3 * STD);
      expect(Math.abs(m.variance - STD * STD)).toBeLessThan(0.035 * STD * STD);
    });
  });

  for (const [window, cleanFrames] of [[3, 1], [4, 3], [1, 0]] as const) {
    it(`a rollout with W = ${window}, n_cln = ${cleanFrames} (ancestral, context from the data) yields frames at their exact moments`, async () => {
      const { perFrame, exact } = await rolloutAgainstRecursion({ window, cleanFrames, stepsPerFrame: 20, frames: 12, cfg: { schedule, sampler: 'ddpm' }, batch: 8 });
      [0, 1, 11].forEach((f) => expectMoments(`frame ${f}`, perFrame[f]!, exact[f]!));
      expectPooledStandardNormal('all frames', perFrame, exact);
    });
  }

  it("the rollout's variance shortfall is discretisation error: the recursion predicts it at 2 steps per frame, and it shrinks as the budget grows", async () => {
    const coarse = await rolloutAgainstRecursion({ window: 4, cleanFrames: 0, stepsPerFrame: 2, frames: 16, cfg: { schedule, sampler: 'ddpm' } });
    expectPooledStandardNormal('2 steps per frame', coarse.perFrame, coarse.exact);
    const fine = await rolloutAgainstRecursion({ window: 4, cleanFrames: 0, stepsPerFrame: 25, frames: 16, cfg: { schedule, sampler: 'ddpm' } });
    expectPooledStandardNormal('25 steps per frame', fine.perFrame, fine.exact);
    const shortfall = (e: Moments[]) => Math.abs(e[15]!.variance - STD * STD);
    expect(shortfall(fine.exact)).toBeLessThan(shortfall(coarse.exact) / 3);
    expect(Math.abs(moments(fine.perFrame.flat()).variance - STD * STD)).toBeLessThan(Math.abs(moments(coarse.perFrame.flat()).variance - STD * STD) / 3);
  });

  it('the standard baseline (block-autoregressive) driven by the oracle yields frames at the exact moments of one block of evaluationsPerFrame · (W − n_cln) steps', async () => {
    const [window, cleanFrames, evaluationsPerFrame, batch] = [4, 2, 10, 8];
    const context = r.add(r.mul(r.normal(r.key(40), [batch, cleanFrames, 8, 8, 1]), STD), MU);
    const cfg: SamplerConfig = { schedule, sampler: 'ddpm' };
    const frames: number[][] = [];
    for await (const f of standardRollout(oracle, { ...cfg, window, cleanFrames, context, frames: 6, evaluationsPerFrame, key: r.key(41) })) {
      frames.push(Array.from(await f.toArray()));
      f.dispose();
    }
    context.dispose();
    expect(frames.length).toBe(6);
    // Every generated frame of every block starts as N(0, 1) and runs the same E · M steps at one t.
    const [exact] = oracleWindowMoments(PRIOR, [NOISE], (t) => [t], evaluationsPerFrame * (window - cleanFrames), samplerStepRule(cfg), schedule.logSnr);
    frames.forEach((a, f) => expectMoments(`frame ${f}`, a, exact!));
    expectPooledStandardNormal('all frames', frames, frames.map(() => exact!));
  });
});

describe('sampling reproduces a deterministic video exactly', () => {
  it('when the oracle always predicts one image, every rolled-out frame equals it, and the rollout yields exactly the frames asked for', async () => {
    const image = r.uniform(r.key(5), [1, 1, 6, 6, 1], -1, 1);
    const model = fixedImageDenoiser(image);
    const window = 3;
    for (const cleanFrames of [0, 1, 2]) {
      const context = cleanFrames ? r.broadcastTo(image, [2, cleanFrames, 6, 6, 1]) : undefined;
      const state = sampleBoundary(model, { schedule, window, cleanFrames, context, batch: 2, frameShape: [6, 6, 1], steps: 20, key: r.key(6) });
      const img = await image.toArray();
      for (const frames of [0, 1, 7]) {
        let n = 0;
        for await (const f of rollout(model, { schedule, window, cleanFrames, state, frames, stepsPerFrame: 5, key: r.key(7) })) {
          const a = await f.toArray();
          // Exact up to the truncated schedule: "clean" is local time 0, where σ(0) = √sigmoid(−15) ≈ 5.5e-4,
          // so the last ancestral step leaves N(0, σ(0)²) noise on the image; 6 σ(0) bounds it.
          a.forEach((v, i) => expect(Math.abs(v - img[i % img.length]!)).toBeLessThan(6 * SIGMA0));
          f.dispose();
          n++;
        }
        expect(n).toBe(frames);
      }
      state.dispose();
    }
  });

  it('the standard block-autoregressive baseline also reproduces it and yields the frames asked for', async () => {
    const image = r.uniform(r.key(8), [1, 1, 5, 5, 1], -1, 1);
    const model = fixedImageDenoiser(image);
    const img = await image.toArray();
    const context = r.broadcastTo(image, [1, 2, 5, 5, 1]);
    const video = await collectFrames(standardRollout(model, { schedule, window: 4, cleanFrames: 2, context, frames: 5, evaluationsPerFrame: 3, key: r.key(9) }));
    expect(video.shape).toEqual([1, 5, 5, 5, 1]);
    (await video.toArray()).forEach((v, i) => expect(Math.abs(v - img[i % img.length]!)).toBeLessThan(6 * SIGMA0));
  });
});

describe('sampler mechanics', () => {
  it('determinism: the same key gives the same samples', async () => {
    const run = async (seed: number) => {
      const z = sampleBoundary(oracle, { schedule, window: 3, cleanFrames: 0, batch: 2, frameShape: [4, 4, 1], steps: 5, key: r.key(seed) });
      return Array.from(await z.toArray());
    };
    expect(await run(1)).toEqual(await run(1));
    expect(await run(1)).not.toEqual(await run(2));
  });

  it('a step copies clean frames and replaces pure-noise frames with fresh noise (Eqs. 12-13)', async () => {
    const z = r.full([1, 3, 2, 2, 1], 5);
    const out = denoiseStep(oracle, z, [0, 0.4, 1], [0, 0.5, 1], r.key(1), { schedule });
    const a = await out.toArray();
    for (let i = 0; i < 4; i++) expect(a[i]).toBe(5);
    for (let i = 8; i < 12; i++) expect(a[i]).not.toBe(5);
  });

  it('a step at s = t is the identity for window frames', async () => {
    const z = r.normal(r.key(3), [1, 2, 3, 3, 1]);
    const out = denoiseStep(oracle, z, [0.3, 0.6], [0.3, 0.6], r.key(1), { schedule });
    expect(Array.from(await out.toArray())).toEqual(Array.from(await z.toArray()));
  });

  it('determinism: a rollout (Algorithm 2) and the standard baseline give the same frames for the same key and different ones for another', async () => {
    const state = sampleBoundary(oracle, { schedule, window: 3, cleanFrames: 1, context: r.full([2, 1, 4, 4, 1], 0.2), steps: 6, key: r.key(1) });
    const rolled = async (seed: number, sampler: 'ddpm' | 'ddim') =>
      Array.from(await (await collectFrames(rollout(oracle, { schedule, sampler, eta: 0, window: 3, cleanFrames: 1, state, frames: 4, stepsPerFrame: 3, key: r.key(seed) }))).toArray());
    for (const sampler of ['ddpm', 'ddim'] as const) {
      const [a, b, c] = [await rolled(5, sampler), await rolled(5, sampler), await rolled(6, sampler)];
      expect(a).toEqual(b);
      // Even DDIM(η = 0) differs: the frame appended at each shift is fresh N(0, I) from the key.
      expect(a).not.toEqual(c);
      // The first yield is the state's frame n_cln for any key. Ancestral steps draw new noise for every
      // later frame. DDIM(η = 0) is deterministic given the window: with the per-frame oracle, frames
      // already in the state (yields 1 … M − 1, M = W − n_cln = 2) come out the same for any key, and
      // only frames appended as fresh noise after the state (yields ≥ M) depend on it.
      expect(frameOf(a, 2, 4, 0)).toEqual(frameOf(c, 2, 4, 0));
      for (let f = 1; f < 4; f++) {
        if (sampler === 'ddim' && f < 2) expect(frameOf(a, 2, 4, f)).toEqual(frameOf(c, 2, 4, f));
        else expect(frameOf(a, 2, 4, f)).not.toEqual(frameOf(c, 2, 4, f));
      }
    }
    state.dispose();
    const context = r.full([2, 1, 4, 4, 1], 0.2);
    const standard = async (seed: number) =>
      Array.from(await (await collectFrames(standardRollout(oracle, { schedule, window: 3, cleanFrames: 1, context, frames: 5, evaluationsPerFrame: 2, key: r.key(seed) }))).toArray());
    const [a, b, c] = [await standard(7), await standard(7), await standard(8)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // The caller's context (exactly n_cln frames) is still the caller's: standardRollout must not free it.
    expect(Array.from(await context.toArray())).toEqual(new Array(16 * 2).fill(Math.fround(0.2)));
    context.dispose();
  });

  /** A denoiser that counts its calls (each call evaluates the whole window, Appendix D's unit). */
  const counting = (): { model: Denoiser; calls: () => number } => {
    let n = 0;
    return { model: (z, logSnr) => { n++; return oracle(z, logSnr); }, calls: () => n };
  };

  it('budget (Appendix D): sampleBoundary makes `steps` calls, a rollout of N frames (N − 1) · stepsPerFrame, the standard baseline evaluationsPerFrame · (W − n_cln) per block', async () => {
    for (const [window, cleanFrames] of [[4, 0], [4, 1], [3, 2], [1, 0]] as const) {
      const generated = window - cleanFrames;
      const budget = 3;
      const context = cleanFrames ? r.full([1, cleanFrames, 2, 2, 1], 0.1) : undefined;
      const boundary = counting();
      const state = sampleBoundary(boundary.model, { schedule, window, cleanFrames, context, batch: 1, frameShape: [2, 2, 1], steps: budget * generated, key: r.key(1) });
      expect(boundary.calls()).toBe(budget * generated);
      for (const frames of [0, 1, 2, 9]) {
        const rolling = counting();
        await collectFrames(rollout(rolling.model, { schedule, window, cleanFrames, state, frames, stepsPerFrame: budget, key: r.key(2) })).catch(() => null);
        expect(rolling.calls()).toBe(Math.max(frames - 1, 0) * budget);
      }
      for (const frames of [1, generated, 2 * generated, 2 * generated + 1]) {
        const standard = counting();
        const video = await collectFrames(standardRollout(standard.model, { schedule, window, cleanFrames, context, batch: 1, frameShape: [2, 2, 1], frames, evaluationsPerFrame: budget, key: r.key(3) }));
        expect(video.shape[1]).toBe(frames);
        expect(standard.calls()).toBe(Math.ceil(frames / generated) * budget * generated);
        video.dispose();
      }
      // Comparable per generated frame: with stepsPerFrame = evaluationsPerFrame, k blocks of the
      // baseline cost what the boundary plus the rollout of the same k · (W − n_cln) frames cost.
      const k = 3;
      const rolling = counting();
      const s2 = sampleBoundary(rolling.model, { schedule, window, cleanFrames, context, batch: 1, frameShape: [2, 2, 1], steps: budget * generated, key: r.key(4) });
      await collectFrames(rollout(rolling.model, { schedule, window, cleanFrames, state: s2, frames: k * generated - generated + 1, stepsPerFrame: budget, key: r.key(5) }));
      expect(rolling.calls()).toBe(k * generated * budget);
      r.dispose([state, s2, ...(context ? [context] : [])]);
    }
  });

  it('the tensor posterior (Eqs. 11-15) moves each frame by its number-level coefficients: copy, fresh noise, Eq. 3 or DDIM(η)', async () => {
    const s = [0, 1, 0.2, 0, 0.5, 0.35];
    const t = [0, 1, 1, 0.3, 0.6, 0.35];
    const shape = [2, 6, 32, 32, 1];
    const [z1, x1, z2, x2] = [10, 11, 12, 13].map((seed) => r.normal(r.key(seed), shape));
    for (const cfg of [{ schedule }, { schedule, sampler: 'ddim', eta: 0.5 }, { schedule, sampler: 'ddim', eta: 0 }] as SamplerConfig[]) {
      const coeffs = stepCoefficients(s, t, cfg);
      const k = r.key(20);
      const [o1, o2, a1, b1, a2, b2] = await Promise.all([posterior(z1!, x1!, s, t, k, cfg), posterior(z2!, x2!, s, t, k, cfg), z1!, x1!, z2!, x2!].map(async (u) => Array.from(await u.toArray())));
      for (let f = 0; f < 6; f++) {
        const { zCoef, xCoef, variance } = coeffs[f]!;
        const [u1, u2, za, xa, zb, xb] = [o1, o2, a1, b1, a2, b2].map((d) => frameOf(d!, 2, 6, f));
        // Same key, so the noise cancels in the difference: the deterministic part, exactly (float32).
        const worst = Math.max(...u1!.map((v, i) => Math.abs(v - u2![i]! - (zCoef * (za![i]! - zb![i]!) + xCoef * (xa![i]! - xb![i]!)))));
        expect(worst, `frame ${f}`).toBeLessThan(1e-5);
        // The residual is the noise: mean 0 and variance `variance`, none at all where the variance is 0.
        const residual = u1!.map((v, i) => v - zCoef * za![i]! - xCoef * xa![i]!);
        if (variance === 0) expect(Math.max(...residual.map(Math.abs)), `frame ${f}`).toBeLessThan(1e-5);
        else expectMoments(`frame ${f} noise`, residual, { mean: 0, variance });
      }
      expect(coeffs[0]).toEqual({ zCoef: 1, xCoef: 0, variance: 0 }); // clean (Eq. 12)
      expect(coeffs[1]).toEqual({ zCoef: 0, xCoef: 0, variance: 1 }); // pure noise (Eq. 13)
    }
    r.dispose([z1!, x1!, z2!, x2!]);
  });

  it('the tensor posterior at s = t returns z_t exactly for every frame below local time 1, and redraws frames at 1 (Eq. 13)', async () => {
    const z = r.normal(r.key(3), [2, 4, 3, 3, 1]);
    const x = r.normal(r.key(4), [2, 4, 3, 3, 1]);
    const local = [0, 0.3, 0.999, 1];
    for (const cfg of [{ schedule }, { schedule, sampler: 'ddim', eta: 0.7 }] as SamplerConfig[]) {
      const [out, zs] = [await posterior(z, x, local, local, r.key(5), cfg).toArray(), await z.toArray()];
      for (let f = 0; f < 3; f++) expect(frameOf(out, 2, 4, f)).toEqual(frameOf(zs, 2, 4, f));
      frameOf(out, 2, 4, 3).forEach((v, i) => expect(v).not.toBe(frameOf(zs, 2, 4, 3)[i]));
    }
    expect(() => posterior(z, x, [0, 0.1], [0, 0.2], r.key(5), { schedule })).toThrow(/posterior: 2\/2 local times/);
    r.dispose([z, x]);
  });

  it('init local times at global time 1 are all noise except the clean frames', () => {
    expect(initLocalTimes({ window: 4, cleanFrames: 1 })(1)).toEqual([0, 1, 1, 1]);
  });
});

describe('sampler choices, ownership and input checks', () => {
  it("stepCoefficients: a window frame's step is Eq. 3 by default and for 'ddpm', DDIM(η) for 'ddim' (η = 0 unless given)", () => {
    const [s, t] = [[0, 0.2, 1], [0, 0.5, 1]];
    const [logSnrS, logSnrT] = [schedule.logSnr(0.2), schedule.logSnr(0.5)];
    const ancestral = posteriorFromLogSnr(logSnrS, logSnrT);
    expect(stepCoefficients(s, t, { schedule })[1]).toEqual(ancestral);
    expect(stepCoefficients(s, t, { schedule, sampler: 'ddpm', eta: 0.5 })[1]).toEqual(ancestral);
    expect(stepCoefficients(s, t, { schedule, sampler: 'ddim' })[1]).toEqual(ddimFromLogSnr(logSnrS, logSnrT, 0));
    expect(stepCoefficients(s, t, { schedule, sampler: 'ddim', eta: 0.5 })[1]).toEqual(ddimFromLogSnr(logSnrS, logSnrT, 0.5));
    // The three are different steps (else the cases above could not tell them apart).
    const variances = [ancestral, ddimFromLogSnr(logSnrS, logSnrT, 0), ddimFromLogSnr(logSnrS, logSnrT, 0.5)].map((c) => c.variance);
    expect(variances[1]).toBe(0);
    expect(variances[2]).toBeGreaterThan(0);
    expect(variances[2]).not.toBeCloseTo(variances[0]!, 6);
  });

  it('the tensor posterior reads x only for frames that need it, and draws noise only for frames with variance: NaN in an unused x does not leak, DDIM(η = 0) runs no Threefry', async () => {
    const z = r.normal(r.key(3), [2, 2, 3, 3, 1]);
    const unused = r.full([2, 2, 3, 3, 1], NaN);
    const out = await posterior(z, unused, [0, 1], [0, 1], r.key(4), { schedule }).toArray();
    expect(out.every(Number.isFinite)).toBe(true);
    expect(frameOf(out, 2, 2, 0)).toEqual(frameOf(await z.toArray(), 2, 2, 0));
    const x = r.normal(r.key(5), [2, 2, 3, 3, 1]);
    const draws = (cfg: SamplerConfig) => primitivesRun(() => posterior(z, x, [0.2, 0.4], [0.3, 0.6], r.key(6), cfg)).filter((p) => p === 'threefry2x32').length;
    expect(draws({ schedule, sampler: 'ddim', eta: 0 })).toBe(0);
    expect(draws({ schedule, sampler: 'ddpm' })).toBeGreaterThan(0);
    r.dispose([z, unused, x]);
  });

  it('a step in which every frame is clean or pure noise does not call the model', () => {
    let calls = 0;
    const model: Denoiser = (z, logSnr) => { calls++; return oracle(z, logSnr); };
    const z = r.normal(r.key(3), [1, 3, 2, 2, 1]);
    r.dispose([denoiseStep(model, z, [0, 0, 1], [0, 0, 1], r.key(4), { schedule }), z]);
    expect(calls).toBe(0);
  });

  it('clipX clips x̂ before the posterior: a model predicting 3 with clipX [−1, 1] steps as the posterior given x = 1', async () => {
    const z = r.normal(r.key(3), [2, 2, 4, 4, 1]);
    const [s, t] = [[0.3, 0.5], [0.4, 0.7]];
    const model = fixedImageDenoiser(r.full([1, 1, 4, 4, 1], 3));
    for (const cfg of [{ schedule }, { schedule, sampler: 'ddim' }] as SamplerConfig[]) {
      const clipped = await denoiseStep(model, z, s, t, r.key(5), { ...cfg, clipX: [-1, 1] }).toArray();
      const given = (value: number) => posterior(z, r.full([2, 2, 4, 4, 1], value), s, t, r.key(5), cfg).toArray();
      const [one, three] = [await given(1), await given(3)];
      // x̂ = α z − σ v̂ recovers 3 to float32 rounding (a few ulp of the terms), and the clip makes it 1 exactly.
      clipped.forEach((v, i) => expect(Math.abs(v - one[i]!)).toBeLessThan(1e-5));
      const unclipped = await denoiseStep(model, z, s, t, r.key(5), cfg).toArray();
      unclipped.forEach((v, i) => expect(Math.abs(v - three[i]!)).toBeLessThan(1e-5));
      expect(Math.max(...one.map((v, i) => Math.abs(v - three[i]!)))).toBeGreaterThan(0.1);
    }
    z.dispose();
  });

  it('ownership: denoiseWindow and sampleBoundary leave the input and context to the caller and only their result behind; a rollout leaves the state alive', async () => {
    const z = r.normal(r.key(3), [1, 2, 2, 2, 1]);
    let before = r.memoryStats().tensors;
    const out = denoiseWindow(oracle, z, linearLocalTimes({ window: 2, cleanFrames: 0 }), 3, r.key(4), { schedule });
    expect(r.memoryStats().tensors).toBe(before + 1);
    expect(z.disposed).toBe(false);
    r.dispose([out, z]);
    for (const cleanFrames of [0, 1]) {
      const context = cleanFrames ? r.full([1, 1, 2, 2, 1], 0.5) : undefined;
      before = r.memoryStats().tensors;
      const state = sampleBoundary(oracle, { schedule, window: 3, cleanFrames, context, batch: 1, frameShape: [2, 2, 1], steps: 4, key: r.key(5) });
      expect(r.memoryStats().tensors).toBe(before + 1);
      expect(context?.disposed ?? false).toBe(false);
      const saved = Array.from(await state.toArray());
      for await (const frame of rollout(oracle, { schedule, window: 3, cleanFrames, state, frames: 3, stepsPerFrame: 2, key: r.key(6) })) frame.dispose();
      expect(state.disposed).toBe(false);
      expect(Array.from(await state.toArray())).toEqual(saved);
      r.dispose([state, ...(context ? [context] : [])]);
    }
  });

  it('ownership: the standard baseline frees every block and context it made, and never the caller\'s context, even when it yields no frame', async () => {
    for (const [cleanFrames, contextFrames, frames] of [[0, 0, 5], [2, 2, 5], [2, 3, 5], [2, 2, 0], [1, 1, 0]] as const) {
      const context = contextFrames ? r.full([1, contextFrames, 2, 2, 1], 0.5) : undefined;
      const before = r.memoryStats().tensors;
      let yielded = 0;
      for await (const f of standardRollout(oracle, { schedule, window: 4, cleanFrames, context, batch: 1, frameShape: [2, 2, 1], frames, evaluationsPerFrame: 1, key: r.key(7) })) {
        f.dispose();
        yielded++;
      }
      expect(yielded).toBe(frames);
      expect(r.memoryStats().tensors, `n_cln ${cleanFrames}, context ${contextFrames}, ${frames} frames`).toBe(before);
      expect(context?.disposed ?? false).toBe(false);
      context?.dispose();
    }
  });

  it('the standard baseline draws block b from foldIn(key, b): its frames are Algorithm 3 on the standard map with that key split in two (noise, steps)', async () => {
    const [window, batch, steps] = [2, 1, 2];
    const key = r.key(8);
    const video = await collectFrames(standardRollout(oracle, { schedule, window, cleanFrames: 0, batch, frameShape: [2, 2, 1], frames: 2 * window, evaluationsPerFrame: 1, key }));
    const got = await video.toArray();
    for (const block of [0, 1]) {
      const [kn, kd] = r.split(r.foldIn(key, block), 2) as [r.Key, r.Key];
      const z1 = r.normal(kn, [batch, window, 2, 2, 1]);
      const expected = await denoiseWindow(oracle, z1, standardLocalTimes({ window, cleanFrames: 0 }), steps, kd, { schedule }).toArray();
      for (let f = 0; f < window; f++) expect(frameOf(got, batch, 2 * window, block * window + f), `block ${block}, frame ${f}`).toEqual(frameOf(expected, batch, window, f));
    }
  });

  it('a one-number-per-frame video [B, F] is a valid z_t for the tensor posterior', async () => {
    const z = r.tensor([0.5, -0.5, 0.25, 1], [2, 2]);
    const out = await posterior(z, z, [0, 0.3], [0, 0.3], r.key(1), { schedule }).toArray();
    expect(Array.from(out)).toEqual(Array.from(await z.toArray()));
  });

  it('every input check names the function, what is wrong and what was expected', async () => {
    const z = r.zeros([1, 3, 2, 2, 1]);
    const cfg: SamplerConfig = { schedule };
    expect(() => posterior(z, z, [0, 0.1], [0, 0.2, 0.3], r.key(1), cfg)).toThrow('posterior: 2/3 local times for z_t of shape [1,3,2,2,1]; expected one per frame (axis 1)');
    expect(() => posterior(z, z, [0, 0.1, 0.2], [0, 0.2], r.key(1), cfg)).toThrow('posterior: 3/2 local times for z_t of shape [1,3,2,2,1]; expected one per frame (axis 1)');
    expect(() => denoiseStep(oracle, z, [0, 0.1], [0, 0.2, 0.3], r.key(1), cfg)).toThrow('denoiseStep: 2/3 local times for a window of 3 frames');
    expect(() => denoiseStep(oracle, z, [0, 0.1, 0.2], [0, 0.2], r.key(1), cfg)).toThrow('denoiseStep: 3/2 local times for a window of 3 frames');
    const linear = linearLocalTimes({ window: 3, cleanFrames: 0 });
    for (const steps of [0, -1, 1.5]) expect(() => denoiseWindow(oracle, z, linear, steps, r.key(1), cfg)).toThrow(`denoiseWindow: steps must be a positive integer, got ${steps}`);
    r.dispose(denoiseWindow(oracle, z, linear, 1, r.key(1), cfg));

    const boundary = { schedule, window: 3, steps: 2, key: r.key(1) };
    const oneFrame = r.zeros([1, 1, 2, 2, 1]);
    expect(() => sampleBoundary(oracle, { ...boundary, cleanFrames: 2 })).toThrow('sampleBoundary: expected a context of 2 clean frames [batch, 2, …], got none');
    expect(() => sampleBoundary(oracle, { ...boundary, cleanFrames: 2, context: oneFrame })).toThrow('sampleBoundary: expected a context of 2 clean frames [batch, 2, …], got [1,1,2,2,1]');
    const noShape = 'sampleBoundary: without context frames, pass batch and frameShape';
    expect(() => sampleBoundary(oracle, { ...boundary, cleanFrames: 0, frameShape: [2, 2, 1] })).toThrow(noShape);
    expect(() => sampleBoundary(oracle, { ...boundary, cleanFrames: 0, batch: 1 })).toThrow(noShape);

    const rolling = { schedule, window: 3, cleanFrames: 0, stepsPerFrame: 1, key: r.key(1) };
    await expect(rollout(oracle, { ...rolling, state: oneFrame, frames: 1 }).next()).rejects.toThrow('rollout: the state must hold the whole window of 3 frames, got [1,1,2,2,1]');
    for (const frames of [-1, 1.5]) await expect(rollout(oracle, { ...rolling, state: z, frames }).next()).rejects.toThrow(`rollout: frames must be a non-negative integer, got ${frames}`);

    const standard = { schedule, window: 3, frames: 1, evaluationsPerFrame: 1, key: r.key(1) };
    await expect(standardRollout(oracle, { ...standard, cleanFrames: 2, batch: 1, frameShape: [2, 2, 1] }).next()).rejects.toThrow('standardRollout: needs a context of at least 2 frames');
    await expect(standardRollout(oracle, { ...standard, cleanFrames: 2, context: oneFrame }).next()).rejects.toThrow('standardRollout: needs a context of at least 2 frames');
    const noStandardShape = 'standardRollout: without context frames, pass batch and frameShape';
    await expect(standardRollout(oracle, { ...standard, cleanFrames: 0, frameShape: [2, 2, 1] }).next()).rejects.toThrow(noStandardShape);
    await expect(standardRollout(oracle, { ...standard, cleanFrames: 0, batch: 1 }).next()).rejects.toThrow(noStandardShape);

    const none = (async function* (): AsyncGenerator<r.Tensor, void, undefined> {})();
    await expect(collectFrames(none)).rejects.toThrow('collectFrames: no frames');
    r.dispose([z, oneFrame]);
  });
});

