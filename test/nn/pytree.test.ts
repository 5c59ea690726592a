/**
 * A user's class registered as a pytree node is a parameter container for nn too: optimizers update
 * it and checkpoints store it (by its children's paths) and load it back with `like`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { registerPytreeDataclass } from '../../core/pytree.js';

class Affine {
  constructor(readonly w: r.Tensor, readonly b: r.Tensor) {}
}
registerPytreeDataclass(Affine, ['w', 'b']);

let dir = '';
beforeAll(async () => {
  await r.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'nn-pytree-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('adam steps a registered class: the updated parameters are an Affine moving downhill', async () => {
  const opt = nn.adam({ learningRate: 0.1 });
  let params = new Affine(r.tensor([2]), r.tensor([-1]));
  let state = opt.init(params);
  const loss = (p: Affine) => r.add(r.sum(r.square(p.w)), r.sum(r.square(p.b)));
  for (let i = 0; i < 3; i++) {
    const grads = r.grad(loss)(params);
    const step = opt.update(grads, state, params);
    params = nn.applyUpdates(params, step.updates);
    state = step.state;
  }
  expect(params).toBeInstanceOf(Affine);
  const [w, b] = [(await params.w.toArray())[0]!, (await params.b.toArray())[0]!];
  expect(w).toBeLessThan(2);
  expect(b).toBeGreaterThan(-1);
});

it('safetensors stores a registered class by its fields and loads it back as one with `like`', async () => {
  const path = join(dir, 'affine.safetensors');
  const tree = { layer: new Affine(r.tensor([1, 2]), r.tensor([3])) };
  await nn.saveSafetensors(path, tree);
  const plain = await nn.loadSafetensors(path);
  expect(r.treeFlatten(plain.tree).map(([p]) => p).sort()).toEqual(['layer.b', 'layer.w']);
  const { tree: back } = await nn.loadSafetensors(path, { like: tree });
  expect(back.layer).toBeInstanceOf(Affine);
  expect(Array.from(await back.layer.w.toArray())).toEqual([1, 2]);
  expect(Array.from(await back.layer.b.toArray())).toEqual([3]);
});
