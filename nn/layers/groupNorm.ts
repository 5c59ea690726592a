/**
 * Group normalisation (Wu & He 2018) on channels-last tensors: the channels are split into `groups`
 * and each group is normalised over its channels and every non-batch axis (the spatial ones).
 * The leading `batchDims` axes are the batch (default 1: [N, H, W, C]; 2 for per-frame statistics
 * on video [B, T, H, W, C]). Flax's default ε = 1e-6.
 */
import { add, mean, mul, reshape, rsqrt, square, sub, type Key, type Tensor } from '../../core/index.js';
import { onesInit, zerosInit } from './init.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface GroupNormConfig {
  channels: number;
  /** Default 32, as in Flax and the GroupNorm paper; must divide `channels`. */
  groups?: number;
  epsilon?: number;
  batchDims?: number;
}

export interface GroupNormParams {
  scale: Tensor;
  bias: Tensor;
}

export function groupNorm(config: GroupNormConfig): Layer<GroupNormParams> {
  const channels = positiveInteger('groupNorm', 'channels', config.channels);
  const groups = positiveInteger('groupNorm', 'groups', config.groups ?? 32);
  if (channels % groups !== 0) throw new Error(`groupNorm: ${groups} groups do not divide ${channels} channels`);
  const epsilon = config.epsilon ?? 1e-6;
  const batchDims = config.batchDims ?? 1;
  return scopedLayer({
    init(_key: Key): GroupNormParams {
      return { scale: onesInit(_key, [channels]), bias: zerosInit(_key, [channels]) };
    },
    apply(params: GroupNormParams, x: Tensor): Tensor {
      if (x.shape[x.rank - 1] !== channels) throw new Error(`groupNorm: expected ${channels} channels in the last axis, got shape [${x.shape}]`);
      if (x.rank < batchDims + 1) throw new Error(`groupNorm: shape [${x.shape}] has no axes beyond the ${batchDims} batch axes`);
      const lead = x.shape.slice(0, batchDims);
      const grouped = reshape(x, [...lead, -1, groups, channels / groups]);
      const axes = [batchDims, batchDims + 2];
      const centred = sub(grouped, mean(grouped, axes, true));
      const inv = rsqrt(add(mean(square(centred), axes, true), epsilon));
      // Scale folded into the per-group factor: one full-size multiply instead of two.
      const factor = mul(inv, reshape(params.scale, [groups, channels / groups]));
      const y = reshape(mul(centred, factor), x.shape);
      return add(y, params.bias);
    },
  });
}
