/**
 * The experiment of panel 3, without the DOM: moving-shapes data, a tiny U-ViT trained with
 * Algorithm 1 (rolling) or the standard-diffusion loss, and the two rollouts (Algorithm 2 after
 * Algorithm 3, and block-autoregressive standard diffusion). Everything is the library's code; this
 * file only wires it together, one training step or one frame at a time, so the page can yield to
 * the browser in between.
 */
import { dispose, foldIn, key, tensor, tidy, toArray, uniformHost, type Key, type Tensor } from '../../index.js';
import { cosineSchedule, rollout, sampleBoundary, standardRollout, type Denoiser, type Schedule } from '../../diffusion/index.js';
import { adam, countParameters, disposeStale, ema, uvit, uvitPresets, type AdamState, type UViT, type UViTParams } from '../../nn/index.js';
import { movingShapes } from '../../experiments/data/shapes.js';
import { fsdFromArrays } from '../../experiments/metrics/metrics.js';
import { createTrainingStep, diffusionStepLoss, type TrainCarry } from '../../experiments/step.js';

export interface ExperimentConfig {
  /** Side of the square, single-channel frames (a power of two, for FSD's DFT). */
  readonly size: number;
  /** W: frames in the window, clean conditioning frames included. */
  readonly window: number;
  /** n_cln: clean conditioning frames. */
  readonly cleanFrames: number;
  /** Windows per training step. */
  readonly batch: number;
  readonly learningRate: number;
  /** Training clips of `clipFrames` frames each, drawn once. */
  readonly trainClips: number;
  readonly clipFrames: number;
  /** Shapes per clip. */
  readonly shapes: number;
  /** Real frames the FSD compares against. */
  readonly referenceFrames: number;
  /** Decay of the parameters' moving average that sampling uses (with warm-up); 0 samples the raw parameters. */
  readonly emaDecay: number;
}

/**
 * Sized for a few hundred steps in a browser tab. One shape per clip and a learning rate of 5e-3
 * learned fastest in a small sweep (2e-3 was slower, 1e-2 stalled). Even so, a few hundred steps give
 * noisy blobs that follow the context; 1,500-2,000 steps lower FSD towards the real-frame floor but
 * do not give crisp shapes. The moving average (decay 0.99) helped FSD a little.
 */
export const EXPERIMENT: ExperimentConfig = {
  size: 16,
  window: 6,
  cleanFrames: 2,
  batch: 4,
  learningRate: 5e-3,
  trainClips: 64,
  clipFrames: 24,
  shapes: 1,
  referenceFrames: 64,
  emaDecay: 0.99,
};

/** The schedule of every panel: the truncated cosine, λ ∈ [−15, 15]. */
export const SCHEDULE: Schedule = cosineSchedule();

/** Moving-shapes clips scaled to [−1, 1], [clipFrames, size, size, 1] each. */
export function makeClips(cfg: ExperimentConfig, count: number, frames: number, firstSeed: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) =>
    movingShapes({ frames, size: cfg.size, count: cfg.shapes, seed: firstSeed + i, channels: 1 }).map((v) => 2 * v - 1),
  );
}

/** A training batch [batch, W, size, size, 1]: random windows of random clips, drawn from `k`. */
export function sampleBatch(cfg: ExperimentConfig, clips: readonly Float32Array[], k: Key): Tensor {
  const frameSize = cfg.size * cfg.size;
  const u = uniformHost(k, 2 * cfg.batch);
  const data = new Float32Array(cfg.batch * cfg.window * frameSize);
  for (let b = 0; b < cfg.batch; b++) {
    const clip = clips[Math.min(clips.length - 1, Math.floor(u[2 * b]! * clips.length))]!;
    const start = Math.min(cfg.clipFrames - cfg.window, Math.floor(u[2 * b + 1]! * (cfg.clipFrames - cfg.window + 1)));
    data.set(clip.subarray(start * frameSize, (start + cfg.window) * frameSize), b * cfg.window * frameSize);
  }
  return tensor(data, [cfg.batch, cfg.window, cfg.size, cfg.size, 1]);
}

export type Method = 'rolling' | 'standard';

