/**
 * Counter-based randomness: Threefry-2x32 with 20 rounds (Salmon et al. 2011), used the way JAX
 * uses it, so `split(key(0))` gives JAX's `random.split(PRNGKey(0))` bit for bit. "JAX" here means
 * JAX's original Threefry layout, `jax_threefry_partitionable=False`, the default before JAX 0.5;
 * JAX 0.5 and later default to the partitionable layout, which gives other numbers from the same key
 * (set the flag to False in JAX to compare).
 *
 * Keys are small host values (two uint32 words), never tensors: deriving keys allocates nothing and
 * cannot leak. Bulk random bits come from the `threefry2x32` primitive on the current backend, so
 * every backend produces the same bits.
 */
import { arange, concat, zeros, bitcast, cast, erfinv, floor, fromArray, less, maximum, minimum, mul, reshape, scalar, shiftLeft, shiftRight, bitwiseOr, bitwiseXor, sub, add, slice } from './ops.js';
import { sizeOf, type Shape } from './shape.js';
import { describeValue } from './pytree.js';
import { scoped, Tensor } from './tensor.js';
import { bind } from './trace.js';

export interface Key {
  readonly kind: 'prng-key';
  readonly words: readonly [number, number];
}

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

/**
 * Threefry-2x32, 20 rounds, over n blocks: block i has key (k0s[i], k1s[i]) and counter
 * (x0s[i], x1s[i]); out[i] and out[n + i] receive its two words. No allocation: the CPU backend's
 * kernel runs this, and it is the host reference every other backend's kernel must match.
 */
export function threefry2x32Lanes(out: Uint32Array, n: number, k0s: ArrayLike<number>, k1s: ArrayLike<number>, x0s: ArrayLike<number>, x1s: ArrayLike<number>): void {
  for (let i = 0; i < n; i++) {
    const k0 = k0s[i]! >>> 0;
    const k1 = k1s[i]! >>> 0;
    const k2 = (0x1bd11bda ^ k0 ^ k1) >>> 0;
    let a = (x0s[i]! + k0) >>> 0;
    let b = (x1s[i]! + k1) >>> 0;
    for (let r = 0; r < 5; r++) {
      const rot = (r & 1) << 2;
      for (let j = 0; j < 4; j++) {
        const by = ROTATIONS[rot + j]!;
        a = (a + b) >>> 0;
        b = (((b << by) | (b >>> (32 - by))) ^ a) >>> 0;
      }
      // Key injection: after round group r, (ks[(r + 1) % 3], ks[(r + 2) % 3] + r + 1) with ks = (k0, k1, k2).
      const m = r % 3;
      a = (a + (m === 0 ? k1 : m === 1 ? k2 : k0)) >>> 0;
      b = (b + (m === 0 ? k2 : m === 1 ? k0 : k1) + r + 1) >>> 0;
    }
    out[i] = a;
    out[n + i] = b;
  }
}

const oneBlock = new Uint32Array(2);

/** Threefry-2x32, 20 rounds, on one block (host key derivation and small draws). */
export function threefry2x32Block(k0: number, k1: number, x0: number, x1: number): [number, number] {
  threefry2x32Lanes(oneBlock, 1, [k0], [k1], [x0], [x1]);
  return [oneBlock[0]!, oneBlock[1]!];
}

/**
 * Threefry-2x32 written on the core's uint32 primitives (wrapping add, xor, shifts, or): the PRNG's
 * definition in terms any backend with 32-bit unsigned integers reproduces bit for bit. Broadcasts
 * its four inputs like any element-wise op and returns the two output lanes. The `threefry2x32`
 * primitive is this same computation fused into one kernel per backend (here it takes ~150 ops);
 * a property test checks the primitive against this composition on every backend.
 */
export const threefry2x32Ops = scoped(function threefry2x32Ops(k0: Tensor, k1: Tensor, x0: Tensor, x1: Tensor): [Tensor, Tensor] {
  for (const [name, t] of [['k0', k0], ['k1', k1], ['x0', x0], ['x1', x1]] as const) {
    if (t.dtype !== 'uint32') throw new Error(`threefry2x32Ops: ${name} must be uint32, got ${t.dtype}`);
  }
  const u = (v: number) => scalar(v >>> 0, 'uint32');
  const rotate = (x: Tensor, r: number) => bitwiseOr(shiftLeft(x, u(r)), shiftRight(x, u(32 - r)));
  const ks = [k0, k1, bitwiseXor(bitwiseXor(k0, k1), u(0x1bd11bda))];
  let a = add(x0, ks[0]!);
  let b = add(x1, ks[1]!);
  for (let i = 0; i < 5; i++) {
    const rot = i % 2 === 0 ? 0 : 4;
    for (let j = 0; j < 4; j++) {
      a = add(a, b);
      b = bitwiseXor(rotate(b, ROTATIONS[rot + j]!), a);
    }
    a = add(a, ks[(i + 1) % 3]!);
    b = add(add(b, ks[(i + 2) % 3]!), u(i + 1));
  }
  return [a, b];
});

