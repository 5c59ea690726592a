/**
 * The forward process and the x / ε / v parameterizations at tensor level, one noise level per frame.
 *
 * Video tensors are [batch, frames, height, width, channels]; a per-frame logSNR is [batch, frames]
 * (or [1, frames] to share it across the batch). Every function broadcasts the per-frame α, σ over
 * the pixels of its frame, so Eq. 7's "each frame has its own local time" is one reshape.
 */
import { add, div, mul, reshape, sigmoid, sqrt, neg, sub, tensor, type Tensor } from '../core/index.js';

/** [B, F] → [B, F, 1, …, 1] so that it broadcasts against a [B, F, …] video. */
export function perFrame(values: Tensor, rank: number): Tensor {
  if (values.rank !== 2) throw new Error(`perFrame: expected per-frame values of shape [batch, frames], got [${values.shape}]`);
  return reshape(values, [...values.shape, ...new Array<number>(Math.max(rank - 2, 0)).fill(1)]);
}

/** α = √sigmoid(λ), σ = √sigmoid(−λ) per frame (MATH.md), shaped to broadcast against a rank-`rank` video. */
export function alphaSigma(logSnr: Tensor, rank: number): { alpha: Tensor; sigma: Tensor } {
  const l = perFrame(logSnr, rank);
  return { alpha: sqrt(sigmoid(l)), sigma: sqrt(sigmoid(neg(l))) };
}

/** A [batch, frames] logSNR tensor from host numbers (one row per batch element). */
export function logSnrTensor(rows: readonly (readonly number[])[]): Tensor {
  const b = rows.length;
  const f = rows[0]?.length ?? 0;
  const data = new Float32Array(b * f);
  rows.forEach((r, i) => {
    if (r.length !== f) throw new Error(`logSnrTensor: row ${i} has ${r.length} frames, row 0 has ${f}`);
    data.set(r, i * f);
  });
  return tensor(data, [b, f]);
}

function checkVideo(op: string, x: Tensor, logSnr: Tensor): void {
  if (x.rank < 2 || logSnr.rank !== 2 || logSnr.shape[1] !== x.shape[1] || (logSnr.shape[0] !== x.shape[0] && logSnr.shape[0] !== 1)) {
    throw new Error(`${op}: logSnr [${logSnr.shape}] must be [batch, frames] (or [1, frames]) for the video [${x.shape}]`);
  }
}

/** Eq. 7 / Eq. 24: z = α_{t_k} x + σ_{t_k} ε, frame by frame. */
export function diffuse(x: Tensor, logSnr: Tensor, eps: Tensor): Tensor {
  checkVideo('diffuse', x, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, x.rank);
  return add(mul(alpha, x), mul(sigma, eps));
}

/** v = α ε − σ x (Salimans & Ho 2022; MATH.md), the model's target in Eq. 26. */
export function vFromXEps(x: Tensor, eps: Tensor, logSnr: Tensor): Tensor {
  checkVideo('vFromXEps', x, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, x.rank);
  return sub(mul(alpha, eps), mul(sigma, x));
}

/** x = α z − σ v (MATH.md), how Algorithms 2 and 3 read x̂ off the model's v̂ for f_θ of Eq. 4 before Eq. 15's posterior. */
export function xFromV(z: Tensor, v: Tensor, logSnr: Tensor): Tensor {
  checkVideo('xFromV', z, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, z.rank);
  return sub(mul(alpha, z), mul(sigma, v));
}

/** ε = σ z + α v (MATH.md), the noise a v-prediction implies; DDIM's ε̂. */
export function epsFromV(z: Tensor, v: Tensor, logSnr: Tensor): Tensor {
  checkVideo('epsFromV', z, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, z.rank);
  return add(mul(sigma, z), mul(alpha, v));
}

/** v = (α z − x) / σ, inverting Eq. 7's z = α x + σ ε for an x-prediction (MATH.md; undefined where σ = 0). */
export function vFromX(z: Tensor, x: Tensor, logSnr: Tensor): Tensor {
  checkVideo('vFromX', z, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, z.rank);
  return div(sub(mul(alpha, z), x), sigma);
}

/** x = (z − σ ε) / α, inverting Eq. 7's z = α x + σ ε for an ε-prediction (MATH.md; undefined where α = 0). */
export function xFromEps(z: Tensor, eps: Tensor, logSnr: Tensor): Tensor {
  checkVideo('xFromEps', z, logSnr);
  const { alpha, sigma } = alphaSigma(logSnr, z.rank);
  return div(sub(z, mul(sigma, eps)), alpha);
}
