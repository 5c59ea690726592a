/**
 * Sampling: the tensor-level posterior of Eqs. 11-15, one reverse step over per-frame local times
 * (ancestral DDPM or DDIM(η)), sampling at the boundary (Algorithm 3), the rolling rollout
 * (Algorithm 2) and the standard block-autoregressive baseline. Both generators take a budget of
 * model evaluations per generated frame, so that comparisons between them are fair (Appendix D; see
 * `rollout` for how the budget is counted).
 */
import { add, clip, concat, dispose, foldIn, keep, mul, normal, reshape, sliceAxis, split, tensor, tidy, type Key, type Tensor } from '../core/index.js';
import { boundaryLocalTimes, linearLocalTimes, standardLocalTimes, type BoundaryMapName, type LocalTimes, type WindowSpec } from './localTime.js';
import { ddimFromLogSnr, framePosteriorCoefficients, posteriorFromLogSnr, type PosteriorCoefficients } from './posteriorCoefficients.js';
import { logSnrTensor, xFromV } from './process.js';
import type { Schedule } from './schedule.js';

/** A denoiser: a `Model` (training.ts) with its parameters bound, (z [B, F, …], logSnr [B, F]) → v̂. */
export type Denoiser = (z: Tensor, logSnr: Tensor) => Tensor;

export interface SamplerConfig {
  schedule: Schedule;
  /** 'ddpm': ancestral sampling from q(z_s | z_t, x̂) (Eq. 3); 'ddim': DDIM(η). Default 'ddpm'. */
  sampler?: 'ddpm' | 'ddim';
  /**
   * DDIM's η (0 = deterministic, 1 = ancestral). Default 0. With η = 0 a step is deterministic given
   * z only for the frames already in the window: pure-noise frames (s_k = t_k = 1, Eq. 13) are still
   * drawn fresh, and Algorithm 2 appends a fresh N(0, I) frame at every shift, so a rollout stays
   * random even at η = 0 (only its key fixes it).
   */
  eta?: number;
  /** Clip x̂ into this range before the posterior (data in [−1, 1] benefits); none by default. */
  clipX?: readonly [number, number] | null;
}


/** Eqs. 11-15 per frame for either sampler: copy clean frames, fresh noise for noise frames. */
export function stepCoefficients(s: readonly number[], t: readonly number[], cfg: SamplerConfig): PosteriorCoefficients[] {
  const eta = cfg.eta ?? 0;
  return framePosteriorCoefficients(cfg.schedule, s, t, (cfg.sampler ?? 'ddpm') === 'ddim' ? (ls, lt) => ddimFromLogSnr(ls, lt, eta) : posteriorFromLogSnr);
}

function frameColumn(values: readonly number[], rank: number): Tensor {
  return reshape(tensor(Float32Array.from(values), [1, values.length]), [1, values.length, ...new Array<number>(rank - 2).fill(1)]);
}

/**
 * Eqs. 11-15 at tensor level: one draw of z_s from z_t [B, F, …] given x [B, F, …] (the data, or a
 * prediction x̂), frame by frame with local times s_k ≤ t_k shared by the batch. Clean frames
 * (s_k = t_k = 0, Eq. 12) are copied; pure-noise frames (s_k = t_k = 1, Eq. 13) are fresh N(0, I);
 * window frames (Eq. 15) are drawn from q(z_s | z_t, x) of Eq. 3 in the expm1 form of
 * `posteriorFromLogSnr` (MATH.md), or from the DDIM(η) step with `sampler: 'ddim'`. A zero-length
 * step s_k = t_k < 1 returns z_t exactly. The noise comes from `k` alone.
 */
export function posterior(zT: Tensor, x: Tensor, s: readonly number[], t: readonly number[], k: Key, options: SamplerConfig): Tensor {
  const frames = zT.shape[1];
  if (zT.rank < 2 || s.length !== frames || t.length !== frames) {
    throw new Error(`posterior: ${s.length}/${t.length} local times for z_t of shape [${zT.shape}]; expected one per frame (axis 1)`);
  }
  return applyCoefficients(zT, x, stepCoefficients(s, t, options), k);
}

/** z_s = zCoef z_t + xCoef x + √variance ξ per frame (Eqs. 11-15), the coefficients already worked out. */
function applyCoefficients(zT: Tensor, x: Tensor, coeffs: readonly PosteriorCoefficients[], k: Key): Tensor {
  const rank = zT.rank;
  let out = mul(frameColumn(coeffs.map((c) => c.zCoef), rank), zT);
  if (coeffs.some((c) => c.xCoef !== 0)) out = add(out, mul(frameColumn(coeffs.map((c) => c.xCoef), rank), x));
  if (coeffs.some((c) => c.variance > 0)) out = add(out, mul(frameColumn(coeffs.map((c) => Math.sqrt(c.variance)), rank), normal(k, zT.shape)));
  return out;
}

/**
 * One reverse step of Algorithms 2 and 3 for every frame from local times t to s (s_k ≤ t_k): the
 * model sees the whole window with each frame's own logSNR (Eq. 7), its v̂ becomes x̂ = α z − σ v̂
 * (`xFromV`), and `posterior`'s step (Eqs. 11-15) draws z_s. The same local times apply to every example
 * of the batch. The model is called once, unless no frame needs x̂ (all clean or pure noise).
 */