function makeKey(w0: number, w1: number): Key {
  return Object.freeze({ kind: 'prng-key' as const, words: Object.freeze([w0 >>> 0, w1 >>> 0]) as readonly [number, number] });
}

export function isKey(x: unknown): x is Key {
  return typeof x === 'object' && x !== null && (x as Key).kind === 'prng-key';
}

/** A key argument must be a key: a tensor, a seed number or a split's array is an error naming the op. */
function checkKey(op: string, k: unknown): asserts k is Key {
  if (isKey(k)) return;
  const got = k instanceof Tensor ? `a tensor (${k.dtype}[${k.shape}])` : Array.isArray(k) ? `an array of ${k.length}${k.length > 0 && k.every(isKey) ? ' keys (take one of them: split returns an array)' : ''}` : describeValue(k);
  throw new Error(`${op}: the key must be a PRNG key from key(seed), split or foldIn, got ${got}${typeof k === 'number' ? `; use key(${k})` : ''}`);
}

/** `key(seed)`: as JAX's `PRNGKey(seed)`, the words are the high and low 32 bits of the seed. */
export function key(seed: number): Key {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`key: the seed must be a non-negative safe integer, got ${seed}`);
  return makeKey(Math.floor(seed / 2 ** 32), seed % 2 ** 32);
}

/** A key from its two words (e.g. read back from a checkpoint). */
export function keyFromWords(w0: number, w1: number): Key {
  return makeKey(w0, w1);
}

/** JAX's `threefry_2x32(key, count)` on host: the counts are split in halves that form the two lanes. */
function threefryCounts(k: Key, counts: readonly number[]): number[] {
  const padded = counts.length % 2 ? [...counts, 0] : [...counts];
  const half = padded.length / 2;
  const y0: number[] = [];
  const y1: number[] = [];
  for (let i = 0; i < half; i++) {
    const [a, b] = threefry2x32Block(k.words[0], k.words[1], padded[i]!, padded[half + i]!);
    y0.push(a);
    y1.push(b);
  }
  return [...y0, ...y1].slice(0, counts.length);
}

/** `n` new independent keys (JAX's `random.split`). */
export function split(k: Key, n = 2): Key[] {
  checkKey('split', k);
  if (!Number.isInteger(n) || n < 1) throw new Error(`split: n must be a positive integer, got ${n}`);
  const out = threefryCounts(k, Array.from({ length: 2 * n }, (_, i) => i));
  return Array.from({ length: n }, (_, i) => makeKey(out[2 * i]!, out[2 * i + 1]!));
}

/** A key derived from `k` and an integer (JAX's `random.fold_in`). */
export function foldIn(k: Key, data: number): Key {
  checkKey('foldIn', k);
  if (!Number.isInteger(data)) throw new Error(`foldIn: data must be an integer, got ${data}`);
  const out = threefryCounts(k, [0, data >>> 0]);
  return makeKey(out[0]!, out[1]!);
}

/**
 * `size` uint32 random words (JAX's `threefry_random_bits` for 32-bit draws, with
 * `jax_threefry_partitionable=False`, JAX's default before 0.5): Threefry of the counters
 * 0 … n − 1, split into two halves that form the lanes; an odd count is padded with a 0 counter
 * (not n), as JAX's `threefry_2x32` pads, so `uniform(key(0), [])` is JAX's 0.41845703.
 */
export const randomBits = scoped(function randomBits(k: Key, shape: Shape): Tensor {
  checkKey('randomBits', k);
  const n = sizeOf(shape);
  const padded = n + (n % 2);
  const half = padded / 2;
  const counts = n === padded ? arange(0, n, 1, 'uint32') : concat([arange(0, n, 1, 'uint32'), zeros([1], 'uint32')]);
  const x0 = slice(counts, [0], [half]);
  const x1 = slice(counts, [half], [half]);
  const y = bind('threefry2x32', [scalar(k.words[0], 'uint32'), scalar(k.words[1], 'uint32'), x0, x1], {});
  const flat = reshape(y, [padded]);
  return reshape(n === padded ? flat : slice(flat, [0], [n]), shape);
});

/**
 * `n` uniform numbers in [0, 1) computed on the host, bit-identical to `uniform(k, [n])`: for the
 * few scalars a step needs (diffusion times, Bernoulli choices) without a device round trip.
 */
export function uniformHost(k: Key, n: number): number[] {
  checkKey('uniformHost', k);
  const padded = n + (n % 2);
  const half = padded / 2;
  const words = new Array<number>(padded);
  for (let i = 0; i < half; i++) {
    const [y0, y1] = threefry2x32Block(k.words[0], k.words[1], i, half + i < n ? half + i : 0);
    words[i] = y0;
    words[half + i] = y1;
  }
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  return words.slice(0, n).map((w) => {
    u32[0] = (w >>> 9) | 0x3f800000;
    return Math.max(Math.fround(f32[0]! - 1), 0);
  });
}