export interface Trainer {
  readonly method: Method;
  readonly net: UViT;
  readonly parameterCount: number;
  /** Per-step training losses so far. */
  readonly losses: number[];
  params(): UViTParams;
  /** The moving average of the parameters (the raw ones when emaDecay is 0). */
  averageParams(): UViTParams;
  /** One optimizer step on a fresh batch; resolves to its loss. */
  step(): Promise<number>;
  /**
   * The same loss on a fixed held-out batch with fixed noise and times: a function of the
   * parameters alone, so unlike the per-step loss it only moves when the model changes.
   */
  evaluate(): Promise<number>;
  /** The model with its averaged parameters (or the raw ones) bound, for the samplers. */
  denoiser(which?: 'average' | 'raw'): Denoiser;
  dispose(): void;
}

/**
 * A tiny U-ViT (nn's `tiny` preset) and Adam, trained on `clips` with Algorithm 1 (`rolling`: linear
 * local times with probability 0.8, else init, Eq. 26's loss) or with every generated frame at one
 * t (`standard`). The step is `rolling train`'s (experiments/step.ts: draws, loss, gradients, Adam,
 * the EMA), with this page's loss and optimizer (no clipping, a constant rate) and run eagerly, op by
 * op; a pure function of (state, batch, key); keys come from `seed`.
 */
export function createTrainer(method: Method, cfg: ExperimentConfig, clips: readonly Float32Array[], seed: number): Trainer {
  const net = uvit({ ...uvitPresets.tiny, inChannels: 1 });
  const model = (p: UViTParams, z: Tensor, logSnr: Tensor): Tensor => net.apply(p, z, logSnr);
  const stepLoss = diffusionStepLoss(model, { window: cfg.window, cleanFrames: cfg.cleanFrames, schedule: SCHEDULE }, method);
  const loss = (p: UViTParams, k: Key, batch: Tensor): Tensor => stepLoss.loss(p, batch, stepLoss.draws(k, batch));
  const optimizer = adam({ learningRate: cfg.learningRate });
  const root = key(seed);
  const params = net.init(foldIn(root, 0));
  const averager = cfg.emaDecay > 0 ? ema({ decay: cfg.emaDecay, warmup: true }) : undefined;
  const trainingStep = createTrainingStep({ loss: stepLoss, optimizer, averager, jit: false });
  let state: TrainCarry<UViTParams, AdamState> = averager ? { params, opt: optimizer.init(params), ema: averager.init(params) } : { params, opt: optimizer.init(params) };
  const losses: number[] = [];
  const heldOut = makeClips(cfg, cfg.batch * 2, cfg.clipFrames, 70_000);
  const evaluationKey = foldIn(root, 3);

  return {
    method,
    net,
    parameterCount: countParameters(params),
    losses,
    params: () => state.params,
    async step() {
      const i = losses.length;
      const { loss: lossTensor, ...next } = tidy(() => trainingStep(state, sampleBatch(cfg, clips, foldIn(foldIn(root, 1), i)), foldIn(foldIn(root, 2), i)));
      disposeStale(state, next);
      state = next;
      const value = (await toArray(lossTensor))[0]!;
      lossTensor.dispose();
      losses.push(value);
      return value;
    },
    async evaluate() {
      const value = tidy(() => loss(state.params, foldIn(evaluationKey, 1), sampleBatch({ ...cfg, batch: cfg.batch * 2 }, heldOut, foldIn(evaluationKey, 0))));
      const v = (await toArray(value))[0]!;
      value.dispose();
      return v;
    },
    averageParams: () => state.ema?.average ?? state.params,
    denoiser(which = 'average') {
      const p = which === 'average' ? state.ema?.average ?? state.params : state.params;
      return (z, logSnr) => net.apply(p, z, logSnr);
    },
    dispose() {
      dispose(state);
    },
  };
}

