/** A dense layer, y = x W + b, over the last axis (Flax's `Dense`: kernel [in, out]). */
import { add, matmul, split, type Key, type Tensor } from '../../core/index.js';
import { lecunNormal, zerosInit, type Initializer } from './init.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Default true. */
  bias?: boolean;
  /** Default LeCun normal (Flax); `zerosInit` gives a layer whose output starts at zero. */
  kernelInit?: Initializer;
  biasInit?: Initializer;
}

export interface LinearParams {
  weight: Tensor;
  bias?: Tensor;
}

export function linear(config: LinearConfig): Layer<LinearParams> {
  const inF = positiveInteger('linear', 'inFeatures', config.inFeatures);
  const outF = positiveInteger('linear', 'outFeatures', config.outFeatures);
  const useBias = config.bias ?? true;
  const kernelInit = config.kernelInit ?? lecunNormal();
  const biasInit = config.biasInit ?? zerosInit;
  return scopedLayer({
    init(key: Key): LinearParams {
      const [kWeight, kBias] = split(key, 2);
      const weight = kernelInit(kWeight!, [inF, outF]);
      return useBias ? { weight, bias: biasInit(kBias!, [outF]) } : { weight };
    },
    apply(params: LinearParams, x: Tensor): Tensor {
      if (x.shape[x.rank - 1] !== inF) throw new Error(`linear: expected ${inF} input features in the last axis, got shape [${x.shape}]`);
      const y = matmul(x, params.weight);
      return params.bias ? add(y, params.bias) : y;
    },
  });
}
