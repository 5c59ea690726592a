/**
 * The optimizers run a many-leaf tree as one vector (nn/optim/flat.ts). The same arithmetic per
 * element, so the same bits as running each leaf on its own (a one-leaf tree takes the per-leaf path).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { dispose, getBackend, tensor, tidy, type Tensor } from '../../index.js';
import { adam, adamw, applyUpdates, chain, clipByGlobalNorm, ema } from '../../nn/index.js';
import { flattenable } from '../../nn/optim/flat.js';

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

/** The kernels each primitive ran while `fn` ran, counted at the backend (`bind` calls `run`). */
function kernels(fn: () => unknown): Record<string, number> {
  const backend = getBackend();
  const run = backend.run;
  const counts: Record<string, number> = {};
  backend.run = function (this: typeof backend, ...args: Parameters<typeof run>) {
    counts[args[0]] = (counts[args[0]] ?? 0) + 1;
    return run.apply(this, args);
  } as typeof run;
  try {
    dispose(tidy(() => fn() as never));
  } finally {
    backend.run = run;
  }
  return counts;
}

/** Kernels that compute (not the concatenation and the slices that cut the leaves back out). */
const arithmetic = (counts: Record<string, number>) => Object.entries(counts).filter(([prim]) => prim !== 'concat' && prim !== 'slice').reduce((s, [, n]) => s + n, 0);

it('the flat path is why flat.ts exists: from 4 float32 leaves on, a step runs no more arithmetic kernels than for a single leaf; under 4, nothing is concatenated', () => {
  const tree = (n: number) => Array.from({ length: n }, (_, i) => tensor([i, 1 - i, 0.5]));
  // Each prepares its state outside the count and returns the step that is counted.
  const steps: Record<string, (p: Tensor[]) => () => unknown> = {
    adam: (p) => { const o = adam({ learningRate: 0.1 }); const s = o.init(p); return () => o.update(p, s, p); },
    adamw: (p) => { const o = adamw({ learningRate: 0.1 }); const s = o.init(p); return () => o.update(p, s, p); },
    clip: (p) => () => clipByGlobalNorm(1).update(p, {}),
    ema: (p) => { const e = ema({ decay: 0.9 }); const s = e.init(p); return () => e.update(p, s); },
    applyUpdates: (p) => () => applyUpdates(p, p),
  };
  for (const [name, step] of Object.entries(steps)) {
    const count = (n: number) => {
      const p = tree(n);
      try {
        return kernels(step(p));
      } finally {
        dispose(p);
      }
    };
    const [one, three, four, sixteen] = [count(1), count(3), count(4), count(16)];
    // Flat, a tree of 4 or 16 leaves costs the arithmetic of a single leaf (clipping one leaf also
    // adds its sum of squares to a zero); leaf by leaf, 3 cost more.
    expect(arithmetic(four), name).toBeLessThanOrEqual(arithmetic(one));
    expect(arithmetic(sixteen), name).toBe(arithmetic(four));
    expect(arithmetic(three), name).toBeGreaterThan(arithmetic(one));
    expect(three.concat ?? 0, name).toBe(0);
    expect(four.concat ?? 0, name).toBeGreaterThan(0);
  }
});

it('flattenable: the first tree has at least 4 leaves and every leaf of every tree is float32 (concat refuses mixed dtypes)', () => {
  const floats = (n: number) => Array.from({ length: n }, () => tensor([1, 2]));
  const withInt = [...floats(4), tensor([1], [1], 'int32')];
  expect(flattenable(floats(4))).toBe(true);
  expect(flattenable(floats(4), floats(4), floats(4))).toBe(true);
  expect(flattenable(floats(3))).toBe(false);
  expect(flattenable(withInt)).toBe(false);
  expect(flattenable(floats(5), withInt)).toBe(false);
  expect(flattenable(withInt, floats(5))).toBe(false);
  // A mixed tree would fail on the flat path; leaf by leaf it adds.
  const ints = [tensor([1], [1], 'int32'), tensor([2], [1], 'int32'), tensor([3], [1], 'int32'), tensor([1.5]), tensor([2.5])];
  expect(applyUpdates(ints, ints).map((t) => t.dtype)).toEqual(['int32', 'int32', 'int32', 'float32', 'float32']);
});
