/**
 * The transformer block of the U-ViT's lowest resolution, factorised over space and time as in the
 * paper's axial blocks: the per-frame conditioning is added to the residual stream, then
 * pre-norm spatial attention, pre-norm temporal attention and a pre-norm MLP, each residual.
 * Video is [batch, frames, height, width, dim]; `cond` is [batch, frames, condDim].
 */
import { add, reshape, split, type Key, type Tensor } from '../../core/index.js';
import { causalMask, type AttentionParams } from './attention.js';
import { spatialAttention, temporalAttention } from './axialAttention.js';
import { layerNorm, type LayerNormParams } from './layerNorm.js';
import { scopedLayer, type RunOptions } from './layer.js';
import { linear, type LinearParams } from './linear.js';
import { mlp, type MlpParams } from './mlp.js';
import type { ConditionedLayer } from './resBlock.js';

export interface VideoTransformerBlockConfig {
  dim: number;
  heads: number;
  /** Hidden width of the MLP as a multiple of dim (default 4). */
  mlpRatio?: number;
  condDim: number;
  dropout?: number;
  /** Frames attend only to themselves and earlier frames (default false: the whole window). */
  causal?: boolean;
}

export interface VideoTransformerBlockParams {
  cond: LinearParams;
  spatialNorm: LayerNormParams;
  spatial: AttentionParams;
  temporalNorm: LayerNormParams;
  temporal: AttentionParams;
  mlpNorm: LayerNormParams;
  mlp: MlpParams;
}

export function videoTransformerBlock(config: VideoTransformerBlockConfig): ConditionedLayer<VideoTransformerBlockParams> {
  const { dim, heads, condDim } = config;
  const cond = linear({ inFeatures: condDim, outFeatures: dim });
  const norm = layerNorm({ features: dim });
  const spatial = spatialAttention({ dim, heads });
  const temporal = temporalAttention({ dim, heads });
  const ff = mlp({ inFeatures: dim, hiddenFeatures: Math.round(dim * (config.mlpRatio ?? 4)), dropout: config.dropout });
  return scopedLayer({
    init(key: Key): VideoTransformerBlockParams {
      const k = split(key, 7);
      return {
        cond: cond.init(k[0]!),
        spatialNorm: norm.init(k[1]!),
        spatial: spatial.init(k[2]!),
        temporalNorm: norm.init(k[3]!),
        temporal: temporal.init(k[4]!),
        mlpNorm: norm.init(k[5]!),
        mlp: ff.init(k[6]!),
      };
    },
    apply(params: VideoTransformerBlockParams, x: Tensor, c: Tensor, options: RunOptions = {}): Tensor {
      const [b, t] = x.shape as [number, number];
      let h = add(x, reshape(cond.apply(params.cond, c), [b, t, 1, 1, dim]));
      h = add(h, spatial.apply(params.spatial, norm.apply(params.spatialNorm, h)));
      h = add(h, temporal.apply(params.temporal, norm.apply(params.temporalNorm, h), config.causal ? { mask: causalMask(t) } : {}));
      return add(h, ff.apply(params.mlp, norm.apply(params.mlpNorm, h), options));
    },
  });
}
