/**
 * Synthetic moving shapes: squares, circles and triangles that move with constant velocity and bounce off
 * the borders, a small, fully deterministic video dataset for quick experiments (in the spirit of Moving
 * MNIST, without needing any download).
 *
 * Each shape's kind, size, colour, start and velocity are drawn from a mulberry32 generator seeded by
 * `seed`, so the same options always give the same clip. Positions are closed-form (a reflected linear path),
 * not integrated, so frame t does not depend on how many frames are asked for.
 */

import { mulberry32 } from '../math/random.js';

export type ShapeKind = 'square' | 'circle' | 'triangle';

export interface MovingShapesOptions {
  readonly frames: number;
  readonly size: number;
  /** Number of shapes (default 2). */
  readonly count?: number;
  readonly seed?: number;
  /** Channels per pixel (default 1); with more, each shape gets a colour. */
  readonly channels?: number;
}

interface Shape {
  readonly kind: ShapeKind;
  /** Half-extent in pixels: the half side of a square, the radius of a circle, the circumradius of a triangle. */
  readonly radius: number;
  readonly colour: Float64Array;
  readonly x0: number;
  readonly y0: number;
  readonly vx: number;
  readonly vy: number;
}

const KINDS: readonly ShapeKind[] = ['square', 'circle', 'triangle'];

function drawShape(rng: () => number, size: number, channels: number): Shape {
  const kind = KINDS[Math.floor(rng() * KINDS.length) % KINDS.length];
  const radius = size * (0.1 + 0.1 * rng());
  const colour = new Float64Array(channels);
  for (let c = 0; c < channels; c++) colour[c] = 0.5 + 0.5 * rng();
  const x0 = radius + rng() * (size - 2 * radius);
  const y0 = radius + rng() * (size - 2 * radius);
  // At least 3% of the side per frame, so every shape visibly moves (across a bounce off a wall it can
  // come back to where it was one frame earlier; never for three frames running).
  const speed = size * (0.03 + 0.03 * rng());
  const angle = 2 * Math.PI * rng();
  return { kind, radius, colour, x0, y0, vx: speed * Math.cos(angle), vy: speed * Math.sin(angle) };
}

/** Position on [lo, hi] of a point moving at constant speed and reflecting elastically at both ends. */
export function reflect(start: number, velocity: number, time: number, lo: number, hi: number): number {
  const span = hi - lo;
  if (span <= 0) return lo;
  const period = 2 * span;
  const m = ((((start - lo + velocity * time) % period) + period) % period);
  return lo + (m <= span ? m : period - m);
}

/** Whether (px, py) lies inside a shape centred at (cx, cy). */
function inside(shape: Shape, cx: number, cy: number, px: number, py: number): boolean {
  const dx = px - cx;
  const dy = py - cy;
  const r = shape.radius;
  switch (shape.kind) {
    case 'square':
      return Math.abs(dx) <= r && Math.abs(dy) <= r;
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'triangle': {
      // Upward equilateral triangle with circumradius r: apex at dy = −r, base at dy = r/2 (image rows grow down).
      if (dy > r / 2) return false;
      return Math.abs(dx) * Math.sqrt(3) <= dy + r;
    }
  }
}

/** Sub-pixel sample offsets (4×4 grid) for anti-aliased edges. */
const SUBSAMPLES = 4;

/**
 * A clip `[frames, size, size, channels]` in [0, 1]: shapes on a black background, each pixel the maximum of
 * the shapes' anti-aliased coverages times their colours.
 */
export function movingShapes(opts: MovingShapesOptions): Float32Array {
  const { frames, size } = opts;
  const count = opts.count ?? 2;
  const channels = opts.channels ?? 1;
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`movingShapes: frames must be a positive integer, got ${frames}`);
  if (!Number.isInteger(size) || size < 4) throw new Error(`movingShapes: size must be an integer of at least 4, got ${size}`);
  if (!Number.isInteger(count) || count < 0) throw new Error(`movingShapes: count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`movingShapes: channels must be a positive integer, got ${channels}`);
  const rng = mulberry32(opts.seed ?? 0);
  const shapes: Shape[] = [];
  for (let s = 0; s < count; s++) shapes.push(drawShape(rng, size, channels));

  const out = new Float32Array(frames * size * size * channels);
  const coverage = new Float64Array(size * size);
  for (let t = 0; t < frames; t++) {
    const frameOffset = t * size * size * channels;
    for (const shape of shapes) {
      const cx = reflect(shape.x0, shape.vx, t, shape.radius, size - shape.radius);
      const cy = reflect(shape.y0, shape.vy, t, shape.radius, size - shape.radius);
      const i0 = Math.max(0, Math.floor(cy - shape.radius - 1));
      const i1 = Math.min(size - 1, Math.ceil(cy + shape.radius + 1));
      const j0 = Math.max(0, Math.floor(cx - shape.radius - 1));
      const j1 = Math.min(size - 1, Math.ceil(cx + shape.radius + 1));
      for (let i = i0; i <= i1; i++) {
        for (let j = j0; j <= j1; j++) {
          let hits = 0;
          for (let a = 0; a < SUBSAMPLES; a++) {
            for (let b = 0; b < SUBSAMPLES; b++) {
              if (inside(shape, cx, cy, j + (b + 0.5) / SUBSAMPLES, i + (a + 0.5) / SUBSAMPLES)) hits++;
            }
          }
          coverage[i * size + j] = hits / (SUBSAMPLES * SUBSAMPLES);
        }
      }
      for (let i = i0; i <= i1; i++) {
        for (let j = j0; j <= j1; j++) {
          const cover = coverage[i * size + j];
          if (cover === 0) continue;
          const base = frameOffset + (i * size + j) * channels;
          for (let c = 0; c < channels; c++) {
            const value = cover * shape.colour[c];
            if (value > out[base + c]) out[base + c] = value;
          }
          coverage[i * size + j] = 0;
        }
      }
    }
  }
  return out;
}
