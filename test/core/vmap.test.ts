/**
 * vmap, primitive by primitive and composed: for every primitive (the cases of `primitiveCases.ts`),
 * `vmap(f)` on a batch, with random batch sizes (0 included) and random in and out axes (null included: an input
 * shared by every example), equals `f` applied to each example and stacked; and vmap composes with
 * grad (per-example gradients, the gradient of a batched loss), with jvp, and with itself.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { rules } from '../../core/rules.js';
import { batchRules } from '../../core/vmap.js';
import { dispose, grad, jvp, key, memoryStats, normal, split, tidy, treeLeaves, valueAndGrad, vmap, type Key, type Prim, type Tensor } from '../../index.js';
import { closeTo, describeBackends, errorMessage, type Host, read, rng, seedArb, upload } from './harness.js';
import { byPrimitive, compositions, type Case, type NoTangent, type Property } from './primitiveCases.js';

const NUM_RUNS = 10;

/** `h` with its values shuffled by a seeded permutation (indices stay in range, domains are kept). */
function shuffled(h: Host, rand: () => number): Host {
  const data = Array.from(h.data);
  for (let i = data.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [data[i], data[j]] = [data[j]!, data[i]!];
  }
  return { ...h, data };
}

/** Stack hosts of `shape` along `axis` (a new axis of length examples.length, maybe 0). */
function stackHosts(examples: readonly Host[], axis: number, shape: readonly number[] = examples[0]!.shape): Host {
  const outer = shape.slice(0, axis).reduce((n, d) => n * d, 1);
  const inner = shape.slice(axis).reduce((n, d) => n * d, 1);
  const data: number[] = [];
  for (let a = 0; a < outer; a++) for (const e of examples) for (let k = 0; k < inner; k++) data.push(e.data[a * inner + k]!);
  return { shape: [...shape.slice(0, axis), examples.length, ...shape.slice(axis)], data, dtype: examples[0]?.dtype };
}

/**
 * vmap(f) against the loop: a batch of `size` shuffles of the case's inputs, each input batched on a
 * random axis or shared (null), the output's batch axis random too.
 */
async function checkVmap({ f, inputs }: Case, size: number, seed: number, name: string): Promise<void> {
  const rand = rng(seed);
  const inAxes: (number | null)[] = inputs.map((x) => (rand() < 0.4 ? null : Math.floor(rand() * (x.shape.length + 1))));
  if (!inAxes.some((a) => a !== null)) inAxes[0] = 0;
  const examples = Array.from({ length: size }, (_, b) => inputs.map((x, i) => (inAxes[i] === null || b === 0 ? x : shuffled(x, rand))));
  const looped = tidy(() => examples.map((xs) => treeLeaves(f(...xs.map(upload)))));
  const expected = await Promise.all(looped.map((leaves) => Promise.all(leaves.map(read))));
  const shapes = looped[0]?.map((t) => t.shape) ?? treeLeaves(tidy(() => f(...inputs.map(upload)))).map((t) => t.shape);
  dispose(looped);
  const minRank = Math.min(...shapes.map((s) => s.length));
  const outAxes = Math.floor(rand() * (minRank + 1));
  const batched = inputs.map((x, i) => (inAxes[i] === null ? x : { ...stackHosts(examples.map((e) => e[i]!), inAxes[i]!, x.shape), dtype: x.dtype }));
  const got = tidy(() => treeLeaves(vmap(f, { inAxes, outAxes })(...batched.map(upload))));
  const label = `${name}: vmap over ${size} with inAxes [${inAxes}], outAxes ${outAxes}, seed ${seed}`;
  expect(got.length, label).toBe(shapes.length);
  for (let k = 0; k < got.length; k++) {
    const want = stackHosts(expected.map((e) => ({ shape: shapes[k]!, data: e[k]! })), outAxes, shapes[k]!);
    expect(got[k]!.shape, label).toEqual(want.shape);
    closeTo(await read(got[k]!), want.data, { rtol: 1e-5, atol: 1e-6, label: `${label}, output ${k}` });
  }
  dispose(got);
}

