/** Layer normalisation over the last axis (Ba et al. 2016), with Flax's defaults (ε = 1e-6). */
import { add, mean, mul, rsqrt, square, sub, type Key, type Tensor } from '../../core/index.js';
import { onesInit, zerosInit } from './init.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface LayerNormConfig {
  features: number;
  epsilon?: number;
  /** Learned per-feature scale (default true). */
  useScale?: boolean;
  /** Learned per-feature offset (default true). */
  useBias?: boolean;
}

export interface LayerNormParams {
  scale?: Tensor;
  bias?: Tensor;
}

export function layerNorm(config: LayerNormConfig): Layer<LayerNormParams> {
  const features = positiveInteger('layerNorm', 'features', config.features);
  const epsilon = config.epsilon ?? 1e-6;
  const useScale = config.useScale ?? true;
  const useBias = config.useBias ?? true;
  return scopedLayer({
    init(_key: Key): LayerNormParams {
      const p: { scale?: Tensor; bias?: Tensor } = {};
      if (useScale) p.scale = onesInit(_key, [features]);
      if (useBias) p.bias = zerosInit(_key, [features]);
      return p;
    },
    apply(params: LayerNormParams, x: Tensor): Tensor {
      if (x.shape[x.rank - 1] !== features) throw new Error(`layerNorm: expected ${features} features in the last axis, got shape [${x.shape}]`);
      const centred = sub(x, mean(x, -1, true));
      let factor = rsqrt(add(mean(square(centred), -1, true), epsilon));
      // Folding the scale into the per-row factor first saves one pass over the activations.
      if (params.scale) factor = mul(factor, params.scale);
      const y = mul(centred, factor);
      return params.bias ? add(y, params.bias) : y;
    },
  });
}
