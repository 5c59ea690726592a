/**
 * The deterministic baseline of Table 8's "MSE (n_cln-k)" rows: the same U-ViT, given n_cln clean
 * frames, predicts the next k = W − n_cln frames directly and is trained with a mean squared error;
 * at test time it is rolled out autoregressively, k frames at a time, each block conditioned on the
 * last n_cln frames it (or the data) produced.
 *
 * The denoiser's signature is kept (z, logSNR per frame): the clean frames go in as themselves at
 * λ(0) (clean, Eq. 8) and the frames to predict as zeros at λ(1) (nothing known of them, Eq. 9), so
 * the network, its size and its inputs are exactly those of the diffusion rows; only the output is
 * read as the frames x̂ and the loss is ‖x − x̂‖² on the predicted frames.
 */
import { concat, dispose, keep, mean, sliceAxis, square, sub, tidy, zeros, type Key, type Tensor } from '../core/index.js';
import { logSnrTensor } from '../diffusion/index.js';
import type { DenoiserNetwork } from './model.js';
import { noiseSchedule, type Preset } from './presets.js';

/** The logSNR row of the MSE model's input: λ(0) for the n_cln given frames, λ(1) for the W − n_cln to predict. */
function inputLogSnr(preset: Preset, batch: number): Tensor {
  const schedule = noiseSchedule(preset);
  const row = Array.from({ length: preset.window }, (_, w) => schedule.logSnr(w < preset.cleanFrames ? 0 : 1));
  return logSnrTensor(Array.from({ length: batch }, () => row));
}

/** x̂ [B, W − n_cln, H, W, C] of the frames after `context` (its last n_cln frames, [B, ≥ n_cln, H, W, C]). */
export function msePredict(model: DenoiserNetwork, params: unknown, preset: Preset, context: Tensor): Tensor {
  const { window, cleanFrames } = preset;
  const n = context.shape[1]!;
  if (context.rank !== 5 || n < cleanFrames) throw new Error(`mse baseline: context must be [batch, ≥ ${cleanFrames} frames, height, width, channels], got [${context.shape}]`);
  return tidy(() => predictFrames(model, params, preset, context));
}

/** `msePredict` without its scope, for inside the loss (the gradient's tape keeps what it needs). */
function predictFrames(model: DenoiserNetwork, params: unknown, preset: Preset, context: Tensor): Tensor {
  const { window, cleanFrames } = preset;
  const n = context.shape[1]!;
  const batch = context.shape[0]!;
  const given = sliceAxis(context, 1, n - cleanFrames, n);
  const z = concat([given, zeros([batch, window - cleanFrames, ...context.shape.slice(2)])], 1);
  const out = model.apply(params, z, inputLogSnr(preset, batch));
  return sliceAxis(out, 1, cleanFrames, window);
}

/**
 * The training loss of the MSE rows: the mean over the batch, the W − n_cln predicted frames and
 * their values of (x − x̂)². Deterministic: the key is taken for the trainer's signature only.
 */
export function mseLoss(model: DenoiserNetwork, preset: Preset): (params: unknown, key: Key, batch: Tensor) => Tensor {
  const { window, cleanFrames } = preset;
  if (!(Number.isInteger(cleanFrames) && cleanFrames >= 1 && cleanFrames < window)) {
    throw new Error(`mse baseline: needs 1 ≤ clean frames < window, got ${cleanFrames} of ${window}; the model predicts from the clean frames`);
  }
  return (params, _key, x) => {
    if (x.rank !== 5 || x.shape[1] !== window) throw new Error(`mse baseline: the batch must be [batch, ${window} frames, height, width, channels], got [${x.shape}]`);
    const predicted = predictFrames(model, params, preset, sliceAxis(x, 1, 0, cleanFrames));
    return mean(square(sub(sliceAxis(x, 1, cleanFrames, window), predicted)));
  };
}

/**
 * The autoregressive rollout: `frames` frames [B, frames, H, W, C] after `context`, W − n_cln at a
 * time, each block predicted from the last n_cln frames so far. `onFrame(i)` is told per frame.
 */
export function mseRollout(o: { model: DenoiserNetwork; params: unknown; preset: Preset; context: Tensor; frames: number; onFrame?: (index: number) => void }): Tensor {
  const { preset, frames } = o;
  if (!(Number.isInteger(frames) && frames >= 1)) throw new Error(`mse rollout: frames must be a positive integer, got ${frames}`);
  const blocks: Tensor[] = [];
  let context = o.context;
  let made = 0;
  try {
    while (made < frames) {
      const block = msePredict(o.model, o.params, preset, context);
      const take = Math.min(block.shape[1]!, frames - made);
      const kept = take === block.shape[1]! ? block : tidy(() => sliceAxis(block, 1, 0, take));
      if (kept !== block) block.dispose();
      blocks.push(kept);
      const next = tidy(() => {
        const all = concat([context, kept], 1);
        const n = all.shape[1]!;
        return sliceAxis(all, 1, n - preset.cleanFrames, n);
      });
      if (context !== o.context) context.dispose();
      context = next;
      for (let i = 0; i < take; i++) {
        made++;
        o.onFrame?.(made);
      }
    }
    // One block is the video itself (sliceAxis would hand back the same tensor, which `finally` frees).
    return blocks.length === 1 ? keep(blocks.pop()!) : keep(tidy(() => concat(blocks, 1)));
  } finally {
    if (context !== o.context) context.dispose();
    dispose(blocks);
  }
}
