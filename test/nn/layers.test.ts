import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { erfHost } from '../../nn/layers/init.js';
import { values } from './helpers.js';

const dim = (max = 5) => fc.integer({ min: 1, max });
const lead = fc.array(dim(3), { minLength: 0, maxLength: 2 });
const runs = { numRuns: 15 };

/** Run `fn` in a scope and report the output's shape; nothing outlives the check. */
function shapeOf(fn: () => r.Tensor): number[] {
  return r.tidy(() => [...fn().shape]);
}

describe('layer shapes (properties over random configurations)', () => {
  it('linear: [..., in] → [..., out], with or without bias', () => {
    fc.assert(
      fc.property(lead, dim(), dim(), fc.boolean(), fc.nat(1000), (l, inF, outF, bias, seed) => {
        const layer = nn.linear({ inFeatures: inF, outFeatures: outF, bias });
        const p = layer.init(r.key(seed));
        expect(shapeOf(() => layer.apply(p, r.ones([...l, inF])))).toEqual([...l, outF]);
        expect(nn.countParameters(p)).toBe(inF * outF + (bias ? outF : 0));
        r.dispose(p);
      }),
      runs,
    );
  });

  it('conv2d: NHWC → [N, ⌈H/s⌉, ⌈W/s⌉, out] with same padding, and (H−k)/s+1 with valid', () => {
    fc.assert(
      fc.property(dim(2), dim(7), dim(7), dim(3), dim(4), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom('same', 'valid'), fc.nat(1000), (n, h, w, cin, cout, k, s, padding, seed) => {
        fc.pre(padding === 'same' || (h >= k && w >= k));
        const layer = nn.conv2d({ inChannels: cin, outChannels: cout, kernelSize: k, stride: s, padding: padding as 'same' | 'valid' });
        const p = layer.init(r.key(seed));
        const out = padding === 'same' ? [n, Math.ceil(h / s), Math.ceil(w / s), cout] : [n, Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1, cout];
        expect(shapeOf(() => layer.apply(p, r.ones([n, h, w, cin])))).toEqual(out);
        expect(p.weight.shape).toEqual([k, k, cin, cout]);
        r.dispose(p);
      }),
      runs,
    );
  });

  it('conv2d: explicit padding ((top, bottom), (left, right)) gives ⌊(H + top + bottom − k)/s⌋ + 1', () => {
    fc.assert(
      fc.property(dim(2), dim(6), dim(6), dim(3), dim(3), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), fc.nat(1000), (n, h, w, cin, cout, k, s, [t, b, l, rr], seed) => {
        fc.pre(h + t + b >= k && w + l + rr >= k);
        const layer = nn.conv2d({ inChannels: cin, outChannels: cout, kernelSize: k, stride: s, padding: [[t, b], [l, rr]] });
        const p = layer.init(r.key(seed));
        const out = [n, Math.floor((h + t + b - k) / s) + 1, Math.floor((w + l + rr - k) / s) + 1, cout];
        expect(shapeOf(() => layer.apply(p, r.ones([n, h, w, cin])))).toEqual(out);
        r.dispose(p);
      }),
      runs,
    );
  });

  it('conv2d: video [B, T, H, W, C] is convolved frame by frame', async () => {
    const layer = nn.conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3 });
    const p = layer.init(r.key(1));
    const x = r.normal(r.key(2), [2, 3, 5, 5, 2]);
    const video = layer.apply(p, x);
    expect(video.shape).toEqual([2, 3, 5, 5, 3]);
    const frame = layer.apply(p, r.reshape(r.slice(x, [1, 2], [1, 1]), [1, 5, 5, 2]));
    expect(await values(r.reshape(r.slice(video, [1, 2], [1, 1]), [1, 5, 5, 3]))).toEqual(await values(frame));
  });

  it('layerNorm, rmsNorm, groupNorm keep the shape', () => {
    fc.assert(
      fc.property(lead, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), dim(4), (l, groups, perGroup, spatial) => {
        const c = groups * perGroup;
        const x = [1 + l.length, ...l, spatial, c];
        const ln = nn.layerNorm({ features: c });
        const rms = nn.rmsNorm({ features: c });
        const gn = nn.groupNorm({ channels: c, groups });
        expect(shapeOf(() => ln.apply(ln.init(r.key(0)), r.normal(r.key(1), x)))).toEqual(x);
        expect(shapeOf(() => rms.apply(rms.init(r.key(0)), r.normal(r.key(1), x)))).toEqual(x);
        expect(shapeOf(() => gn.apply(gn.init(r.key(0)), r.normal(r.key(1), x)))).toEqual(x);
      }),
      runs,
    );
  });

  it('dropout, embedding, mlp, fourierFeatures, sequential', () => {
    fc.assert(
      fc.property(lead, dim(4), dim(6), fc.integer({ min: 1, max: 4 }), fc.nat(1000), (l, f, vocab, half, seed) => {
        const drop = nn.dropout({ rate: 0.3 });
        expect(shapeOf(() => drop.apply({}, r.ones([...l, f]), { training: true, key: r.key(seed) }))).toEqual([...l, f]);
        const emb = nn.embedding({ numEmbeddings: vocab, features: f });
        const ep = emb.init(r.key(seed));
        expect(shapeOf(() => emb.apply(ep, r.zeros([...l, 2], 'int32')))).toEqual([...l, 2, f]);
        const m = nn.mlp({ inFeatures: f, hiddenFeatures: 2 * f, outFeatures: f + 1 });
        const mp = m.init(r.key(seed));
        expect(shapeOf(() => m.apply(mp, r.ones([...l, f])))).toEqual([...l, f + 1]);
        const ff = nn.fourierFeatures({ dim: 2 * half });
        expect(shapeOf(() => ff.apply({}, r.zeros([...l, 3])))).toEqual([...l, 3, 2 * half]);
        const seq = nn.sequential(nn.linear({ inFeatures: f, outFeatures: 3 }), nn.activation(r.silu), nn.linear({ inFeatures: 3, outFeatures: 2 }));
        const sp = seq.init(r.key(seed));
        expect(shapeOf(() => seq.apply(sp, r.ones([...l, f])))).toEqual([...l, 2]);
        expect(nn.countParameters(sp)).toBe(f * 3 + 3 + 3 * 2 + 2);
        r.dispose([ep, mp, sp]);
      }),
      runs,
    );
  });

  it('attention: [..., L, dim] → [..., L, dim] for any heads and head width', () => {
    fc.assert(
      fc.property(lead, dim(5), dim(3), dim(4), fc.nat(1000), (l, length, heads, headDim, seed) => {
        const d = heads * headDim;
        const layer = nn.attention({ dim: d, heads });
        const p = layer.init(r.key(seed));
        expect(shapeOf(() => layer.apply(p, r.normal(r.key(seed + 1), [...l, length, d])))).toEqual([...l, length, d]);
        expect(shapeOf(() => layer.apply(p, r.normal(r.key(seed + 1), [...l, length, d]), { mask: nn.causalMask(length) }))).toEqual([...l, length, d]);
        expect(nn.countParameters(p)).toBe(4 * d * d + 4 * d);
        r.dispose(p);
      }),
      runs,
    );
  });

  it('spatial and temporal attention keep the video shape [B, T, H, W, C]', () => {
    fc.assert(
      fc.property(dim(2), dim(4), dim(3), dim(3), fc.integer({ min: 1, max: 2 }), fc.nat(1000), (b, t, h, w, heads, seed) => {
        const c = 4 * heads;
        const s = nn.spatialAttention({ dim: c, heads });
        const tm = nn.temporalAttention({ dim: c, heads });
        const ps = s.init(r.key(seed));
        const x = [b, t, h, w, c];
        expect(shapeOf(() => s.apply(ps, r.normal(r.key(seed), x)))).toEqual(x);
        expect(shapeOf(() => tm.apply(ps, r.normal(r.key(seed), x), { mask: nn.causalMask(t) }))).toEqual(x);
        r.dispose(ps);
      }),
      runs,
    );
  });

  it('resBlock and videoTransformerBlock keep the shape (a resBlock may change the width)', () => {
    fc.assert(
      fc.property(dim(2), dim(3), fc.constantFrom(4, 6), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.nat(1000), (b, t, hw, groups, widthFactor, seed) => {
        const cin = 2 * groups;
        const cout = 2 * groups * widthFactor;
        const rb = nn.resBlock({ inChannels: cin, outChannels: cout, condDim: 5, groups });
        const rp = rb.init(r.key(seed));
        expect(shapeOf(() => rb.apply(rp, r.normal(r.key(1), [b * t, hw, hw, cin]), r.normal(r.key(2), [b * t, 5])))).toEqual([b * t, hw, hw, cout]);
        expect(rp.skip === undefined).toBe(cin === cout);
        const tb = nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 5, mlpRatio: 2 });
        const tp = tb.init(r.key(seed));
        expect(shapeOf(() => tb.apply(tp, r.normal(r.key(1), [b, t, 2, 2, 8]), r.normal(r.key(2), [b, t, 5])))).toEqual([b, t, 2, 2, 8]);
        r.dispose([rp, tp]);
      }),
      { numRuns: 8 },
    );
  });
});