export function denoiseStep(model: Denoiser, z: Tensor, s: readonly number[], t: readonly number[], k: Key, cfg: SamplerConfig): Tensor {
  const frames = z.shape[1];
  if (s.length !== frames || t.length !== frames) throw new Error(`denoiseStep: ${s.length}/${t.length} local times for a window of ${frames} frames`);
  const batch = z.shape[0]!;
  const coeffs = stepCoefficients(s, t, cfg);
  if (!coeffs.some((c) => c.xCoef !== 0)) return applyCoefficients(z, z, coeffs, k); // x is unused: every frame is copied or redrawn
  const logSnrRow = t.map((tk) => cfg.schedule.logSnr(tk));
  const logSnr = logSnrTensor(Array.from({ length: batch }, () => logSnrRow));
  let xHat = xFromV(z, model(z, logSnr), logSnr);
  if (cfg.clipX) xHat = clip(xHat, cfg.clipX[0], cfg.clipX[1]);
  return applyCoefficients(z, xHat, coeffs, k);
}

/**
 * The loop of Algorithms 2 and 3: T steps of `denoiseStep` under a local-time map (Eq. 22, 23 or 37,
 * or the standard map) from global time 1 down to 0, t = 1, (T−1)/T, …, 1/T, each to t − 1/T.
 * One model call per step (Appendix D's unit of cost), so T calls in all: none of these maps ever
 * makes a step in which every frame is clean or pure noise, the only case `denoiseStep` skips the model.
 */
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

/**
 * Algorithm 3: from n_cln conditioning frames and fresh noise for the other W − n_cln frames, run
 * the boundary schedule (Eq. 23, or Eq. 37 with `initSchedule: 'rescaled'`) from t = 1 to 0. The
 * result is in the rolling state: local times linear(0) = (0, …, 0, 0/M, 1/M, …, (M−1)/M),
 * M = W − n_cln. With n_cln = 0 pass `batch` and `frameShape` instead of a context. It makes
 * exactly `steps` model calls (see `rollout` for the budget).
 */
export function sampleBoundary(
  model: Denoiser,
  opts: Required<WindowSpec> & SamplerConfig & { context?: Tensor; batch?: number; frameShape?: readonly number[]; steps: number; key: Key; initSchedule?: BoundaryMapName },
): Tensor {
  const { window, cleanFrames, steps, key: k } = opts;
  const ctx = opts.context;
  if (cleanFrames > 0 && (!ctx || ctx.shape[1] !== cleanFrames)) {
    throw new Error(`sampleBoundary: expected a context of ${cleanFrames} clean frames [batch, ${cleanFrames}, …], got ${ctx ? `[${ctx.shape}]` : 'none'}`);
  }
  const batch = ctx ? ctx.shape[0]! : opts.batch;
  const frameShape = ctx ? ctx.shape.slice(2) : opts.frameShape;
  if (batch === undefined || frameShape === undefined) throw new Error('sampleBoundary: without context frames, pass batch and frameShape');
  const local = boundaryLocalTimes(opts);
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
 * `stepsPerFrame` denoising steps with the linear local times (Eq. 22). The state passed in is not
 * disposed.
 *
 * Budget (Appendix D). The unit is one model call, which evaluates the whole window of W frames.
 * Decision: the budget is counted as model calls per generated frame, the cost of sampling, and
 * `stepsPerFrame` is that number: a rollout yielding N frames makes exactly (N − 1) · stepsPerFrame
 * calls (the first yield is free, it was finished by `sampleBoundary`, which makes `steps` calls; to
 * give its W − n_cln new frames the same budget, pass steps = stepsPerFrame · (W − n_cln)). Each frame
 * stays in the window for W − n_cln shifts, so it goes through (W − n_cln) · stepsPerFrame denoising
 * steps over its life. `standardRollout`'s `evaluationsPerFrame` is the same budget: with
 * evaluationsPerFrame = stepsPerFrame both generators cost the same calls per generated frame and
 * give every frame the same number of denoising steps.
 * Appendix D counts its example differently for the two: "32 evaluations per frame" with a window
 * of 8 is a batch-autoregressive model with 256 calls per 8 frames (our evaluationsPerFrame = 32)
 * against a rolling model evaluated 4 times per shift (our stepsPerFrame = 4), whose frames each go
 * through 32 steps but which costs 4 calls per generated frame, W times fewer. To reproduce that
 * example, pass stepsPerFrame = budget / (W − n_cln); to compare at equal cost, as
 * experiments/generate.ts does, pass stepsPerFrame = evaluationsPerFrame.
 */
export async function* rollout(
  model: Denoiser,
  opts: Required<WindowSpec> & SamplerConfig & { state: Tensor; frames: number; stepsPerFrame: number; key: Key },
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
 * The standard-diffusion baseline (Section 5's "standard diffusion"; Appendix D's
 * batch-autoregressive model), block-autoregressive: from n_cln clean frames, generate the other
 * W − n_cln frames of the window together from pure noise with every generated frame at the same t
 * (`standardLocalTimes`), then condition the next block on the last n_cln frames.
 *
 * Budget (see `rollout`): each block makes exactly evaluationsPerFrame · (W − n_cln) model calls
 * (one per step) and yields W − n_cln frames, so N frames cost ⌈N / (W − n_cln)⌉ blocks, i.e.
 * evaluationsPerFrame calls per generated frame when N is a multiple of W − n_cln (a last partial
 * block is paid in full). `evaluationsPerFrame` means the same budget as `rollout`'s `stepsPerFrame`.
 */
export async function* standardRollout(
  model: Denoiser,
  opts: Required<WindowSpec> & SamplerConfig & { context?: Tensor; batch?: number; frameShape?: readonly number[]; frames: number; evaluationsPerFrame: number; key: Key },
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
    // A context of exactly n_cln frames slices to the caller's own tensor, which is not ours to free.
    if (context && context !== ctx0) context.dispose();
    context = next;
    z0.dispose();
  }
  if (context && context !== ctx0) context.dispose();
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
