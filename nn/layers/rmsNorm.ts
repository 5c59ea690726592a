/** Root-mean-square normalisation over the last axis (Zhang & Sennrich 2019): no centring, no bias. */
import { add, mean, mul, rsqrt, square, type Key, type Tensor } from '../../core/index.js';
import { onesInit } from './init.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface RmsNormConfig {
  features: number;
  epsilon?: number;
}

export interface RmsNormParams {
  scale: Tensor;
}

export function rmsNorm(config: RmsNormConfig): Layer<RmsNormParams> {
  const features = positiveInteger('rmsNorm', 'features', config.features);
  const epsilon = config.epsilon ?? 1e-6;
  return scopedLayer({
    init(_key: Key): RmsNormParams {
      return { scale: onesInit(_key, [features]) };
    },
    apply(params: RmsNormParams, x: Tensor): Tensor {
      if (x.shape[x.rank - 1] !== features) throw new Error(`rmsNorm: expected ${features} features in the last axis, got shape [${x.shape}]`);
      return mul(x, mul(rsqrt(add(mean(square(x), -1, true), epsilon)), params.scale));
    },
  });
}