describe('layer semantics', () => {
  it('linear computes x W + b', async () => {
    const p = { weight: r.tensor([[1, 2], [3, 4], [5, 6]]), bias: r.tensor([10, 20]) };
    const y = nn.linear({ inFeatures: 3, outFeatures: 2 }).apply(p, r.tensor([[1, 0, -1]]));
    expect(await values(y)).toEqual([1 - 5 + 10, 2 - 6 + 20]);
  });

  it('dropout is the identity when not training, and a scaled 0/1 mask of the expected density when training', async () => {
    const drop = nn.dropout({ rate: 0.25 });
    const x = r.ones([4000]);
    expect(drop.apply({}, x)).toBe(x);
    expect(drop.apply({}, x, { training: false, key: r.key(0) })).toBe(x);
    const y = await values(drop.apply({}, x, { training: true, key: r.key(3) }));
    const kept = y.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    expect(Math.abs(kept.length / 4000 - 0.75)).toBeLessThan(0.03);
    expect(await values(drop.apply({}, x, { training: true, key: r.key(3) }))).toEqual(y);
    expect(() => drop.apply({}, x, { training: true })).toThrow(/needs a key/);
  });

  it('embedding looks up rows of the table', async () => {
    const emb = nn.embedding({ numEmbeddings: 4, features: 3 });
    const p = emb.init(r.key(0));
    const table = await values(p.table);
    const y = await values(emb.apply(p, r.tensor([[2, 0]], undefined, 'int32')));
    expect(y).toEqual([...table.slice(6, 9), ...table.slice(0, 3)]);
  });

  it('initialisers: Flax LeCun normal has variance 1/fanIn and stays within 2σ; biases start at zero', async () => {
    const p = nn.conv2d({ inChannels: 16, outChannels: 32, kernelSize: 3 }).init(r.key(7));
    const w = await values(p.weight);
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    expect(variance).toBeGreaterThan((1 / 144) * 0.9);
    expect(variance).toBeLessThan((1 / 144) * 1.1);
    const bound = (2 * Math.sqrt(1 / 144)) / 0.87962566103423978;
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(await values(p.bias!)).toEqual(new Array(32).fill(0));
    expect(nn.fans([3, 3, 16, 32])).toEqual({ fanIn: 144, fanOut: 288 });
    const torch = await values(nn.kaimingUniformSqrt5()(r.key(1), [100, 50]));
    expect(Math.max(...torch.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(100));
  });

  it('every initialiser has its documented variance and support (fans of an HWIO kernel)', async () => {
    // [3, 3, 16, 32]: fanIn 144, fanOut 288, 4,608 draws. The sample variance of n draws has relative
    // standard error √(2/n) ≈ 2.1% for a normal (less for a uniform or truncated normal): 6 standard errors.
    const shape = [3, 3, 16, 32];
    const n = 4608;
    const cases: [string, nn.Initializer, number, number][] = [
      ['lecunNormal', nn.lecunNormal(), 1 / 144, (2 * Math.sqrt(1 / 144)) / 0.87962566103423978],
      ['heNormal', nn.heNormal(), 2 / 144, (2 * Math.sqrt(2 / 144)) / 0.87962566103423978],
      ['glorotUniform', nn.glorotUniform(), 2 / (144 + 288), Math.sqrt(6 / (144 + 288))],
      ['kaimingUniformSqrt5', nn.kaimingUniformSqrt5(), 1 / (3 * 144), 1 / Math.sqrt(144)],
      ['torchBiasInit(144)', nn.torchBiasInit(144), 1 / (3 * 144), 1 / Math.sqrt(144)],
    ];
    for (const [name, init, variance, bound] of cases) {
      const w = await values(init(r.key(11), shape));
      expect(w.length).toBe(n);
      const mean = w.reduce((s, v) => s + v, 0) / n;
      const v = w.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
      expect(Math.abs(v / variance - 1), name).toBeLessThan(6 * Math.sqrt(2 / n));
      expect(Math.abs(mean), name).toBeLessThan(6 * Math.sqrt(variance / n));
      expect(Math.max(...w.map(Math.abs)), name).toBeLessThanOrEqual(bound * (1 + 1e-6));
      // The support is used: draws come within 10% of the bound.
      expect(Math.max(...w.map(Math.abs)), name).toBeGreaterThan(0.9 * bound);
    }
    expect(() => nn.torchBiasInit(0)).toThrow(/fanIn must be a positive integer/);
  });

  it('fourierFeatures are sin and cos of the input times fixed frequencies, one vector per frame', async () => {
    const ff = nn.fourierFeatures({ dim: 4, minFrequency: 0.5, maxFrequency: 2 });
    const y = await values(ff.apply({}, r.tensor([[1.5, -3]])));
    const expected = (l: number) => [Math.sin(0.5 * l), Math.sin(2 * l), Math.cos(0.5 * l), Math.cos(2 * l)];
    expect(y.map((v) => +v.toFixed(5))).toEqual([...expected(1.5), ...expected(-3)].map((v) => +v.toFixed(5)));
  });

  it('sequential gives each layer its own parameters and key stream', async () => {
    const seq = nn.sequential(nn.dropout({ rate: 0.5 }), nn.dropout({ rate: 0.5 }));
    const p = seq.init(r.key(0));
    expect(p).toEqual([{}, {}]);
    const y = await values(seq.apply(p, r.ones([64]), { training: true, key: r.key(1) }));
    expect(new Set(y)).toEqual(new Set([0, 4]));
  });

  it('layers do not leak: init and apply leave only the parameters behind', () => {
    const before = r.memoryStats().tensors;
    const model = nn.uvit({ ...nn.uvitPresets.tiny, channels: [8], transformerDim: 16, condDim: 16, fourierDim: 8, groups: 4 });
    const p = model.init(r.key(0));
    expect(r.memoryStats().tensors - before).toBe(r.treeLeaves(p).length);
    r.tidy(() => {
      model.apply(p, r.zeros([1, 2, 16, 16, 1]), r.zeros([1, 2]));
    });
    expect(r.memoryStats().tensors - before).toBe(r.treeLeaves(p).length);
    r.dispose(p);
    expect(r.memoryStats().tensors).toBe(before);
  });

  it('every layer, applied outside tidy, leaves exactly one new tensor (its output) and init only its parameters', () => {
    const x4 = () => r.normal(r.key(9), [1, 4, 4, 8]);
    const x5 = () => r.normal(r.key(9), [1, 2, 4, 4, 8]);
    const cond = () => r.normal(r.key(8), [1, 2, 16]);
    const cases: [string, nn.AnyLayer | { init(k: r.Key): unknown; apply(p: never, x: r.Tensor, c: r.Tensor, o?: nn.RunOptions): r.Tensor }, () => r.Tensor, (() => r.Tensor)?][] = [
      ['linear', nn.linear({ inFeatures: 8, outFeatures: 3 }), x4],
      ['conv2d', nn.conv2d({ inChannels: 8, outChannels: 3, kernelSize: 3 }), x4],
      ['layerNorm', nn.layerNorm({ features: 8 }), x4],
      ['groupNorm', nn.groupNorm({ channels: 8, groups: 2 }), x4],
      ['rmsNorm', nn.rmsNorm({ features: 8 }), x4],
      ['mlp', nn.mlp({ inFeatures: 8, hiddenFeatures: 6, outFeatures: 8 }), x4],
      ['attention', nn.attention({ dim: 8, heads: 2 }), () => r.normal(r.key(9), [2, 5, 8])],
      ['spatialAttention', nn.spatialAttention({ dim: 8, heads: 2 }), x5],
      ['temporalAttention', nn.temporalAttention({ dim: 8, heads: 2 }), x5],
      ['fourierFeatures', nn.fourierFeatures({ dim: 8 }), () => r.normal(r.key(9), [2, 3])],
      ['embedding', nn.embedding({ numEmbeddings: 5, features: 4 }), () => r.tensor([0, 4, 2], [3], 'int32')],
      ['sequential', nn.sequential(nn.linear({ inFeatures: 8, outFeatures: 4 }), nn.activation(r.gelu), nn.linear({ inFeatures: 4, outFeatures: 2 })), x4],
      ['resBlock', nn.resBlock({ inChannels: 8, outChannels: 4, condDim: 16, groups: 2 }), x4, () => r.normal(r.key(8), [1, 16])],
      ['videoTransformerBlock', nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 16 }), x5, cond],
    ];
    for (const [name, layer, input, extra] of cases) {
      const x = input();
      const c = extra?.();
      const before = r.memoryStats().tensors;
      const p = layer.init(r.key(0));
      expect(r.memoryStats().tensors - before, `${name}.init`).toBe(r.treeLeaves(p).length);
      const y = c ? (layer as { apply(p: unknown, x: r.Tensor, c: r.Tensor): r.Tensor }).apply(p, x, c) : (layer as nn.AnyLayer).apply(p as never, x);
      expect(r.memoryStats().tensors - before, `${name}.apply`).toBe(r.treeLeaves(p).length + 1);
      r.dispose([p, y, x, c]);
      expect(r.memoryStats().tensors, name).toBe(before - (c ? 2 : 1));
    }
  });

  it('configuration errors name the layer and the problem', () => {
    expect(() => nn.linear({ inFeatures: 0, outFeatures: 2 })).toThrow(/linear: inFeatures must be a positive integer/);
    expect(() => nn.groupNorm({ channels: 6, groups: 4 })).toThrow(/4 groups do not divide 6 channels/);
    expect(() => nn.attention({ dim: 6, heads: 4 })).toThrow(/heads do not divide dim/);
    expect(() => nn.fourierFeatures({ dim: 3 })).toThrow(/even/);
    const lin = nn.linear({ inFeatures: 3, outFeatures: 2 });
    expect(() => lin.apply(lin.init(r.key(0)), r.ones([2, 4]))).toThrow(/linear: expected 3 input features/);
  });
});

