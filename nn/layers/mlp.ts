/** Two dense layers with an activation between (the transformer's feed-forward block). */
import { gelu, split, type Key, type Tensor } from '../../core/index.js';
import { dropout as dropoutLayer } from './dropout.js';
import type { Initializer } from './init.js';
import { scopedLayer, type Layer, type RunOptions } from './layer.js';
import { linear, type LinearParams } from './linear.js';

export interface MlpConfig {
  inFeatures: number;
  hiddenFeatures: number;
  /** Default `inFeatures`. */
  outFeatures?: number;
  /** Default the exact GELU. */
  activation?: (x: Tensor) => Tensor;
  /** Dropout on the hidden units when training (default 0). */
  dropout?: number;
  /** Initialiser of the output layer's kernel (e.g. `zerosInit` for a block that starts as identity). */
  outKernelInit?: Initializer;
}

export interface MlpParams {
  hidden: LinearParams;
  out: LinearParams;
}

export function mlp(config: MlpConfig): Layer<MlpParams> {
  const hidden = linear({ inFeatures: config.inFeatures, outFeatures: config.hiddenFeatures });
  const out = linear({ inFeatures: config.hiddenFeatures, outFeatures: config.outFeatures ?? config.inFeatures, kernelInit: config.outKernelInit });
  const act = config.activation ?? gelu;
  const drop = dropoutLayer({ rate: config.dropout ?? 0 });
  return scopedLayer({
    init(key: Key): MlpParams {
      const [k1, k2] = split(key, 2);
      return { hidden: hidden.init(k1!), out: out.init(k2!) };
    },
    apply(params: MlpParams, x: Tensor, options: RunOptions = {}): Tensor {
      const h = drop.apply({}, act(hidden.apply(params.hidden, x)), options);
      return out.apply(params.out, h);
    },
  });
}
