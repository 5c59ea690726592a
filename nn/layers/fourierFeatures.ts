/**
 * Sinusoidal features of a scalar per position, here the logSNR of each frame: [..., ] → [..., dim],
 * `[sin(λ f₀), …, sin(λ f_{d/2−1}), cos(λ f₀), …]` with frequencies spaced geometrically between
 * `minFrequency` and `maxFrequency` (radians per unit of logSNR). Fixed, not learned (as the
 * transformer's and VDM's timestep embeddings): the learned part is the MLP that follows. With
 * the defaults the slowest period (~200) exceeds any logSNR range in use, and the fastest
 * (~1.6) still separates noise levels a few tenths apart.
 */
import { concat, cos, expandDims, mul, sin, tensor, type Key, type Tensor } from '../../core/index.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface FourierFeaturesConfig {
  /** Even number of output features. */
  dim: number;
  minFrequency?: number;
  maxFrequency?: number;
}

export type FourierFeaturesParams = Record<string, never>;

export function fourierFeatures(config: FourierFeaturesConfig): Layer<FourierFeaturesParams> {
  const dim = positiveInteger('fourierFeatures', 'dim', config.dim);
  if (dim % 2 !== 0) throw new Error(`fourierFeatures: dim must be even (sin and cos pairs), got ${dim}`);
  const lo = config.minFrequency ?? 1 / 32;
  const hi = config.maxFrequency ?? 4;
  if (!(lo > 0 && hi >= lo)) throw new Error(`fourierFeatures: need 0 < minFrequency ≤ maxFrequency, got ${lo}, ${hi}`);
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => (half === 1 ? lo : lo * (hi / lo) ** (i / (half - 1))));
  return scopedLayer({
    init(_key: Key): FourierFeaturesParams {
      return {};
    },
    apply(_params: FourierFeaturesParams, x: Tensor): Tensor {
      const angles = mul(expandDims(x, -1), tensor(freqs));
      return concat([sin(angles), cos(angles)], -1);
    },
  });
}
