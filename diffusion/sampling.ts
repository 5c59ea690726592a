/**
 * Sampling: one reverse step over per-frame local times (ancestral DDPM or DDIM(η)), sampling at
 * the boundary (Algorithm 3), the rolling rollout (Algorithm 2) and the standard block-autoregressive
 * baseline. Both generators take a budget of model evaluations per generated frame, so that
 * comparisons between them are fair (Appendix D).
 */
import { add, clip, concat, dispose, foldIn, keep, mul, normal, reshape, sliceAxis, split, tensor, tidy, type Key, type Tensor } from '../core';
import { frameCategories, initLocalTimes, linearLocalTimes, rescaledInitLocalTimes, type LocalTimes } from './localTime';
import { ddimFromLogSnr, posteriorFromLogSnr, type PosteriorCoefficients } from './posteriorCoefficients';
import { logSnrTensor, xFromV } from './process';
import type { Schedule } from './schedule';
import { standardLocalTimes } from './training';

/** A denoiser with its parameters bound: (z [B, F, …], logSnr [B, F]) → v̂. */
export type Denoiser = (z: Tensor, logSnr: Tensor) => Tensor;

export interface SamplerConfig {
  schedule: Schedule;
  /** 'ddpm': ancestral sampling from q(z_s | z_t, x̂) (Eq. 3); 'ddim': DDIM(η). Default 'ddpm'. */
  sampler?: 'ddpm' | 'ddim';
  /** DDIM's η (0 = deterministic, 1 = ancestral). Default 0. */
  eta?: number;
  /** Clip x̂ into this range before the posterior (data in [−1, 1] benefits); none by default. */
  clipX?: readonly [number, number] | null;
}

const COPY: PosteriorCoefficients = { zCoef: 1, xCoef: 0, variance: 0 };
const FRESH: PosteriorCoefficients = { zCoef: 0, xCoef: 0, variance: 1 };

/** Eqs. 11-15 per frame for either sampler: copy clean frames, fresh noise for noise frames. */
export function stepCoefficients(s: readonly number[], t: readonly number[], cfg: SamplerConfig): PosteriorCoefficients[] {
  const { clean, noise } = frameCategories(s, t);
  const cleanSet = new Set(clean);
  const noiseSet = new Set(noise);
  return t.map((tk, k) => {
    if (cleanSet.has(k)) return COPY;
    if (noiseSet.has(k)) return FRESH;
    const ls = cfg.schedule.logSnr(s[k]!);
    const lt = cfg.schedule.logSnr(tk);
    return (cfg.sampler ?? 'ddpm') === 'ddim' ? ddimFromLogSnr(ls, lt, cfg.eta ?? 0) : posteriorFromLogSnr(ls, lt);
  });
}

function frameColumn(values: readonly number[], rank: number): Tensor {
  return reshape(tensor(Float32Array.from(values), [1, values.length]), [1, values.length, ...new Array<number>(rank - 2).fill(1)]);
}

/**
 * One reverse step of every frame from local times t to s (s_k ≤ t_k): the model sees the whole
 * window with each frame's own logSNR, its v̂ becomes x̂ = α z − σ v̂, and each frame moves by
 * `stepCoefficients`. The same local times apply to every example of the batch.
 */
export function denoiseStep(model: Denoiser, z: Tensor, s: readonly number[], t: readonly number[], k: Key, cfg: SamplerConfig): Tensor {
  const frames = z.shape[1];
  if (s.length !== frames || t.length !== frames) throw new Error(`denoiseStep: ${s.length}/${t.length} local times for a window of ${frames} frames`);
  const batch = z.shape[0]!;
  const logSnrRow = t.map((tk) => cfg.schedule.logSnr(tk));
  const logSnr = logSnrTensor(Array.from({ length: batch }, () => logSnrRow));
  const coeffs = stepCoefficients(s, t, cfg);
  const needsModel = coeffs.some((c) => c.xCoef !== 0);
  let xHat: Tensor | null = null;
  if (needsModel) {
    xHat = xFromV(z, model(z, logSnr), logSnr);
    if (cfg.clipX) xHat = clip(xHat, cfg.clipX[0], cfg.clipX[1]);
  }
  const rank = z.rank;
  let out = mul(frameColumn(coeffs.map((c) => c.zCoef), rank), z);
  if (xHat) out = add(out, mul(frameColumn(coeffs.map((c) => c.xCoef), rank), xHat));
  if (coeffs.some((c) => c.variance > 0)) out = add(out, mul(frameColumn(coeffs.map((c) => Math.sqrt(c.variance)), rank), normal(k, z.shape)));
  return out;
}