describe('errors name the layer, the field and what was expected (the whole message)', () => {
  it('a size that is not a positive integer, in every layer that takes one', () => {
    const cases: [string, number, (v: number) => unknown][] = [
      ['linear: inFeatures', 0, (v) => nn.linear({ inFeatures: v, outFeatures: 2 })],
      ['linear: outFeatures', 1.5, (v) => nn.linear({ inFeatures: 2, outFeatures: v })],
      ['conv2d: inChannels', -1, (v) => nn.conv2d({ inChannels: v, outChannels: 2, kernelSize: 3 })],
      ['conv2d: outChannels', 0, (v) => nn.conv2d({ inChannels: 1, outChannels: v, kernelSize: 3 })],
      ['conv2d: kernelSize', 0, (v) => nn.conv2d({ inChannels: 1, outChannels: 2, kernelSize: [v, 3] })],
      ['conv2d: kernelSize', 2.5, (v) => nn.conv2d({ inChannels: 1, outChannels: 2, kernelSize: [3, v] })],
      ['layerNorm: features', 0, (v) => nn.layerNorm({ features: v })],
      ['rmsNorm: features', -2, (v) => nn.rmsNorm({ features: v })],
      ['groupNorm: channels', 0, (v) => nn.groupNorm({ channels: v, groups: 1 })],
      ['groupNorm: groups', 0, (v) => nn.groupNorm({ channels: 4, groups: v })],
      ['attention: dim', 0, (v) => nn.attention({ dim: v, heads: 1 })],
      ['attention: heads', 0, (v) => nn.attention({ dim: 4, heads: v })],
      ['attention: headDim', 0, (v) => nn.attention({ dim: 4, heads: 2, headDim: v })],
      ['embedding: numEmbeddings', 0, (v) => nn.embedding({ numEmbeddings: v, features: 2 })],
      ['embedding: features', -1, (v) => nn.embedding({ numEmbeddings: 3, features: v })],
      ['fourierFeatures: dim', 0, (v) => nn.fourierFeatures({ dim: v })],
      ['torchBiasInit: fanIn', 0, (v) => nn.torchBiasInit(v)],
    ];
    for (const [prefix, bad, make] of cases) {
      expect(() => make(bad), prefix).toThrow(new RegExp(`^${prefix} must be a positive integer, got ${bad}$`));
      expect(() => make(2), prefix).not.toThrow();
    }
  });

  it('an input of the wrong shape, at apply', () => {
    const applyTo = <P>(layer: nn.Layer<P, r.Tensor, r.Tensor, nn.RunOptions & { mask?: r.Tensor }>, x: r.Tensor, options?: { mask?: r.Tensor }) => () => r.tidy(() => layer.apply(layer.init(r.key(0)), x, options));
    const cases: [RegExp, () => unknown][] = [
      [/^layerNorm: expected 4 features in the last axis, got shape \[2,5\]$/, applyTo(nn.layerNorm({ features: 4 }), r.ones([2, 5]))],
      [/^rmsNorm: expected 4 features in the last axis, got shape \[2,5\]$/, applyTo(nn.rmsNorm({ features: 4 }), r.ones([2, 5]))],
      [/^groupNorm: expected 4 channels in the last axis, got shape \[1,3,3,2\]$/, applyTo(nn.groupNorm({ channels: 4, groups: 2 }), r.ones([1, 3, 3, 2]))],
      [/^groupNorm: shape \[3,2\] has no axes beyond the 2 batch axes$/, applyTo(nn.groupNorm({ channels: 2, groups: 1, batchDims: 2 }), r.ones([3, 2]))],
      [/^conv2d: expected \[\.\.\., height, width, channels\] with at least one batch axis, got \[4,4,2\]$/, applyTo(nn.conv2d({ inChannels: 2, outChannels: 1, kernelSize: 3 }), r.ones([4, 4, 2]))],
      [/^conv2d: expected 2 input channels, got shape \[1,4,4,3\]$/, applyTo(nn.conv2d({ inChannels: 2, outChannels: 1, kernelSize: 3 }), r.ones([1, 4, 4, 3]))],
      [/^attention: expected \[\.\.\., length, 4\], got \[4\]$/, applyTo(nn.attention({ dim: 4, heads: 2 }), r.ones([4]))],
      [/^attention: expected \[\.\.\., length, 4\], got \[3,5\]$/, applyTo(nn.attention({ dim: 4, heads: 2 }), r.ones([3, 5]))],
      [/^attention: mask \[1,1,1,3,3\] has more axes than the scores \[2,3,3\]$/, applyTo(nn.attention({ dim: 4, heads: 2 }), r.ones([3, 4]), { mask: r.ones([1, 1, 1, 3, 3], 'bool') })],
      [/^spatialAttention: expected video \[batch, frames, height, width, channels\], got \[2,4,4\]$/, applyTo(nn.spatialAttention({ dim: 4, heads: 2 }), r.ones([2, 4, 4]))],
      [/^temporalAttention: expected video \[batch, frames, height, width, channels\], got \[1,2,4,4\]$/, applyTo(nn.temporalAttention({ dim: 4, heads: 2 }), r.ones([1, 2, 4, 4]))],
      [/^embedding: ids must be int32 or uint32, got float32 \[2\]$/, applyTo(nn.embedding({ numEmbeddings: 3, features: 2 }), r.tensor([0, 1]))],
      [/^sequential: 2 layers but 1 parameter sets$/, () => { const seq = nn.sequential(nn.activation(r.relu), nn.activation(r.relu)); return seq.apply([{}] as never, r.ones([2])); }],
    ];
    for (const [message, run] of cases) expect(run, String(message)).toThrow(message);
  });

  it('a rate or a frequency range out of bounds is refused; the bounds themselves are not', () => {
    for (const bad of [-0.1, 1, Number.NaN]) expect(() => nn.dropout({ rate: bad })).toThrow(new RegExp(`^dropout: rate must be in \\[0, 1\\), got ${bad}$`));
    expect(() => nn.dropout({ rate: 0 })).not.toThrow();
    for (const [lo, hi] of [[0, 1], [2, 1], [-1, 1]] as const) {
      expect(() => nn.fourierFeatures({ dim: 4, minFrequency: lo, maxFrequency: hi })).toThrow(new RegExp(`^fourierFeatures: need 0 < minFrequency ≤ maxFrequency, got ${lo}, ${hi}$`));
    }
    expect(() => nn.fourierFeatures({ dim: 4, minFrequency: 2, maxFrequency: 2 })).not.toThrow();
    expect(() => nn.fans([])).toThrow(/^fans: a kernel needs at least one axis$/);
  });

  it('attention with an explicit headDim needs no divisibility: 4 heads of 2 over dim 6', () => {
    const layer = nn.attention({ dim: 6, heads: 4, headDim: 2 });
    const p = layer.init(r.key(0));
    expect(p.query.weight.shape).toEqual([6, 8]);
    expect(p.out.weight.shape).toEqual([8, 6]);
    expect(shapeOf(() => layer.apply(p, r.ones([3, 6])))).toEqual([3, 6]);
    r.dispose(p);
  });
});

