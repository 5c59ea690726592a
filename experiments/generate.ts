/**
 * Generation from a trained checkpoint: rolling (Algorithm 3 then Algorithm 2), the standard
 * block-autoregressive baseline or the MSE baseline's autoregressive rollout, at the same budget of model evaluations per generated frame, with
 * the checkpoint preset's noise schedule and boundary map (Eq. 23 or Eq. 37).
 */
import { dispose, foldIn, sliceAxis, tidy, type Key, type Tensor } from '../core/index.js';
import { collectFrames, rollout, sampleBoundary, standardRollout, type Denoiser } from '../diffusion/index.js';
import type { DenoiserNetwork } from './model.js';
import { mseRollout } from './mseBaseline.js';
import { diffusionInitSchedule, noiseSchedule, type Preset } from './presets.js';

export interface GenerateOptions {
  model: DenoiserNetwork;
  params: unknown;
  preset: Preset;
  mode: 'rolling' | 'standard' | 'mse';
  /** Conditioning frames [batch, ≥ n_cln, H, W, C]; the last n_cln are used. */
  context: Tensor;
  frames: number;
  stepsPerFrame: number;
  key: Key;
  sampler?: 'ddpm' | 'ddim';
  onFrame?: (index: number) => void;
}

/** Frames in [−1, 1] data: x̂ is clipped there before each posterior step (shapes, BAIR). */
function clipRange(preset: Preset): readonly [number, number] | null {
  return preset.data === 'kolmogorov' ? null : [-1, 1];
}

/**
 * Generated frames [batch, frames, H, W, C]. Budget: rolling spends `stepsPerFrame` evaluations per
 * frame in the rollout and stepsPerFrame · (W − n_cln) in the boundary phase (Algorithm 3 fills a
 * window of W − n_cln new frames); standard spends stepsPerFrame · (W − n_cln) per block of
 * W − n_cln frames. Both therefore cost stepsPerFrame evaluations per generated frame.
 */
export async function generate(o: GenerateOptions): Promise<Tensor> {
  const { window, cleanFrames } = o.preset;
  const denoiser: Denoiser = (z, logSnr) => o.model.apply(o.params, z, logSnr);
  // The noise schedule and boundary map the checkpoint was trained with (its preset records both).
  const cfg = { schedule: noiseSchedule(o.preset), sampler: o.sampler ?? 'ddpm', eta: 0, clipX: clipRange(o.preset), window, cleanFrames } as const;
  const n = o.context.shape[1]!;
  if (n < cleanFrames) throw new Error(`generate: ${n} context frames given, the model conditions on ${cleanFrames}`);
  const context = tidy(() => sliceAxis(o.context, 1, n - cleanFrames, n));
  let count = 0;
  const counted = async function* (frames: AsyncIterable<Tensor>): AsyncGenerator<Tensor> {
    for await (const f of frames) {
      o.onFrame?.(++count);
      yield f;
    }
  };
  try {
    // The MSE baseline is deterministic: no sampler, no budget, one forward pass per W − n_cln frames.
    if (o.mode === 'mse') return mseRollout({ model: o.model, params: o.params, preset: o.preset, context, frames: o.frames, onFrame: o.onFrame });
    if (o.mode === 'standard') {
      return await collectFrames(counted(standardRollout(denoiser, { ...cfg, context, batch: o.context.shape[0]!, frameShape: o.context.shape.slice(2), frames: o.frames, evaluationsPerFrame: o.stepsPerFrame, key: o.key })));
    }
    const state = sampleBoundary(denoiser, { ...cfg, context, batch: o.context.shape[0]!, frameShape: o.context.shape.slice(2), steps: o.stepsPerFrame * (window - cleanFrames), key: foldIn(o.key, 1), initSchedule: diffusionInitSchedule(o.preset) });
    try {
      return await collectFrames(counted(rollout(denoiser, { ...cfg, state, frames: o.frames, stepsPerFrame: o.stepsPerFrame, key: foldIn(o.key, 2) })));
    } finally {
      state.dispose();
    }
  } finally {
    // sliceAxis returns its input when nothing is cut: never free the caller's tensor.
    if (context !== o.context) dispose(context);
  }
}
