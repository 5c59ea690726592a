/**
 * Memory scopes: a training loop stays flat, tidy frees what it does not return, dispose frees trees,
 * and a freed tensor says so by name when it is used.
 */
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { dispose, getBackend, grad, keep, key, memoryStats, normal, split, tidy, treeLeaves, treeZipMap, valueAndGrad, vjp, type Tensor } from '../../index.js';
import { describeBackends, read, upload } from './harness.js';

interface Mlp {
  layers: { w: Tensor; b: Tensor }[];
}

function initMlp(sizes: number[]): Mlp {
  const keys = split(key(3), sizes.length);
  return {
    layers: sizes.slice(1).map((n, i) => ({
      w: o.mul(normal(keys[i]!, [sizes[i]!, n]), 1 / Math.sqrt(sizes[i]!)),
      b: o.zeros([n]),
    })),
  };
}

function mlpLoss(p: Mlp, x: Tensor, y: Tensor): Tensor {
  let h = x;
  p.layers.forEach((l, i) => {
    h = o.add(o.matmul(h, l.w), l.b);
    if (i < p.layers.length - 1) h = o.gelu(h);
  });
  return o.mean(o.square(o.sub(h, y)));
}

describeBackends('memory', () => {
  it('1,000 valueAndGrad steps of a small MLP inside tidy keep tensors and bytes flat', async () => {
    const x = tidy(() => normal(key(1), [8, 4]));
    const y = tidy(() => o.sin(o.sum(x, 1, true)));
    let params = tidy(() => initMlp([4, 16, 16, 1]));
    const step = () =>
      tidy(() => {
        const [loss, g] = valueAndGrad(mlpLoss)(params, x, y);
        const next = treeZipMap([params, g], ([p, d]) => o.sub(p!, o.mul(d!, 0.05)));
        return { next, loss };
      });
    const first = step();
    dispose(params);
    params = first.next;
    const firstLoss = (await read(first.loss))[0]!;
    dispose(first.loss);
    const baseline = memoryStats();
    const backendBaseline = getBackend().stats?.();
    let lastLoss = firstLoss;
    for (let i = 1; i < 1000; i++) {
      const { next, loss } = step();
      dispose(params);
      params = next;
      if (i % 100 === 99) {
        lastLoss = (await read(loss))[0]!;
        expect(memoryStats().tensors).toBe(baseline.tensors + 1);
      }
      dispose(loss);
      if (i % 100 === 0) expect(memoryStats()).toEqual(baseline);
    }
    expect(memoryStats()).toEqual(baseline);
    // The backend holds no more live buffers than the core accounts for (pooled ones are free).
    const backendNow = getBackend().stats?.();
    if (backendBaseline && backendNow) expect(backendNow.buffers).toBe(backendBaseline.buffers);
    // And the loop did train.
    expect(lastLoss).toBeLessThan(firstLoss);
    dispose([params, x, y]);
  });

  it('second-order grads and vjp pullbacks inside tidy leak nothing', () => {
    const x = upload({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
    const baseline = memoryStats();
    for (let i = 0; i < 50; i++) {
      tidy(() => {
        grad((t: Tensor) => o.sum(grad((u: Tensor) => o.sum(o.tanh(o.matmul(u, o.transpose(u)))))(t)))(x);
        const [, pb] = vjp((t: Tensor) => o.softmax(t), x);
        pb(o.onesLike(x));
      });
    }
    expect(memoryStats()).toEqual(baseline);
    dispose(x);
  });

  it('tidy disposes intermediates and keeps the tensors of a returned tree, moving them to the outer scope', () => {
    const before = memoryStats();
    let inner: Tensor | undefined;
    const kept = tidy(() => {
      const a = o.ones([2, 2]);
      const b = o.add(a, 1);
      const tree = tidy(() => {
        const c = o.mul(b, 2);
        inner = o.exp(c);
        return { out: [o.sub(c, 1), { deep: o.neg(c) }], label: 'x', n: 1 };
      });
      expect(inner!.disposed).toBe(true);
      expect(a.disposed).toBe(false);
      void tidy(() => o.add(a, a)); // returned but dropped by this scope: freed by the outer one
      return tree;
    });
    expect(kept.label).toBe('x');
    const leaves = treeLeaves(kept);
    expect(leaves).toHaveLength(2);
    expect(leaves.every((t) => !t.disposed)).toBe(true);
    expect(memoryStats().tensors).toBe(before.tensors + 2);
    dispose(kept);
    expect(memoryStats()).toEqual(before);
  });

  it('keep() lets a tensor outlive its scope; a throwing scope frees its tensors and rethrows', () => {
    const before = memoryStats();
    let held!: Tensor;
    tidy(() => {
      held = keep(o.ones([3]));
      o.zeros([3]);
    });
    expect(held.disposed).toBe(false);
    expect(memoryStats().tensors).toBe(before.tensors + 1);
    dispose(held);
    expect(() =>
      tidy(() => {
        o.ones([4]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(memoryStats()).toEqual(before);
  });

  it('dispose frees every tensor of a pytree, once; reshaped views share storage until the last goes', () => {
    const before = memoryStats();
    const t = o.ones([2, 3]);
    const view = o.reshape(t, [6]);
    const tree = { a: [t, { b: o.zeros([4]) }], c: null, d: 3 };
    expect(memoryStats().bytes).toBe(before.bytes + 6 * 4 + 4 * 4);
    dispose(tree);
    expect(t.disposed).toBe(true);
    // The view still holds the buffer.
    expect(memoryStats().bytes).toBe(before.bytes + 6 * 4);
    dispose(tree);
    dispose(view);
    expect(memoryStats()).toEqual(before);
  });

  it('zeros, ones and full outside any scope leave only their result behind', () => {
    const before = memoryStats();
    const like = upload({ shape: [1], data: [1] });
    const ts = [o.zeros([3]), o.ones([2, 2], 'int32'), o.full([], 7), o.zerosLike(like), like];
    expect(memoryStats().tensors).toBe(before.tensors + 5);
    dispose(ts);
    expect(memoryStats()).toEqual(before);
  });

  it('reading or using a disposed tensor throws an error naming it', async () => {
    const t = o.ones([2, 3]);
    dispose(t);
    const name = new RegExp(`tensor #${t.id} \\(float32\\[2,3\\]\\) was disposed`);
    await expect((async () => t.toArray())()).rejects.toThrow(name);
    expect(() => o.add(t, 1)).toThrow(/^add: tensor #\d+ \(float32\[2,3\]\) was disposed/);
    expect(() => o.reshape(t, [6])).toThrow(name);
  });

  it('tidy with an async function throws and frees what it made', async () => {
    const before = memoryStats();
    expect(() =>
      tidy((async () => {
        o.ones([2]);
        return 1;
      }) as unknown as () => number),
    ).toThrow(/tidy: the function returned a Promise; a scope cannot span an await/);
    expect(memoryStats()).toEqual(before);
  });
});
