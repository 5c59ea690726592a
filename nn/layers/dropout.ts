/**
 * Dropout (Srivastava et al. 2014), inverted: kept units are scaled by 1/(1 − rate) when training so
 * that evaluation is the identity. The mask is drawn from the key passed to `apply`, never from a
 * hidden source, so a training step is reproducible from its key.
 */
import { bernoulli, div, where, type Key, type Tensor } from '../../core/index.js';
import { scopedLayer, type Layer, type RunOptions } from './layer.js';

export interface DropoutConfig {
  rate: number;
}

export type DropoutParams = Record<string, never>;

export function dropout(config: DropoutConfig): Layer<DropoutParams> {
  const { rate } = config;
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: rate must be in [0, 1), got ${rate}`);
  return scopedLayer({
    init(_key: Key): DropoutParams {
      return {};
    },
    apply(_params: DropoutParams, x: Tensor, options: RunOptions = {}): Tensor {
      if (!options.training || rate === 0) return x;
      if (!options.key) throw new Error('dropout: training mode needs a key (apply(params, x, { training: true, key }))');
      return where(bernoulli(options.key, 1 - rate, x.shape), div(x, 1 - rate), 0);
    },
  });
}
