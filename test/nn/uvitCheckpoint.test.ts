/**
 * The U-ViT with `checkpointBlocks`: every ResBlock and transformer block recomputed in the backward
 * pass. The same loss bit for bit, the same gradients up to the order in which a value used several
 * times inside a block sums its cotangents (inside the block first, then with the rest, where the
 * plain tape adds them one by one: float addition is not associative), and a lower peak of live
 * tensors.
 */
import { expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { peakBytes } from '../core/harness.js';

it('checkpointBlocks: the same loss bit for bit, gradients to rounding, a lower peak of live tensors', async () => {
  const config = { ...nn.uvitPresets.tiny, patchSize: 2, channels: [8, 16], blocksPerLevel: 2, transformerDim: 32, groups: 4 };
  const plain = nn.uvit(config);
  const lean = nn.uvit({ ...config, checkpointBlocks: true });
  const params = plain.init(r.key(0));
  // Non-zero output weights, or the output (and most gradients) would be exactly zero.
  const perturbed = r.tidy(() => r.treeMap(params, (p) => r.add(p, r.mul(r.normal(r.foldIn(r.key(1), p.size), [...p.shape]), 0.05))));
  const z = r.normal(r.key(2), [2, 4, 16, 16, 1]);
  const logSnr = r.uniform(r.key(3), [2, 4], -5, 5);
  const loss = (m: nn.UViT) => (p: nn.UViTParams) => r.mean(r.square(m.apply(p, z, logSnr)));
  const a = peakBytes(() => r.valueAndGrad(loss(plain))(perturbed));
  const b = peakBytes(() => r.valueAndGrad(loss(lean))(perturbed));
  expect(Array.from(await b.result[0].toArray())).toEqual(Array.from(await a.result[0].toArray()));
  const ga = r.treeLeaves(a.result[1]);
  const gb = r.treeLeaves(b.result[1]);
  expect(gb.length).toBe(ga.length);
  for (let i = 0; i < ga.length; i++) {
    const [x, y] = [Array.from(await ga[i]!.toArray()), Array.from(await gb[i]!.toArray())];
    // A few ulps of the leaf's largest entry: what a different order of summing its terms can move.
    const scale = Math.max(...x.map(Math.abs), 1e-30);
    x.forEach((v, j) => expect(Math.abs(y[j]! - v)).toBeLessThanOrEqual(1e-5 * scale));
  }
  expect(b.peak).toBeLessThan(0.8 * a.peak);
  r.dispose([params, perturbed, z, logSnr, a.result, b.result]);
});
