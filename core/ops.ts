/**
 * The user-facing ops, one file per family under `ops/`, in the order they build on each other:
 * creation, arithmetic (element-wise), layout (shapes), reductions, linear algebra and convolution.
 * Each is a short function that binds primitives (see `primitives.ts`); the derivative of each
 * primitive lives in `rules.ts`, so every op is differentiable for free.
 */
export * from './ops/creation.js';
export * from './ops/arithmetic.js';
export * from './ops/layout.js';
export * from './ops/reductions.js';
export * from './ops/linalg.js';