/** Run T steps of a local-time map from global time 1 down to 0 (t = 1, (T−1)/T, …, 1/T). */
export function denoiseWindow(model: Denoiser, z: Tensor, localTimes: LocalTimes, steps: number, k: Key, cfg: SamplerConfig): Tensor {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`denoiseWindow: steps must be a positive integer, got ${steps}`);
  const keys = split(k, steps);
  let cur = z;
  for (let i = steps; i >= 1; i--) {
    const prev = cur;
    cur = tidy(() => denoiseStep(model, prev, localTimes((i - 1) / steps), localTimes(i / steps), keys[steps - i]!, cfg));
    if (prev !== z) prev.dispose();
  }
  return cur;
}

export interface WindowSpec {
  window: number;
  cleanFrames: number;
}

/**
 * Algorithm 3: from n_cln conditioning frames and fresh noise for the other W − n_cln frames, run
 * the boundary schedule (Eq. 23, or Eq. 37 with `initSchedule: 'rescaled'`) from t = 1 to 0. The
 * result is in the rolling state: local times linear(0) = (0, …, 0, 0/M, 1/M, …, (M−1)/M),
 * M = W − n_cln. With n_cln = 0 pass `batch` and `frameShape` instead of a context.
 */
export function sampleBoundary(
  model: Denoiser,
  opts: WindowSpec & SamplerConfig & { context?: Tensor; batch?: number; frameShape?: readonly number[]; steps: number; key: Key; initSchedule?: 'init' | 'rescaled' },
): Tensor {
  const { window, cleanFrames, steps, key: k } = opts;
  const ctx = opts.context;
  if (cleanFrames > 0 && (!ctx || ctx.shape[1] !== cleanFrames)) {
    throw new Error(`sampleBoundary: expected a context of ${cleanFrames} clean frames [batch, ${cleanFrames}, …], got ${ctx ? `[${ctx.shape}]` : 'none'}`);
  }
  const batch = ctx ? ctx.shape[0]! : opts.batch;
  const frameShape = ctx ? ctx.shape.slice(2) : opts.frameShape;
  if (batch === undefined || frameShape === undefined) throw new Error('sampleBoundary: without context frames, pass batch and frameShape');
  const local = (opts.initSchedule ?? 'init') === 'rescaled' ? rescaledInitLocalTimes({ window, cleanFrames }) : initLocalTimes({ window, cleanFrames });
  const [kn, kd] = split(k, 2) as [Key, Key];
  const z1 = tidy(() => {
    const noise = normal(kn, [batch, window - cleanFrames, ...frameShape]);
    return cleanFrames > 0 ? concat([sliceAxis(ctx!, 1, 0, cleanFrames), noise], 1) : noise;
  });
  const out = denoiseWindow(model, z1, local, steps, kd, opts);
  if (out !== z1) z1.dispose();
  return out;
}

/**
 * Algorithm 2: roll a window in the rolling state forward, yielding `frames` finished frames
 * ([batch, …] each, owned by the caller). The first yield is frame n_cln of the given state (already
 * at local time 0); each later frame costs one shift (drop frame 0, append N(0, I)) and
 * `stepsPerFrame` denoising steps with the linear local times (Eq. 22): a budget of exactly
 * `stepsPerFrame` model evaluations per generated frame. The state passed in is not disposed.
 */
