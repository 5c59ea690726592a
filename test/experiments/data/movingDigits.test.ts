import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { movingDigits, resizeDigit } from '../../../experiments/data/movingDigits.js';

const mnist = createRequire(import.meta.url)('mnist') as Record<number, { length: number; raw: number[] }>;

describe('moving MNIST from the mnist package', () => {
  it('the package has its 10,000 real digits', () => {
    let total = 0;
    for (let d = 0; d < 10; d++) total += mnist[d]!.length;
    expect(total).toBe(10_000);
  });

  it('clips are [frames, size, size] in [0, 1], deterministic, and frame t does not depend on the clip length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.constantFrom(16, 32, 64), fc.integer({ min: 0, max: 3 }), fc.nat(10_000), fc.constantFrom<'train' | 'test'>('train', 'test'), (frames, size, count, seed, split) => {
        const clip = movingDigits({ frames, size, count, seed, split });
        expect(clip.length).toBe(frames * size * size);
        expect(clip.every((v) => v >= 0 && v <= 1)).toBe(true);
        expect(movingDigits({ frames, size, count, seed, split })).toEqual(clip);
        const longer = movingDigits({ frames: frames + 3, size, count, seed, split });
        expect(longer.subarray(0, clip.length)).toEqual(clip);
        if (count === 0) expect(clip.every((v) => v === 0)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('one digit at 64×64 is a real MNIST digit pasted whole (28×28, its ink conserved) and it moves', () => {
    const frames = 6;
    const clip = movingDigits({ frames, size: 64, count: 1, seed: 3 });
    const inks = [];
    for (let t = 0; t < frames; t++) {
      const f = clip.subarray(t * 64 * 64, (t + 1) * 64 * 64);
      inks.push(f.reduce((s, v) => s + v, 0));
    }
    // Pasted whole every frame (whole-pixel offsets, no clipping at the borders): the same ink each frame.
    for (const ink of inks) expect(ink).toBeCloseTo(inks[0]!, 3);
    const ink = inks[0]!;
    let found = false;
    for (let d = 0; d < 10 && !found; d++) {
      for (let i = 0; i < mnist[d]!.length && !found; i++) {
        let s = 0;
        for (let p = 0; p < 784; p++) s += mnist[d]!.raw[i * 784 + p]!;
        if (Math.abs(s - ink) < 1e-3) found = true;
      }
    }
    expect(found).toBe(true);
    expect(clip.subarray(0, 4096)).not.toEqual(clip.subarray(4096, 8192));
  });

  it('train and test clips draw disjoint digits', () => {
    const inkOf = (split: 'train' | 'test', seed: number) => movingDigits({ frames: 1, size: 64, count: 1, seed, split }).reduce((s, v) => s + v, 0);
    const train = new Set(Array.from({ length: 200 }, (_, s) => inkOf('train', s).toFixed(3)));
    const test = Array.from({ length: 100 }, (_, s) => inkOf('test', s).toFixed(3));
    // Ink sums identify digits well enough that 100 test draws would collide with 200 train draws if the splits overlapped.
    expect(test.filter((k) => train.has(k)).length).toBeLessThanOrEqual(2);
  });

  it('resizeDigit is the identity at 28 and averages 2×2 blocks at 14', () => {
    const img = Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100);
    expect(Array.from(resizeDigit(img, 28))).toEqual(img.map((v) => Math.fround(v)));
    const half = resizeDigit(img, 14);
    for (let i = 0; i < 14; i++) {
      for (let j = 0; j < 14; j++) {
        const m = (img[2 * i * 28 + 2 * j]! + img[2 * i * 28 + 2 * j + 1]! + img[(2 * i + 1) * 28 + 2 * j]! + img[(2 * i + 1) * 28 + 2 * j + 1]!) / 4;
        expect(half[i * 14 + j]).toBeCloseTo(m, 6);
      }
    }
  });

  it('bad options name the problem', () => {
    expect(() => movingDigits({ frames: 0 })).toThrow(/frames must be a positive integer/);
    expect(() => movingDigits({ frames: 2, size: 4 })).toThrow(/size must be an integer of at least 8/);
    expect(() => movingDigits({ frames: 2, split: 'val' as 'train' })).toThrow(/split must be 'train' or 'test'/);
  });
});