it('every primitive has a batching rule', () => {
  expect(Object.keys(batchRules).sort()).toEqual(Object.keys(rules).sort());
});

describeBackends('vmap', () => {
  const rows = Object.entries(byPrimitive) as [Prim, Property[] | NoTangent][];
  const sizeArb = fc.integer({ min: 0, max: 3 });
  for (const [prim, row] of rows) {
    const properties: Property[] = 'noTangent' in row ? [{ name: 'integer outputs', cases: fc.constant({ f: row.noTangent as (...xs: Tensor[]) => unknown, inputs: [{ shape: [4], data: [-1.75, 0.5, 1, 2.25] }] }) }] : row;
    for (const { name, cases } of properties) {
      it(`${prim}: ${name}: vmap equals the loop over examples, random in and out axes`, async () => {
        await fc.assert(fc.asyncProperty(cases, sizeArb, seedArb, async (c, size, seed) => checkVmap(c, size, seed, name)), { numRuns: NUM_RUNS });
      });
    }
  }
  for (const { name, cases } of compositions) {
    it(`${name}: vmap equals the loop over examples`, async () => {
      await fc.assert(fc.asyncProperty(cases, sizeArb, seedArb, async (c, size, seed) => checkVmap(c, size, seed, name)), { numRuns: NUM_RUNS });
    });
  }

  /** Keys made inside each test, on its backend. */
  const keys = () => split(key(11), 4) as [Key, Key, Key, Key];
  const mlp = (p: { w1: Tensor; b1: Tensor; w2: Tensor }, x: Tensor, y: Tensor) =>
    o.mean(o.square(o.sub(o.matmul(o.tanh(o.add(o.matmul(x, p.w1), p.b1)), p.w2), y)));

  it('vmap of grad gives per-example gradients (a pytree of parameters shared by every example)', async () => {
    const [k1, k2, k3, k4] = keys();
    const p = tidy(() => ({ w1: normal(k1, [3, 5]), b1: o.mul(normal(k2, [5]), 0.1), w2: normal(k3, [5, 2]) }));
    const xs = tidy(() => normal(k4, [4, 3]));
    const ys = tidy(() => o.sin(o.matmul(xs, o.ones([3, 2]))));
    const perExample = vmap((x: Tensor, y: Tensor) => grad(mlp)(p, x, y), { inAxes: [0, 0] })(xs, ys);
    for (let b = 0; b < 4; b++) {
      const one = tidy(() => grad(mlp)(p, o.sliceAxis(xs, 0, b, b + 1), o.sliceAxis(ys, 0, b, b + 1)));
      for (const k of ['w1', 'b1', 'w2'] as const) {
        const row = tidy(() => o.reshape(o.sliceAxis(perExample[k], 0, b, b + 1), [...p[k].shape]));
        closeTo(await read(row), await read(one[k]), { rtol: 1e-5, atol: 1e-6, label: `${k}, example ${b}` });
        row.dispose();
      }
      dispose(one);
    }
    // Per-example gradient norms (the README's example), against the same gradients.
    const norms = vmap((x: Tensor, y: Tensor) => {
      const g = grad(mlp)(p, x, y);
      return o.sqrt(o.add(o.add(o.sum(o.square(g.w1)), o.sum(o.square(g.b1))), o.sum(o.square(g.w2))));
    })(xs, ys);
    const flat = tidy(() => o.sqrt(o.add(o.add(o.sum(o.square(perExample.w1), [1, 2]), o.sum(o.square(perExample.b1), 1)), o.sum(o.square(perExample.w2), [1, 2]))));
    closeTo(await read(norms), await read(flat), { rtol: 1e-5, atol: 1e-6, label: 'norms' });
    dispose([p, xs, ys, perExample, norms, flat, k1, k2, k3, k4]);
  });

  it('grad of vmap equals the gradient of the summed loop, and vmap of jvp of grad is a batch of Hessian-vector products', async () => {
    const [k1, k2, k3, k4] = keys();
    const p = tidy(() => ({ w1: normal(k1, [3, 5]), b1: o.mul(normal(k2, [5]), 0.1), w2: normal(k3, [5, 2]) }));
    const xs = tidy(() => normal(k4, [4, 3]));
    const ys = tidy(() => o.cos(xs));
    const batchedLoss = (q: typeof p) => o.sum(vmap((x: Tensor) => mlp(q, x, o.ones([2])))(xs));
    const loopLoss = (q: typeof p) => [0, 1, 2, 3].map((b) => mlp(q, o.sliceAxis(xs, 0, b, b + 1), o.ones([1, 2]))).reduce((a, b) => o.add(a, b));
    const [g1, g2] = [grad(batchedLoss)(p), grad(loopLoss)(p)];
    for (const k of ['w1', 'b1', 'w2'] as const) closeTo(await read(g1[k]), await read(g2[k]), { rtol: 1e-5, atol: 1e-6, label: k });
    const f = (z: Tensor) => o.sum(o.mul(o.sin(z), o.exp(z)));
    const hv = vmap((x: Tensor, v: Tensor) => jvp(grad(f), [x], [v])[1])(xs, ys);
    for (let b = 0; b < 4; b++) {
      const one = tidy(() => jvp(grad(f), [o.sliceAxis(xs, 0, b, b + 1)], [o.sliceAxis(ys, 0, b, b + 1)])[1]);
      closeTo(await read(tidy(() => o.sliceAxis(hv, 0, b, b + 1))), await read(one), { rtol: 1e-5, atol: 1e-6, label: `hvp ${b}` });
      one.dispose();
    }
    dispose([p, xs, ys, g1, g2, hv, k1, k2, k3, k4]);
  });

  it('nested vmap is a batch of batches; conv2d (a custom pullback) under vmap of grad matches the loop', async () => {
    const [k1, k2, k3, k4] = keys();
    const x = tidy(() => normal(k1, [2, 3, 4]));
    const w = tidy(() => normal(k2, [4]));
    const nested = vmap(vmap((r: Tensor, v: Tensor) => o.sum(o.mul(o.tanh(r), v)), { inAxes: [0, null] }), { inAxes: [0, null] })(x, w);
    const direct = tidy(() => o.sum(o.mul(o.tanh(x), w), 2));
    closeTo(await read(nested), await read(direct), { rtol: 1e-6, atol: 1e-6, label: 'nested' });
    const images = tidy(() => normal(k3, [3, 1, 5, 5, 2]));
    const kernel = tidy(() => o.mul(normal(k4, [3, 3, 2, 2]), 0.3));
    const loss = (kk: Tensor, im: Tensor) => o.sum(o.square(o.conv2d(im, kk, { padding: 'same' })));
    const per = vmap((im: Tensor) => grad(loss)(kernel, im))(images);
    for (let b = 0; b < 3; b++) {
      const one = tidy(() => grad(loss)(kernel, o.reshape(o.sliceAxis(images, 0, b, b + 1), [1, 5, 5, 2])));
      closeTo(await read(tidy(() => o.sliceAxis(per, 0, b, b + 1))), await read(one), { rtol: 1e-5, atol: 1e-5, label: `conv example ${b}` });
      one.dispose();
    }
    dispose([x, w, nested, direct, images, kernel, per, k1, k2, k3, k4]);
  });

  it('outputs that do not depend on the batch are repeated along it; outAxes per element of an array output; numbers pass through', async () => {
    const xs = upload({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
    const [y, c, n] = vmap((x: Tensor, k: number) => [o.mul(x, k), o.ones([2]), k], { inAxes: [0, null], outAxes: [1, 0, 0] })(xs, 10) as [Tensor, Tensor, number];
    expect(y.shape).toEqual([2, 3]);
    expect(await read(y)).toEqual([10, 30, 50, 20, 40, 60]);
    expect(c.shape).toEqual([3, 2]);
    expect(await read(c)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(n).toBe(10);
    dispose([xs, y, c]);
  });

  it('inAxes follows an argument\'s tree: { w: null, x: 0 } shares w and batches x', async () => {
    const w = upload({ shape: [2, 3], data: [1, 0, -1, 2, 0.5, 1] });
    const xs = upload({ shape: [4, 2], data: [1, 2, 3, 4, -1, 0, 0.5, 0.25] });
    const got = vmap((p: { w: Tensor; x: Tensor; scale: number }) => o.mul(o.matmul(p.x, p.w), p.scale), { inAxes: [{ w: null, x: 0, scale: null }] })({ w, x: xs, scale: 2 });
    const want = tidy(() => o.mul(o.matmul(xs, w), 2));
    expect(got.shape).toEqual([4, 3]);
    closeTo(await read(got), await read(want), { rtol: 1e-6, atol: 1e-6, label: 'tree inAxes' });
    expect(errorMessage(() => vmap((p: { w: Tensor }) => p.w, { inAxes: [{ v: 0 }] })({ w }))).toMatch(/inAxes has no entry for the argument at '0\.w'/);
    expect(errorMessage(() => vmap((p: Tensor) => p, { inAxes: [[0, 0]] })(w))).toMatch(/inAxes at '0' is an array of 2 but the argument there is a tensor|inAxes at '0' is an array of 2/);
    dispose([w, xs, got, want]);
  });

  it('errors name the problem: batch sizes that differ, an axis out of range, inAxes of the wrong length', () => {
    const a = upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    const b = upload({ shape: [3], data: [1, 2, 3] });
    expect(errorMessage(() => vmap((x: Tensor, y: Tensor) => o.add(x, y))(a, b))).toMatch(/vmap: batch sizes differ: 2 and 3/);
    expect(errorMessage(() => vmap((x: Tensor) => x, { inAxes: 2 })(a))).toMatch(/vmap: inAxes 2 is not an axis of the argument at '0'/);
    expect(errorMessage(() => vmap((x: Tensor, y: Tensor) => o.add(x, y), { inAxes: [0] })(a, b))).toMatch(/inAxes has 1 entries for 2 arguments/);
    expect(errorMessage(() => vmap((x: Tensor) => x, { inAxes: null })(a))).toMatch(/no argument has a batch axis/);
    dispose([a, b]);
  });

  it('inside vmap, a scope frees the batched values of what it frees (memory stays flat within one call)', () => {
    const xs = upload({ shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => Math.sin(i)) });
    const counts: number[] = [];
    const y = vmap((x: Tensor) => {
      for (let i = 0; i < 20; i++) {
        tidy(() => void o.gelu(o.softmax(o.mul(x, i))));
        counts.push(memoryStats().tensors);
      }
      return o.sum(x);
    })(xs);
    expect(new Set(counts).size).toBe(1);
    dispose([xs, y]);
  });

  it('vmap, vmap of grad and grad of vmap leave nothing behind over many calls', () => {
    const [k1, k2, k3, k4] = keys();
    const p = tidy(() => ({ w1: normal(k1, [3, 5]), b1: normal(k2, [5]), w2: normal(k3, [5, 2]) }));
    const xs = tidy(() => normal(k4, [4, 3]));
    const ys = tidy(() => o.cos(o.matmul(xs, o.ones([3, 2]))));
    const round = () => {
      dispose([
        vmap((x: Tensor) => o.softmax(o.matmul(x, p.w1)))(xs),
        vmap((x: Tensor, y: Tensor) => grad(mlp)(p, x, y))(xs, ys),
        valueAndGrad((q: typeof p) => o.sum(vmap((x: Tensor, y: Tensor) => mlp(q, x, y))(xs, ys)))(p),
      ]);
    };
    round();
    const before = memoryStats();
    for (let i = 0; i < 30; i++) round();
    expect(memoryStats()).toEqual(before);
    dispose([p, xs, ys, k1, k2, k3, k4]);
  });
});
