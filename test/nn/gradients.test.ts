/**
 * Finite-difference checks of small layer instances: the derivative from `grad` along a random
 * direction against a central difference (float32 evaluations, float64 quotient), with respect to
 * the parameters and with respect to the input.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { directionalCheck, expectClose, probe } from './helpers.js';

type AnyParams = unknown;

/** f(p) = Σ apply(p, x) ⊙ w for a fixed random w: a scalar whose gradient exercises every output. */
async function checkLayer(apply: (p: AnyParams, x: r.Tensor) => r.Tensor, params: AnyParams, x: r.Tensor, seed: number): Promise<void> {
  const outShape = r.tidy(() => [...apply(params, x).shape]);
  const w = probe(outShape, seed + 1);
  const wrtParams = await directionalCheck((p: AnyParams) => r.sum(r.mul(apply(p, x), w)), params, seed);
  expectClose(wrtParams);
  const wrtInput = await directionalCheck((xx: r.Tensor) => r.sum(r.mul(apply(params, xx), w)), x, seed + 7);
  expectClose(wrtInput);
  r.dispose([w, params, x]);
}

const seed = fc.nat(10_000);
const small = { numRuns: 4 };

describe('finite-difference gradient checks', () => {
  it('linear', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), seed, async (i, o, s) => {
        const l = nn.linear({ inFeatures: i, outFeatures: o });
        await checkLayer((p, x) => l.apply(p as nn.LinearParams, x), l.init(r.key(s)), r.normal(r.key(s + 2), [3, i]), s);
      }),
      small,
    );
  });

  it('conv2d (stride 1 and 2, same and valid padding)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 2), fc.constantFrom('same', 'valid'), fc.integer({ min: 1, max: 3 }), seed, async (stride, padding, k, s) => {
        const l = nn.conv2d({ inChannels: 2, outChannels: 3, kernelSize: k, stride, padding: padding as 'same' | 'valid' });
        await checkLayer((p, x) => l.apply(p as nn.Conv2dParams, x), l.init(r.key(s)), r.normal(r.key(s + 2), [2, 5, 4, 2]), s);
      }),
      small,
    );
  });

  it('layerNorm, rmsNorm and groupNorm', async () => {
    await fc.assert(
      fc.asyncProperty(seed, async (s) => {
        const ln = nn.layerNorm({ features: 6 });
        const lnp = r.tidy(() => ({ scale: r.add(r.normal(r.key(s), [6]), 1), bias: r.normal(r.key(s + 1), [6]) }));
        await checkLayer((p, x) => ln.apply(p as nn.LayerNormParams, x), lnp, r.normal(r.key(s + 2), [3, 6]), s);
        const rms = nn.rmsNorm({ features: 6 });
        await checkLayer((p, x) => rms.apply(p as nn.RmsNormParams, x), rms.init(r.key(s)), r.normal(r.key(s + 3), [3, 6]), s);
        const gn = nn.groupNorm({ channels: 6, groups: 3 });
        const gnp = r.tidy(() => ({ scale: r.add(r.normal(r.key(s), [6]), 1), bias: r.normal(r.key(s + 1), [6]) }));
        await checkLayer((p, x) => gn.apply(p as nn.GroupNormParams, x), gnp, r.normal(r.key(s + 4), [2, 3, 2, 6]), s);
      }),
      { numRuns: 3 },
    );
  });

  it('mlp and fourierFeatures', async () => {
    await fc.assert(
      fc.asyncProperty(seed, async (s) => {
        const m = nn.mlp({ inFeatures: 3, hiddenFeatures: 5, outFeatures: 2 });
        await checkLayer((p, x) => m.apply(p as nn.MlpParams, x), m.init(r.key(s)), r.normal(r.key(s + 2), [4, 3]), s);
        const ff = nn.fourierFeatures({ dim: 6 });
        const w = probe([2, 3, 6], s);
        expectClose(await directionalCheck((x: r.Tensor) => r.sum(r.mul(ff.apply({}, x), w)), r.normal(r.key(s), [2, 3]), s));
        w.dispose();
      }),
      { numRuns: 3 },
    );
  });

  it('attention, with and without a mask', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 }), fc.boolean(), seed, async (heads, masked, s) => {
        const l = nn.attention({ dim: 4, heads });
        const mask = masked ? nn.causalMask(3) : undefined;
        await checkLayer((p, x) => l.apply(p as nn.AttentionParams, x, { mask }), l.init(r.key(s)), r.normal(r.key(s + 2), [2, 3, 4]), s);
        mask?.dispose();
      }),
      small,
    );
  });

  it('spatial and temporal attention', async () => {
    await fc.assert(
      fc.asyncProperty(seed, async (s) => {
        const sa = nn.spatialAttention({ dim: 4, heads: 2 });
        await checkLayer((p, x) => sa.apply(p as nn.AttentionParams, x), sa.init(r.key(s)), r.normal(r.key(s + 2), [1, 2, 2, 2, 4]), s);
        const ta = nn.temporalAttention({ dim: 4, heads: 2 });
        await checkLayer((p, x) => ta.apply(p as nn.AttentionParams, x), ta.init(r.key(s)), r.normal(r.key(s + 3), [1, 3, 2, 1, 4]), s);
      }),
      { numRuns: 2 },
    );
  });

  it('resBlock and videoTransformerBlock (with their conditioning)', async () => {
    const rb = nn.resBlock({ inChannels: 2, outChannels: 4, condDim: 3, groups: 2 });
    const cond = r.normal(r.key(5), [2, 3]);
    await checkLayer((p, x) => rb.apply(p as nn.ResBlockParams, x, cond), rb.init(r.key(1)), r.normal(r.key(2), [2, 4, 4, 2]), 11);
    const tb = nn.videoTransformerBlock({ dim: 4, heads: 2, condDim: 3, mlpRatio: 2 });
    const tcond = r.normal(r.key(6), [1, 2, 3]);
    await checkLayer((p, x) => tb.apply(p as nn.VideoTransformerBlockParams, x, tcond), tb.init(r.key(3)), r.normal(r.key(4), [1, 2, 2, 2, 4]), 12);
    r.dispose([cond, tcond]);
  });

  it('a miniature U-ViT, with respect to its parameters, its input and the logSNR', async () => {
    const model = nn.uvit({ inChannels: 1, patchSize: 2, channels: [4], blocksPerLevel: 1, transformerDim: 8, transformerBlocks: 1, heads: 2, mlpRatio: 2, fourierDim: 4, condDim: 8, groups: 2 });
    // Perturbed away from the zero-initialised output layer, whose zero weights would hide every
    // gradient but its own.
    const params = r.tidy(() => r.treeMap(model.init(r.key(0)), (t, path) => (path.startsWith('outConv') ? r.mul(r.normal(r.key(path.length), t.shape), 0.3) : t)));
    const x = r.normal(r.key(1), [1, 2, 8, 8, 1]);
    const logSnr = r.tensor([[2, -1]]);
    const w = probe([1, 2, 8, 8, 1], 3);
    expectClose(await directionalCheck((p: nn.UViTParams) => r.sum(r.mul(model.apply(p, x, logSnr), w)), params, 21));
    expectClose(await directionalCheck((xx: r.Tensor) => r.sum(r.mul(model.apply(params, xx, logSnr), w)), x, 22));
    expectClose(await directionalCheck((l: r.Tensor) => r.sum(r.mul(model.apply(params, x, l), w)), logSnr, 23));
    r.dispose([params, x, logSnr, w]);
  });
});
