/** The denoiser a preset trains: the U-ViT of nn/uvit.ts sized by the preset and the data's channels. */
import type { Key } from '../core/index.js';
import type { Model } from '../diffusion/index.js';
import { uvit, uvitPresets, type UViTConfig } from '../nn/index.js';
import type { Preset } from './presets.js';

/**
 * A denoising network as a layer: `init` its parameters, `apply` them (a diffusion `Model`). With its
 * parameters bound, `(z, logSnr) => apply(params, z, logSnr)` is diffusion's `Denoiser`, the closure
 * the samplers call.
 */
export interface DenoiserNetwork {
  init(key: Key): unknown;
  readonly apply: Model<unknown>;
}

/**
 * Dropout is not applied during training here (the `small` preset's 0.1 is left to the layer's
 * inference mode): the training loss of diffusion/training.ts takes no dropout key. A recorded
 * simplification, not a claim about the paper's setting.
 */
export function buildModel(preset: Preset, frameShape: readonly [number, number, number], overrides: Partial<UViTConfig> = {}): DenoiserNetwork {
  const net = uvit({
    ...uvitPresets[preset.model],
    inChannels: frameShape[2],
    ...(preset.patchSize ? { patchSize: preset.patchSize } : {}),
    ...(preset.channels ? { channels: [...preset.channels] } : {}),
    ...overrides,
  });
  return {
    init: (k) => net.init(k),
    apply: (params, z, logSnr) => net.apply(params as ReturnType<typeof net.init>, z, logSnr),
  };
}
