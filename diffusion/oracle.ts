/**
 * Exact denoisers for data whose distribution is known, used to test samplers without training.
 */
import { div, mul, square, sub, add, type Tensor } from '../core';
import { alphaSigma } from './process';
import type { Denoiser } from './sampling';

/**
 * MATH.md: for data with every pixel independent N(μ, s²), E[v | z] = σ (α (1 − s²)(z − αμ)/D − μ),
 * D = α² s² + σ². A sampler driven by it must produce frames with mean μ and variance s².
 */
export function gaussianOracleDenoiser(mean: number, std: number): Denoiser {
  const s2 = std * std;
  return (z, logSnr) => {
    const { alpha, sigma } = alphaSigma(logSnr, z.rank);
    const d = add(mul(square(alpha), s2), square(sigma));
    const centred = sub(z, mul(alpha, mean));
    return mul(sigma, sub(div(mul(mul(alpha, 1 - s2), centred), d), mean));
  };
}

/** A denoiser that always predicts x̂ = `image` (broadcast over frames): v̂ = (α z − x̂)/σ. */
export function fixedImageDenoiser(image: Tensor): Denoiser {
  return (z, logSnr) => {
    const { alpha, sigma } = alphaSigma(logSnr, z.rank);
    return div(sub(mul(alpha, z), image), sigma);
  };
}
