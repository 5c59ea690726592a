import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
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
