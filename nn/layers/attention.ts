/**
 * Multi-head dot-product self-attention (Vaswani et al. 2017) over the second-to-last axis:
 * x [..., length, dim] → [..., length, dim]; every leading axis is a batch axis. Parameters as Flax's
 * `MultiHeadDotProductAttention` (separate query/key/value/out projections, LeCun-normal kernels).
 *
 * `mask` broadcasts against the scores [..., heads, length, length] (query × key): a bool mask says
 * which keys each query may attend to; a float mask is added to the scores (0 or −∞ / a large
 * negative number). Without a mask the layer is permutation-equivariant over the tokens.
 */
import { add, matmul, mul, reshape, softmax, split, tensor, transpose, where, type Key, type Tensor } from '../../core/index.js';
import type { Initializer } from './init.js';
import { positiveInteger, type Layer, type RunOptions, scopedLayer } from './layer.js';
import { linear, type LinearParams } from './linear.js';

export interface AttentionConfig {
  dim: number;
  heads: number;
  /** Default dim / heads. */
  headDim?: number;
  /** Biases on the four projections (default true). */
  bias?: boolean;
  /** Initialiser of the output projection (e.g. `zerosInit` for a residual branch that starts at 0). */
  outKernelInit?: Initializer;
}

export interface AttentionParams {
  query: LinearParams;
  key: LinearParams;
  value: LinearParams;
  out: LinearParams;
}

export interface AttentionOptions extends RunOptions {
  readonly mask?: Tensor;
}

/**
 * Masked-out scores become this rather than −∞: a fully masked row then gives uniform weights
 * instead of NaN, and exp(−1e9 − max) is exactly 0 in float32, so masked keys have no influence.
 */
const MASKED = -1e9;

export function attention(config: AttentionConfig): Layer<AttentionParams, Tensor, Tensor, AttentionOptions> {
  const dim = positiveInteger('attention', 'dim', config.dim);
  const heads = positiveInteger('attention', 'heads', config.heads);
  if (config.headDim === undefined && dim % heads !== 0) throw new Error(`attention: ${heads} heads do not divide dim ${dim}; pass headDim`);
  const headDim = positiveInteger('attention', 'headDim', config.headDim ?? dim / heads);
  const inner = heads * headDim;
  const bias = config.bias ?? true;
  const q = linear({ inFeatures: dim, outFeatures: inner, bias });
  const k = linear({ inFeatures: dim, outFeatures: inner, bias });
  const v = linear({ inFeatures: dim, outFeatures: inner, bias });
  const o = linear({ inFeatures: inner, outFeatures: dim, bias, kernelInit: config.outKernelInit });
  return scopedLayer({
    init(key: Key): AttentionParams {
      const [kq, kk, kv, ko] = split(key, 4);
      return { query: q.init(kq!), key: k.init(kk!), value: v.init(kv!), out: o.init(ko!) };
    },
    apply(params: AttentionParams, x: Tensor, options: AttentionOptions = {}): Tensor {
      if (x.rank < 2 || x.shape[x.rank - 1] !== dim) throw new Error(`attention: expected [..., length, ${dim}], got [${x.shape}]`);
      const lead = x.shape.slice(0, -2);
      const length = x.shape[x.rank - 2]!;
      const x3 = reshape(x, [-1, length, dim]);
      const n = x3.shape[0]!;
      const perHead = (t: Tensor) => reshape(t, [n, length, heads, headDim]);
      // Queries carry the 1/√d scaling: length·headDim multiplies instead of length².
      const query = transpose(perHead(mul(q.apply(params.query, x3), 1 / Math.sqrt(headDim))), [0, 2, 1, 3]);
      const keyT = transpose(perHead(k.apply(params.key, x3)), [0, 2, 3, 1]);
      const value = transpose(perHead(v.apply(params.value, x3)), [0, 2, 1, 3]);
      let scores = matmul(query, keyT); // [n, heads, length, length]
      if (options.mask) scores = applyMask(scores, options.mask, lead, heads, length);
      const mixed = matmul(softmax(scores, -1), value); // [n, heads, length, headDim]
      const merged = reshape(transpose(mixed, [0, 2, 1, 3]), [n, length, inner]);
      return reshape(o.apply(params.out, merged), x.shape);
    },
  });
}

function applyMask(scores: Tensor, mask: Tensor, lead: readonly number[], heads: number, length: number): Tensor {
  const full = reshape(scores, [...lead, heads, length, length]);
  const masked = mask.dtype === 'bool' ? where(mask, full, MASKED) : add(full, mask);
  if (masked.rank !== full.rank) throw new Error(`attention: mask [${mask.shape}] has more axes than the scores [${full.shape}]`);
  return reshape(masked, scores.shape);
}

/** Lower-triangular bool mask: query t may attend to keys 0..t (autoregressive attention). */
export function causalMask(length: number): Tensor {
  const m = new Uint8Array(length * length);
  for (let i = 0; i < length; i++) for (let j = 0; j <= i; j++) m[i * length + j] = 1;
  return tensor(m, [length, length], 'bool');
}