describe('scale, bias and the axes they act on', () => {
  /** x̂ of each row of `xs` (rows of `f`), in float64: (x − mean)/√(var + ε), or x/√(mean x² + ε). */
  const normalisedRows = (xs: readonly number[], f: number, centre: boolean) =>
    Array.from({ length: xs.length / f }, (_, i) => {
      const row = xs.slice(i * f, (i + 1) * f);
      const m = centre ? row.reduce((a, v) => a + v, 0) / f : 0;
      const v = row.reduce((a, x) => a + (x - m) ** 2, 0) / f;
      return row.map((x) => (x - m) / Math.sqrt(v + 1e-6));
    }).flat();

  const close = (a: readonly number[], b: readonly number[], tol: number) => {
    expect(a.length).toBe(b.length);
    const worst = a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i]!)), 0);
    expect(worst).toBeLessThan(tol);
  };

  it('layerNorm and rmsNorm on [2, 3, f]: each row of the last axis alone, then γ x̂ + β per feature', async () => {
    // Rank 3, so normalising over axis 1 instead of the last would be seen. Tolerance 1e-4: float32
    // centring and rsqrt, inputs of order 3 (x̂ of order 1, times γ ≤ 2).
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 6 }), fc.nat(1000), async (f, s) => {
        const x = r.mul(r.normal(r.key(s), [2, 3, f]), 3);
        const gamma = r.uniform(r.key(s + 1), [f], 0.5, 2);
        const beta = r.normal(r.key(s + 2), [f]);
        const [xs, g, b] = await Promise.all([values(x), values(gamma), values(beta)]);
        const ln = nn.layerNorm({ features: f });
        const y = await values(ln.apply({ scale: gamma, bias: beta }, x));
        close(y, normalisedRows(xs, f, true).map((v, i) => g[i % f]! * v + b[i % f]!), 1e-4);
        const rms = nn.rmsNorm({ features: f });
        const z = await values(rms.apply({ scale: gamma }, x));
        close(z, normalisedRows(xs, f, false).map((v, i) => g[i % f]! * v), 1e-4);
        r.dispose([x, gamma, beta]);
      }),
      { numRuns: 10 },
    );
  });

  it('layerNorm without scale or bias has no such parameters and applies none; the defaults have both', async () => {
    const x = r.mul(r.normal(r.key(3), [2, 5]), 3);
    const xs = await values(x);
    const count = (config: Partial<nn.LayerNormConfig>) => nn.countParameters(nn.layerNorm({ features: 5, ...config }).init(r.key(0)));
    expect([count({}), count({ useScale: false }), count({ useBias: false }), count({ useScale: false, useBias: false })]).toEqual([10, 5, 5, 0]);
    const defaults = nn.layerNorm({ features: 5 }).init(r.key(0));
    expect(defaults.scale!.shape).toEqual([5]);
    expect(defaults.bias!.shape).toEqual([5]);
    expect(nn.layerNorm({ features: 5, useScale: false }).init(r.key(0)).scale).toBeUndefined();
    expect(nn.layerNorm({ features: 5, useBias: false }).init(r.key(0)).bias).toBeUndefined();
    const plain = nn.layerNorm({ features: 5, useScale: false, useBias: false });
    close(await values(plain.apply(plain.init(r.key(0)), x)), normalisedRows(xs, 5, true), 1e-5);
    const beta = r.tensor([1, 2, 3, 4, 5]);
    const biasOnly = nn.layerNorm({ features: 5, useScale: false });
    close(await values(biasOnly.apply({ bias: beta }, x)), normalisedRows(xs, 5, true).map((v, i) => v + 1 + (i % 5)), 1e-5);
    expect(nn.countParameters(nn.rmsNorm({ features: 5 }).init(r.key(0)))).toBe(5);
    expect(nn.countParameters(nn.groupNorm({ channels: 6, groups: 3 }).init(r.key(0)))).toBe(12);
  });

  it('groupNorm with batchDims 2 on [B, T, H, W, C] is groupNorm on the [B·T, H, W, C] frames; on [N, C] it normalises each group of channels', async () => {
    const gn2 = nn.groupNorm({ channels: 4, groups: 2, batchDims: 2 });
    const gn1 = nn.groupNorm({ channels: 4, groups: 2 });
    const p = { scale: r.tensor([1, 2, 0.5, 1.5]), bias: r.tensor([0, 1, -1, 2]) };
    const video = r.add(r.mul(r.normal(r.key(4), [2, 3, 2, 2, 4]), r.reshape(r.arange(1, 4), [1, 3, 1, 1, 1])), 5);
    const frames = r.reshape(video, [6, 2, 2, 4]);
    close(await values(gn2.apply(p, video)), await values(gn1.apply(p, frames)), 1e-5);
    // No spatial axes: each group of 2 channels of each row is normalised on its own.
    const x = r.tensor([[1, 3, 10, 30], [-2, 2, 0, 8]]);
    const y = await values(gn1.apply(p, x));
    const unit = 1 / Math.sqrt(1 + 1e-6);
    close(y, [-unit, 2 * unit + 1, -0.5 * unit - 1, 1.5 * unit + 2, -unit, 2 * unit + 1, -0.5 * unit - 1, 1.5 * unit + 2], 1e-5);
  });

  it('conv2d adds its bias per output channel; without bias it has none and adds none', async () => {
    const withBias = nn.conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3 });
    const without = nn.conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, bias: false });
    const p = without.init(r.key(5));
    expect(Object.keys(p)).toEqual(['weight']);
    expect(Object.keys(withBias.init(r.key(5))).sort()).toEqual(['bias', 'weight']);
    const x = r.normal(r.key(6), [1, 4, 4, 2]);
    const plain = await values(without.apply(p, x));
    const shifted = await values(withBias.apply({ weight: p.weight, bias: r.tensor([1, -2, 3]) }, x));
    close(shifted, plain.map((v, i) => v + [1, -2, 3][i % 3]!), 1e-5);
  });
});

