/**
 * Forward mode, primitive by primitive: for random shapes (rank 0, size-1 and empty axes,
 * broadcasting) and values, each primitive's JVP agrees with a float64 central finite difference
 * along a random direction, and with its VJP by the transpose identity ⟨vjp(c), t⟩ = ⟨c, jvp(t)⟩
 * (see `checkJvp`). The cases are `primitiveCases.ts`'s, one row per primitive: a primitive without a
 * row fails to compile there, and fails the first test here at run time.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { rules } from '../../core/rules.js';
import { jvp, jvpRules, type Prim, type Tensor } from '../../index.js';
import { checkJvp, describeBackends, read, seedArb, upload } from './harness.js';
import { byPrimitive, compositions, type NoTangent, type Property } from './primitiveCases.js';

const NUM_RUNS = 12;

it('every primitive has a JVP rule and a row in this test', () => {
  const all = Object.keys(rules).sort();
  expect(Object.keys(jvpRules).sort()).toEqual(all);
  expect(Object.keys(byPrimitive).sort()).toEqual(all);
});

describeBackends('JVPs', () => {
  const rows = Object.entries(byPrimitive) as [Prim, Property[] | NoTangent][];
  for (const [prim, row] of rows) {
    if ('noTangent' in row) {
      it(`${prim}: integer and bit outputs carry a zero tangent`, async () => {
        const x = upload({ shape: [4], data: [-1.75, 0.5, 1, 2.25] });
        const t = upload({ shape: [4], data: [1, -2, 0.5, 3] });
        const [y, ty] = jvp(row.noTangent, [x], [t]);
        expect(ty.dtype).toBe(y.dtype);
        expect(ty.shape).toEqual(y.shape);
        expect((await read(ty)).every((v) => v === 0)).toBe(true);
        for (const v of [x, t, y, ty]) v.dispose();
      });
      continue;
    }
    for (const { name, cases } of row) {
      it(`${prim}: ${name}: JVP matches finite differences and the transpose of the VJP`, async () => {
        await fc.assert(
          fc.asyncProperty(cases, seedArb, async ({ f, inputs, opts }, seed) => {
            await checkJvp(f, inputs, { seed, name, ...opts });
          }),
          { numRuns: NUM_RUNS },
        );
      });
    }
  }
  for (const { name, cases } of compositions) {
    it(`${name}: JVP matches finite differences and the transpose of the VJP`, async () => {
      await fc.assert(fc.asyncProperty(cases, seedArb, async ({ f, inputs, opts }, seed) => checkJvp(f, inputs, { seed, name, ...opts })), { numRuns: NUM_RUNS });
    });
  }

  it('ties share the tangent evenly, as the VJP shares the cotangent (maximum, max)', async () => {
    const x = upload({ shape: [3], data: [2, 2, -1] });
    const t = upload({ shape: [3], data: [1, 3, 5] });
    const [, [tm, tmax]] = jvp((a: Tensor) => [o.maximum(a, o.flip(a)), o.max(a)], [x], [t]);
    expect(await read(tm)).toEqual([1, 3, 1]);
    expect(await read(tmax)).toEqual([2]);
    for (const v of [x, t, tm, tmax]) v.dispose();
  });
});