export async function* rollout(
  model: Denoiser,
  opts: WindowSpec & SamplerConfig & { state: Tensor; frames: number; stepsPerFrame: number; key: Key },
): AsyncGenerator<Tensor, void, undefined> {
  const { window, cleanFrames, frames, stepsPerFrame, state } = opts;
  if (state.shape[1] !== window) throw new Error(`rollout: the state must hold the whole window of ${window} frames, got [${state.shape}]`);
  if (!Number.isInteger(frames) || frames < 0) throw new Error(`rollout: frames must be a non-negative integer, got ${frames}`);
  const linear = linearLocalTimes({ window, cleanFrames });
  let z = state;
  for (let f = 0; f < frames; f++) {
    if (f > 0) {
      const prev = z;
      const kf = foldIn(opts.key, f);
      const [kn, kd] = split(kf, 2) as [Key, Key];
      const shifted = tidy(() => concat([sliceAxis(prev, 1, 1, window), normal(kn, [prev.shape[0]!, 1, ...prev.shape.slice(2)])], 1));
      z = denoiseWindow(model, shifted, linear, stepsPerFrame, kd, opts);
      if (z !== shifted) shifted.dispose();
      if (prev !== state) prev.dispose();
    }
    const zz = z;
    const frame = tidy(() => reshape(sliceAxis(zz, 1, cleanFrames, cleanFrames + 1), [zz.shape[0]!, ...zz.shape.slice(2)]));
    yield frame;
  }
  if (z !== state) z.dispose();
}

/**
 * The standard-diffusion baseline, block-autoregressive: from n_cln clean frames, generate the
 * other W − n_cln frames of the window together from pure noise with every generated frame at the
 * same t, then condition the next block on the last n_cln frames. A budget of `evaluationsPerFrame`
 * gives each block evaluationsPerFrame · (W − n_cln) steps, the same cost per frame as rolling.
 */
export async function* standardRollout(
  model: Denoiser,
  opts: WindowSpec & SamplerConfig & { context?: Tensor; batch?: number; frameShape?: readonly number[]; frames: number; evaluationsPerFrame: number; key: Key },
): AsyncGenerator<Tensor, void, undefined> {
  const { window, cleanFrames, frames, evaluationsPerFrame } = opts;
  const generated = window - cleanFrames;
  const ctx0 = opts.context;
  if (cleanFrames > 0 && (!ctx0 || ctx0.shape[1]! < cleanFrames)) throw new Error(`standardRollout: needs a context of at least ${cleanFrames} frames`);
  const batch = ctx0 ? ctx0.shape[0]! : opts.batch;
  const frameShape = ctx0 ? ctx0.shape.slice(2) : opts.frameShape;
  if (batch === undefined || frameShape === undefined) throw new Error('standardRollout: without context frames, pass batch and frameShape');
  const steps = evaluationsPerFrame * generated;
  const local = standardLocalTimes({ window, cleanFrames });
  let context: Tensor | null = cleanFrames > 0 ? tidy(() => sliceAxis(ctx0!, 1, ctx0!.shape[1]! - cleanFrames, ctx0!.shape[1]!)) : null;
  let emitted = 0;
  for (let block = 0; emitted < frames; block++) {
    const [kn, kd] = split(foldIn(opts.key, block), 2) as [Key, Key];
    const ctx = context;
    const z1 = tidy(() => {
      const noise = normal(kn, [batch, generated, ...frameShape]);
      return ctx ? concat([ctx, noise], 1) : noise;
    });
    const z0 = denoiseWindow(model, z1, local, steps, kd, opts);
    if (z0 !== z1) z1.dispose();
    for (let i = 0; i < generated && emitted < frames; i++, emitted++) {
      yield tidy(() => reshape(sliceAxis(z0, 1, cleanFrames + i, cleanFrames + i + 1), [batch, ...frameShape]));
    }
    const next = cleanFrames > 0 ? tidy(() => sliceAxis(z0, 1, window - cleanFrames, window)) : null;
    if (context) context.dispose();
    context = next;
    z0.dispose();
  }
  if (context) context.dispose();
}

/** Collect an async iterator of frames [B, …] into one video [B, frames, …] and free the pieces. */
export async function collectFrames(frames: AsyncIterable<Tensor>): Promise<Tensor> {
  const list: Tensor[] = [];
  for await (const f of frames) list.push(f);
  if (list.length === 0) throw new Error('collectFrames: no frames');
  const video = tidy(() => concat(list.map((f) => reshape(f, [f.shape[0]!, 1, ...f.shape.slice(1)])), 1));
  dispose(list);
  return keep(video);
}
