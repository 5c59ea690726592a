/**
 * A lookup table: integer ids of any shape → [..., features]. Initialised as Flax's `Embed`
 * (`variance_scaling(1, 'fan_in', 'normal', out_axis=0)`, which works out to N(0, 1/features)).
 */
import { take, type Key, type Tensor } from '../../core/index.js';
import { varianceScaling, type Initializer } from './init.js';
import { positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface EmbeddingConfig {
  numEmbeddings: number;
  features: number;
  embeddingInit?: Initializer;
}

export interface EmbeddingParams {
  table: Tensor;
}

export function embedding(config: EmbeddingConfig): Layer<EmbeddingParams> {
  const n = positiveInteger('embedding', 'numEmbeddings', config.numEmbeddings);
  const features = positiveInteger('embedding', 'features', config.features);
  const init = config.embeddingInit ?? varianceScaling(1, 'fanIn', 'normal', -2, 0);
  return scopedLayer({
    init(key: Key): EmbeddingParams {
      return { table: init(key, [n, features]) };
    },
    apply(params: EmbeddingParams, ids: Tensor): Tensor {
      if (ids.dtype === 'float32') throw new Error(`embedding: ids must be int32 or uint32, got float32 [${ids.shape}]`);
      return take(params.table, ids, 0);
    },
  });
}
