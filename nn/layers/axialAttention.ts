/**
 * Axial (factorised) attention on video [batch, frames, height, width, channels], as in the paper's
 * deepest U-ViT blocks: `spatialAttention` attends over the height·width positions of each frame,
 * `temporalAttention` over the frames at each position. Both are `attention` with the video folded
 * so that the attended axis is the token axis; they share its parameters' layout.
 */
import { reshape, transpose, type Key, type Tensor } from '../../core/index.js';
import { attention, type AttentionConfig, type AttentionOptions, type AttentionParams } from './attention.js';
import { scopedLayer, type Layer } from './layer.js';

function checkVideo(layer: string, x: Tensor): void {
  if (x.rank !== 5) throw new Error(`${layer}: expected video [batch, frames, height, width, channels], got [${x.shape}]`);
}

/** Attention over space within each frame; a mask, if given, is over the height·width tokens. */
export function spatialAttention(config: AttentionConfig): Layer<AttentionParams, Tensor, Tensor, AttentionOptions> {
  const inner = attention(config);
  return scopedLayer({
    init(key: Key): AttentionParams {
      return inner.init(key);
    },
    apply(params: AttentionParams, x: Tensor, options?: AttentionOptions): Tensor {
      checkVideo('spatialAttention', x);
      const [b, t, h, w, c] = x.shape as [number, number, number, number, number];
      return reshape(inner.apply(params, reshape(x, [b, t, h * w, c]), options), x.shape);
    },
  });
}

/** Attention over time at each position; a mask, if given, is [frames, frames] (e.g. `causalMask`). */
export function temporalAttention(config: AttentionConfig): Layer<AttentionParams, Tensor, Tensor, AttentionOptions> {
  const inner = attention(config);
  return scopedLayer({
    init(key: Key): AttentionParams {
      return inner.init(key);
    },
    apply(params: AttentionParams, x: Tensor, options?: AttentionOptions): Tensor {
      checkVideo('temporalAttention', x);
      const perPixel = transpose(x, [0, 2, 3, 1, 4]); // [b, h, w, t, c]
      return transpose(inner.apply(params, perPixel, options), [0, 3, 1, 2, 4]);
    },
  });
}
