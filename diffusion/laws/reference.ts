/**
 * The reference maths of MATH.md, written out here so that a law never trusts the code it checks, and
 * the expectations the laws fail with (a descriptive error naming the law's quantity).
 */
import type { LossWeightingName } from '../lossWeighting.js';
import type { WindowSpec } from '../localTime.js';

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
/** α = √sigmoid(λ), σ = √sigmoid(−λ) for a variance-preserving process. */
export const alphaOf = (logSnr: number): number => Math.sqrt(sigmoid(logSnr));
export const sigmaOf = (logSnr: number): number => Math.sqrt(sigmoid(-logSnr));

export function fail(message: string): never {
  throw new Error(message);
}

/** |actual − expected| ≤ rel·|expected| + abs, or a descriptive failure. */
export function expectNear(what: string, actual: number, expected: number, rel: number, abs = rel): void {
  if (!(Math.abs(actual - expected) <= rel * Math.abs(expected) + abs)) {
    fail(`${what}: got ${actual}, expected ${expected} (|diff| = ${Math.abs(actual - expected)})`);
  }
}

export function expectArrayNear(what: string, actual: readonly number[], expected: readonly number[], tolerance: number): void {
  if (actual.length !== expected.length) fail(`${what}: got ${actual.length} values [${actual}], expected ${expected.length} [${expected}]`);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]!) <= tolerance)) fail(`${what}: entry ${i} is ${a}, expected ${expected[i]} (all: [${actual}] vs [${expected}])`);
  });
}

export function expectSameSet(what: string, actual: readonly number[], expected: readonly number[]): void {
  const a = [...actual].sort((x, y) => x - y);
  const e = [...expected].sort((x, y) => x - y);
  if (a.length !== e.length || a.some((v, i) => v !== e[i])) fail(`${what}: got {${a}}, expected {${e}}`);
}

/** The rolling state linear(0): (0, …, 0, 0/M, 1/M, …, (M − 1)/M), M = W − n_cln (Algorithm 2's start). */
export function rollingState({ window, cleanFrames }: Required<WindowSpec>): number[] {
  const generated = window - cleanFrames;
  return Array.from({ length: window }, (_, w) => (w < cleanFrames ? 0 : (w - cleanFrames) / generated));
}

/** Eq. 22 written out: t_w = clip((w − n_cln + t) / (W − n_cln)), clean frames at 0. */
export function referenceLinear({ window, cleanFrames }: Required<WindowSpec>): (t: number) => number[] {
  return (t) => Array.from({ length: window }, (_, w) => Math.min(1, Math.max(0, (w - cleanFrames + t) / (window - cleanFrames))));
}

/** The paper's weightings a(λ) in x-loss units: 1, SNR, 1 + SNR, min(SNR, γ) (Min-SNR-γ, Hang et al. 2023). */
export function referenceXWeight(name: LossWeightingName, gamma: number, logSnr: number): number {
  switch (name) {
    case 'x':
      return 1;
    case 'eps':
      return Math.exp(logSnr);
    case 'v':
      return 1 + Math.exp(logSnr);
    case 'minSnr':
      return Math.min(Math.exp(logSnr), gamma);
  }
}

/** The same weighting multiplying ‖v − v̂‖²: a(λ) / (1 + SNR), written without overflow. */
export function referenceVWeight(name: LossWeightingName, gamma: number, logSnr: number): number {
  switch (name) {
    case 'x':
      return sigmoid(-logSnr);
    case 'eps':
      return sigmoid(logSnr);
    case 'v':
      return 1;
    case 'minSnr':
      return Math.min(sigmoid(logSnr), gamma * sigmoid(-logSnr));
  }
}