/** Held-out clips for the rollouts: the first n_cln frames condition, the rest is the ground truth. */
export function evaluationClips(cfg: ExperimentConfig, batch: number, frames: number): { clips: Float32Array; context: () => Tensor } {
  const length = cfg.cleanFrames + frames;
  const frameSize = cfg.size * cfg.size;
  const clips = new Float32Array(batch * length * frameSize);
  makeClips(cfg, batch, length, 50_000).forEach((c, b) => clips.set(c, b * length * frameSize));
  const context = (): Tensor => {
    const data = new Float32Array(batch * cfg.cleanFrames * frameSize);
    for (let b = 0; b < batch; b++) data.set(clips.subarray(b * length * frameSize, (b * length + cfg.cleanFrames) * frameSize), b * cfg.cleanFrames * frameSize);
    return tensor(data, [batch, cfg.cleanFrames, cfg.size, cfg.size, 1]);
  };
  return { clips, context };
}

/** Real frames from other held-out clips, [count, size, size], the FSD's reference distribution. */
export function referenceFrames(cfg: ExperimentConfig): Float32Array {
  const perClip = 8;
  const clips = makeClips(cfg, Math.ceil(cfg.referenceFrames / perClip), perClip, 90_000);
  const out = new Float32Array(cfg.referenceFrames * cfg.size * cfg.size);
  for (let i = 0; i < cfg.referenceFrames; i++) {
    const clip = clips[Math.floor(i / perClip)]!;
    const f = i % perClip;
    out.set(clip.subarray(f * cfg.size * cfg.size, (f + 1) * cfg.size * cfg.size), i * cfg.size * cfg.size);
  }
  return out;
}

/** Eq. 27 between `batch` frames [batch, size, size] and the reference frames. */
export function fsdAgainst(cfg: ExperimentConfig, reference: Float32Array, frames: Float32Array, batch: number): number {
  return fsdFromArrays(reference, cfg.referenceFrames, frames, batch, cfg.size, cfg.size);
}

export interface RolloutOptions {
  readonly frames: number;
  /** Model evaluations per generated frame, the same budget for both methods (Appendix D). */
  readonly stepsPerFrame: number;
  readonly seed: number;
  /** 'ddpm': ancestral steps from the posterior (Eq. 3); 'ddim': DDIM with η = 0. Default 'ddpm'. */
  readonly sampler?: 'ddpm' | 'ddim';
}

/**
 * Rolling diffusion: Algorithm 3 (init local times, Eq. 23) brings the context plus noise into the
 * rolling state with stepsPerFrame · (W − n_cln) steps, then Algorithm 2 slides the window, yielding
 * one finished frame [batch, size, size] per shift.
 */
export async function* rollingRollout(
  cfg: ExperimentConfig,
  denoiser: Denoiser,
  context: Tensor,
  options: RolloutOptions,
): AsyncGenerator<Float32Array, void, undefined> {
  const k = key(options.seed);
  const sampler = { window: cfg.window, cleanFrames: cfg.cleanFrames, schedule: SCHEDULE, clipX: [-1, 1] as const, sampler: options.sampler ?? 'ddpm' };
  const state = sampleBoundary(denoiser, { ...sampler, context, steps: options.stepsPerFrame * (cfg.window - cfg.cleanFrames), key: foldIn(k, 0) });
  try {
    for await (const frame of rollout(denoiser, { ...sampler, state, frames: options.frames, stepsPerFrame: options.stepsPerFrame, key: foldIn(k, 1) })) {
      const values = (await toArray(frame)) as Float32Array;
      frame.dispose();
      yield values;
    }
  } finally {
    state.dispose();
  }
}

/**
 * Standard diffusion, block-autoregressive: W − n_cln frames at a time from pure noise, all at the
 * same t, conditioned on the last n_cln frames; stepsPerFrame · (W − n_cln) steps per block.
 */
export async function* standardBlockRollout(
  cfg: ExperimentConfig,
  denoiser: Denoiser,
  context: Tensor,
  options: RolloutOptions,
): AsyncGenerator<Float32Array, void, undefined> {
  const sampler = { window: cfg.window, cleanFrames: cfg.cleanFrames, schedule: SCHEDULE, clipX: [-1, 1] as const, sampler: options.sampler ?? 'ddpm' };
  for await (const frame of standardRollout(denoiser, { ...sampler, context, frames: options.frames, evaluationsPerFrame: options.stepsPerFrame, key: foldIn(key(options.seed), 2) })) {
    const values = (await toArray(frame)) as Float32Array;
    frame.dispose();
    yield values;
  }
}
