/**
 * Parameter initialisers, following Flax's (`jax.nn.initializers`) definitions: the layers in this
 * folder use Flax's defaults (LeCun-normal kernels, zero biases, unit norm scales), so a model
 * initialised here is statistically the model Flax would initialise, which is what the paper's
 * code base (JAX) used. An initialiser maps a key and a shape to a tensor.
 *
 * | initialiser            | distribution                          | variance        | as in                              |
 * |------------------------|---------------------------------------|-----------------|------------------------------------|
 * | `lecunNormal()`        | normal truncated at ±2σ, rescaled     | 1 / fanIn       | Flax default kernels               |
 * | `heNormal()`           | normal truncated at ±2σ, rescaled     | 2 / fanIn       | `jax.nn.initializers.he_normal`    |
 * | `glorotUniform()`      | U(±√(6 / (fanIn + fanOut)))           | 2/(fanIn+fanOut)| Keras/Flax `glorot_uniform`        |
 * | `kaimingUniformSqrt5()`| U(±1/√fanIn)                          | 1 / (3 fanIn)   | PyTorch Linear/Conv2d weights      |
 * | `torchBiasInit(fanIn)` | U(±1/√fanIn)                          | 1 / (3 fanIn)   | PyTorch Linear/Conv2d biases       |
 * | `zerosInit`, `onesInit`| constant                              | 0               | Flax biases, norm scales           |
 *
 * Fans follow JAX: for an HWIO convolution kernel fanIn = kh·kw·in and fanOut = kh·kw·out.
 */
import { clip, erfinv, mul, normal, ones, tidy, uniform, zeros, type Key, type Tensor } from '../../core/index.js';

export type Initializer = (key: Key, shape: readonly number[]) => Tensor;

export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';
export type Distribution = 'truncatedNormal' | 'normal' | 'uniform';

/**
 * Fans as JAX computes them: the receptive field is the size divided by the `inAxis` and `outAxis`
 * extents, so for an HWIO convolution kernel fanIn = kh·kw·in and fanOut = kh·kw·out.
 */
export function fans(shape: readonly number[], inAxis = -2, outAxis = -1): { fanIn: number; fanOut: number } {
  if (shape.length < 1) throw new Error('fans: a kernel needs at least one axis');
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  const r = shape.length;
  const inExtent = shape[inAxis < 0 ? inAxis + r : inAxis]!;
  const outExtent = shape[outAxis < 0 ? outAxis + r : outAxis]!;
  const receptive = shape.reduce((n, d) => n * d, 1) / inExtent / outExtent;
  return { fanIn: inExtent * receptive, fanOut: outExtent * receptive };
}

/** Standard normal truncated to [-2, 2] by inverse-CDF sampling (JAX's `truncated_normal`). */
export function truncatedNormal(key: Key, shape: readonly number[], lower = -2, upper = 2): Tensor {
  const a = erfHost(lower / Math.SQRT2);
  const b = erfHost(upper / Math.SQRT2);
  // Rounding can land exactly on ±1 where erfinv is infinite; clipping to the bounds matches JAX.
  return tidy(() => clip(mul(erfinv(uniform(key, shape, a, b)), Math.SQRT2), lower, upper));
}

/**
 * JAX's `variance_scaling`: variance `scale / fan`, drawn from a normal (truncated at two standard
 * deviations and rescaled by 0.8796…, the standard deviation of such a truncated normal, so the
 * variance is exact), a normal, or a uniform distribution.
 */
export function varianceScaling(scale: number, mode: FanMode, distribution: Distribution, inAxis = -2, outAxis = -1): Initializer {
  return (key, shape) => tidy(() => {
    const { fanIn, fanOut } = fans(shape, inAxis, outAxis);
    const fan = mode === 'fanIn' ? fanIn : mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
    const variance = scale / Math.max(1, fan);
    switch (distribution) {
      case 'truncatedNormal':
        return mul(truncatedNormal(key, shape), Math.sqrt(variance) / 0.87962566103423978);
      case 'normal':
        return mul(normal(key, shape), Math.sqrt(variance));
      case 'uniform': {
        const limit = Math.sqrt(3 * variance);
        return uniform(key, shape, -limit, limit);
      }
    }
  });
}

/** Flax's default kernel initialiser (Dense, Conv, attention projections). */
export const lecunNormal = (): Initializer => varianceScaling(1, 'fanIn', 'truncatedNormal');
export const heNormal = (): Initializer => varianceScaling(2, 'fanIn', 'truncatedNormal');
export const glorotUniform = (): Initializer => varianceScaling(1, 'fanAvg', 'uniform');
/** PyTorch's nn.Linear / nn.Conv2d default, kaiming_uniform(a=√5): U(±1/√fanIn). */
export const kaimingUniformSqrt5 = (): Initializer => varianceScaling(1 / 3, 'fanIn', 'uniform');
/**
 * PyTorch's nn.Linear / nn.Conv2d bias default, U(±1/√fanIn), where fanIn is the layer's (not the
 * bias's): `linear({ ..., biasInit: torchBiasInit(inFeatures) })`; for a conv, fanIn = kh·kw·in.
 */
export const torchBiasInit = (fanIn: number): Initializer => {
  if (!Number.isInteger(fanIn) || fanIn < 1) throw new Error(`torchBiasInit: fanIn must be a positive integer, got ${fanIn}`);
  const bound = 1 / Math.sqrt(fanIn);
  return (key, shape) => uniform(key, shape, -bound, bound);
};
export const normalInit = (stddev: number): Initializer => (key, shape) => tidy(() => mul(normal(key, shape), stddev));
// Scoped so that the scalar a fill broadcasts from does not outlive the call.
export const zerosInit: Initializer = (_key, shape) => tidy(() => zeros(shape));
export const onesInit: Initializer = (_key, shape) => tidy(() => ones(shape));

/**
 * erf in float64 on the host: the truncation bounds are constants, computing them needs no tensor.
 * @internal Exported for its known-answer test.
 */
export function erfHost(x: number): number {
  // Maclaurin series converges fast for |x| ≤ 3, which covers every bound used here (±2/√2).
  if (Math.abs(x) > 3) return Math.sign(x) * (1 - erfcLarge(Math.abs(x)));
  let sum = x;
  let term = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function erfcLarge(x: number): number {
  // Continued fraction for erfc, accurate for x > 3.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}
