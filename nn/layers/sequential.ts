/**
 * Composition: `sequential(a, b, c)` applies a, then b, then c. Its parameters are the array of the
 * layers' parameters, so `params[1]` belongs to the second layer. A key passed to `apply` is folded
 * with the layer's index, giving every layer its own stream.
 */
import { foldIn, type Key, type Tensor } from '../../core/index.js';
import { scopedLayer, type Layer, type ParamsOf, type RunOptions } from './layer.js';

export type AnyLayer = Layer<unknown, Tensor, Tensor, RunOptions>;

export function sequential<Ls extends readonly AnyLayer[]>(...layers: Ls): Layer<{ -readonly [K in keyof Ls]: ParamsOf<Ls[K]> }> {
  type P = { -readonly [K in keyof Ls]: ParamsOf<Ls[K]> };
  return scopedLayer({
    init(key: Key): P {
      return layers.map((l, i) => l.init(foldIn(key, i))) as unknown as P;
    },
    apply(params: P, x: Tensor, options: RunOptions = {}): Tensor {
      const ps = params as unknown as readonly unknown[];
      if (ps.length !== layers.length) throw new Error(`sequential: ${layers.length} layers but ${ps.length} parameter sets`);
      return layers.reduce((h, l, i) => l.apply(ps[i], h, options.key ? { ...options, key: foldIn(options.key, i) } : options), x);
    },
  });
}

/** A parameter-free layer from a function (an activation, a reshape) for use in `sequential`. */
export function activation(fn: (x: Tensor) => Tensor): Layer<Record<string, never>> {
  return scopedLayer({
    init(_key: Key): Record<string, never> {
      return {};
    },
    apply(_params: Record<string, never>, x: Tensor): Tensor {
      return fn(x);
    },
  });
}
