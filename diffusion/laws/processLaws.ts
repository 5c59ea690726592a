/**
 * Laws of the forward process and the parameterizations (MATH.md), element-wise.
 */
import fc from 'fast-check';
import { pixel, spreadDouble } from './arbitraries.js';
import type { Law } from './law.js';
import { alphaOf, expectArrayNear, sigmaOf } from './reference.js';

/** An element-wise map of two equally long arrays and a logSNR per element (sync or async). */
export type ElementwiseFn = (a: readonly number[], b: readonly number[], logSnr: readonly number[]) => readonly number[] | Promise<readonly number[]>;

export interface ProcessImpl {
  /** (x, ε, λ) → z. */
  readonly diffuse: ElementwiseFn;
  /** (x, ε, λ) → v, the model's target. */
  readonly vFromXEps: ElementwiseFn;
  /** (z, v, λ) → x. */
  readonly xFromV: ElementwiseFn;
  /** (z, v, λ) → ε. */
  readonly epsFromV: ElementwiseFn;
}

const elementCase = fc.array(fc.tuple(pixel, pixel, fc.oneof(fc.constant(-15), fc.constant(15), fc.constant(0), spreadDouble(-15, 15))), {
  minLength: 1,
  maxLength: 8,
});

/** Laws of the forward process. `tolerance` is absolute (default 1e-5, right for float32 tensors). */
export function processLaws(impl: ProcessImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const columns = (c: readonly (readonly [number, number, number])[]) => ({ a: c.map((e) => e[0]), b: c.map((e) => e[1]), l: c.map((e) => e[2]) });
  return [
    {
      name: 'forward process (Eq. 7): z = α x + σ ε',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const z = await impl.diffuse(x, eps, l);
        expectArrayNear('z', z, x.map((xi, i) => alphaOf(l[i]!) * xi + sigmaOf(l[i]!) * eps[i]!), tol);
      }),
    },
    {
      name: 'v-parameterization: v = α ε − σ x',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const v = await impl.vFromXEps(x, eps, l);
        expectArrayNear('v', v, x.map((xi, i) => alphaOf(l[i]!) * eps[i]! - sigmaOf(l[i]!) * xi), tol);
      }),
    },
    {
      name: 'v-parameterization: x = α z − σ v and ε = σ z + α v recover the data and the noise',
      property: fc.asyncProperty(elementCase, async (c) => {
        const { a: x, b: eps, l } = columns(c);
        const z = await impl.diffuse(x, eps, l);
        const v = await impl.vFromXEps(x, eps, l);
        expectArrayNear('x from (z, v)', await impl.xFromV(z, v, l), x, tol);
        expectArrayNear('ε from (z, v)', await impl.epsFromV(z, v, l), eps, tol);
      }),
    },
    {
      name: 'errors (MATH.md): ‖v − v̂‖² = (1 + SNR)‖x − x̂‖² and ‖ε − ε̂‖² = SNR‖x − x̂‖², as x − x̂ = σ(v̂ − v), ε − ε̂ = α(v − v̂)',
      property: fc.asyncProperty(elementCase, fc.array(pixel, { minLength: 8, maxLength: 8 }), async (c, vHatAll) => {
        const { a: x, b: eps, l } = columns(c);
        const vHat = vHatAll.slice(0, x.length);
        const z = await impl.diffuse(x, eps, l);
        const v = await impl.vFromXEps(x, eps, l);
        const xHat = await impl.xFromV(z, vHat, l);
        const epsHat = await impl.epsFromV(z, vHat, l);
        expectArrayNear('x − x̂', x.map((xi, i) => xi - xHat[i]!), vHat.map((vh, i) => sigmaOf(l[i]!) * (vh - v[i]!)), tol);
        expectArrayNear('ε − ε̂', eps.map((e, i) => e - epsHat[i]!), vHat.map((vh, i) => alphaOf(l[i]!) * (v[i]! - vh)), tol);
      }),
    },
  ];
}
