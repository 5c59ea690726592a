/**
 * Pytrees: registered classes are parameter containers for every transformation, tree function and
 * memory scope; anything else that is not a tensor, a plain object or an array is refused by name.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { dispose, grad, memoryStats, registerPytreeDataclass, registerPytreeNode, tensor, tidy, treeFlatten, treeLeaves, treeMap, treeZipMap, valueAndGrad, vjp, type Tensor } from '../../index.js';
import { describeBackends, errorMessage, read } from './harness.js';

/** An Equinox-style module: its fields are its parameters. */
class Lin {
  constructor(readonly w: Tensor, readonly b: Tensor) {}
  apply(x: Tensor): Tensor {
    return o.add(o.mul(x, this.w), this.b);
  }
}
registerPytreeDataclass(Lin, ['w', 'b']);

/** A node with static data (`aux`) and array children, registered with flatten/unflatten as in JAX. */
class Scaled {
  constructor(readonly parts: readonly Tensor[], readonly label: string) {}
}
registerPytreeNode(Scaled, (s) => [s.parts, s.label] as const, (label, parts) => new Scaled(parts, label));

class Unregistered {
  constructor(readonly w: Tensor) {}
}

describeBackends('pytree', () => {
  it('grad through a registered class: ∂/∂w Σ 3w = 3 (not the input handed back), as a Lin with its methods', async () => {
    const g = tidy(() => grad((m: Lin) => o.sum(o.mul(m.w, 3)))(new Lin(tensor([5]), tensor([0]))));
    expect(g).toBeInstanceOf(Lin);
    expect(await read(g.w)).toEqual([3]);
    expect(await read(g.b)).toEqual([0]);
    expect(typeof g.apply).toBe('function');
    dispose(g);
  });

  it('registerPytreeNode: children and static data round-trip; paths come from the children', async () => {
    const tree = { s: new Scaled([tensor([1, 2]), tensor([3])], 'two parts') };
    const [value, g] = tidy(() => valueAndGrad((t: typeof tree) => o.add(o.sum(o.square(t.s.parts[0]!)), o.sum(t.s.parts[1]!)))(tree));
    expect(await read(value)).toEqual([8]);
    expect(g.s).toBeInstanceOf(Scaled);
    expect(g.s.label).toBe('two parts');
    expect(await read(g.s.parts[0]!)).toEqual([2, 4]);
    expect(await read(g.s.parts[1]!)).toEqual([1]);
    expect(treeFlatten(tree).map(([p]) => p)).toEqual(['s.0', 's.1']);
    expect(treeFlatten(new Lin(tensor([1]), tensor([2]))).map(([p]) => p)).toEqual(['w', 'b']);
    dispose([tree, value, g]);
  });

  it('tree functions walk registered classes: treeMap and treeZipMap rebuild them, treeLeaves finds their tensors', async () => {
    const a = new Lin(tensor([1]), tensor([2]));
    const b = new Lin(tensor([10]), tensor([20]));
    const doubled = treeMap(a, (t) => o.mul(t, 2));
    expect(doubled).toBeInstanceOf(Lin);
    expect(await read(doubled.b)).toEqual([4]);
    const sum = treeZipMap([a, b], ([x, y]) => o.add(x!, y!));
    expect(sum).toBeInstanceOf(Lin);
    expect(await read(sum.w)).toEqual([11]);
    expect(treeLeaves({ layers: [a] })).toEqual([a.w, a.b]);
    expect(errorMessage(() => treeZipMap([a, { w: a.w, b: a.b } as unknown as Lin], ([x]) => x!))).toMatch(/treeZipMap: tree 1 has a plain object at '<root>' where tree 0 has a Lin/);
    dispose([a, b, doubled, sum]);
  });

  it('tidy keeps the tensors of a returned registered class and dispose frees them', () => {
    const before = memoryStats().tensors;
    const m = tidy(() => new Lin(o.add(tensor([1]), 1), o.mul(tensor([2]), 2)));
    expect(m.w.disposed || m.b.disposed).toBe(false);
    expect(memoryStats().tensors).toBe(before + 2);
    dispose(m);
    expect(memoryStats().tensors).toBe(before);
  });

  it('a Map or an unregistered class is an error naming its type and path in every transformation and tree function', () => {
    const w = tensor([5]);
    const map = new Map([['w', w]]);
    const cls = { layer: new Unregistered(w) };
    const loss = (m: unknown) => o.sum(w);
    for (const [name, run] of [
      ['grad', (x: unknown) => grad(loss)(x)],
      ['valueAndGrad', (x: unknown) => valueAndGrad(loss)(x)],
      ['vjp', (x: unknown) => vjp(loss, x)],
    ] as const) {
      expect(errorMessage(() => run(map)), name).toMatch(/grad\/vjp: a Map at '<root>' is not a pytree node .* use a plain object instead/);
      expect(errorMessage(() => run(cls)), name).toMatch(/grad\/vjp: an instance of class Unregistered at 'layer' is not a pytree node .* registerPytreeNode\(Unregistered, flatten, unflatten\)/);
    }
    expect(errorMessage(() => treeMap(cls, (t) => t))).toMatch(/treeMap: an instance of class Unregistered at 'layer'/);
    expect(errorMessage(() => treeFlatten([map]))).toMatch(/treeFlatten: a Map at '0'/);
    expect(errorMessage(() => treeLeaves({ a: new Date(0) }))).toMatch(/treeFlatten: an instance of class Date at 'a'/);
    expect(errorMessage(() => treeZipMap([map, map], ([x]) => x!))).toMatch(/treeZipMap: a Map at '<root>'/);
    w.dispose();
  });

  it('grad of a JS number is the derivative, as a float32 scalar: d/dx x² at 3 = 6', async () => {
    const g = tidy(() => grad((x: number) => o.square(x as unknown as Tensor))(3) as unknown as Tensor);
    expect(g.dtype).toBe('float32');
    expect(g.shape).toEqual([]);
    expect(await read(g)).toEqual([6]);
    g.dispose();
  });

  it('a string, a boolean or a function in the differentiated argument is an error naming it and its path', () => {
    const w = tensor([1]);
    expect(errorMessage(() => grad((p: { w: Tensor }) => o.sum(p.w))({ w, name: 'layer' } as { w: Tensor }))).toMatch(/grad\/vjp: the differentiated argument holds the string "layer" at 'name'/);
    expect(errorMessage(() => grad((p: { w: Tensor }) => o.sum(p.w))({ w, flags: [true] } as { w: Tensor }))).toMatch(/the boolean true at 'flags\.0'/);
    expect(errorMessage(() => grad((p: { w: Tensor }) => o.sum(p.w))({ w, f: Math.abs } as { w: Tensor }))).toMatch(/a function \(abs\) at 'f'/);
    // Later arguments are not differentiated, so they may hold anything.
    const g = tidy(() => grad((p: { w: Tensor }, config: { name: string }) => o.sum(o.mul(p.w, config.name.length)))({ w }, { name: 'four' }));
    expect(g.w.disposed).toBe(false);
    dispose([g, w]);
  });

  it('property: the gradient of Σ over all leaves is ones in every leaf, whatever mix of objects, arrays and registered classes holds them', async () => {
    type Shape = { kind: 'leaf'; n: number } | { kind: 'array'; items: Shape[] } | { kind: 'object'; items: Shape[] } | { kind: 'lin'; w: number; b: number };
    const shapeArb: fc.Arbitrary<Shape> = fc.letrec<{ node: Shape }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ kind: fc.constant('leaf' as const), n: fc.integer({ min: 1, max: 3 }) }),
        fc.record({ kind: fc.constant('lin' as const), w: fc.integer({ min: 1, max: 3 }), b: fc.integer({ min: 1, max: 3 }) }),
        fc.record({ kind: fc.constant('array' as const), items: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({ kind: fc.constant('object' as const), items: fc.array(tie('node'), { maxLength: 3 }) }),
      ),
    })).node;
    const build = (s: Shape): unknown => {
      switch (s.kind) {
        case 'leaf': return o.full([s.n], 1.5);
        case 'lin': return new Lin(o.full([s.w], 2), o.full([s.b], -1));
        case 'array': return s.items.map(build);
        case 'object': return Object.fromEntries(s.items.map((x, i) => [`k${i}`, build(x)]));
      }
    };
    // Values read with the asynchronous toArray, outside tidy, so the property runs on webgpu too.
    await fc.assert(
      fc.asyncProperty(shapeArb, async (shape) => {
        const [tree, g] = tidy(() => {
          const t0 = build(shape);
          return [t0, grad((t: unknown) => treeLeaves(t).reduce<Tensor>((acc, x) => o.add(acc, o.sum(x)), o.scalar(0)))(t0)] as const;
        });
        const paths = treeFlatten(tree).map(([p, t]) => [p, t.shape]);
        expect(treeFlatten(g).map(([p, t]) => [p, t.shape])).toEqual(paths);
        for (const t of treeLeaves(g)) expect(Array.from(await t.toArray())).toEqual(new Array(t.size).fill(1));
        dispose([tree, g]);
      }),
      { numRuns: 60 },
    );
  });
});