/** The float32 next to `x` (a float32) towards +∞ (`up`) or −∞; ±0 step to the smallest subnormal. */
function stepFloat32(x: number, up: boolean): number {
  if (x === 0) return up ? 1.401298464324817e-45 : -1.401298464324817e-45;
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = u[0]! + ((x > 0) === up ? 1 : -1);
  return f[0]!;
}

/**
 * Uniform float32 in [minval, maxval) from the top 23 bits of each word (JAX's construction:
 * u ∈ [1, 2) from the mantissa, then (u − 1) · (maxval − minval) + minval).
 *
 * Choice (JAX differs): the bounds hold exactly in float32. The affine map rounds, and for a narrow
 * range far from zero (minval 7.99, maxval 8) the largest draws round up to `maxval` itself; JAX
 * returns those, we clamp them to the largest float32 below `maxval`, so the half-open interval the
 * name promises is what you get. Draws strictly inside the range are JAX's bit for bit.
 */
export const uniform = scoped(function uniform(k: Key, shape: Shape, minval = 0, maxval = 1): Tensor {
  checkKey('uniform', k);
  if (!Number.isFinite(minval) || !Number.isFinite(maxval) || !(minval < maxval)) {
    throw new Error(`uniform: need finite minval < maxval, got minval = ${minval}, maxval = ${maxval}; pass the bounds in that order`);
  }
  // The smallest float32 ≥ minval and the largest float32 < maxval (the bounds may be float64).
  const f32Min = Math.fround(minval);
  const lowest = f32Min >= minval ? f32Min : stepFloat32(f32Min, true);
  const f32Max = Math.fround(maxval);
  const highest = f32Max < maxval ? f32Max : stepFloat32(f32Max, false);
  if (!(lowest <= highest)) {
    throw new Error(`uniform: no float32 lies in [${minval}, ${maxval}); widen the range`);
  }
  const bits = randomBits(k, shape);
  const mantissa = bitwiseOr(shiftRight(bits, scalar(9, 'uint32')), scalar(0x3f800000, 'uint32'));
  const unit = sub(bitcast(mantissa, 'float32'), 1);
  const drawn = add(mul(unit, maxval - minval), minval);
  // The map is monotone and each step rounds to float32 on every backend, so its extremes are those
  // of unit = 0 and unit = 1 − 2⁻²³, computed here the same way: a clamp that cannot bind (normal's
  // (−1, 1), [0, 1)) costs no pass over the draws.
  const width = Math.fround(maxval - minval);
  const smallest = Math.fround(0 * width + Math.fround(minval));
  const largest = Math.fround(Math.fround((1 - 2 ** -23) * width) + Math.fround(minval));
  const below = largest > highest ? minimum(drawn, highest) : drawn;
  return smallest < lowest ? maximum(below, lowest) : below;
});

/**
 * Standard normal draws, √2 · erfinv(u) with u uniform in (−1, 1) (JAX's construction).
 *
 * Across backends: the random bits, `uniform`, `bernoulli` and `randint` are the same bit for bit
 * (integer ops and exactly rounded float steps; tested on wasm and WebGPU against the CPU), but
 * `normal` goes through each backend's `erfinv` kernel, and those agree to float32 precision
 * (a few ulp), not bit for bit: a GPU compiler may contract a polynomial into fused multiply-adds,
 * which changes the last bits. Same key, same backend: same numbers, always.
 */
export const normal = scoped(function normal(k: Key, shape: Shape): Tensor {
  checkKey('normal', k);
  const lo = -0.99999994039535522; // nextafter(-1, 0) in float32
  return mul(erfinv(uniform(k, shape, lo, 1)), Math.SQRT2);
});

/** Bernoulli draws (bool): true with probability `p` (a number or a tensor broadcasting to `shape`). */
export const bernoulli = scoped(function bernoulli(k: Key, p: number | Tensor, shape: Shape): Tensor {
  checkKey('bernoulli', k);
  return less(uniform(k, shape), p);
});

/** Uniform integers in [lo, hi). */
export const randint = scoped(function randint(k: Key, shape: Shape, lo: number, hi: number): Tensor {
  checkKey('randint', k);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi <= lo) throw new Error(`randint: need integers lo < hi, got [${lo}, ${hi})`);
  const u = uniform(k, shape);
  // floor, not the cast's truncation toward zero: with lo < 0 truncation maps (−1, 1) to 0 (twice as
  // likely) and lo itself almost never comes out. The min guards float32 rounding u·(hi−lo) up to hi−lo.
  return cast(minimum(floor(add(mul(u, hi - lo), lo)), hi - 1), 'int32');
});

/** A random permutation of 0..n-1 (int32), by sorting random keys on the host. */
export const permutation = scoped(function permutation(k: Key, n: number): Tensor {
  checkKey('permutation', k);
  const [a, b] = [k.words[0], k.words[1]];
  const scores = Array.from({ length: n }, (_, i) => threefry2x32Block(a, b, i, 0x9e3779b9)[0]);
  const idx = Array.from({ length: n }, (_, i) => i).sort((i, j) => scores[i]! - scores[j]! || i - j);
  return fromArray(Int32Array.from(idx), [n], 'int32');
});

