/**
 * The convolutional residual block of the U-ViT's high-resolution levels (as in simple diffusion
 * and DDPM's U-Net): GroupNorm → SiLU → 3×3 conv, plus a per-image conditioning vector projected to
 * the channels and added, then GroupNorm → SiLU → dropout → 3×3 conv, added to the input (through a
 * 1×1 conv when the channel count changes). Images are [N, H, W, C]; for video N is batch·frames,
 * and `cond` [N, condDim] carries each frame's own noise level.
 */
import { add, reshape, silu, split, type Key, type Tensor } from '../../core/index.js';
import { conv2d, type Conv2dParams } from './conv2d.js';
import { dropout as dropoutLayer } from './dropout.js';
import { groupNorm, type GroupNormParams } from './groupNorm.js';
import { scopedLayer, type RunOptions } from './layer.js';
import { linear, type LinearParams } from './linear.js';

export interface ResBlockConfig {
  inChannels: number;
  outChannels: number;
  /** Width of the conditioning vector (already passed through SiLU by the caller). */
  condDim: number;
  /** GroupNorm groups; must divide both channel counts. */
  groups: number;
  dropout?: number;
}

export interface ResBlockParams {
  norm1: GroupNormParams;
  conv1: Conv2dParams;
  cond: LinearParams;
  norm2: GroupNormParams;
  conv2: Conv2dParams;
  skip?: Conv2dParams;
}

/** A layer whose `apply` also takes a conditioning tensor. */
export interface ConditionedLayer<P> {
  init(key: Key): P;
  apply(params: P, x: Tensor, cond: Tensor, options?: RunOptions): Tensor;
}

export function resBlock(config: ResBlockConfig): ConditionedLayer<ResBlockParams> {
  const { inChannels, outChannels, condDim, groups } = config;
  const norm1 = groupNorm({ channels: inChannels, groups });
  const conv1 = conv2d({ inChannels, outChannels, kernelSize: 3 });
  const cond = linear({ inFeatures: condDim, outFeatures: outChannels });
  const norm2 = groupNorm({ channels: outChannels, groups });
  const conv2 = conv2d({ inChannels: outChannels, outChannels, kernelSize: 3 });
  const skip = inChannels === outChannels ? null : conv2d({ inChannels, outChannels, kernelSize: 1 });
  const drop = dropoutLayer({ rate: config.dropout ?? 0 });
  return scopedLayer({
    init(key: Key): ResBlockParams {
      const [kn1, kc1, kc, kn2, kc2, ks] = split(key, 6);
      const p: ResBlockParams = { norm1: norm1.init(kn1!), conv1: conv1.init(kc1!), cond: cond.init(kc!), norm2: norm2.init(kn2!), conv2: conv2.init(kc2!) };
      if (skip) p.skip = skip.init(ks!);
      return p;
    },
    apply(params: ResBlockParams, x: Tensor, c: Tensor, options: RunOptions = {}): Tensor {
      const n = x.shape[0]!;
      let h = conv1.apply(params.conv1, silu(norm1.apply(params.norm1, x)));
      h = add(h, reshape(cond.apply(params.cond, c), [n, 1, 1, outChannels]));
      h = drop.apply({}, silu(norm2.apply(params.norm2, h)), options);
      h = conv2.apply(params.conv2, h);
      return add(skip ? skip.apply(params.skip!, x) : x, h);
    },
  });
}
