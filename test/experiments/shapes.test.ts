import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { movingShapes, reflect } from '../../experiments/shapes.js';

function frame(clip: Float32Array, t: number, size: number, channels: number): Float32Array {
  const n = size * size * channels;
  return clip.subarray(t * n, (t + 1) * n);
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

function centroid(image: Float32Array, size: number): [number, number] {
  let mass = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const v = image[i * size + j];
      mass += v;
      x += v * j;
      y += v * i;
    }
  }
  return [x / mass, y / mass];
}

const options = fc.record({
  frames: fc.integer({ min: 2, max: 12 }),
  size: fc.constantFrom(16, 32, 64),
  count: fc.integer({ min: 1, max: 4 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  channels: fc.constantFrom(1, 3),
});

describe('moving shapes', () => {
  it('movingShapes: the same seed gives the same clip, another seed another clip', () => {
    fc.assert(
      fc.property(options, (opts) => {
        const a = movingShapes(opts);
        const b = movingShapes(opts);
        expect(sameValues(a, b)).toBe(true);
        expect(sameValues(movingShapes({ ...opts, seed: opts.seed + 1 }), a)).toBe(false);
      }),
      { numRuns: 25 },
    );
  });

  it('movingShapes: shape [frames, size, size, channels], values in [0, 1], something drawn in every frame', () => {
    fc.assert(
      fc.property(options, (opts) => {
        const clip = movingShapes(opts);
        expect(clip.length).toBe(opts.frames * opts.size * opts.size * opts.channels);
        const [lo, hi] = range(clip);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
        for (let t = 0; t < opts.frames; t++) {
          expect(range(frame(clip, t, opts.size, opts.channels))[1]).toBeGreaterThan(0.4);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('movingShapes: consecutive frames differ, and a single shape moves its centroid', () => {
    fc.assert(
      fc.property(options, (opts) => {
        const clip = movingShapes(opts);
        for (let t = 0; t + 1 < opts.frames; t++) {
          expect(sameValues(frame(clip, t, opts.size, opts.channels), frame(clip, t + 1, opts.size, opts.channels))).toBe(false);
        }
        const single = movingShapes({ ...opts, count: 1, channels: 1 });
        const [x0, y0] = centroid(frame(single, 0, opts.size, 1), opts.size);
        const [x1, y1] = centroid(frame(single, 1, opts.size, 1), opts.size);
        expect(Math.hypot(x1 - x0, y1 - y0)).toBeGreaterThan(0.01 * opts.size);
      }),
      { numRuns: 25 },
    );
  });

  it('movingShapes: frame t does not depend on how many frames are asked for', () => {
    const long = movingShapes({ frames: 10, size: 32, count: 3, seed: 5 });
    const short = movingShapes({ frames: 4, size: 32, count: 3, seed: 5 });
    expect(sameValues(long.subarray(0, short.length), short)).toBe(true);
  });

  it('reflect: stays in range, is continuous, and bounces back at the walls', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 2, max: 10, noNaN: true }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (start, velocity, time) => {
          const p = reflect(start, velocity, time, 2, 10);
          expect(p).toBeGreaterThanOrEqual(2);
          expect(p).toBeLessThanOrEqual(10);
          expect(Math.abs(reflect(start, velocity, time + 1e-3, 2, 10) - p)).toBeLessThanOrEqual(Math.abs(velocity) * 1e-3 + 1e-9);
        },
      ),
    );
    expect(reflect(9, 1, 2, 2, 10)).toBeCloseTo(9, 12);
    expect(reflect(3, -2, 1, 2, 10)).toBeCloseTo(3, 12);
  });

  it('movingShapes: a 64-frame 64x64 clip of 4 shapes takes well under a second', () => {
    const start = performance.now();
    movingShapes({ frames: 64, size: 64, count: 4, seed: 1 });
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('movingShapes: bad options are refused', () => {
    expect(() => movingShapes({ frames: 0, size: 16 })).toThrow(/frames/);
    expect(() => movingShapes({ frames: 2, size: 2 })).toThrow(/size/);
  });
});