describe('initialisers and parameter-free layers', () => {
  it('erfHost matches erf to float64 precision, in the series range and the continued-fraction tail', () => {
    // Reference values of erf (and erfc for the tail, where 1 − erf loses the digits). Tolerance
    // 2e-13: the Maclaurin series at x = 3 sums terms up to ~10³ that cancel to ~1, losing about
    // 10³ ulp of 1 (3e-14 measured); elsewhere the error is a few ulp.
    const erf: [number, number][] = [[0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [Math.SQRT2, 0.9544997361036416], [2, 0.9953222650189527], [3, 0.9999779095030014], [3.5, 0.9999992569016276], [4, 0.9999999845827421], [5, 0.9999999999984626]];
    for (const [x, want] of erf) {
      expect(Math.abs(erfHost(x) - want), `erf(${x})`).toBeLessThan(2e-13);
      expect(erfHost(-x), `erf(−${x}) = −erf(${x})`).toBe(-erfHost(x));
    }
    const erfc: [number, number][] = [[3.5, 7.430983723414128e-7], [4, 1.541725790028002e-8], [5, 1.5374597944280351e-12]];
    for (const [x, want] of erfc) expect(Math.abs(1 - erfHost(x) - want) / want, `erfc(${x})`).toBeLessThan(1e-3);
    expect(erfHost(0)).toBe(0);
  });

  it('fans: a vector is its own fan; explicit axes pick the in and out extents, the rest is the receptive field', () => {
    expect(nn.fans([5])).toEqual({ fanIn: 5, fanOut: 5 });
    expect(nn.fans([3, 7])).toEqual({ fanIn: 3, fanOut: 7 });
    expect(nn.fans([2, 3, 4], 0, 2)).toEqual({ fanIn: 6, fanOut: 12 });
    expect(nn.fans([2, 3, 4], 0, -2)).toEqual({ fanIn: 8, fanOut: 12 });
    expect(nn.fans([2, 3, 4], -3, 1)).toEqual({ fanIn: 8, fanOut: 12 });
  });

  it('the normal and fan-out variance scalings, normalInit and torchBiasInit(1) have their variance and support', async () => {
    // 20,000 draws: the sample variance's relative standard error is √(2/n) = 1%; 6 of them allowed.
    const n = 20_000;
    const stats = async (t: r.Tensor) => {
      const w = await values(t);
      const mean = w.reduce((a, v) => a + v, 0) / w.length;
      return { variance: w.reduce((a, v) => a + (v - mean) ** 2, 0) / (w.length - 1), max: Math.max(...w.map(Math.abs)) };
    };
    // [50, 400]: fanIn 50, fanOut 400. A normal, unlike a uniform of the same variance (bounded at
    // √3 σ), has about 4.6% of its draws beyond 2σ.
    const fanOut = await stats(nn.varianceScaling(1, 'fanOut', 'normal')(r.key(1), [50, 400]));
    expect(Math.abs(fanOut.variance * 400 - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
    expect(fanOut.max).toBeGreaterThan(3 * Math.sqrt(1 / 400));
    const half = await stats(nn.normalInit(0.5)(r.key(2), [n]));
    expect(Math.abs(half.variance / 0.25 - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
    const torch1 = await stats(nn.torchBiasInit(1)(r.key(3), [n]));
    expect(Math.abs(torch1.variance * 3 - 1)).toBeLessThan(6 * Math.sqrt(0.8 / n));
    expect(torch1.max).toBeLessThanOrEqual(1);
    expect(torch1.max).toBeGreaterThan(0.99);
    // The embedding table: N(0, 1/features), Flax's Embed (fans over axis 0 and axis −2 of [n, f]).
    const table = await stats(nn.embedding({ numEmbeddings: 2000, features: 10 }).init(r.key(4)).table);
    expect(Math.abs(table.variance * 10 - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
  });

  it('the truncated normal has the variance of a normal truncated at its bounds, also beyond ±3√2 (the erfc tail)', async () => {
    // At ±5 almost nothing is cut: variance 1 − 2·5·φ(5)/(1 − 2Φ(−5)) ≈ 0.99997.
    const w = await values(nn.truncatedNormal(r.key(5), [20_000], -5, 5));
    const mean = w.reduce((a, v) => a + v, 0) / w.length;
    const variance = w.reduce((a, v) => a + (v - mean) ** 2, 0) / (w.length - 1);
    expect(w.every((v) => Number.isFinite(v) && v >= -5 && v <= 5)).toBe(true);
    expect(Math.abs(mean)).toBeLessThan(6 * Math.sqrt(1 / w.length));
    expect(Math.abs(variance - 1)).toBeLessThan(6 * Math.sqrt(2 / w.length));
  });

  it('parameter-free layers have the empty parameter tree {}; dropout at rate 0 is the identity even when training, without a key', () => {
    expect(nn.fourierFeatures({ dim: 4 }).init(r.key(0))).toEqual({});
    expect(nn.activation(r.relu).init(r.key(0))).toEqual({});
    expect(nn.dropout({ rate: 0.5 }).init(r.key(0))).toEqual({});
    const x = r.ones([3]);
    expect(nn.dropout({ rate: 0 }).apply({}, x, { training: true })).toBe(x);
  });

  it('fourierFeatures with dim 2 is sin and cos at the minimum frequency', async () => {
    const y = await values(nn.fourierFeatures({ dim: 2, minFrequency: 0.75, maxFrequency: 3 }).apply({}, r.tensor([2])));
    expect(y[0]).toBeCloseTo(Math.sin(1.5), 6);
    expect(y[1]).toBeCloseTo(Math.cos(1.5), 6);
  });

  it('videoTransformerBlock: the MLP is mlpRatio × dim wide (default 4); causal, frame 0 ignores later frames', async () => {
    const p4 = nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 3 }).init(r.key(0));
    expect(p4.mlp.hidden.weight.shape).toEqual([8, 32]);
    const p2 = nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 3, mlpRatio: 2 }).init(r.key(0));
    expect(p2.mlp.hidden.weight.shape).toEqual([8, 16]);
    const block = nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 3, mlpRatio: 2, causal: true });
    const x = r.normal(r.key(1), [1, 3, 2, 2, 8]);
    const cond = r.normal(r.key(2), [1, 3, 3]);
    const changed = r.concat([r.slice(x, [0, 0], [1, 1]), r.normal(r.key(3), [1, 2, 2, 2, 8])], 1);
    const first = (y: r.Tensor) => values(r.slice(y, [0, 0], [1, 1]));
    expect(await first(block.apply(p2, changed, cond))).toEqual(await first(block.apply(p2, x, cond)));
    // Not causal, frame 0 sees the change.
    const open = nn.videoTransformerBlock({ dim: 8, heads: 2, condDim: 3, mlpRatio: 2 });
    expect(await first(open.apply(p2, changed, cond))).not.toEqual(await first(open.apply(p2, x, cond)));
    r.dispose([p4, p2]);
  });
});
