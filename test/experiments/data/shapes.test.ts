import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { movingShapes, reflect } from '../../../experiments/data/shapes.js';

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

  it('movingShapes: a shape never stands still for three frames, and its centroid moves within two', () => {
    // Not "consecutive frames differ": a shape that bounces off a wall between two frames can come back
    // to where it was (start s/2 from the wall at speed s). A hunt with 50× the runs drew a centroid that
    // moved 0.13 px at size 16 (0.16 asked) and, at 200×, two identical consecutive frames (size 32,
    // a shift of 0.13 px, under the 0.25 px between anti-aliasing samples). What does hold, per axis
    // with speed v on it: in three frames the path (≤ 18% of the side) meets at most one wall (the
    // centre has ≥ 60% of the side to move in), so some frame k ≤ 3 is ≥ v from frame 0; on the faster
    // axis v ≥ speed/√2 ≥ 0.021·size ≥ 0.34 px, past the next sample column, so the drawing changes.
    // In two frames |Δ₀₁|² + |Δ₀₂|² ≥ v²/2 per axis, so √(|Δ₀₁|² + |Δ₀₂|²) ≥ speed/√2 ≥ 0.021·size; the
    // least measured over 260,000 seeds was 0.018·size (anti-aliasing), above the 0.01·size asked.
    // One shape only: with several, a brighter shape can hide a dimmer one (pixels take the maximum).
    fc.assert(
      fc.property(options, (opts) => {
        const frames = Math.max(opts.frames, 4);
        const clip = movingShapes({ ...opts, frames, count: 1 });
        for (let t = 0; t + 3 < frames; t++) {
          const here = frame(clip, t, opts.size, opts.channels);
          const moved = [1, 2, 3].some((k) => !sameValues(here, frame(clip, t + k, opts.size, opts.channels)));
          expect(moved).toBe(true);
        }
        const single = movingShapes({ ...opts, frames: 3, count: 1, channels: 1 });
        const [x0, y0] = centroid(frame(single, 0, opts.size, 1), opts.size);
        const [x1, y1] = centroid(frame(single, 1, opts.size, 1), opts.size);
        const [x2, y2] = centroid(frame(single, 2, opts.size, 1), opts.size);
        expect(Math.hypot(x1 - x0, y1 - y0, x2 - x0, y2 - y0)).toBeGreaterThan(0.01 * opts.size);
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
