/**
 * The optimizers run a many-leaf tree as one vector (nn/optim/flat.ts). The same arithmetic per
 * element, so the same bits as running each leaf on its own (a one-leaf tree takes the per-leaf path).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { dispose, tensor, tidy, type Tensor } from '../../index.js';
import { adam, adamw, applyUpdates, chain, clipByGlobalNorm, ema } from '../../nn/index.js';

const leafArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 3 }).chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.tuple(fc.constant(shape), fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }), fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }));
});

async function bits(t: Tensor): Promise<number[]> {
  return Array.from(new Uint32Array((await t.toArray()).buffer.slice(0)));
}

it('adam, adamw, applyUpdates and ema on a tree of many leaves give the bits each leaf gets on its own, over several steps', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(leafArb, { minLength: 4, maxLength: 9 }), fc.constantFrom('adam', 'adamw'), async (leaves, which) => {
      const make = () => (which === 'adam' ? adam({ learningRate: 0.1 }) : adamw({ learningRate: 0.1, weightDecay: 0.01 }));
      const params = leaves.map(([shape, p]) => tensor(Float32Array.from(p), shape));
      const grads = leaves.map(([shape, , g]) => tensor(Float32Array.from(g), shape));
      // The whole tree at once (flat path) and each leaf as its own tree (per-leaf path).
      const whole = { opt: make(), avg: ema({ decay: 0.9, warmup: true }) };
      let tree = tidy(() => ({ p: params.map((x) => x), s: whole.opt.init(params), e: whole.avg.init(params) }));
      let single = params.map((x) => {
        const o = make();
        const e = ema({ decay: 0.9, warmup: true });
        return tidy(() => ({ o, e, p: [x], s: o.init([x]), ea: e.init([x]) }));
      });
      for (let step = 0; step < 3; step++) {
        const g = grads.map((x) => tidy(() => x));
        tree = tidy(() => {
          const { updates, state } = whole.opt.update(g, tree.s, tree.p);
          const p = applyUpdates(tree.p, updates);
          return { p, s: state, e: whole.avg.update(p, tree.e) };
        });
        single = single.map((leaf, i) =>
          tidy(() => {
            const { updates, state } = leaf.o.update([g[i]!], leaf.s, leaf.p);
            const p = applyUpdates(leaf.p, updates);
            return { ...leaf, p, s: state, ea: leaf.e.update(p, leaf.ea) };
          }),
        );
      }
      for (let i = 0; i < leaves.length; i++) {
        expect(await bits(tree.p[i]!)).toEqual(await bits(single[i]!.p[0]!));
        expect(await bits((tree.e.average as Tensor[])[i]!)).toEqual(await bits((single[i]!.ea.average as Tensor[])[0]!));
      }
      dispose([params, grads, tree, single.map((s) => [s.p, s.s, s.ea])]);
    }),
    { numRuns: 25 },
  );
});

it('a chain with clipping keeps every leaf its shape and dtype on the flat path', () => {
  const opt = chain(clipByGlobalNorm(1), adam({ learningRate: 0.01 }));
  const params = { a: tensor([[1, 2], [3, 4]]), b: tensor([5]), c: [tensor(6), tensor([[7, 8, 9]])] };
  const state = opt.init(params);
  const { updates } = opt.update(params, state, params);
  expect((updates.a as Tensor).shape).toEqual([2, 2]);
  expect((updates.c[0] as Tensor).shape).toEqual([]);
  expect((updates.c[1] as Tensor).shape).toEqual([1, 3]);
  dispose([params, state, updates]);
});
