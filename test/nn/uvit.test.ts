import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { values } from './helpers.js';

/** A U-ViT small enough for properties: widths 4-8, one block. */
const miniature = (over: Partial<nn.UViTConfig> = {}): nn.UViTConfig => ({
  inChannels: 1,
  patchSize: 2,
  channels: [4],
  blocksPerLevel: 1,
  transformerDim: 8,
  transformerBlocks: 1,
  heads: 2,
  mlpRatio: 2,
  fourierDim: 4,
  condDim: 8,
  groups: 2,
  ...over,
});

/** Parameters with the zero-initialised output layer replaced by random weights, so the output is not 0. */
function withLiveOutput(model: nn.UViT, seed: number): nn.UViTParams {
  return r.tidy(() => {
    const p = model.init(r.key(seed));
    return { ...p, outConv: { weight: r.mul(r.normal(r.key(seed + 1), p.outConv.weight.shape), 0.5), bias: p.outConv.bias! } };
  });
}

function maxAbs(xs: number[]): number {
  return xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

describe('U-ViT', () => {
  it('maps [B, T, H, W, C] and a per-frame logSNR [B, T] to a prediction of the input shape', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(1, 2),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(100),
        (b, t, patchSize, levels, side, channels, seed) => {
          const model = nn.uvit(miniature({ inChannels: channels, patchSize, channels: levels === 1 ? [4] : [4, 6], groups: 2, transformerBlocks: levels }));
          const size = patchSize * 2 ** levels * side;
          const p = model.init(r.key(seed));
          const shape = r.tidy(() => [...model.apply(p, r.normal(r.key(seed), [b, t, size, size, channels]), r.zeros([b, t])).shape]);
          expect(shape).toEqual([b, t, size, size, channels]);
          r.dispose(p);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('starts by predicting exactly zero (the last conv is zero-initialised)', async () => {
    const model = nn.uvit(miniature());
    const p = model.init(r.key(0));
    const y = model.apply(p, r.normal(r.key(1), [1, 2, 8, 8, 1]), r.tensor([[3, -3]]));
    expect(maxAbs(await values(y))).toBe(0);
  });

  it("each frame's output depends on that frame's own logSNR", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.double({ min: 1, max: 6, noNaN: true }), fc.nat(100), async (frame, delta, seed) => {
        const model = nn.uvit(miniature());
        const p = withLiveOutput(model, seed);
        const z = r.normal(r.key(seed + 2), [1, 4, 8, 8, 1]);
        const base = [2, 0, -2, -4];
        const changed = base.map((v, i) => (i === frame ? v + delta : v));
        const frameOf = (y: r.Tensor) => values(r.slice(y, [0, frame], [1, 1]));
        const before = await frameOf(model.apply(p, z, r.tensor([base])));
        const after = await frameOf(model.apply(p, z, r.tensor([changed])));
        const difference = maxAbs(before.map((v, i) => v - after[i]!));
        expect(difference).toBeGreaterThan(1e-3 * Math.max(1, maxAbs(before)));
        r.dispose([p, z]);
      }),
      { numRuns: 6 },
    );
  });

  it('batch elements are independent: one clip never influences another', async () => {
    const model = nn.uvit(miniature());
    const p = withLiveOutput(model, 3);
    const z = r.normal(r.key(4), [2, 2, 8, 8, 1]);
    const zChanged = r.concat([r.slice(z, [0], [1]), r.normal(r.key(5), [1, 2, 8, 8, 1])], 0);
    const logSnr = r.tensor([[1, -1], [0, 2]]);
    const first = (y: r.Tensor) => values(r.slice(y, [0], [1]));
    expect(await first(model.apply(p, zChanged, logSnr))).toEqual(await first(model.apply(p, z, logSnr)));
  });

  it("conditioning is per example: changing example 1's logSNR leaves example 0's output bit for bit", async () => {
    // Example 1's new logSNRs lie above every old one, so anything computed over the batch (its
    // maximum, mean or range, e.g. a time embedding normalised by the batch maximum) changes.
    const logSnrs = fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: 2, maxLength: 2 });
    const raised = fc.array(fc.double({ min: 5, max: 10, noNaN: true }), { minLength: 2, maxLength: 2 });
    await fc.assert(
      fc.asyncProperty(logSnrs, logSnrs, raised, fc.nat(100), async (first, second, secondChanged, seed) => {
        const model = nn.uvit(miniature());
        const p = withLiveOutput(model, seed);
        const z = r.normal(r.key(seed + 2), [2, 2, 8, 8, 1]);
        const exampleZero = async (logSnr: number[][]) => {
          const y = r.tidy(() => r.slice(model.apply(p, z, r.tensor(logSnr)), [0], [1]));
          const read = await values(y);
          r.dispose(y);
          return read;
        };
        const before = await exampleZero([first, second]);
        const after = await exampleZero([first, secondChanged]);
        expect(after).toEqual(before);
        r.dispose([p, z]);
      }),
      { numRuns: 6 },
    );
  });

  it('dropout is active only in training mode, and then needs a key', async () => {
    const model = nn.uvit(miniature({ dropout: 0.5 }));
    const p = withLiveOutput(model, 1);
    const z = r.normal(r.key(2), [1, 2, 8, 8, 1]);
    const l = r.zeros([1, 2]);
    const evalA = await values(model.apply(p, z, l));
    expect(await values(model.apply(p, z, l, { training: false, key: r.key(0) }))).toEqual(evalA);
    const trainA = await values(model.apply(p, z, l, { training: true, key: r.key(7) }));
    expect(trainA).not.toEqual(evalA);
    expect(await values(model.apply(p, z, l, { training: true, key: r.key(7) }))).toEqual(trainA);
    expect(() => model.apply(p, z, l, { training: true })).toThrow(/dropout: training mode needs a key/);
  });

  it('input errors say what is expected', () => {
    const model = nn.uvit(miniature());
    const p = model.init(r.key(0));
    expect(() => model.apply(p, r.zeros([1, 2, 8, 8, 1]), r.zeros([1]))).toThrow(/logSnr must be \[batch, frames\] = \[1,2\]/);
    expect(() => model.apply(p, r.zeros([1, 2, 6, 6, 1]), r.zeros([1, 2]))).toThrow(/must be divisible by 4/);
    expect(() => model.apply(p, r.zeros([2, 8, 8, 1]), r.zeros([1, 2]))).toThrow(/expected video/);
    expect(() => nn.uvit(miniature({ groups: 3 }))).toThrow(/3 GroupNorm groups do not divide width 4/);
  });

  it('presets: tiny and small build, count their parameters, and keep the BAIR shape', () => {
    const tiny = nn.uvit(nn.uvitPresets.tiny);
    const tp = tiny.init(r.key(0));
    expect(nn.countParameters(tp)).toBe(81_824);
    r.dispose(tp);
    const small = nn.uvit(nn.uvitPresets.small);
    const sp = small.init(r.key(0));
    expect(nn.countParameters(sp)).toBe(6_784_140);
    const shape = r.tidy(() => [...small.apply(sp, r.zeros([1, 1, 64, 64, 3]), r.zeros([1, 1])).shape]);
    expect(shape).toEqual([1, 1, 64, 64, 3]);
    r.dispose(sp);
  });

  it('the small preset on a full BAIR window (16 frames of 64×64×3): each frame has its own logSNR, and frames see each other', async () => {
    // Two forward passes of the 6.8M-parameter model (~2.5 s each on wasm): the shape, a per-frame
    // conditioning check (frame 5's logSNR changes frame 5) and temporal mixing (frame 5's input
    // reaches frame 9 through the axial time attention).
    const small = nn.uvit(nn.uvitPresets.small);
    const p = withLiveOutput(small, 3);
    const z = r.normal(r.key(4), [1, 16, 64, 64, 3]);
    const logSnr = r.tensor(Array.from({ length: 16 }, (_, f) => 6 - f), [1, 16]);
    const frame = (v: Float32Array | number[], f: number) => Array.from(v).slice(f * 12288, (f + 1) * 12288);
    const base = await values(small.apply(p, z, logSnr));
    expect(base.length).toBe(16 * 64 * 64 * 3);
    expect(base.every(Number.isFinite)).toBe(true);
    const bumped = r.tidy(() => r.add(logSnr, r.tensor(Array.from({ length: 16 }, (_, f) => (f === 5 ? 3 : 0)), [1, 16])));
    const other = r.tidy(() => r.add(z, r.mul(r.tensor(Array.from({ length: 16 }, (_, f) => (f === 5 ? 1 : 0)), [1, 16, 1, 1, 1]), 0.5)));
    const diff = (a: number[], b: number[]) => maxAbs(a.map((v, i) => v - b[i]!));
    const withBump = await values(small.apply(p, z, bumped));
    expect(diff(frame(withBump, 5), frame(base, 5))).toBeGreaterThan(1e-3);
    const withOther = await values(small.apply(p, other, logSnr));
    expect(diff(frame(withOther, 9), frame(base, 9))).toBeGreaterThan(1e-4);
    r.dispose([p, z, logSnr, bumped, other]);
  }, 60_000);

  it('overfits a single batch of 8 frames of 32×32: the v-loss falls 10× (tiny preset, Adam)', async () => {
    const [frames, height, width] = [8, 32, 32];
    // A Gaussian blob moving diagonally, in [-1, 1].
    const data = new Float32Array(frames * height * width);
    for (let t = 0; t < frames; t++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) data[(t * height + y) * width + x] = 2 * Math.exp(-((x - 8 - 2 * t) ** 2 + (y - 12 - t) ** 2) / 18) - 1;
      }
    }
    const model = nn.uvit(nn.uvitPresets.tiny);
    const optimizer = nn.adam({ learningRate: 5e-3 });
    const batch = r.tidy(() => {
      const x = r.tensor(data, [1, frames, height, width, 1]);
      // A rolling-diffusion window: noise rises frame by frame.
      const logSnr = r.reshape(r.linspace(4, -4, frames), [1, frames]);
      const eps = r.normal(r.key(5), x.shape);
      const alpha = r.reshape(r.sqrt(r.sigmoid(logSnr)), [1, frames, 1, 1, 1]);
      const sigma = r.reshape(r.sqrt(r.sigmoid(r.neg(logSnr))), [1, frames, 1, 1, 1]);
      return { z: r.add(r.mul(alpha, x), r.mul(sigma, eps)), v: r.sub(r.mul(alpha, eps), r.mul(sigma, x)), logSnr };
    });
    const lossFn = (p: nn.UViTParams) => r.mean(r.square(r.sub(model.apply(p, batch.z, batch.logSnr), batch.v)));
    const params = model.init(r.key(0));
    let state = { params, opt: optimizer.init(params), loss: r.tidy(() => lossFn(params)) };
    const initial = (await state.loss.toArray())[0]!;
    const counts: number[] = [];
    let last = initial;
    for (let step = 1; step <= 400 && last > initial / 10; step++) {
      state = nn.minimizeStep(lossFn, optimizer, state);
      counts.push(r.memoryStats().tensors);
      if (step % 5 === 0) {
        last = (await state.loss.toArray())[0]!;
        // A macrotask break lets the test runner's messages through during the long loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    expect(last).toBeLessThanOrEqual(initial / 10);
    // And the loop leaked nothing: the live-tensor count never moved.
    expect(new Set(counts).size).toBe(1);
  }, 120_000);
});
