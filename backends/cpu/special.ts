/** Special functions missing from `Math`, accurate to float32 precision. */

/**
 * erf: a Taylor series near 0 (no cancellation for tiny x), and 1 − erfc elsewhere with the
 * Chebyshev-fitted erfc of Numerical Recipes (fractional error < 1.2e-7).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const x2 = x * x;
    // 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)), eight terms reach 1e-12 at |x| = 0.5.
    let term = x;
    let s = x;
    for (let n = 1; n < 9; n++) {
      term *= -x2 / n;
      s += term / (2 * n + 1);
    }
    return s * 1.1283791670955126;
  }
  return x > 0 ? 1 - erfc(ax) : erfc(ax) - 1;
}

export function erfc(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return r;
}

/**
 * erfinv: Giles (2010), "Approximating the erfinv function", the single-precision version (as XLA
 * uses for float32). The WebGPU kernel evaluates the same polynomial.
 */
export function erfinv(x: number): number {
  if (x <= -1) return x === -1 ? -Infinity : NaN;
  if (x >= 1) return x === 1 ? Infinity : NaN;
  let w = -Math.log((1 - x) * (1 + x));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return p * x;
}
